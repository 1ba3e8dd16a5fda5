"""Constructions of St(C) as diagrams: the delayed trace, sequences, and the
derivative of a stateful morphism as a stateful morphism.

* :func:`trace` — ``dtr_i(φ) : X → Y`` of ``φ : X ⊗ S → Y ⊗ S`` (one ``feedback`` box);
* :func:`from_mealy` — ``(S, s₀, φ)`` back as a diagram (one loop per state, nested);
* :func:`sequence` — ``scan(f) : X[T, …] → Y[T, …]``, a stateful ``f`` on sequences;
* :func:`with_checkpoints`, :func:`sequential` — how a scan is compiled;
* :func:`derivative` — the forward derivative ``D[f] : X ⊗ X → Y ⊗ Y`` of a
  stateful ``f`` without unrolling it: ``(S ⊗ S, (s₀, 0), (φ, D[φ]))``, the
  differential operator of Sprunger and Katsumata on St(C).

>>> import catlearn
>>> elman = catlearn.load("models/elman_rnn.cat")["elman_8_16"]
>>> sequence(elman, 5).type
'R[5, 8] -> R[5, 16]'
>>> derivative(elman).type
'R[8] * R[8] -> R[16] * R[16]'
"""
from __future__ import annotations

from ...core.builder import Builder
from ...core.diagram import SCAN, Diagram, Op
from ...core.errors import CatError
from ...core.types import Dim
from ..para import uncurry
from ..rdc import forward
from .mealy import Mealy, State, mealy

ZERO = ("zeros", ())


def trace(phi: Diagram, init: tuple = ZERO, state: str = "s") -> Diagram:
    """``dtr_init(φ) : X → Y`` for ``φ : X ⊗ S → Y ⊗ S`` (the state its last
    input and last output), with φ's parameters."""
    b = Builder()
    xs = [b.input(t) for t in phi.dom[:-1]]
    params = [b.param(p.name, phi.types[p.wire], p.init, p.span) for p in phi.params]
    body = uncurry(phi)

    def step(child, cxs, s):
        outs = child.splice(body, params + cxs + [s])
        return outs[:-1], outs[-1]

    return b.finish(b.feedback(state, phi.dom[-1], init, xs, step), phi.name)


def from_mealy(m: Mealy, name: str | None = None) -> Diagram:
    """The stateful diagram of ``(S, s₀, φ)``: one ``feedback`` per state,
    nested, the innermost body φ."""
    step = uncurry(m.step)
    b = Builder()
    params = [b.param(p.name, m.step.types[p.wire], p.init, p.span) for p in m.step.params]
    xs = [b.input(t) for t in m.step.dom[:m.n_inputs]]

    def nest(builder, inputs, got):  # the outputs, then the next values of the states in `got`
        j = len(got)
        if j == len(m.states):
            return builder.splice(step, params + inputs + got)

        def body(child, cxs, s):
            outs = nest(child, cxs, got + [s])
            return outs[:-1], outs[-1]

        return builder.feedback(f"s{j}", m.states[j].type, m.states[j].init, inputs, body)

    return b.finish(nest(b, xs, []), name)


def sequence(d: Diagram, length: Dim) -> Diagram:
    """``scan(d) : X[length, …] → Y[length, …]``: a stateful `d` run along a
    leading time axis (its stream semantics on a prefix of `length` steps)."""
    b = Builder()
    xs = [b.input(t.insert_axis(0, length)) for t in d.dom]
    return b.finish(b.scan(xs, lambda child, steps: child.splice(d, steps)), d.name)


def derivative(d: Diagram) -> Diagram:
    """``D[d] : X ⊗ X → Y ⊗ Y`` (points, then tangents; outputs, then their
    tangents) of a stateful `d`, as a stateful diagram: its state is ``S ⊗ S``
    from ``(s₀, 0)``, its step ``((x, s), (ẋ, ṡ)) ↦ (φ(x, s), D[φ]((x, s), (ẋ, ṡ)))``,
    the parameters held fixed.  On sequences it is the JVP of ``sequence(d)``."""
    m = mealy(d)
    n, k = m.n_inputs, len(m.states)
    tangent = forward(m.step)
    b = Builder()
    params = [b.param(p.name, m.step.types[p.wire], p.init, p.span) for p in m.step.params]
    xs = [b.input(t) for t in d.dom]
    dxs = [b.input(t) for t in d.dom]
    ss = [b.input(s.type) for s in m.states]
    dss = [b.input(s.type) for s in m.states]
    primal = b.splice(uncurry(m.step), params + xs + ss)
    tangents = b.splice(uncurry(tangent), params + xs + ss + dxs + dss)
    ny = len(d.cod)
    outs = primal[:ny] + tangents[:ny] + primal[ny:] + tangents[ny:]
    step = b.finish(outs, f"D[{d.name}]" if d.name else None)
    states = m.states + tuple(State(s.type, ZERO) for s in m.states)
    return from_mealy(Mealy(step, states, 2 * n, 2 * ny), step.name)


def with_checkpoints(d: Diagram, every: int) -> Diagram:
    """`d` whose scans keep every `every`-th state for backpropagation through
    time and recompute the others (``T/every + every`` states); 0 keeps all."""
    if not isinstance(every, int) or every < 0:
        raise CatError(f"cannot keep every {every!r}-th state", expected="a whole number ≥ 0 (0: every state)")
    return _with_scan_attr(d, "checkpoint", every)


def sequential(d: Diagram) -> Diagram:
    """`d` whose scans run step by step even where their recurrence is affine
    (which the torch backend otherwise compiles to a parallel prefix scan)."""
    return _with_scan_attr(d, "parallel", False)


def _with_scan_attr(d: Diagram, key: str, value) -> Diagram:
    ops = tuple(Op(op.prim, tuple(sorted({**op.attr, key: value}.items())), op.inputs, op.outputs, op.lift,
                   op.scope, op.span, op.body) if op.prim is SCAN else op for op in d.ops)
    return Diagram(d.types, ops, d.inputs, d.outputs, d.params, d.name)

