"""``std.linalg``: contractions over any semiring (leading axes are batch)."""
import re
from functools import lru_cache
from math import prod

import numpy as np

from ..core.errors import TypeError_
from ..core.primitives import Attr, primitive
from ..core.signature import DTYPE_VAR, Signature
from ..core.types import Poly, TensorType

M = "std.linalg"


def _contract_batch(g, inputs, lift, k, spec="n,m->nm"):
    """The einsum again, naming its batch axes and summing the leading `k` of them."""
    spec = spec.replace(" ", "")
    ins, out = spec.split("->")
    parts = ins.split(",")
    free = [c for c in "abcdefghijklmnopqrstuvwxyz" if c not in spec]
    batch = free[:lift]
    axes = [batch[len(batch) - (w.type.rank - len(s)):] if w.type.rank > len(s) else [] for w, s in zip(inputs, parts)]
    full = ["".join(a) + s for a, s in zip(axes, parts)]
    return g.einsum(*inputs, spec=",".join(full) + "->" + "".join(batch[k:]) + out)


def _dot_rd(g, i, y, dy):
    b = g.broadcast(dy, n=g.last(i[0]))
    return [g.mul(b, i[1]), g.mul(b, i[0])]


@primitive("dot", "D[n] * D[n] -> D", module=M, polynomial=True, glyph="·", preserves_zero="any",
           torch=lambda T, x, y: (x * y).sum(-1), rd=_dot_rd)
def dot(x, y):
    """⟨x, y⟩ = ⊕ᵢ xᵢ ⊗ yᵢ"""
    return np.einsum("...n,...n->...", x, y, optimize=True)


@primitive("matvec", "D[m, n] * D[n] -> D[m]", module=M, polynomial=True, glyph="W·x", preserves_zero="any",
           torch=lambda T, w, x: T.nn.functional.linear(x, w) if w.dim() == 2 else T.einsum("...mn,...n->...m", w, x),
           rd=lambda g, i, y, dy: [g.outer(dy, i[1]), g.einsum(i[0], dy, spec="mn,m->n")])
def matvec(w, x):
    """W x"""
    return np.einsum("...mn,...n->...m", w, x, optimize=True)


@primitive("affine", "D[m, n] * D[n] * D[m] -> D[m]", module=M, polynomial=True, glyph="W·x+b", preserves_zero="all",
           torch=lambda T, w, x, b: T.nn.functional.linear(x, w, b) if w.dim() == 2 and b.dim() == 1
           else T.einsum("...mn,...n->...m", w, x) + b,
           rd=lambda g, i, y, dy: [g.outer(dy, i[1]), g.einsum(i[0], dy, spec="mn,m->n"), dy])
def affine(w, x, b):
    """W x + b"""
    return np.einsum("...mn,...n->...m", w, x, optimize=True) + b


@primitive("matmul", "D[n, k] * D[k, m] -> D[n, m]", module=M, polynomial=True, glyph="@", preserves_zero="any",
           torch=lambda T, a, b: T.matmul(a, b),
           rd=lambda g, i, y, dy: [g.einsum(dy, i[1], spec="nm,km->nk"), g.einsum(i[0], dy, spec="nk,nm->km")])
def matmul(a, b):
    """A B"""
    return np.matmul(a, b)


@primitive("outer", "D[n] * D[m] -> D[n, m]", module=M, polynomial=True, glyph="⊗", preserves_zero="any",
           torch=lambda T, x, y: T.einsum("...n,...m->...nm", x, y), contract=_contract_batch,
           rd=lambda g, i, y, dy: [g.matvec(dy, i[1]), g.einsum(dy, i[0], spec="nm,n->m")])
def outer(x, y):
    """x yᵀ"""
    return np.einsum("...n,...m->...nm", x, y)


@primitive("transpose", "D[n, m] -> D[m, n]", module=M, polynomial=True, glyph="ᵀ",
           torch=lambda T, x: x.transpose(-1, -2), dagger=lambda g, x, dy: g.transpose(dy))
def transpose(x):
    """Aᵀ (the last two axes swapped)"""
    return np.swapaxes(x, -1, -2)


_SPEC = re.compile(r"^\s*([a-z]*(?:\s*,\s*[a-z]*)*)\s*->\s*([a-z]*)\s*$")


@lru_cache(maxsize=256)
def einsum_signature(spec: str) -> Signature:
    """The signature of ``einsum(spec=…)``: ``"ij,jk->ik"`` gives
    ``D[i, j] * D[j, k] -> D[i, k]``."""
    m = _SPEC.match(spec)
    if not m:
        raise TypeError_(f"`{spec}` is not an einsum specification", expected='letters, e.g. "ij,jk->ik"', found=spec)
    ins = [s.strip() for s in m.group(1).split(",")]
    out = m.group(2)
    letters = set("".join(ins))
    if not set(out) <= letters or len(set(out)) != len(out):
        raise TypeError_(f"the output of einsum `{spec}` must use distinct letters of its inputs",
                         expected=f"letters among {''.join(sorted(letters))}", found=out)
    if any(len(set(s)) != len(s) for s in ins):
        raise TypeError_(f"einsum `{spec}` repeats a letter within one input (diagonals are not supported)")

    def t(s):
        return TensorType(DTYPE_VAR, tuple(Poly.var(c) for c in s))

    return Signature(tuple(t(s) for s in ins), (t(out),))


def _einsum_rule(inputs, attrs):
    sig = einsum_signature(attrs["spec"])
    return sig.apply(inputs, {}, "einsum")


def _einsum_arity(attrs):
    return len(str(attrs.get("spec", "")).split("->")[0].split(","))


def _ellipsis(spec: str) -> str:
    ins, out = spec.replace(" ", "").split("->")
    return ",".join("..." + s for s in ins.split(",")) + "->..." + out


def _einsum_rd(g, i, y, dy, spec):
    """∂/∂xᵢ of an einsum is an einsum of the output cotangent with the other
    inputs, and a vector of ones for each letter only xᵢ has."""
    ins, out = spec.replace(" ", "").split("->")
    parts = ins.split(",")
    grads = []
    for k, mine in enumerate(parts):
        others = [p for j, p in enumerate(parts) if j != k]
        operands = [dy] + [x for j, x in enumerate(i) if j != k]
        letters = [out] + others
        for pos, c in enumerate(mine):
            if c not in "".join(letters):
                size = i[k].type.shape[i[k].type.rank - len(mine) + pos]
                operands.append(g.ones(shape=(size,), dtype=dy.type.dtype))
                letters.append(c)
        grads.append(g.einsum(*operands, spec=",".join(letters) + "->" + mine))
    return grads


@lru_cache(maxsize=1024)
def _matmul_plan(spec: str, ranks: tuple[int, int]):
    """A two-operand einsum as one ``matmul``: ``(swap, permutations, counts)``,
    where letters in both operands and the output are matmul's batch axes,
    letters in one operand and the output its rows or columns, and letters in
    both operands only are contracted (leading batch axes take letters of their
    own).  None where the einsum is not of that form."""
    ins, out = spec.replace(" ", "").split("->")
    a, b = ins.split(",")
    extra = (ranks[0] - len(a), ranks[1] - len(b))
    lead = [str(k) for k in range(max(extra))]
    a, b = lead[len(lead) - extra[0]:] + list(a), lead[len(lead) - extra[1]:] + list(b)
    out = lead + list(out)
    if any(c not in b and c not in out for c in a) or any(c not in a and c not in out for c in b):
        return None  # a letter summed within one operand
    batch = [c for c in out if c in a and c in b]
    rows, cols = [c for c in out if c in a and c not in b], [c for c in out if c in b and c not in a]
    inner = [c for c in a if c in b and c not in out]
    swap = out != batch + rows + cols
    if swap:
        a, b, rows, cols = b, a, cols, rows
    if out != batch + rows + cols:
        return None  # the product's axes would need permuting afterwards
    left, right = [a.index(c) for c in batch + rows + inner], [b.index(c) for c in batch + inner + cols]
    return swap, _Operand(left, len(batch), len(rows)), _Operand(right, len(batch), len(inner)), len(cols)


class _Operand:
    """How one operand of a matmul plan is permuted and grouped into a (batch of) matrices."""

    def __init__(self, axes: list[int], batch: int, first: int):
        self.axes, self.batch, self.first = axes, batch, first  # axes: batch, then the first group, then the second
        self.permuted = axes != sorted(axes)
        self.grouped = first == 1 and len(axes) - batch - first == 1

    def matrices(self, x):
        if self.permuted:
            x = x.permute(self.axes)
        if self.grouped:
            return x
        shape, nb = x.shape, self.batch
        return x.reshape((*shape[:nb], prod(shape[nb:nb + self.first]), prod(shape[nb + self.first:])))


def _einsum_torch(T, *xs, spec):
    """``torch.einsum``, but one ``matmul`` where the contraction is one
    (torch's einsum always goes through a batched product)."""
    plan = _matmul_plan(spec, (xs[0].dim(), xs[1].dim())) if len(xs) == 2 else None
    if plan is None:
        return T.einsum(_ellipsis(spec), *xs)
    swap, left, right, cols = plan
    a, b = (xs[1], xs[0]) if swap else xs
    out = T.matmul(left.matrices(a), right.matrices(b))
    if left.first == 1 and cols == 1:
        return out
    nb = left.batch
    row_axes = [a.shape[k] for k in left.axes[nb:nb + left.first]]
    col_axes = [b.shape[k] for k in right.axes[len(right.axes) - cols:]]
    return out.reshape((*out.shape[:nb], *row_axes, *col_axes))


@primitive("einsum", None, module=M, attrs={"spec": Attr("str", doc='e.g. "ij,jk->ik"')},
           type_rule=_einsum_rule, polynomial=True, glyph="Σ", arity=_einsum_arity, preserves_zero="any",
           torch=_einsum_torch, rd=_einsum_rd, contract=_contract_batch)
def einsum(*xs, spec):
    """Σ over the letters missing from the output of the product of the inputs"""
    return np.einsum(_ellipsis(spec), *xs, optimize=True)
