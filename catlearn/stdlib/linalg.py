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
    """The einsum again, naming its lifted axes and summing the leading `k` of them."""
    spec = spec.replace(" ", "")
    ins, out = spec.split("->")
    parts = ins.split(",")
    free = [c for c in "abcdefghijklmnopqrstuvwxyz" if c not in spec]
    batch = free[:lift]
    axes = [batch[len(batch) - (w.type.rank - len(s)):] if w.type.rank > len(s) else [] for w, s in zip(inputs, parts)]
    full = ["".join(a) + s for a, s in zip(axes, parts)]
    return g.einsum(*map(g.whole, inputs), spec=",".join(full) + "->" + "".join(batch[k:]) + out)


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
           torch_code=lambda a, t: f"T.nn.functional.linear({a[1]}, {a[0]}, {a[2]})"
           if t[0].rank == 2 and t[2].rank == 1 else None,
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
        second = len(axes) - batch - first
        # the two groups swapped, each in order: grouped where they lie (a view), then transposed
        self.swapped = self.permuted and axes == list(range(batch)) + list(range(batch + second, len(axes))) + \
            list(range(batch, batch + second))

    def steps(self, shape: tuple) -> tuple:
        """``("permute", axes)``, ``("reshape", shape)`` and ``("mT",)`` steps that
        make (a batch of) matrices of an operand of this shape."""
        nb, first = self.batch, self.first
        if self.swapped:
            second = len(self.axes) - nb - first
            grouped = (*shape[:nb], prod(shape[nb:nb + second]), prod(shape[nb + second:]))
            return ((("reshape", grouped),) if grouped != shape else ()) + (("mT",),)
        steps = (("permute", tuple(self.axes)),) if self.permuted else ()
        if not self.grouped:
            p = [shape[a] for a in self.axes]
            steps += (("reshape", (*p[:nb], prod(p[nb:nb + first]), prod(p[nb + first:]))),)
        return steps


@lru_cache(maxsize=256)
def _sum_plan(spec: str, rank: int) -> tuple | None:
    """A one-operand einsum that keeps its axes in order as a sum over the
    others: their positions, or None."""
    ins, out = spec.replace(" ", "").split("->")
    if "," in ins:
        return None
    letters = [str(k) for k in range(rank - len(ins))] + list(ins)
    kept = [c for c in letters if c in out or c.isdigit()]
    if "".join(c for c in kept if not c.isdigit()) != out:
        return None
    return tuple(k for k, c in enumerate(letters) if c not in kept)


@lru_cache(maxsize=1024)
def _matmul_steps(spec: str, shapes: tuple) -> tuple | None:
    """``(swap, steps of the left operand, of the right, the product's shape or
    None where it has it already)`` for a two-operand einsum on operands of
    these shapes that is one ``matmul``; None where it is not one."""
    plan = _matmul_plan(spec, tuple(len(s) for s in shapes))
    if plan is None:
        return None
    swap, left, right, cols = plan
    a, b = shapes[::-1] if swap else shapes
    nb = left.batch
    if nb == 0 and not left.permuted and len(left.axes) - left.first == 1 and right.axes == [0, 1]:
        return swap, (), (), None  # a matrix on the right: matmul keeps the left's row axes
    rows = tuple(a[k] for k in left.axes[nb:nb + left.first])
    columns = tuple(b[k] for k in right.axes[len(right.axes) - cols:])
    batch = tuple(np.broadcast_shapes(tuple(a[k] for k in left.axes[:nb]), tuple(b[k] for k in right.axes[:nb])))
    out = None if left.first == 1 and cols == 1 else batch + rows + columns
    return swap, left.steps(a), right.steps(b), out


def _apply_steps(x, steps):
    for step in steps:
        x = x.mT if step[0] == "mT" else getattr(x, step[0])(step[1])
    return x


def _write_steps(x: str, steps) -> str:
    return x + "".join(".mT" if step[0] == "mT" else f".{step[0]}({step[1]})" for step in steps)


def _einsum_torch(T, *xs, spec):
    """``torch.einsum``, but one ``matmul`` where the contraction is one
    (torch's einsum always goes through a batched product), and one ``sum``
    where it sums one operand's axes."""
    if len(xs) == 1:
        dims = _sum_plan(spec, xs[0].dim())
        if dims is not None:
            return xs[0].sum(dims) if dims else xs[0]
    plan = _matmul_steps(spec, (tuple(xs[0].shape), tuple(xs[1].shape))) if len(xs) == 2 else None
    if plan is None:
        return T.einsum(_ellipsis(spec), *xs)
    swap, left, right, out = plan
    a, b = (xs[1], xs[0]) if swap else xs
    product = T.matmul(_apply_steps(a, left), _apply_steps(b, right))
    return product if out is None else product.reshape(out)


def _einsum_code(args, types, spec):
    """`_einsum_torch` written out for operands of these types."""
    shapes = tuple(tuple(t.shape) for t in types)
    if len(args) == 1:
        dims = _sum_plan(spec, len(shapes[0]))
        return None if dims is None else f"{args[0]}.sum({dims})" if dims else args[0]
    plan = _matmul_steps(spec, shapes) if len(args) == 2 else None
    if plan is None:
        return None
    swap, left, right, out = plan
    a, b = args[::-1] if swap else args
    product = f"T.matmul({_write_steps(a, left)}, {_write_steps(b, right)})"
    return product if out is None else f"{product}.reshape({out})"


@primitive("einsum", None, module=M, attrs={"spec": Attr("str", doc='e.g. "ij,jk->ik"')},
           type_rule=_einsum_rule, polynomial=True, glyph="Σ", arity=_einsum_arity, preserves_zero="any",
           torch=_einsum_torch, torch_code=_einsum_code, rd=_einsum_rd, contract=_contract_batch)
def einsum(*xs, spec):
    """Σ over the letters missing from the output of the product of the inputs"""
    return np.einsum(_ellipsis(spec), *xs, optimize=True)
