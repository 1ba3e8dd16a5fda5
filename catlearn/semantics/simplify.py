"""Simplification of derivative diagrams: zeros propagated and folded away,
then dead code removed and equal boxes shared.

A wire is known zero when it comes from ``zeros`` (or ``zeros`` shared by a
batch), or the constant ``0``.  A
primitive that maps zeros to zero says so (``preserves_zero``): ``"all"`` when
its output is zero if all its inputs are (linear maps, ``relu``), ``"any"``
when one zero input suffices (multilinear maps: ``mul``, ``matvec``, …).
``add``/``sub`` with a zero operand of the result's type pass the other through.
A ``rearrange`` that undoes the one before it is dropped with it.

>>> import catlearn
>>> from catlearn.semantics.rdc import reverse
>>> f = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[3] = x => mul(x, 0.0)")["f"]
>>> [op.prim.name for op in reverse(f).ops]
['zeros']
"""
from __future__ import annotations

from ..core.builder import Builder, Wire, zeros
from ..core.diagram import CONST, Diagram
from ..core.passes import normal_form


def _is_zero(op) -> bool:
    if op.prim.name == "zeros":
        return True
    return op.prim is CONST and op.attr["value"] == 0


def _undoes(first: str, second: str) -> bool:
    """Whether the rearrangement `second` is the inverse of `first` (plain axis names only)."""
    if "(" in first + second:
        return False
    (a, b), (c, e) = (tuple(part.split() for part in spec.split("->")) for spec in (first, second))
    rename = dict(zip(c, b))
    return len(c) == len(b) and sorted(c) == sorted(set(c)) and [rename.get(n) for n in e] == a


def simplify(d: Diagram) -> Diagram:
    """The same morphism with fewer boxes (see the module docstring)."""
    b = Builder()
    m: dict[int, Wire] = dict(zip(d.inputs, (b.input(d.types[w]) for w in d.inputs)))
    for p in d.params:
        m[p.wire] = b.param(p.name, d.types[p.wire], p.init, p.span)
    zero: set[int] = set()
    rearranged: dict[int, tuple[str, Wire]] = {}  # a rearrange's output -> (its spec, its input)

    def make_zero(t):
        w = zeros(b, t)
        zero.add(id(w))
        return w

    for op in d.ops:
        ins = [m[i] for i in op.inputs]
        z = [id(w) in zero for w in ins]
        out_types = [d.types[o] for o in op.outputs]
        rule = op.prim.preserves_zero
        result = None
        if op.body is None and len(op.outputs) == 1 and ins and (
                (rule == "all" and all(z)) or (rule == "any" and any(z))):
            result = [make_zero(out_types[0])]
        elif op.prim.name in ("add", "sub") and any(z) and not all(z):
            keep = ins[1] if z[0] else ins[0]
            if keep.type == out_types[0]:
                result = [keep] if (op.prim.name == "add" or z[1]) else b.apply("neg", [keep], {}, op.span)
        elif op.prim.name == "rearrange" and id(ins[0]) in rearranged:
            spec, source = rearranged[id(ins[0])]
            if _undoes(spec, op.attr["spec"]) and source.type == out_types[0]:
                result = [source]
        if result is None:
            if op.body is not None:
                result = b.add_op(op.prim, op.attr, ins, out_types, op.lift, op.span, op.scope, op.body)
            else:
                result = b.apply(op.prim, ins, op.attr, op.span, op.scope)
            if len(result) == 1 and _is_zero(op):
                zero.add(id(result[0]))
            if op.prim.name == "rearrange":
                rearranged[id(result[0])] = (op.attr["spec"], ins[0])
        for o, w in zip(op.outputs, result):
            m[o] = w
    return normal_form(b.finish([m[w] for w in d.outputs], d.name))
