"""``std.array``: indexing, reshaping, reductions and constants."""
import re
from functools import lru_cache

import numpy as np

from ..core.errors import TypeError_
from ..core.primitives import Attr, placed, primitive
from ..core.signature import DTYPE_VAR, Signature
from ..core.types import Poly, TensorType, dim_mul, dim_str

M = "std.array"


def _index_check(inputs, attrs, outs):
    n = inputs[0].shape[-1] if inputs[0].rank else None
    i = attrs["i"]
    if isinstance(n, int) and not 0 <= i < n:
        return (f"index {i} is out of range for an axis of size {n}", f"indices run from 0 to {n - 1}")
    if i < 0:
        return (f"index {i} is negative", "indices start at 0")
    return None


def _last(g, w):
    return w.type.shape[-1]


@primitive("index", "D[n] -> D", module=M, attrs={"i": Attr("int")}, check=_index_check, polynomial=True, glyph="[i]",
           torch=lambda T, x, i: x[..., i], dagger=lambda g, x, dy, i: g.embed(dy, i=i, n=_last(g, x)))
def index(x, i):
    """xᵢ: one entry of the last axis"""
    return x[..., i]


def _embed_check(inputs, attrs, outs):
    n, i = attrs["n"], attrs["i"]
    if i < 0 or (isinstance(n, int) and i >= n):
        return (f"position {i} is out of range for a vector of size {dim_str(n)}", None)
    return None


@primitive("embed", "D -> D[n]", module=M, attrs={"i": Attr("int"), "n": Attr("dim")}, check=_embed_check,
           polynomial=True, glyph="eᵢ",
           torch=lambda T, x, i, n: T.stack([x if j == i else T.zeros_like(x) for j in range(n)], -1),
           dagger=lambda g, x, dy, i, n: g.index(dy, i=i))
def embed(x, i, n):
    """the vector of size n that is x at position i and zero elsewhere (the adjoint of index)"""
    out = np.zeros(np.shape(x) + (n,), dtype=np.asarray(x).dtype)
    out[..., i] = x
    return out


def _batch(T, x, y):
    return tuple(np.broadcast_shapes(tuple(x.shape[:-1]), tuple(y.shape[:-1])))


@primitive("concat", "D[n] * D[m] -> D[n + m]", module=M, polynomial=True, glyph="⧺", preserves_zero="all",
           torch=lambda T, x, y: T.cat([x.expand(*_batch(T, x, y), x.shape[-1]),
                                        y.expand(*_batch(T, x, y), y.shape[-1])], -1),
           rd=lambda g, ins, y, dy: [g.slice(dy, start=0, stop=_last(g, ins[0])),
                                     g.slice(dy, start=_last(g, ins[0]), stop=_last(g, y))])
def concat(x, y):
    """the two vectors one after the other"""
    batch = np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    return np.concatenate([np.broadcast_to(x, batch + x.shape[-1:]), np.broadcast_to(y, batch + y.shape[-1:])], -1)


def _slice_check(inputs, attrs, outs):
    n = inputs[0].shape[-1] if inputs[0].rank else None
    start, stop = attrs["start"], attrs["stop"]
    if isinstance(start, int) and isinstance(stop, int) and not 0 <= start <= stop:
        return (f"the slice {start}:{stop} is empty or reversed", "slices run from start to stop ≥ start ≥ 0")
    if isinstance(n, int) and isinstance(stop, int) and stop > n:
        return (f"the slice ends at {stop}, past the axis of size {n}", None)
    return None


@primitive("slice", "D[n] -> D[stop - start]", module=M, attrs={"start": Attr("dim"), "stop": Attr("dim")},
           check=_slice_check, polynomial=True, glyph="[:]", torch=lambda T, x, start, stop: x[..., start:stop],
           dagger=lambda g, x, dy, start, stop: g.pad(dy, before=start, after=_last(g, x) - stop))
def slice_(x, start, stop):
    """the entries start … stop − 1 of the last axis"""
    return x[..., start:stop]


@primitive("pad", "D[n] -> D[before + n + after]", module=M, attrs={"before": Attr("dim"), "after": Attr("dim")},
           polynomial=True, glyph="0|x|0", torch=lambda T, x, before, after: T.nn.functional.pad(x, (before, after)),
           dagger=lambda g, x, dy, before, after: g.slice(dy, start=before, stop=before + _last(g, x)))
def pad(x, before, after):
    """the last axis with `before` zeros in front and `after` behind (the adjoint of slice)"""
    return np.pad(x, [(0, 0)] * (np.ndim(x) - 1) + [(before, after)])


@primitive("broadcast", "D -> D[n]", module=M, attrs={"n": Attr("dim")}, polynomial=True, glyph="↦",
           torch=lambda T, x, n: x[..., None].expand(*x.shape, n), dagger=lambda g, x, dy, n: g.sum(dy))
def broadcast(x, n):
    """n copies of a scalar as a vector"""
    return np.repeat(np.asarray(x)[..., None], n, -1)


@primitive("flatten", "D[a, b] -> D[a * b]", module=M, polynomial=True, glyph="♭",
           torch=lambda T, x: x.reshape(*x.shape[:-2], -1),
           dagger=lambda g, x, dy: g.reshape(dy, shape=tuple(x.type.shape[-2:]), axes=1))
def flatten(x):
    """the last two axes merged into one"""
    return x.reshape(x.shape[:-2] + (-1,))


def _reshape_rule(inputs, attrs):
    (x,) = inputs
    shape, k = tuple(attrs["shape"]), attrs.get("axes", 1)
    if not 1 <= k <= x.rank:
        raise TypeError_(f"`reshape` over the last {k} axes needs a tensor with at least {k} axes", found=str(x))
    before, after = 1, 1
    for d in x.shape[x.rank - k:]:
        before = dim_mul(before, d)
    for d in shape:
        after = dim_mul(after, d)
    if before != after:
        raise TypeError_("`reshape` must keep the number of elements",
                         expected=f"{dim_str(before)} elements", found=f"shape ({', '.join(map(dim_str, shape))}) with {dim_str(after)}",
                         hint="`axes=k` reshapes the last k axes; the leading ones are batch axes")
    lift = x.rank - k
    return (TensorType(x.dtype, x.shape[:lift] + shape, x.names[:lift] + (None,) * len(shape), min(x.batch, lift)),), lift


def _reshape_dagger(g, x, dy, shape, axes=1):
    return g.reshape(dy, shape=tuple(x.type.shape[x.type.rank - axes:]), axes=len(shape))


@primitive("reshape", None, module=M, attrs={"shape": Attr("dims"), "axes": Attr("int", 1)},
           type_rule=_reshape_rule, polynomial=True, glyph="⤳", arity=1, dagger=_reshape_dagger,
           torch=lambda T, x, shape, axes=1: x.reshape(tuple(x.shape[:x.dim() - axes]) + tuple(shape)),
           torch_code=lambda args, types, shape, axes=1:
               f"{args[0]}.reshape({types[0].shape[:types[0].rank - axes] + tuple(shape)})")
def reshape(x, shape, axes=1):
    """the last `axes` axes reshaped to `shape`"""
    return x.reshape(x.shape[:x.ndim - axes] + tuple(shape))


_WORDS = re.compile(r"^\s*([A-Za-z_]\w*(?:\s+[A-Za-z_]\w*)*)\s*->\s*([A-Za-z_]\w*(?:\s+[A-Za-z_]\w*)*)\s*$")


def _rearrange_parts(spec: str):
    m = _WORDS.match(spec)
    if not m:
        raise TypeError_(f"`{spec}` is not a rearrangement", expected='axis names, e.g. "seq d -> d seq"', found=spec)
    src, dst = m.group(1).split(), m.group(2).split()
    if sorted(src) != sorted(dst) or len(set(src)) != len(src):
        raise TypeError_(f"`{spec}` must name the same distinct axes on both sides", found=spec)
    return src, dst


def _rearrange_rule(inputs, attrs):
    (x,) = inputs
    src, dst = _rearrange_parts(attrs["spec"])
    k = len(src)
    if x.rank < k:
        raise TypeError_(f"`rearrange` of {k} axes needs a tensor with at least {k} axes", found=str(x))
    lift = x.rank - k
    for word, name in zip(src, x.names[lift:]):
        if name is not None and name != word:
            raise TypeError_(f"`rearrange` names an axis `{word}` where the tensor has `{name}`",
                             expected=" ".join(src), found=" ".join(n or "_" for n in x.names[lift:]),
                             hint="the pattern's names must match the axis names of the tensor, in order")
    sig = Signature((TensorType(DTYPE_VAR, tuple(Poly.var(w) for w in src)),),
                    (TensorType(DTYPE_VAR, tuple(Poly.var(w) for w in dst)),))
    (out,), lift = sig.apply(inputs, {}, "rearrange")
    names = x.names[:lift] + tuple(w if x.names[lift + src.index(w)] else None for w in dst)
    return (TensorType(out.dtype, out.shape, names, out.batch),), lift


@lru_cache(maxsize=1024)
def _permutation(ndim: int, spec: str) -> tuple[int, ...]:
    src, dst = _rearrange_parts(spec)
    k = len(src)
    return tuple(range(ndim - k)) + tuple(ndim - k + src.index(w) for w in dst)


def _rearrange_dagger(g, x, dy, spec):
    src, dst = _rearrange_parts(spec)
    return g.rearrange(dy, spec=f"{' '.join(dst)} -> {' '.join(src)}")


@primitive("rearrange", None, module=M, attrs={"spec": Attr("str", doc='e.g. "seq d -> d seq"')},
           type_rule=_rearrange_rule, polynomial=True, glyph="⇄", arity=1, dagger=_rearrange_dagger,
           torch=lambda T, x, spec: x.permute(*_permutation(x.dim(), spec)),
           torch_code=lambda args, types, spec: f"{args[0]}.permute({_permutation(types[0].rank, spec)})")
def rearrange(x, spec):
    """the last axes permuted by name"""
    return np.transpose(x, _permutation(x.ndim, spec))


@primitive("sum", "D[n] -> D", module=M, polynomial=True, glyph="Σ", torch=lambda T, x: x.sum(-1),
           dagger=lambda g, x, dy: g.broadcast(dy, n=_last(g, x)))
def sum_(x):
    """⊕ over the last axis"""
    return np.sum(x, -1)


def _mean_rd(g, ins, y, dy):
    n = _last(g, ins[0])
    size = float(n) if isinstance(n, int) else g.broadcast(g.sum(g.ones(shape=(n,))), n=n)  # n, as a wire if symbolic
    return [g.div(g.broadcast(dy, n=n), size)]


@primitive("mean", "R[n] -> R", module=M, glyph="mean", preserves_zero="all", torch=lambda T, x: x.mean(-1),
           rd=_mean_rd)
def mean(x):
    """the average over the last axis"""
    return np.mean(x, -1)


# Selections take a subgradient: the whole cotangent goes to the first selected
# entry (the lowest index along the axis, where several are equal), never split
# between ties, so the cotangents of an output's entries sum to its own exactly.
# The torch semantics pick that entry by argmax/argmin (the first, as torch
# documents), so that torch's autograd follows the same convention.
def _first_mask(x, pick):
    out = np.zeros(np.shape(x), dtype=np.result_type(x, 1.0))
    np.put_along_axis(out, pick(x, -1)[..., None], 1.0, -1)
    return out


def _first_mask_torch(T, x, pick):
    return T.zeros_like(x).scatter(-1, pick(x, -1, keepdim=True), 1.0)


@primitive("argmax_mask", "D[n] -> D[n]", module=M, dtypes="ordered", glyph="argmax",
           torch=lambda T, x: _first_mask_torch(T, x, T.argmax), rd=lambda g, ins, y, dy: [None])
def argmax_mask(x):
    """1 at the first largest entry of the last axis, 0 elsewhere (its derivative is zero almost everywhere)"""
    return _first_mask(x, np.argmax)


@primitive("argmin_mask", "D[n] -> D[n]", module=M, dtypes="ordered", glyph="argmin",
           torch=lambda T, x: _first_mask_torch(T, x, T.argmin), rd=lambda g, ins, y, dy: [None])
def argmin_mask(x):
    """1 at the first smallest entry of the last axis, 0 elsewhere (its derivative is zero almost everywhere)"""
    return _first_mask(x, np.argmin)


@primitive("max", "D[n] -> D", module=M, dtypes="ordered", glyph="max",
           torch=lambda T, x: x.gather(-1, x.argmax(-1, keepdim=True))[..., 0],
           rd=lambda g, ins, y, dy: [g.mul(g.broadcast(dy, n=_last(g, ins[0])), g.argmax_mask(ins[0]))])
def max_(x):
    """the largest entry of the last axis (its derivative: the first largest entry's)"""
    return np.max(x, -1)


@primitive("min", "D[n] -> D", module=M, dtypes="ordered", glyph="min",
           torch=lambda T, x: x.gather(-1, x.argmin(-1, keepdim=True))[..., 0],
           rd=lambda g, ins, y, dy: [g.mul(g.broadcast(dy, n=_last(g, ins[0])), g.argmin_mask(ins[0]))])
def min_(x):
    """the smallest entry of the last axis (its derivative: the first smallest entry's)"""
    return np.min(x, -1)


@primitive("eq", "D * D -> D", module=M, glyph="=", torch=lambda T, x, y: (x == y).to(x.dtype),
           rd=lambda g, ins, y, dy: [None, None])
def eq(x, y):
    """1 where x = y, else 0 (its derivative is zero almost everywhere)"""
    return np.equal(x, y).astype(np.result_type(x, y))


def _summed_batch(x: TensorType, lift: int, k: int) -> int:
    """How many of the `k` axes of x summed after its first `lift` are batch axes."""
    return max(0, min(lift + k, x.batch) - lift)


def _leading_rule(inputs, attrs):
    (x,) = inputs
    keep, k = attrs["keep"], attrs["axes"]
    if x.rank < k + keep:
        raise TypeError_(f"`sum_leading` needs {k + keep} axes", found=str(x))
    lift = x.rank - k - keep
    batch = x.batch - _summed_batch(x, lift, k)
    return (TensorType(x.dtype, x.shape[:lift] + x.shape[lift + k:], x.names[:lift] + x.names[lift + k:], batch),), lift


def _sum_leading(x, axes, keep):
    lift = np.ndim(x) - axes - keep
    return x.sum(axis=tuple(range(lift, lift + axes)))


def _sum_leading_dagger(g, x, dy, axes, keep):
    """The summed axes repeated again: the model's by `repeat_leading`, batch axes by `broadcast_batch`."""
    t = x.type
    lift = t.rank - axes - keep
    shape, batch = tuple(t.shape[lift:lift + axes]), _summed_batch(t, lift, axes)
    if batch and lift:
        raise TypeError_("`sum_leading` over batch axes after others has no adjoint here",
                         hint="sum the leading batch axes")
    out = g.repeat_leading(dy, shape=shape[batch:], keep=keep) if axes > batch else dy
    return g.broadcast_batch(out, shape=shape[:batch]) if batch else out


@primitive("sum_leading", None, module=M, attrs={"axes": Attr("int"), "keep": Attr("int")}, type_rule=_leading_rule,
           polynomial=True, glyph="Σ…", arity=1,
           torch=lambda T, x, axes, keep: x.sum(dim=tuple(range(x.dim() - axes - keep, x.dim() - keep))) if axes else x,
           torch_code=lambda args, types, axes, keep:
               f"{args[0]}.sum({tuple(range(types[0].rank - axes - keep, types[0].rank - keep))})" if axes else args[0],
           dagger=_sum_leading_dagger)
def sum_leading(x, axes, keep):
    """⊕ over the `axes` axes before the last `keep` ones (a cotangent summed over the axes its primal was
    broadcast along, batch axes among them)"""
    return _sum_leading(x, axes, keep)


def _repeat_rule(inputs, attrs):
    (x,) = inputs
    keep, shape = attrs["keep"], tuple(attrs["shape"])
    if x.rank < keep:
        raise TypeError_(f"`repeat_leading` needs {keep} axes", found=str(x))
    lift = x.rank - keep
    if lift < x.batch:
        raise TypeError_("`repeat_leading` repeats a model over new axes of its own, after the batch axes",
                         expected=f"at most {x.rank - x.batch} axes kept", found=f"keep={keep} of {x}")
    return (TensorType(x.dtype, x.shape[:lift] + shape + x.shape[lift:],
                       x.names[:lift] + (None,) * len(shape) + x.names[lift:], x.batch),), lift


def _repeat_leading_torch(x, shape, keep):
    lead, tail = tuple(x.shape[:x.dim() - keep]), tuple(x.shape[x.dim() - keep:])
    return x.reshape(lead + (1,) * len(shape) + tail).expand(lead + shape + tail)


def _repeat_leading(x, shape, keep):
    lift = np.ndim(x) - keep
    x = np.asarray(x).reshape(np.shape(x)[:lift] + (1,) * len(shape) + np.shape(x)[lift:])
    return np.broadcast_to(x, x.shape[:lift] + tuple(shape) + x.shape[lift + len(shape):]).copy()


@primitive("repeat_leading", None, module=M, attrs={"shape": Attr("dims"), "keep": Attr("int")},
           type_rule=_repeat_rule, polynomial=True, glyph="↦…", arity=1,
           torch=lambda T, x, shape, keep: _repeat_leading_torch(x, tuple(shape), keep),
           dagger=lambda g, x, dy, shape, keep: g.sum_leading(dy, axes=len(shape), keep=keep))
def repeat_leading(x, shape, keep):
    """x repeated along new axes of `shape` before its last `keep` axes (the adjoint of sum_leading)"""
    return _repeat_leading(x, shape, keep)


def _constant_rule(inputs, attrs):
    return (TensorType(attrs.get("dtype", "R"), tuple(attrs["shape"])),), 0


@primitive("zeros", None, module=M, attrs={"shape": Attr("dims"), "dtype": Attr("dtype", "R")},
           type_rule=_constant_rule, polynomial=True, glyph="0", arity=0,
           torch=lambda T, shape, dtype="R", like=None: T.zeros(tuple(shape), **placed(like)),
           rd=lambda g, ins, y, dy, **a: [])
def zeros(shape, dtype="R"):
    """the zero tensor of a shape"""
    return np.zeros(tuple(shape))


@primitive("ones", None, module=M, attrs={"shape": Attr("dims"), "dtype": Attr("dtype", "R")},
           type_rule=_constant_rule, polynomial=True, glyph="1", arity=0,
           torch=lambda T, shape, dtype="R", like=None: T.ones(tuple(shape), **placed(like)),
           rd=lambda g, ins, y, dy, **a: [])
def ones(shape, dtype="R"):
    """the tensor of ones of a shape"""
    return np.ones(tuple(shape))
