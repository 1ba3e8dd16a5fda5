"""``std.array``: indexing, reshaping, reductions and constants."""
import re

import numpy as np

from ..core.errors import TypeError_
from ..core.primitives import Attr, primitive
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


@primitive("index", "D[n] -> D", module=M, attrs={"i": Attr("int")}, check=_index_check, polynomial=True, glyph="[i]")
def index(x, i):
    """xᵢ: one entry of the last axis"""
    return x[..., i]


@primitive("concat", "D[n] * D[m] -> D[n + m]", module=M, polynomial=True, glyph="⧺")
def concat(x, y):
    """the two vectors one after the other"""
    batch = np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    return np.concatenate([np.broadcast_to(x, batch + x.shape[-1:]), np.broadcast_to(y, batch + y.shape[-1:])], -1)


@primitive("broadcast", "D -> D[n]", module=M, attrs={"n": Attr("dim")}, polynomial=True, glyph="↦")
def broadcast(x, n):
    """n copies of a scalar as a vector"""
    return np.repeat(np.asarray(x)[..., None], n, -1)


@primitive("flatten", "D[a, b] -> D[a * b]", module=M, polynomial=True, glyph="♭")
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
    return (TensorType(x.dtype, x.shape[:lift] + shape, x.names[:lift] + (None,) * len(shape)),), lift


@primitive("reshape", None, module=M, attrs={"shape": Attr("dims"), "axes": Attr("int", 1)},
           type_rule=_reshape_rule, polynomial=True, glyph="⤳", arity=1)
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
    return (TensorType(out.dtype, out.shape, names),), lift


@primitive("rearrange", None, module=M, attrs={"spec": Attr("str", doc='e.g. "seq d -> d seq"')},
           type_rule=_rearrange_rule, polynomial=True, glyph="⇄", arity=1)
def rearrange(x, spec):
    """the last axes permuted by name"""
    src, dst = _rearrange_parts(spec)
    k = len(src)
    lead = list(range(x.ndim - k))
    return np.transpose(x, lead + [x.ndim - k + src.index(w) for w in dst])


@primitive("sum", "D[n] -> D", module=M, polynomial=True, glyph="Σ")
def sum_(x):
    """⊕ over the last axis"""
    return np.sum(x, -1)


@primitive("mean", "R[n] -> R", module=M, glyph="mean")
def mean(x):
    """the average over the last axis"""
    return np.mean(x, -1)


@primitive("max", "D[n] -> D", module=M, dtypes="ordered", glyph="max")
def max_(x):
    """the largest entry of the last axis"""
    return np.max(x, -1)


def _constant_rule(inputs, attrs):
    return (TensorType(attrs.get("dtype", "R"), tuple(attrs["shape"])),), 0


@primitive("zeros", None, module=M, attrs={"shape": Attr("dims"), "dtype": Attr("dtype", "R")},
           type_rule=_constant_rule, polynomial=True, glyph="0", arity=0)
def zeros(shape, dtype="R"):
    """the zero tensor of a shape"""
    return np.zeros(tuple(shape))


@primitive("ones", None, module=M, attrs={"shape": Attr("dims"), "dtype": Attr("dtype", "R")},
           type_rule=_constant_rule, polynomial=True, glyph="1", arity=0)
def ones(shape, dtype="R"):
    """the tensor of ones of a shape"""
    return np.ones(tuple(shape))
