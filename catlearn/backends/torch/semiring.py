"""Semiring contractions in torch, blocked so that memory stays O(output + block).

A commutative semiring (S, ⊕, ⊗, 0, 1) makes S-valued matrices a category,
composition being the semiring matrix product (a·b)ᵢⱼ = ⊕ₖ aᵢₖ ⊗ bₖⱼ with the
diagonal of 1s as identities; sequences under the convolution
(f ⋆ g)ₖ = ⊕_{i+j=k} fᵢ ⊗ gⱼ form a monoid with unit δ₀.  Outside the real
semiring torch has no kernel for these, and the direct broadcast-then-reduce
code builds the whole (…, m, k, n) product.  The kernels here ⊕-reduce over k
in blocks into a running accumulator (for ``log`` a running maximum and scaled
sum, the streaming logsumexp), tiling the rows so that one block's temporary
holds at most :data:`BLOCK_ELEMENTS` entries.

Gradients: ``log`` differentiates through the softmax weights, blockwise;
selective semirings (⊕ = max or min) through the winning k of each output entry
(a subgradient, recorded in the forward pass); the rest through torch's own ops.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

BLOCK_ELEMENTS = 2 ** 19  # entries of one block's temporary (…, rows, k-block, n): 2 MiB in float32
BLOCK_K = 16  # the most k per block, unless asked for more


def _reduction(fn: Callable, zero) -> Callable[[Tensor, int], Tensor]:
    """The ⊕-reduction `fn(x, dim)`, giving the semiring's `zero` over an empty axis."""
    def reduce(x: Tensor, dim: int) -> Tensor:
        if x.shape[dim] == 0:
            shape = list(x.shape)
            del shape[dim]
            return torch.full(shape, zero, dtype=x.dtype, device=x.device)
        return fn(x, dim)
    return reduce


def _boolean_matmul(a: Tensor, b: Tensor) -> Tensor:
    """∨ of ∧s as a real product of 0/1 counts (exact: float32 counts to 2²⁴), tested for > 0."""
    f = torch.float32 if a.shape[-1] < 2 ** 24 else torch.float64
    return (torch.matmul(a.to(f), b.to(f)) > 0).to(torch.result_type(a, b))


@dataclass(frozen=True)
class Semiring:
    """A commutative semiring (S, ⊕, ⊗, 0, 1) on torch tensors.

    `add` is ⊕ of two tensors, `sum(x, dim)` its reduction over an axis (the
    empty ⊕ being `zero`), `mul` is ⊗.  `select` is ``"max"`` or ``"min"``
    where ⊕ picks one of its arguments (a selective semiring): its kernels
    record the winning index and differentiate through it.  `dense`, where
    present, is the matrix product as one torch kernel."""
    name: str
    zero: float | int | bool
    one: float | int | bool
    add: Callable[[Tensor, Tensor], Tensor]
    mul: Callable[[Tensor, Tensor], Tensor]
    sum: Callable[[Tensor, int], Tensor]
    select: str | None = None
    dense: Callable[[Tensor, Tensor], Tensor] | None = None

    def full(self, shape, value, like: Tensor) -> Tensor:
        """A tensor of `shape` filled with `value`, of `like`'s dtype and device."""
        return torch.full(tuple(shape), value, dtype=like.dtype, device=like.device)


_INF = math.inf
SEMIRINGS: dict[str, Semiring] = {s.name: s for s in (
    Semiring("real", 0.0, 1.0, torch.add, torch.mul, _reduction(torch.sum, 0.0), dense=torch.matmul),
    Semiring("log", -_INF, 0.0, torch.logaddexp, torch.add, _reduction(torch.logsumexp, -_INF)),
    Semiring("maxplus", -_INF, 0.0, torch.maximum, torch.add, _reduction(torch.amax, -_INF), select="max"),
    Semiring("minplus", _INF, 0.0, torch.minimum, torch.add, _reduction(torch.amin, _INF), select="min"),
    Semiring("viterbi", 0.0, 1.0,  # on [0, ∞): probabilities
             torch.maximum, torch.mul, _reduction(torch.amax, 0.0), select="max"),
    Semiring("boolean", False, True, torch.maximum, torch.minimum, _reduction(torch.amax, False),
             dense=_boolean_matmul),
    Semiring("counting", 0, 1, torch.add, torch.mul, _reduction(torch.sum, 0)),
)}


def semiring(name: str | Semiring) -> Semiring:
    """The semiring called `name` (a :class:`Semiring` is returned as it is)."""
    if isinstance(name, Semiring):
        return name
    try:
        return SEMIRINGS[name]
    except KeyError:
        raise ValueError(f"unknown semiring {name!r}; known: {', '.join(SEMIRINGS)}") from None


_resolve = semiring  # the kernels' parameter `semiring` shadows the lookup


def _plan(batch: int, m: int, k: int, n: int, block: int | None) -> tuple[int, int]:
    """(k per block, rows per tile) keeping a block's temporary within :data:`BLOCK_ELEMENTS` entries."""
    kb = block or max(1, min(k, BLOCK_K, BLOCK_ELEMENTS // max(1, batch * n)))
    rows = max(1, min(m, BLOCK_ELEMENTS // max(1, batch * kb * n)))
    return kb, rows


def _tiles(m: int, k: int, kb: int, rows: int):
    """(row slice, k slice) of each block, all k blocks of a row tile in turn."""
    for i0 in range(0, m, rows):
        for k0 in range(0, k, kb):
            yield slice(i0, i0 + rows), slice(k0, k0 + kb)


def _block(a: Tensor, b: Tensor, s: Semiring, i: slice, j: slice) -> Tensor:
    """aᵢₖ ⊗ bₖⱼ for the rows `i` and the k's `j`: (…, rows, k-block, n)."""
    return s.mul(a[..., i, j, None], b[..., None, j, :])


def _generic(a: Tensor, b: Tensor, s: Semiring, kb: int, rows: int) -> Tensor:
    """The product by torch's ops alone (so differentiable by torch), one row tile after another."""
    m, k = a.shape[-2:]
    tiles = []
    for i0 in range(0, m, rows):
        i = slice(i0, i0 + rows)
        acc = None
        for k0 in range(0, k, kb):
            part = s.sum(_block(a, b, s, i, slice(k0, k0 + kb)), -2)
            acc = part if acc is None else s.add(acc, part)
        tiles.append(acc)
    return torch.cat(tiles, -2)


class _SelectMatmul(torch.autograd.Function):
    """The product over a selective semiring; its gradient flows through the winning k only."""

    @staticmethod
    def forward(ctx, a, b, s, kb, rows):
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        out = s.full(batch + (m, n), s.zero, a)
        want = any(ctx.needs_input_grad[:2])
        arg = torch.zeros(batch + (m, n), dtype=torch.long, device=a.device) if want else None
        best, wins = (torch.max, torch.gt) if s.select == "max" else (torch.min, torch.lt)
        for i, j in _tiles(m, k, kb, rows):
            o = out[..., i, :]
            t = _block(a, b, s, i, j)
            if want:
                v, w = best(t, -2)
                won = wins(v, o)
                arg[..., i, :] = torch.where(won, w + j.start, arg[..., i, :])
                o.copy_(torch.where(won, v, o))
            else:
                s.add(o, s.sum(t, -2), out=o)
        ctx.s = s
        if want:
            ctx.save_for_backward(a, b, arg)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, arg = ctx.saved_tensors
        s = ctx.s
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        batch = arg.shape[:-2]
        if k == 0:
            return torch.zeros_like(a), torch.zeros_like(b), None, None, None
        a_win = torch.gather(a.expand(batch + (m, k)), -1, arg).requires_grad_()
        b_win = torch.gather(b.expand(batch + (k, n)), -2, arg).requires_grad_()
        with torch.enable_grad():
            ga_win, gb_win = torch.autograd.grad(s.mul(a_win, b_win), (a_win, b_win), g)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = torch.zeros(batch + (m, k), dtype=a.dtype, device=a.device).scatter_add_(-1, arg, ga_win)
            ga = ga.sum_to_size(a.shape)
        if ctx.needs_input_grad[1]:
            gb = torch.zeros(batch + (k, n), dtype=b.dtype, device=b.device).scatter_add_(-2, arg, gb_win)
            gb = gb.sum_to_size(b.shape)
        return ga, gb, None, None, None


class _LogMatmul(torch.autograd.Function):
    """The log-semiring product cᵢⱼ = log Σₖ exp(aᵢₖ + bₖⱼ) by a streaming logsumexp; its
    gradient weights g by the softmax over k, exp(aᵢₖ + bₖⱼ − cᵢⱼ), one block at a time."""

    @staticmethod
    def forward(ctx, a, b, kb, rows):
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        top = a.new_full(batch + (m, n), -_INF)  # running maximum over the k's seen
        total = a.new_zeros(batch + (m, n))  # running Σ exp(a + b − top)
        for i, j in _tiles(m, k, kb, rows):
            t = a[..., i, j, None] + b[..., None, j, :]
            new = torch.maximum(top[..., i, :], t.amax(-2))
            shift = new.masked_fill(new == -_INF, 0.0)  # all −∞ so far: nothing to rescale
            acc = total[..., i, :]
            acc.mul_(torch.exp(top[..., i, :] - shift))
            acc.add_(t.sub_(shift[..., None, :]).exp_().sum(-2))
            top[..., i, :] = new
        out = total.log_().add_(top)
        ctx.save_for_backward(a, b, out)
        ctx.plan = kb, rows
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, c = ctx.saved_tensors
        kb, rows = ctx.plan
        m, k = a.shape[-2:]
        batch = c.shape[:-2]
        c = c.masked_fill(c == -_INF, 0.0)  # where c = −∞ every weight is exp(−∞) = 0
        ga = a.new_zeros(batch + (m, k)) if ctx.needs_input_grad[0] else None
        gb = b.new_zeros(batch + b.shape[-2:]) if ctx.needs_input_grad[1] else None
        for i, j in _tiles(m, k, kb, rows):
            w = a[..., i, j, None] + b[..., None, j, :]
            w.sub_(c[..., i, None, :]).exp_().mul_(g[..., i, None, :])
            if ga is not None:
                ga[..., i, j] = w.sum(-1)
            if gb is not None:
                gb[..., j, :] += w.sum(-3)
        return (None if ga is None else ga.sum_to_size(a.shape),
                None if gb is None else gb.sum_to_size(b.shape), None, None)


def semiring_matmul(a: Tensor, b: Tensor, semiring: str | Semiring, block: int | None = None) -> Tensor:
    """The semiring matrix product (a·b)ᵢⱼ = ⊕ₖ aᵢₖ ⊗ bₖⱼ of (…, m, k) and (…, k, n), batch axes
    broadcast: composition in the category of S-matrices.

    A semiring with a dense torch kernel uses it unless `block` is given; the
    others ⊕-reduce over k in blocks of `block` k's (by default at most
    :data:`BLOCK_K`, fewer where a block's temporary would exceed
    :data:`BLOCK_ELEMENTS`), so that memory stays O(output + block)."""
    s = _resolve(semiring)
    if a.dim() < 2 or b.dim() < 2:
        raise ValueError(f"semiring_matmul needs matrices (…, m, k) and (…, k, n), got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"semiring_matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not compose")
    if block is not None and block < 1:
        raise ValueError(f"semiring_matmul: block must be positive, got {block}")
    dt = torch.result_type(a, b)
    a, b = a.to(dt), b.to(dt)
    if s.dense is not None and block is None:
        return s.dense(a, b)
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    kb, rows = _plan(math.prod(batch), m, k, n, block)
    if s.name == "log":
        return _LogMatmul.apply(a, b, kb, rows)
    if s.select is not None:
        return _SelectMatmul.apply(a, b, s, kb, rows)
    if k == 0 or m == 0:
        return s.full(batch + (m, n), s.zero, a)
    return _generic(a, b, s, kb, rows)


def _sum_out(x: Tensor, axes: str, keep: str, s: Semiring) -> tuple[Tensor, str]:
    """x with its axes whose index is not in `keep` ⊕-reduced away, and the indices left."""
    for d in reversed(range(len(axes))):
        if axes[d] not in keep:
            x = s.sum(x, d)
    return x, "".join(c for c in axes if c in keep)


def semiring_einsum(spec: str, *operands: Tensor, semiring: str | Semiring, block: int | None = None) -> Tensor:
    """The two-operand contraction `spec` (einsum notation, explicit ``->``, one letter an axis)
    over a semiring: ⊕ over the indices absent from the output, ⊗ of the operands' entries.

    Indices in both operands and the output are batch axes (broadcasting from
    size 1), those in one operand and the output are free, those in both
    operands only are contracted, and those in one operand only are ⊕-reduced
    first; the contraction then runs as one :func:`semiring_matmul`."""
    s = _resolve(semiring)
    if len(operands) != 2:
        raise ValueError(f"semiring_einsum takes two operands, got {len(operands)}")
    ins, arrow, out = spec.replace(" ", "").partition("->")
    left, _, right = ins.partition(",")
    if not arrow or ins.count(",") != 1:
        raise ValueError(f"semiring_einsum needs a spec 'x,y->z', got {spec!r}")
    x, y = operands
    for axes, t in ((left, x), (right, y), (out, None)):
        if not all(c.isalpha() for c in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"semiring_einsum: {axes!r} in {spec!r} must be distinct letters")
        if t is not None and len(axes) != t.dim():
            raise ValueError(f"semiring_einsum: {axes!r} names {len(axes)} axes of a tensor of shape {tuple(t.shape)}")
    if set(out) - set(left) - set(right):
        raise ValueError(f"semiring_einsum: output indices {''.join(sorted(set(out) - set(left) - set(right)))} "
                         f"of {spec!r} are in no operand")
    x, left = _sum_out(x, left, right + out, s)
    y, right = _sum_out(y, right, left + out, s)
    size = {}
    for axes, t in ((left, x), (right, y)):
        for c, d in zip(axes, t.shape):
            if size.setdefault(c, d) != d and not (c in out and 1 in (d, size[c])):
                raise ValueError(f"semiring_einsum: index {c!r} of {spec!r} has sizes {size[c]} and {d}")
            size[c] = max(size[c], d)
    batch = [c for c in out if c in left and c in right]
    free_x = [c for c in left if c not in right]
    free_y = [c for c in right if c not in left]
    summed = [c for c in left if c in right and c not in out]
    xm = x.permute([left.index(c) for c in batch + free_x + summed])
    xm = xm.reshape(xm.shape[:len(batch)] + (math.prod(size[c] for c in free_x), math.prod(size[c] for c in summed)))
    ym = y.permute([right.index(c) for c in batch + summed + free_y])
    ym = ym.reshape(ym.shape[:len(batch)] + (math.prod(size[c] for c in summed), math.prod(size[c] for c in free_y)))
    z = semiring_matmul(xm, ym, s, block)
    order = batch + free_x + free_y
    z = z.reshape(z.shape[:len(batch)] + tuple(size[c] for c in free_x + free_y))
    return z.permute([order.index(c) for c in out])


def semiring_conv1d(x: Tensor, w: Tensor, semiring: str | Semiring) -> Tensor:
    """The full convolution (x ⋆ w)ₖ = ⊕_{i+j=k} xᵢ ⊗ wⱼ over the last axis (length
    len x + len w − 1), other axes broadcast: the monoid product of S-sequences, unit δ₀ = [1].

    One ⊗ of x by each wⱼ, ⊕-ed into the output at offset j (over the shorter
    operand, ⊗ being commutative)."""
    s = _resolve(semiring)
    if x.dim() < 1 or w.dim() < 1:
        raise ValueError("semiring_conv1d needs tensors of at least one axis")
    dt = torch.result_type(x, w)
    x, w = x.to(dt), w.to(dt)
    if x.shape[-1] < w.shape[-1]:
        x, w = w, x
    lx, lw = x.shape[-1], w.shape[-1]
    batch = torch.broadcast_shapes(x.shape[:-1], w.shape[:-1])
    out = s.full(batch + (max(lx + lw - 1, 0),), s.zero, x)
    for j in range(lw if lx else 0):
        out = out.slice_scatter(s.add(out[..., j:j + lx], s.mul(x, w[..., j:j + 1])), dim=-1, start=j, end=j + lx)
    return out


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def semiring_conv2d(image: Tensor, kernel: Tensor, semiring: str | Semiring, stride=1, padding=0) -> Tensor:
    """The 2-d cross-correlation of torch.nn.functional.conv2d over a semiring:
    out[n, o, y, x] = ⊕_{c, i, j} image[n, c, y·s + i, x·s + j] ⊗ kernel[o, c, i, j],
    of images (N, C_in, H, W) and a kernel (C_out, C_in, kh, kw), the image
    padded with the semiring's zero.

    Over the reals this is conv2d itself; otherwise one :func:`semiring_matmul`
    over the channels for each kernel offset (i, j), ⊕-ed together, so that no
    unfolded (N, C, kh, kw, L) tensor is built."""
    s = _resolve(semiring)
    if image.dim() != 4 or kernel.dim() != 4 or image.shape[1] != kernel.shape[1]:
        raise ValueError(f"semiring_conv2d needs images (N, C, H, W) and a kernel (O, C, kh, kw), "
                         f"got shapes {tuple(image.shape)} and {tuple(kernel.shape)}")
    if s.name == "real":
        return F.conv2d(image, kernel, stride=stride, padding=padding)
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    n, c, h, w = image.shape
    o, _, kh, kw = kernel.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if ho <= 0 or wo <= 0 or kh == 0 or kw == 0:
        raise ValueError(f"semiring_conv2d: a kernel of shape {tuple(kernel.shape)} does not fit images of "
                         f"shape {tuple(image.shape)} padded by {(ph, pw)}")
    dt = torch.result_type(image, kernel)
    x = F.pad(image.to(dt), (pw, pw, ph, ph), value=s.zero) if ph or pw else image.to(dt)
    kernel = kernel.to(dt)
    out = None
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw].reshape(n, c, ho * wo)
            part = semiring_matmul(kernel[:, :, i, j], patch, s)
            out = part if out is None else s.add(out, part)
    return out.reshape(n, o, ho, wo)
