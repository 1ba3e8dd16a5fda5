"""``std.nn``: activations, normalisation, convolution and pooling.

Convolutions come in closed families of bilinear maps, each the others'
derivative: ``conv2d(x, K)`` (cross-correlation), ``conv2d_transpose(z, K)``
(its adjoint in ``x``) and ``conv2d_kernel(x, z)`` (its adjoint in ``K``); the
same for 1-d.
"""
from math import pi, sqrt

import numpy as np

from ..core.primitives import Attr, primitive

M = "std.nn"


def _n(w):
    return w.type.shape[-1]


@primitive("relu", "R -> R", module=M, glyph="ReLU", preserves_zero="all", torch=lambda T, x: T.relu(x),
           torch_code=lambda a, t: f"T.relu({a[0]})",
           rd=lambda g, i, y, dy: [g.relu_grad(y, dy)])
def relu(x):
    """max(x, 0)"""
    return np.maximum(x, 0.0)


@primitive("relu_grad", "R * R -> R", module=M, glyph="ReLU′", preserves_zero="any",
           torch=lambda T, y, dy: T.ops.aten.threshold_backward(dy, y, 0),
           torch_code=lambda a, t: f"T.ops.aten.threshold_backward({a[1]}, {a[0]}, 0)",
           rd=lambda g, i, z, dz: [None, g.relu_grad(i[0], dz)])
def relu_grad(y, dy):
    """dy where y > 0, else 0: ReLU's reverse derivative, given its output y"""
    return np.where(y > 0, dy, 0.0)


def _gelu_rd(g, i, y, dy):
    x = i[0]
    cdf = g.mul(g.add(g.erf(g.mul(x, 1.0 / sqrt(2.0))), 1.0), 0.5)
    pdf = g.mul(g.exp(g.mul(g.square(x), -0.5)), 1.0 / sqrt(2.0 * pi))
    return [g.mul(dy, g.add(cdf, g.mul(x, pdf)))]


@primitive("gelu", "R -> R", module=M, glyph="GELU", preserves_zero="all",
           torch=lambda T, x: T.nn.functional.gelu(x), rd=_gelu_rd)
def gelu(x):
    """x Φ(x), Φ the standard normal distribution function"""
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


@primitive("softplus", "R -> R", module=M, glyph="softplus", torch=lambda T, x: T.logaddexp(T.zeros_like(x), x),
           rd=lambda g, i, y, dy: [g.mul(dy, g.sigmoid(i[0]))])
def softplus(x):
    """log(1 + eˣ)"""
    return np.logaddexp(0.0, x)


def _softmax_grad_rd(g, i, z, dz):
    """∂/∂y of y ⊙ (dy − ⟨y, dy⟩) is dz ⊙ (dy − ⟨y, dy⟩) − dy ⟨y, dz⟩; ∂/∂dy is the map itself (symmetric)."""
    y, dy = i
    n = _n(y)
    centred = g.sub(dy, g.broadcast(g.sum(g.mul(y, dy)), n=n))
    return [g.sub(g.mul(dz, centred), g.mul(dy, g.broadcast(g.sum(g.mul(y, dz)), n=n))), g.softmax_grad(y, dz)]


SHORT_AXIS = 16  # entries: torch's CPU softmax kernels are up to 10× slower over a shorter last axis


def _on_last_axis(fn, x, *more):
    """``fn(x, *more, axis)`` over the last axis.  On the CPU, where that axis is
    short (under SHORT_AXIS entries), over the first axis of the transposed
    rows instead, which torch computes 3–9× faster (benchmarks/README.md)."""
    n = x.shape[-1] if x.dim() else 0
    if 0 < n < SHORT_AXIS and x.is_cpu:
        return fn(x.reshape(-1, n).mT, *(m.reshape(-1, n).mT for m in more), 0).mT.reshape(x.shape)
    return fn(x, *more, -1)


@primitive("softmax", "R[n] -> R[n]", module=M, glyph="softmax", torch=lambda T, x: _on_last_axis(T.softmax, x),
           rd=lambda g, i, y, dy: [g.softmax_grad(y, dy)])
def softmax(x):
    """eˣ / Σ eˣ over the last axis"""
    e = np.exp(x - np.max(x, -1, keepdims=True))
    return e / np.sum(e, -1, keepdims=True)


def _softmax_grad_torch(T, y, dy):
    if y.shape != dy.shape:
        y, dy = T.broadcast_tensors(y, dy)
    return _on_last_axis(lambda dy, y, axis: T._softmax_backward_data(dy, y, axis, y.dtype), dy, y)


@primitive("softmax_grad", "R[n] * R[n] -> R[n]", module=M, glyph="softmax′", preserves_zero="any",
           torch=_softmax_grad_torch, rd=_softmax_grad_rd)
def softmax_grad(y, dy):
    """y ⊙ (dy − ⟨y, dy⟩): softmax's reverse derivative, given its output y"""
    return y * (dy - np.sum(y * dy, -1, keepdims=True))


@primitive("log_softmax", "R[n] -> R[n]", module=M, glyph="log softmax",
           torch=lambda T, x: _on_last_axis(T.log_softmax, x),
           rd=lambda g, i, y, dy: [g.sub(dy, g.mul(g.exp(y), g.broadcast(g.sum(dy), n=_n(y))))])
def log_softmax(x):
    """x − log Σ eˣ over the last axis"""
    m = np.max(x, -1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), -1, keepdims=True))


@primitive("logsumexp", "R[n] -> R", module=M, glyph="LSE", torch=lambda T, x: T.logsumexp(x, -1),
           rd=lambda g, i, y, dy: [g.mul(g.broadcast(dy, n=_n(i[0])), g.softmax(i[0]))])
def logsumexp(x):
    """log Σ eˣ over the last axis"""
    m = np.max(x, -1, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), -1, keepdims=True)))[..., 0]


def _layernorm_vjp(g, x, dy, eps):
    """Jᵀ dy for J the Jacobian of layernorm at x, from arithmetic boxes:
    (dy − mean dy − y mean(dy ⊙ y)) / √(var x + eps), y = layernorm(x)."""
    n = _n(x)
    y = g.layernorm(x, eps=eps)
    centred = g.sub(x, g.broadcast(g.mean(x), n=n))
    inv = g.broadcast(g.div(1.0, g.sqrt(g.add(g.mean(g.square(centred)), eps))), n=n)
    inner = g.sub(g.sub(dy, g.broadcast(g.mean(dy), n=n)), g.mul(y, g.broadcast(g.mean(g.mul(dy, y)), n=n)))
    return g.mul(inv, inner)


def _layernorm_grad_rd(g, i, z, dz, eps):
    """The reverse derivative of `_layernorm_vjp`'s diagram, spliced in."""
    from ..core.builder import Builder, Emitter
    from ..semantics.rdc import reverse

    b = Builder()
    x, dy = b.input(i[0].type), b.input(i[1].type)
    vjp = b.finish([_layernorm_vjp(Emitter(b), x, dy, eps)])
    return g.builder.splice(reverse(vjp), [*i, dz])


@primitive("layernorm", "R[n] -> R[n]", module=M, attrs={"eps": Attr("float", 1e-5)}, glyph="LN",
           torch=lambda T, x, eps=1e-5: T.nn.functional.layer_norm(x, (x.shape[-1],), eps=eps),
           rd=lambda g, i, y, dy, eps: [g.layernorm_grad(i[0], dy, eps=eps)])
def layernorm(x, eps=1e-5):
    """(x − mean) / √(var + eps) over the last axis (no affine part)"""
    mu = np.mean(x, -1, keepdims=True)
    var = np.mean((x - mu) ** 2, -1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def _layernorm_grad(x, dy, eps):
    """On NumPy arrays or torch tensors alike."""
    centred = x - x.mean(-1, keepdims=True)
    inv = ((centred * centred).mean(-1, keepdims=True) + eps) ** -0.5
    y = centred * inv
    return inv * (dy - dy.mean(-1, keepdims=True) - y * (dy * y).mean(-1, keepdims=True))


@primitive("layernorm_grad", "R[n] * R[n] -> R[n]", module=M, attrs={"eps": Attr("float", 1e-5)}, glyph="LN′",
           preserves_zero="all", torch=lambda T, x, dy, eps=1e-5: _layernorm_grad(x, dy, eps),
           rd=_layernorm_grad_rd)
def layernorm_grad(x, dy, eps=1e-5):
    """(dy − mean dy − y mean(dy ⊙ y)) / √(var x + eps), y = layernorm(x): layernorm's reverse derivative"""
    return _layernorm_grad(np.asarray(x), np.asarray(dy), eps)


def _positive_output(inputs, attrs, outs):
    for d in outs[0].shape:
        if isinstance(d, int) and d <= 0:
            return ("the kernel is larger than the (padded) input", "use a smaller kernel or more padding")
    return None


# -- convolutions: x ↦ x ⋆ K, its adjoint z ↦ z ⋆ᵀ K, and the kernel gradient ------------------
def _pad(xp, x, p, dims):
    if xp is np:
        return np.pad(x, [(0, 0)] * (x.ndim - dims) + [(p, p)] * dims)
    return xp.nn.functional.pad(x, (p, p) * dims)


def _windows(xp, x, size: tuple):
    """Sliding windows over the last len(size) axes, window axes last."""
    if xp is np:
        return np.lib.stride_tricks.sliding_window_view(x, size, axis=tuple(range(-len(size), 0)))
    first = x.dim() - len(size)
    for k, s in enumerate(size):  # each unfold appends its window axis; the next spatial axis is first + k
        x = x.unfold(first + k, s, 1)
    return x


def _native(xp, x, w, dims) -> bool:
    """Whether torch's own convolution applies: torch tensors, an unbatched kernel."""
    return xp is not np and w.dim() == dims + 2 and x.dim() >= dims + 1


def over_batch(fn, x, dims):
    """Apply a torch convolution or pooling `fn` (one batch axis, channels, `dims`
    spatial axes) to x with any leading batch axes; `fn` may return a tuple."""
    if x.dim() == dims + 2:  # one batch axis: torch's own
        return fn(x)
    lead = x.shape[:x.dim() - dims - 1]
    out = fn(x.reshape(-1, *x.shape[x.dim() - dims - 1:]))
    if isinstance(out, tuple):
        return tuple(o.reshape(*lead, *o.shape[1:]) for o in out)
    return out.reshape(*lead, *out.shape[1:])


def _conv(xp, x, w, pad, dims):
    if _native(xp, x, w, dims):
        conv = xp.nn.functional.conv2d if dims == 2 else xp.nn.functional.conv1d
        return over_batch(lambda v: conv(v, w, padding=pad), x, dims)
    k = tuple(w.shape[-dims:])
    win = _windows(xp, _pad(xp, x, pad, dims), k)
    sp = "hw"[:dims] if dims == 2 else "l"
    ij = "ij"[:dims] if dims == 2 else "k"
    return xp.einsum(f"...c{sp}{ij},...oc{ij}->...o{sp}", win, w)


def _conv_transpose(xp, z, w, pad, dims):
    if _native(xp, z, w, dims):
        conv = xp.nn.functional.conv_transpose2d if dims == 2 else xp.nn.functional.conv_transpose1d
        return over_batch(lambda v: conv(v, w, padding=pad), z, dims)
    k = tuple(w.shape[-dims:])
    sp = tuple(z.shape[-dims:])
    total = None
    for offset in np.ndindex(*k):
        kernel = w[(Ellipsis,) + offset]  # [..., o, c]
        part = xp.einsum("...o" + "ab"[:dims] + ",...oc->...c" + "ab"[:dims], z, kernel)
        widths = [(o, kk - 1 - o) for o, kk in zip(offset, k)]
        if xp is np:
            part = np.pad(part, [(0, 0)] * (part.ndim - dims) + widths)
        else:
            part = xp.nn.functional.pad(part, tuple(v for pair in reversed(widths) for v in pair))
        total = part if total is None else total + part
    index = (Ellipsis,) + tuple(slice(pad, s + kk - 1 - pad) for s, kk in zip(sp, k))
    return total[index]


def _conv_kernel(xp, x, z, pad, dims):
    sp = tuple(z.shape[-dims:])
    win = _windows(xp, _pad(xp, x, pad, dims), sp)
    ab, ij = "ab"[:dims], "ij"[:dims]
    return xp.einsum(f"...c{ij}{ab},...o{ab}->...oc{ij}", win, z)


def _kernel_over_batch(name: str, dims: int):
    """The kernel gradient summed over one batch axis b is a convolution with b
    as the channels: Σ_b x_b ⋆ z_b = (xᵀ ⋆ zᵀ)ᵀ, transposing b with c and o."""
    sp = "h w" if dims == 2 else "l"

    def contract(g, inputs, lift, k, pad=0):
        x, z = inputs
        if lift != 1 or k != 1 or x.type.rank != dims + 2 or z.type.rank != dims + 2:
            return None
        by_channel = g.apply_named(name, g.rearrange(g.whole(x), spec=f"b c {sp} -> c b {sp}"),
                                   g.rearrange(g.whole(z), spec=f"b o {sp} -> o b {sp}"), pad=pad)
        return g.rearrange(by_channel, spec=f"c o {sp} -> o c {sp}")
    return contract


def _conv_code(function: str, dims: int):
    """The torch call written out where the input has one batch axis and the kernel none."""
    def code(args, types, pad=0):
        if types[0].rank != dims + 2 or types[1].rank != dims + 2:
            return None
        return f"T.nn.functional.{function}({args[0]}, {args[1]}, padding={pad})"
    return code


def _conv_family(name: str, dims: int):
    """Register `name`, `name_transpose` and `name_kernel` for `dims`-d convolution."""
    sp, ks, big = (("h", "w"), ("kh", "kw"), ("H", "W")) if dims == 2 else (("l",), ("k",), ("L",))
    outs = ", ".join(f"{s} + 2*pad - {k} + 1" for s, k in zip(sp, ks))  # conv: input → output sizes
    grown = ", ".join(f"{b} + {k} - 1 - 2*pad" for b, k in zip(big, ks))  # transpose: output → input sizes
    kern = ", ".join(f"{s} + 2*pad - {b} + 1" for s, b in zip(sp, big))  # kernel: the kernel's sizes
    attrs = {"pad": Attr("dim", 0)}
    opts = dict(module=M, attrs=attrs, preserves_zero="any", glyph="conv")

    primitive(name, f"R[c, {', '.join(sp)}] * R[o, c, {', '.join(ks)}] -> R[o, {outs}]", check=_positive_output,
              torch=lambda T, x, w, pad=0: _conv(T, x, w, pad, dims), torch_code=_conv_code(name, dims),
              rd=lambda g, i, y, dy, pad=0: [g.apply_named(f"{name}_transpose", dy, i[1], pad=pad),
                                             g.apply_named(f"{name}_kernel", i[0], dy, pad=pad)],
              doc=f"cross-correlation of a channels × {' × '.join(sp)} input with an o × c × {' × '.join(ks)} kernel "
                  f"(stride 1, `pad` zeros each side)", **opts)(lambda x, w, pad=0: _conv(np, x, w, pad, dims))
    primitive(f"{name}_transpose", f"R[o, {', '.join(big)}] * R[o, c, {', '.join(ks)}] -> R[c, {grown}]",
              check=_positive_output, torch=lambda T, z, w, pad=0: _conv_transpose(T, z, w, pad, dims),
              torch_code=_conv_code(f"conv_transpose{dims}d", dims),
              rd=lambda g, i, y, dy, pad=0: [g.apply_named(name, dy, i[1], pad=pad),
                                             g.apply_named(f"{name}_kernel", dy, i[0], pad=pad)],
              doc=f"the adjoint of {name} in its input", **opts)(lambda z, w, pad=0: _conv_transpose(np, z, w, pad, dims))
    primitive(f"{name}_kernel", f"R[c, {', '.join(sp)}] * R[o, {', '.join(big)}] -> R[o, c, {kern}]",
              check=_positive_output, torch=lambda T, x, z, pad=0: _conv_kernel(T, x, z, pad, dims),
              contract=_kernel_over_batch(name, dims),
              rd=lambda g, i, y, dy, pad=0: [g.apply_named(f"{name}_transpose", i[1], dy, pad=pad),
                                             g.apply_named(name, i[0], dy, pad=pad)],
              doc=f"the adjoint of {name} in its kernel", **opts)(lambda x, z, pad=0: _conv_kernel(np, x, z, pad, dims))


_conv_family("conv1d", 1)
_conv_family("conv2d", 2)


@primitive("channel_bias", "R[c, h, w] * R[c] -> R[c, h, w]", module=M, glyph="+b", preserves_zero="all",
           torch=lambda T, x, b: x + b[..., None, None],
           rd=lambda g, i, y, dy: [dy, g.einsum(dy, spec="chw->c")])
def channel_bias(x, b):
    """b[c] added to every entry of channel c"""
    return x + np.asarray(b)[..., None, None]


# -- pooling -------------------------------------------------------------------------------
def _pool_size(g, size):
    return float(size * size) if isinstance(size, int) else g.square(g.sum(g.ones(shape=(size,))))


@primitive("upsample2d", "R[c, h, w] -> R[c, size*h, size*w]", module=M, attrs={"size": Attr("dim", 2)},
           glyph="upsample", preserves_zero="all",
           torch=lambda T, x, size=2: x.repeat_interleave(size, -1).repeat_interleave(size, -2),
           rd=lambda g, i, y, dy, size=2: [g.mul(g.avgpool2d(dy, size=size), _pool_size(g, size))])
def upsample2d(x, size=2):
    """each entry repeated over a size × size block"""
    return np.repeat(np.repeat(x, size, -1), size, -2)


def _pool(xp, x, size, reduce):
    if xp is not np:
        pool = xp.nn.functional.max_pool2d if reduce == "max" else xp.nn.functional.avg_pool2d
        return over_batch(lambda v: pool(v, size), x, 2)
    *lead, c, h, w = x.shape
    blocks = x.reshape(*lead, c, h // size, size, w // size, size)
    return getattr(blocks, reduce)(axis=(-3, -1))


@primitive("maxpool2d", "R[c, size*h, size*w] -> R[c, h, w]", module=M, attrs={"size": Attr("dim", 2)},
           glyph="max pool", torch=lambda T, x, size=2: _pool(T, x, size, "max"),
           rd=lambda g, i, y, dy, size=2: [g.unpool2d(dy, g.argmax_pool2d(i[0], size=size), size=size)])
def maxpool2d(x, size=2):
    """the largest entry of each size × size block"""
    return _pool(np, x, size, "max")


# The derivative of max-pooling goes through where each block's maximum is: an
# index into its channel's plane (row * width + column, the first maximum
# where several are equal, as torch counts), scattered to by `unpool2d` and
# gathered from by `gather2d`, each the other's adjoint.
def _argmax_pool(xp, x, size):
    if xp is not np:
        return over_batch(lambda v: xp.nn.functional.max_pool2d(v, size, return_indices=True)[1], x, 2)
    *lead, c, height, width = x.shape
    h, w = height // size, width // size
    blocks = x.reshape(*lead, c, h, size, w, size).swapaxes(-3, -2).reshape(*lead, c, h, w, size * size)
    di, dj = np.divmod(blocks.argmax(-1), size)
    return (np.arange(h)[:, None] * size + di) * width + np.arange(w) * size + dj


def _planes(xp, x, idx):
    """`x` and `idx` broadcast over their batch axes, each plane flattened."""
    if tuple(x.shape[:-3]) != tuple(idx.shape[:-3]):
        lead = np.broadcast_shapes(tuple(x.shape[:-3]), tuple(idx.shape[:-3]))
        if xp is np:
            x, idx = np.broadcast_to(x, lead + x.shape[-3:]), np.broadcast_to(idx, lead + idx.shape[-3:])
        else:
            x, idx = x.expand(*lead, *x.shape[-3:]), idx.expand(*lead, *idx.shape[-3:])
    return x.reshape(*x.shape[:-2], -1), idx.reshape(*idx.shape[:-2], -1)


def _unpool(xp, dy, idx, size):
    *lead, c, h, w = dy.shape
    flat, where = _planes(xp, dy, idx)
    if xp is not np:
        return flat.new_zeros(flat.shape[:-1] + (h * w * size * size,)).scatter_(-1, where, flat).reshape(
            *flat.shape[:-2], c, h * size, w * size)
    out = np.zeros(flat.shape[:-1] + (h * w * size * size,), dtype=np.result_type(dy, 0.0))
    np.put_along_axis(out, where, flat, -1)
    return out.reshape(*flat.shape[:-2], c, h * size, w * size)


def _gather(xp, x, idx):
    flat, where = _planes(xp, x, idx)
    out = flat.gather(-1, where) if xp is not np else np.take_along_axis(flat, where, -1)
    return out.reshape(*where.shape[:-1], *idx.shape[-2:])


@primitive("argmax_pool2d", "R[c, size*h, size*w] -> Z[c, h, w]", module=M, attrs={"size": Attr("dim", 2)},
           glyph="argmax", torch=lambda T, x, size=2: _argmax_pool(T, x, size), rd=lambda g, i, y, dy, size=2: [None])
def argmax_pool2d(x, size=2):
    """where in its channel's plane the largest entry of each size × size block is"""
    return _argmax_pool(np, x, size)


def _unpool_code(args, types, size=2):
    """`_unpool` written out where the cotangent and the indices have one shape."""
    (dy, idx), shape = args, tuple(types[0].shape)
    if shape != tuple(types[1].shape):
        return None
    *lead, h, w = shape
    planes = (*lead, h * w)
    return (f"{dy}.new_zeros({(*lead, h * w * size * size)}).scatter_(-1, {idx}.reshape({planes}), "
            f"{dy}.reshape({planes})).reshape({(*lead, h * size, w * size)})")


@primitive("unpool2d", "R[c, h, w] * Z[c, h, w] -> R[c, size*h, size*w]", module=M, attrs={"size": Attr("dim", 2)},
           glyph="unpool", preserves_zero="any", torch=lambda T, dy, idx, size=2: _unpool(T, dy, idx, size),
           torch_code=_unpool_code,
           rd=lambda g, i, y, dz, size=2: [g.gather2d(dz, i[1], size=size), None])
def unpool2d(dy, idx, size=2):
    """each entry put at its index in a plane of zeros (the adjoint of gather2d)"""
    return _unpool(np, dy, idx, size)


@primitive("gather2d", "R[c, size*h, size*w] * Z[c, h, w] -> R[c, h, w]", module=M, attrs={"size": Attr("dim", 2)},
           glyph="gather", preserves_zero="any", torch=lambda T, x, idx, size=2: _gather(T, x, idx),
           rd=lambda g, i, y, dz, size=2: [g.unpool2d(dz, i[1], size=size), None])
def gather2d(x, idx, size=2):
    """the entries of each plane at the indices (the adjoint of unpool2d)"""
    return _gather(np, x, idx)


@primitive("avgpool2d", "R[c, size*h, size*w] -> R[c, h, w]", module=M, attrs={"size": Attr("dim", 2)},
           glyph="avg pool", preserves_zero="all", torch=lambda T, x, size=2: _pool(T, x, size, "mean"),
           rd=lambda g, i, y, dy, size=2: [g.div(g.upsample2d(dy, size=size), _pool_size(g, size))])
def avgpool2d(x, size=2):
    """the mean of each size × size block"""
    return _pool(np, x, size, "mean")
