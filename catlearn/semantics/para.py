"""The Para construction on diagrams: a diagram with parameters ``P`` is a
morphism ``P ⊗ A → B`` of the underlying category, and back.

>>> import catlearn
>>> f = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[2] = dense(3, 2)")["f"]
>>> uncurry(f).type
'R[2, 3] * R[2] * R[3] -> R[2]'
"""
from __future__ import annotations

from ..core.builder import Builder
from ..core.check import checked
from ..core.diagram import Diagram, Param


def uncurry(d: Diagram) -> Diagram:
    """``P ⊗ A → B``: the parameters become the first inputs (in ``d.params`` order)."""
    inputs = tuple(p.wire for p in d.params) + tuple(d.inputs)
    return checked(Diagram(d.types, d.ops, inputs, d.outputs, (), d.name), "uncurry")


def curry(d: Diagram, names: list[str], inits: list[tuple] | None = None) -> Diagram:
    """The inverse of :func:`uncurry`: the first ``len(names)`` inputs become named parameters."""
    k = len(names)
    inits = inits or [("zeros", ())] * k
    params = tuple(Param(n, w, init) for n, w, init in zip(names, d.inputs[:k], inits))
    return checked(Diagram(d.types, d.ops, d.inputs[k:], d.outputs, params, d.name), "curry")


def reparameterize(d: Diagram, r: Diagram, names: list[str]) -> Diagram:
    """The 2-cell ``r : P' → P``: ``d'(p', a) = d(r(p'), a)``.  `r` is a
    diagram whose inputs are the new parameters (named `names`) and whose
    outputs are ``d``'s parameters in order; e.g. weight tying is ``r = Δ``."""
    b = Builder()
    new = [b.param(n, t) for n, t in zip(names, r.dom)]
    old = b.splice(uncurry(r), new)
    xs = [b.input(t) for t in d.dom]
    return b.finish(b.splice(uncurry(d), old + xs), d.name)
