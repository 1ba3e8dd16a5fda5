"""The Mealy normal form of a stateful diagram: a morphism of St(C).

A stateful diagram ``f : X → Y`` (one holding ``feedback`` loops and ``delay``
boxes) is a triple ``(S, s₀, φ)`` with ``φ : X ⊗ S → Y ⊗ S`` stateless
(Sprunger and Katsumata's St(C)): ``S`` is the product of every loop's state
and every delay's register, ``s₀`` their initial values.  :func:`mealy` computes
it as a pass on the IR:

* a ``delay(init=i)`` box is ``(D, i, σ)``: its output becomes a state input,
  its input that state's next value;
* ``feedback s : S = i in body`` adds the state ``s`` (the loop's register), and
  the states of its body;
* ``feedback s : S in body`` (guarded by a delay inside) is the trace of its
  body: within a step, ``s`` *is* the next state, which depends on ``s`` only
  through delays, so the boxes that make it run first.

Boxes on sequences (``scan``) are stateless from outside and stay as they are.

>>> import catlearn
>>> elman = catlearn.load("models/elman_rnn.cat")["elman_8_16"]
>>> m = mealy(elman)
>>> m.step.type
'R[8] * R[16] -> R[16] * R[16]'
>>> m.states[0]
State(type=TensorType(dtype='R', shape=(16,), names=(None,), batch=0), init=('zeros', ()))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.builder import Builder, Wire
from ...core.diagram import FEEDBACK, Diagram
from ...core.errors import CatError
from ...core.types import TensorType

#: initialisers a state may start from: its initial value must be a constant
CONSTANT_INITS = ("zeros", "ones", "constant")


@dataclass(frozen=True)
class State:
    """One register of a stateful morphism: its type and initial value (an initialiser spec)."""

    type: TensorType
    init: tuple

    def initial(self, shape: tuple | None = None) -> np.ndarray:
        """``s₀`` as an array (of `shape`, the type's own by default)."""
        name, kwargs = self.init
        shape = tuple(self.type.shape if shape is None else shape)
        value = {"zeros": 0.0, "ones": 1.0}.get(name, dict(kwargs).get("value", 0.0))
        return np.full(shape, float(value))


@dataclass(frozen=True)
class Mealy:
    """``(S, s₀, φ)``: ``step`` is ``φ : X ⊗ S → Y ⊗ S`` (the model's inputs,
    then the states; its outputs, then the next states), with the model's
    parameters; ``states`` lists ``S`` with ``s₀``."""

    step: Diagram
    states: tuple
    n_inputs: int
    n_outputs: int

    @property
    def stateless(self) -> bool:
        return not self.states


def is_stateful(d: Diagram) -> bool:
    """Whether `d` has a register outside any sequence box (a feedback or a delay)."""
    return any(op.prim is FEEDBACK or op.prim.stateful for op in d.ops)


def _check_init(init: tuple, span) -> tuple:
    name, kwargs = init
    if name not in CONSTANT_INITS:
        raise CatError(f"a state starts from a constant, not from `{name}`", span,
                       expected=" or ".join(CONSTANT_INITS), found=name,
                       hint="a learned initial state is a parameter: add it to the state in the first step")
    return init


class _Flattener:
    """Copies a stateful diagram into one builder, registers becoming inputs."""

    def __init__(self, b: Builder):
        self.b = b
        self.states: list[State] = []
        self.inputs: list[Wire] = []
        self.nexts: list = []  # (wire map, wire of the diagram) of each next state, read at the end

    def state(self, t: TensorType, init: tuple, span) -> Wire:
        self.states.append(State(t, _check_init(init, span)))
        w = self.b._new(t)
        self.inputs.append(w)
        self.nexts.append(None)
        return w

    def copy(self, d: Diagram, m: dict, ops=None) -> None:
        for op in d.ops if ops is None else ops:
            if op.prim.name == "delay":
                m[op.outputs[0]] = self.state(d.types[op.outputs[0]], op.attr["init"], op.span)
                self.nexts[-1] = (m, op.inputs[0])
            elif op.prim is FEEDBACK:
                self.feedback(op, m)
            else:
                outs = self.b.add_op(op.prim, op.attr, [m[i] for i in op.inputs], [d.types[o] for o in op.outputs],
                                     op.lift, op.span, op.scope, op.body)
                m.update(zip(op.outputs, outs))

    def feedback(self, op, m: dict) -> None:
        a, body = op.attr, op.body
        n = a["n_inputs"]
        inner = {w: m[i] for w, i in zip(body.inputs[:n], op.inputs[:n])}
        inner.update((w, m[i]) for w, i in zip(body.inputs[n + 1:], op.inputs[n:]))
        state_in, state_out = body.inputs[n], body.outputs[-1]
        if a["init"] is not None:
            inner[state_in] = self.state(body.types[state_in], a["init"], op.span)
            self.nexts[-1] = (inner, state_out)
            self.copy(body, inner)
        else:  # the trace of a guarded body: the boxes making the next state first, then `s` is it
            first = _makers(body, state_out)
            self.copy(body, inner, [o for o in body.ops if id(o) in first])
            inner[state_in] = inner[state_out]
            self.copy(body, inner, [o for o in body.ops if id(o) not in first])
        m.update(zip(op.outputs, (inner[w] for w in body.outputs[:-1])))


def _makers(d: Diagram, wire: int) -> set:
    """The boxes `wire` depends on within one step (a delay's input is the next step's)."""
    producer = {o: op for op in d.ops for o in op.outputs}
    found, todo = set(), [wire]
    while todo:
        op = producer.get(todo.pop())
        if op is None or id(op) in found:
            continue
        found.add(id(op))
        if op.prim.name != "delay":
            todo.extend(op.inputs)
    return found


def mealy(d: Diagram) -> Mealy:
    """``(S, s₀, φ)`` of a stateful diagram (see the module docstring); a
    stateless one gives ``S = I`` and ``φ = d``."""
    cached = d._cache.get("mealy")
    if cached is not None:
        return cached
    b = Builder()
    m = {w: b.input(t) for w, t in zip(d.inputs, d.dom)}
    for p in d.params:
        m[p.wire] = b.param(p.name, d.types[p.wire], p.init, p.span)
    flat = _Flattener(b)
    flat.copy(d, m)
    b.inputs.extend(w.index for w in flat.inputs)
    nexts = [where[w] for where, w in flat.nexts]
    step = b.finish([m[w] for w in d.outputs] + nexts, f"step[{d.name}]" if d.name else "step")
    result = Mealy(step, tuple(flat.states), len(d.dom), len(d.cod))
    d._cache["mealy"] = result
    return result
