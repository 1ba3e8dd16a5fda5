"""Lenses and optics: two ways to compile a reverse derivative into a forward
pass and a backward pass (Hedges et al., "Space-time tradeoffs of lenses and
optics").

* ``lens``  — the forward pass keeps only its input: ``fwd : A → B ⊗ A``; the
  backward pass ``bwd : A ⊗ B' → A' ⊗ P'`` recomputes what it needs.
* ``optic`` — the forward pass also emits the residuals the backward pass
  needs, ``fwd : A → B ⊗ M``, and ``bwd : M ⊗ B' → A' ⊗ P'`` computes only
  cotangents.

Both are diagrams and give identical gradients; a lens stores less between the
passes, an optic computes less.

>>> import catlearn
>>> f = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[3] = tanh ; sin")["f"]
>>> [str(t) for t in compile_split(f, "optic").residuals]
['R[3]', 'R[3]']
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core.builder import Builder
from ..core.diagram import Diagram
from ..core.errors import CatError
from .para import uncurry
from .rdc import reverse

STRATEGIES = ("lens", "optic")
#: the strategy of compiled modules and learners alike: an optic computes each
#: value once, where a lens computes the forward pass again in the backward
#: pass; a lens is the choice where memory between the passes is short.
DEFAULT_STRATEGY = "optic"


@dataclass
class Split:
    """A compiled lens or optic: ``forward : A → B ⊗ M``, ``backward : M ⊗ B' → A' ⊗ P'``."""

    strategy: str
    forward: Diagram
    backward: Diagram
    residuals: tuple  # the types of M

    @property
    def n_outputs(self) -> int:
        return len(self.forward.cod) - len(self.residuals)


def compile_split(d: Diagram, strategy: str = DEFAULT_STRATEGY) -> Split:
    """Compile `d` and its reverse derivative as a lens or as an optic."""
    if strategy not in STRATEGIES:
        raise CatError(f"unknown strategy `{strategy}`", expected="lens or optic", found=strategy)
    r = reverse(d)
    n_in, n_out = len(d.dom), len(d.cod)
    if strategy == "lens":
        b = Builder()
        xs = [b.input(t) for t in d.dom]
        forward = b.finish(b.splice(d, xs) + xs, f"fwd[{d.name}]")
        return Split("lens", forward.normal_form(), r, tuple(d.dom))
    backward_ops, late = [], set(r.inputs[n_in:])
    primal_ops, made = [], set()
    for op in r.ops:  # an op belongs to the backward pass if it reads a cotangent; constants go to both
        if all(i in made for i in op.inputs):  # (a constant shared by a batch is one too)
            primal_ops.append(op)
            backward_ops.append(op)
            made.update(op.outputs)
        elif any(i in late for i in op.inputs):
            backward_ops.append(op)
            late.update(op.outputs)
        else:
            primal_ops.append(op)
    late |= made
    needed = []
    for op in backward_ops:
        needed += [i for i in op.inputs if i not in late]
    needed += [w for w in r.outputs if w not in late]
    params = {p.wire for p in r.params}
    residual_wires = list(dict.fromkeys(w for w in needed if w not in params))
    # forward: the model's outputs and the residuals, sharing their computation and parameters
    b = Builder()
    ps = {p.name: b.param(p.name, d.types[p.wire], p.init, p.span) for p in d.params}
    xs = [b.input(t) for t in d.dom]
    outs = b.splice(uncurry(d), [ps[p.name] for p in d.params] + xs)
    primal = Diagram(r.types, tuple(primal_ops), r.inputs[:n_in], tuple(residual_wires), r.params)
    residuals = b.splice(uncurry(primal), [ps[p.name] for p in r.params] + xs)
    forward = b.finish(outs + residuals, f"fwd[{d.name}]").normal_form()
    # backward: the cotangent part, reading the residuals
    b = Builder()
    m = {w: b.input(r.types[w]) for w in residual_wires}
    m.update({w: b.input(r.types[w]) for w in r.inputs[n_in:n_in + n_out]})
    for p in r.params:
        m[p.wire] = b.param(p.name, r.types[p.wire], p.init, p.span)
    for op in backward_ops:
        ins = [m[i] for i in op.inputs]
        outs = (b.add_op(op.prim, op.attr, ins, [r.types[o] for o in op.outputs], op.lift, op.span, op.scope, op.body)
                if op.body is not None else b.apply(op.prim, ins, op.attr, op.span, op.scope))
        m.update(zip(op.outputs, outs))
    backward = b.finish([m[w] for w in r.outputs], f"bwd[{d.name}]")
    return Split("optic", forward, backward, tuple(r.types[w] for w in residual_wires))


@dataclass(frozen=True)
class Lens:
    """A lens ``(get, put)`` as two diagrams: ``get : A → B``, ``put : A ⊗ B' → A'``."""

    get: Diagram
    put: Diagram

    @staticmethod
    def of(d: Diagram) -> "Lens":
        """The learner lens ``(f, R[f])`` of a parameter-free diagram."""
        if d.params:
            raise CatError("Lens.of takes a diagram without parameters", hint="uncurry it first")
        return Lens(d, reverse(d))

    @staticmethod
    def identity(types) -> "Lens":
        """``(id, π₂)``."""
        types = tuple(types)
        return Lens(Diagram.identity(types), Diagram.discard(types) @ Diagram.identity(types))

    def then(self, other: "Lens") -> "Lens":
        """``(f, f♯) ; (g, g♯) = (f ; g, (a, c') ↦ f♯(a, g♯(f(a), c')))``."""
        b = Builder()
        a = [b.input(t) for t in self.get.dom]
        c = [b.input(t) for t in other.put.dom[len(other.get.dom):]]
        fa = b.splice(self.get, a)
        return Lens(self.get >> other.get, b.finish(b.splice(self.put, a + b.splice(other.put, fa + c))))

    __rshift__ = then
