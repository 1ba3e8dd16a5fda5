"""Affine recurrences, found in the IR: a parallel form for a scan.

A Mealy step ``φ : X ⊗ C ⊗ S → Y ⊗ S`` is *elementwise affine* in its states
when every next state is ``s'ᵢ = Σⱼ aᵢⱼ(x, c) ⊙ sⱼ + bᵢ(x, c)``: the boxes on
the paths from the states to the next states are only ``add``, ``sub``,
``neg``, and ``mul``/``div`` by a wire that does not depend on the states.
:func:`affine` decides it by an abstract interpretation of φ (each wire is
either free of the states, or such a sum), and builds the diagram of the
coefficients ``X ⊗ C → a ⊗ b``.  Then a scan needs no loop: the pairs
``(aₜ, bₜ)`` compose associatively, ``(a₂, b₂) ∘ (a₁, b₁) = (a₂a₁, a₂b₁ + b₂)``,
so a parallel prefix scan gives every state, and the outputs are φ on all
steps at once.  The outputs may depend on the states in any way.  A next
state that does not have that form (a ``tanh`` of a state, a matrix product
mixing a state's entries) is not affine here, and its scan keeps the
sequential loop.

>>> import catlearn
>>> from catlearn.semantics.stateful import mealy
>>> rnn = catlearn.load("models/elman_rnn.cat")["elman_8_16"]
>>> affine(mealy(rnn)) is None
True
>>> la = catlearn.load("models/linear_attention.cat")["linear_attention_4"]
>>> affine(mealy(la)).pairs
((0, 0),)
"""
from __future__ import annotations

from dataclasses import dataclass

from ...core.builder import Builder, Emitter, Wire
from ...core.diagram import CONST, Diagram
from ...core.passes import dead_code_elimination
from .mealy import Mealy


@dataclass(frozen=True)
class Affine:
    """``coefficients : X ⊗ C → a ⊗ b``: the coefficient ``a[i][j]`` of each
    pair in `pairs` (state j in next state i), then each ``bᵢ``; ``outputs :
    X ⊗ C ⊗ S → Y``, the step's outputs alone."""

    coefficients: Diagram
    pairs: tuple
    outputs: Diagram


OPAQUE = object()  # a wire that depends on the states, but not affinely


class _Linear:
    """A wire ``Σⱼ coefficient[j] ⊙ sⱼ + offset`` (a coefficient None is 1, an offset None is 0)."""

    def __init__(self, coefficients: dict, offset: Wire | None):
        self.coefficients = coefficients
        self.offset = offset


def _scaled(g: Emitter, w: Wire | None, by: Wire, how: str) -> Wire:
    if w is None:
        return by if how == "mul" else g.div(g.builder.const(1.0), by)
    return g.mul(w, by) if how == "mul" else g.div(w, by)


def _sum(g: Emitter, u: Wire | None, v: Wire | None, one_is_none: bool) -> Wire | None:
    if u is None and v is None and not one_is_none:
        return None
    one = g.builder.const(1.0)
    u = one if u is None and one_is_none else u
    v = one if v is None and one_is_none else v
    if u is None or v is None:
        return u if v is None else v
    return g.add(u, v)


def _combine(g: Emitter, u, v, sign: float):
    """``u + sign·v`` of two values, each a wire or a :class:`_Linear`."""
    if not isinstance(u, _Linear):
        u = _Linear({}, u)
    if not isinstance(v, _Linear):
        v = _Linear({}, v)
    if sign < 0:
        v = _Linear({j: g.neg(c) if c is not None else g.neg(g.builder.const(1.0)) for j, c in v.coefficients.items()},
                    g.neg(v.offset) if v.offset is not None else None)
    coefficients = dict(u.coefficients)
    for j, c in v.coefficients.items():
        coefficients[j] = _sum(g, coefficients[j], c, True) if j in coefficients else c
    return _Linear(coefficients, _sum(g, u.offset, v.offset, False))


def affine(m: Mealy) -> Affine | None:
    """The coefficients of a Mealy step elementwise affine in its states, or
    None (see the module docstring)."""
    step, k = m.step, len(m.states)
    if not k or step.params:
        return None
    n = len(step.inputs) - k
    b = Builder()
    g = Emitter(b)
    values: dict = {w: b.input(step.types[w]) for w in step.inputs[:n]}
    for j, w in enumerate(step.inputs[n:]):
        values[w] = _Linear({j: None}, None)
    for op in step.ops:
        ins = [values[i] for i in op.inputs]
        out_type = step.types[op.outputs[0]] if op.outputs else None
        if any(v is OPAQUE for v in ins):
            values.update((o, OPAQUE) for o in op.outputs)
            continue
        if not any(isinstance(v, _Linear) for v in ins):
            outs = (b.add_op(op.prim, op.attr, ins, [step.types[o] for o in op.outputs], op.lift, op.span, op.scope,
                             op.body) if op.body is not None or op.prim is CONST
                    else b.apply(op.prim, ins, op.attr, op.span, op.scope))
            values.update(zip(op.outputs, outs))
            continue
        name = op.prim.name
        if any(isinstance(v, _Linear) and step.types[i] != out_type for v, i in zip(ins, op.inputs)):
            values.update((o, OPAQUE) for o in op.outputs)  # a state broadcast to a larger shape
        elif name in ("add", "sub"):
            values[op.outputs[0]] = _combine(g, ins[0], ins[1], 1.0 if name == "add" else -1.0)
        elif name == "neg":
            values[op.outputs[0]] = _combine(g, None, ins[0], -1.0)
        elif name == "mul" and sum(isinstance(v, _Linear) for v in ins) == 1 or \
                name == "div" and isinstance(ins[0], _Linear) and not isinstance(ins[1], _Linear):
            lin, by = (ins[0], ins[1]) if isinstance(ins[0], _Linear) else (ins[1], ins[0])
            values[op.outputs[0]] = _Linear({j: _scaled(g, c, by, name) for j, c in lin.coefficients.items()},
                                            _scaled(g, lin.offset, by, name) if lin.offset is not None else None)
        else:
            values.update((o, OPAQUE) for o in op.outputs)
    pairs, coefficients, offsets = [], [], []
    for i, w in enumerate(step.outputs[len(step.outputs) - k:]):
        if values[w] is OPAQUE:
            return None
        value = values[w] if isinstance(values[w], _Linear) else _Linear({}, values[w])
        for j, c in sorted(value.coefficients.items()):
            if m.states[j].type != m.states[i].type:
                return None
            pairs.append((i, j))
            coefficients.append(_full(g, c, m.states[i].type))
        offsets.append(_full(g, value.offset, m.states[i].type, zero=True))
    coefficient_diagram = b.finish(coefficients + offsets, f"affine[{step.name}]")
    outputs = dead_code_elimination(Diagram(step.types, step.ops, step.inputs, step.outputs[:m.n_outputs],
                                            step.params, step.name))
    return Affine(coefficient_diagram, tuple(pairs), outputs)


def _full(g: Emitter, w: Wire | None, t, zero: bool = False) -> Wire:
    """`w` (1, or 0 where `zero`, for None) broadcast to the state type `t`."""
    base = g.zeros(t)
    if w is None:
        return base if zero else g.add(base, 1.0)
    return g.add(base, w) if w.type != t else w
