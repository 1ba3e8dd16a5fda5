"""``std.nn``: activations, normalisation, convolution and pooling."""
import numpy as np

from ..core.primitives import Attr, primitive

M = "std.nn"


@primitive("relu", "R -> R", module=M, glyph="ReLU")
def relu(x):
    """max(x, 0)"""
    return np.maximum(x, 0.0)


@primitive("gelu", "R -> R", module=M, glyph="GELU")
def gelu(x):
    """x Φ(x), Φ the standard normal distribution function"""
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


@primitive("softplus", "R -> R", module=M, glyph="softplus")
def softplus(x):
    """log(1 + eˣ)"""
    return np.logaddexp(0.0, x)


@primitive("softmax", "R[n] -> R[n]", module=M, glyph="softmax")
def softmax(x):
    """eˣ / Σ eˣ over the last axis"""
    e = np.exp(x - np.max(x, -1, keepdims=True))
    return e / np.sum(e, -1, keepdims=True)


@primitive("log_softmax", "R[n] -> R[n]", module=M, glyph="log softmax")
def log_softmax(x):
    """x − log Σ eˣ over the last axis"""
    m = np.max(x, -1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), -1, keepdims=True))


@primitive("logsumexp", "R[n] -> R", module=M, glyph="LSE")
def logsumexp(x):
    """log Σ eˣ over the last axis"""
    m = np.max(x, -1, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), -1, keepdims=True)))[..., 0]


@primitive("layernorm", "R[n] -> R[n]", module=M, attrs={"eps": Attr("float", 1e-5)}, glyph="LN")
def layernorm(x, eps=1e-5):
    """(x − mean) / √(var + eps) over the last axis (no affine part)"""
    mu = np.mean(x, -1, keepdims=True)
    var = np.mean((x - mu) ** 2, -1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def _positive_output(inputs, attrs, outs):
    for d in outs[0].shape:
        if isinstance(d, int) and d <= 0:
            return ("the kernel is larger than the (padded) input", "use a smaller kernel or more padding")
    return None


@primitive("conv1d", "R[c, l] * R[o, c, k] -> R[o, l + 2*pad - k + 1]", module=M,
           attrs={"pad": Attr("dim", 0)}, check=_positive_output, glyph="conv")
def conv1d(x, w, pad=0):
    """cross-correlation of channels × length with an o × c × k kernel (stride 1)"""
    k = w.shape[-1]
    x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)])
    win = np.lib.stride_tricks.sliding_window_view(x, k, axis=-1)
    return np.einsum("...clk,...ock->...ol", win, w)


@primitive("conv2d", "R[c, h, w] * R[o, c, kh, kw] -> R[o, h + 2*pad - kh + 1, w + 2*pad - kw + 1]", module=M,
           attrs={"pad": Attr("dim", 0)}, check=_positive_output, glyph="conv")
def conv2d(x, w, pad=0):
    """cross-correlation of a c × h × w image with an o × c × kh × kw kernel (stride 1)"""
    kh, kw = w.shape[-2:]
    x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)])
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(-2, -1))
    return np.einsum("...chwij,...ocij->...ohw", win, w)


@primitive("maxpool2d", "R[c, size*h, size*w] -> R[c, h, w]", module=M, attrs={"size": Attr("dim", 2)}, glyph="max pool")
def maxpool2d(x, size=2):
    """the largest entry of each size × size block"""
    *lead, c, h, w = x.shape
    return x.reshape(*lead, c, h // size, size, w // size, size).max(axis=(-3, -1))


@primitive("avgpool2d", "R[c, size*h, size*w] -> R[c, h, w]", module=M, attrs={"size": Attr("dim", 2)}, glyph="avg pool")
def avgpool2d(x, size=2):
    """the mean of each size × size block"""
    *lead, c, h, w = x.shape
    return x.reshape(*lead, c, h // size, size, w // size, size).mean(axis=(-3, -1))
