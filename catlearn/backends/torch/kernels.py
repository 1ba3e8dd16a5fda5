"""Kernels: boxes of the torch backend alone, which the fusion pass
(:mod:`.fuse`) writes where torch runs several boxes in fewer kernels.

Each has torch semantics (and code written out for known shapes), possibly
several outputs, and no type rule: the IR checker checks their wires only.

A small 2-d convolution on the CPU (fewer than :data:`DIRECT_CONVOLUTION`
multiply-adds, as at batch 32 on 8 × 8 images) runs torch's direct kernel, one
unfolding and one matrix product per image (``thnn_conv2d``, and
``_slow_conv2d_backward`` for its gradients), rather than oneDNN's, whose fixed
cost of about 35 µs a call is most of such a convolution's time; above the
threshold oneDNN is faster.  On other devices, and under torch.func's
transforms (which have no batching rule for the direct kernel), torch chooses.
The numbers differ from oneDNN's in rounding only.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import torch

from ...core.primitives import Primitive
from ...stdlib.nn import over_batch


def _kernel(name: str, doc: str, torch: Callable, code: Callable | None = None) -> Primitive:
    return Primitive(name, None, "torch", doc=doc, torch=torch, torch_code=code)


def _images(function: str) -> Callable:
    """Code calling a torch function of images (one batch axis, channels, height, width) as it is."""
    def code(args, types, **attrs):
        if types[0].rank != 4:
            return None
        return f"T.nn.functional.{function.format(*args, **attrs)}"
    return code


DIRECT_CONVOLUTION = 2 ** 18  # multiply-adds: below, torch's direct convolution beats oneDNN's on the CPU


def few_multiply_adds(image: tuple, kernel: tuple, pad: int) -> bool:
    """Whether convolving images of shape `image` (batch, c, h, w) with a kernel
    of shape `kernel` (o, c, kh, kw) takes under :data:`DIRECT_CONVOLUTION` multiply-adds."""
    n, c, h, w = image
    o, _, kh, kw = kernel
    return n * o * (h + 2 * pad - kh + 1) * (w + 2 * pad - kw + 1) * c * kh * kw < DIRECT_CONVOLUTION


def direct(x) -> bool:
    """Whether a small convolution of `x` runs torch's direct kernel: on the CPU, outside torch.func's transforms."""
    return x.is_cpu and not torch._C._are_functorch_transforms_active()


def _either(small: str, default: str, x: str) -> str:
    """Code for a small convolution of `x`: `small`, the direct kernel, where :func:`direct` says so, else `default`."""
    return f"({small} if cat.direct({x}) else {default})"


def _conv2d_bias(T, x, w, b, pad=0):
    def conv(v):
        if direct(v) and few_multiply_adds(tuple(v.shape), tuple(w.shape), pad):
            return T._C._nn.thnn_conv2d(v, w, tuple(w.shape[2:]), b, 1, pad)
        return T.nn.functional.conv2d(v, w, b, padding=pad)
    return over_batch(conv, x, 2)


def _conv2d_bias_code(args, types, pad=0):
    x, w, b = args
    if types[0].rank != 4:
        return None
    default = f"T.nn.functional.conv2d({x}, {w}, {b}, padding={pad})"
    if not few_multiply_adds(types[0].shape, types[1].shape, pad):
        return default
    return _either(f"T._C._nn.thnn_conv2d({x}, {w}, {types[1].shape[2:]}, {b}, 1, {pad})", default, x)


def _weight_grad_code(args, types, pad=0, shape=(), bias=False):
    x, z = args
    like = f"{z}.new_empty({shape})"  # the kernel's shape, for its gradient without the input's
    call = (f"T.ops.aten.convolution_backward({z}, {x}, {like}, None, (1, 1), ({pad}, {pad}), (1, 1), False, (0, 0), "
            f"1, (False, True, False))")
    default = f"({call}[1], {z}.sum((0, 2, 3)))" if bias else f"{call}[1]"  # oneDNN's bias gradient costs more
    if types is None or not few_multiply_adds(types[0].shape, shape, pad):
        return default
    return _either(f"T.ops.aten._slow_conv2d_backward.output_mask({z}, {x}, {like}, {shape[2:]}, (1, 1), "
                   f"({pad}, {pad}), (False, True, {bias})){'[1:]' if bias else '[1]'}", default, x)


def _backward_code(args, types, pad=0, bias=False):
    x, z, kernel = args
    call = (f"T.ops.aten.convolution_backward({z}, {x}, {kernel}, None, (1, 1), ({pad}, {pad}), (1, 1), False, "
            f"(0, 0), 1, (True, True, False))")
    default = f"(*{call}[:2], {z}.sum((0, 2, 3)))" if bias else f"{call}[:2]"
    if types is None or not few_multiply_adds(types[0].shape, types[2].shape, pad):
        return default
    return _either(f"T.ops.aten._slow_conv2d_backward.output_mask({z}, {x}, {kernel}, {types[2].shape[2:]}, (1, 1), "
                   f"({pad}, {pad}), (True, True, {bias})){'' if bias else '[:2]'}", default, x)


def _layer_norm_backward_code(args, types, eps=1e-5):
    """torch's layer norm derivative (a reverse derivative's cotangent has its primal's shape: x, dy agree);
    given the norm's weight and bias, their gradients too."""
    x, dy, mean, rstd, *affine = args
    call = f"T.ops.aten.native_layer_norm_backward({dy}, {x}, {x}.shape[-1:], {mean}, {rstd}"
    if affine:
        return f"{call}, {affine[0]}, {affine[1]}, (True, True, True))"
    return f"{call}, None, None, (True, False, False))[0]"


def _native_layer_norm(T, x, *affine, eps=1e-5):
    return T.ops.aten.native_layer_norm(x, x.shape[-1:], *(affine or (None, None)), eps)


@lru_cache(maxsize=256)
def _function(source: str, n: int) -> Callable:
    names = ", ".join(f"x{k}" for k in range(n))
    return eval(f"lambda T, {names}: {source}")


def _written(name: str, doc: str, code: Callable) -> Primitive:
    """A kernel given by its code, ``code(args, types, **attrs)``: for any shapes where `types` is None."""
    return _kernel(name, doc, lambda T, *xs, **attrs: _function(code([f"x{k}" for k in range(len(xs))], None, **attrs),
                                                                len(xs))(T, *xs), code)


KERNELS = {k.name: k for k in (
    _kernel("conv2d_bias", "channel_bias(conv2d(x, K, pad), b)", _conv2d_bias, _conv2d_bias_code),
    _kernel("max_pool2d_with_indices", "(maxpool2d(x, size), argmax_pool2d(x, size))",
            lambda T, x, size=2: over_batch(lambda v: T.nn.functional.max_pool2d(v, size, return_indices=True), x, 2),
            _images("max_pool2d({0}, {size}, return_indices=True)")),
    _written("conv2d_weight_grad", "Σ_b conv2d_kernel(x_b, z_b, pad), a kernel of this shape[, the bias gradient "
             "Σ z over all but the channel axis]", _weight_grad_code),
    _written("conv2d_backward", "(conv2d_transpose(z, K, pad), conv2d_weight_grad(x, z, pad)"
             "[, the bias gradient Σ z over all but the channel axis])", _backward_code),
    _kernel("native_layer_norm", "(layernorm(x, eps)[ · γ + β], the mean of x, 1/√(var x + eps)), the last two "
            "with a unit axis", _native_layer_norm,
            lambda args, types, eps=1e-5: f"T.ops.aten.native_layer_norm({args[0]}, {types[0].shape[-1:]}, "
                                          f"{', '.join(args[1:]) if args[1:] else 'None, None'}, {eps})"),
    _written("layer_norm_backward", "layernorm_grad(x, dy, eps), given native_layer_norm's statistics of x; "
             "given γ and β, (layernorm_grad(x, dy · γ, eps), Σ dy · layernorm(x, eps), Σ dy)",
             _layer_norm_backward_code),
)}
