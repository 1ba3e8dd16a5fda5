"""Stream semantics and unrolling of stateful morphisms.

For ``(S, s₀, φ)`` and a stream ``x₀, x₁, …``: ``(yₙ, sₙ₊₁) = φ(xₙ, sₙ)``.
:func:`run` computes it on a finite prefix with the NumPy reference
interpreter (time is the leading axis of each array, batch axes after it);
:func:`unroll` is the ordinary diagram ``Xⁿ → Yⁿ`` of the first `n` steps.

>>> import catlearn, numpy as np
>>> from catlearn.stdlib import stream
>>> d = catlearn.loads("use std.stream\\nmodel z : R[2] -> R[2] = x => delay(x)")["z"]
>>> [y.tolist() for y in run(d, [np.arange(6.0).reshape(3, 2)])[0]]
[[[0.0, 0.0], [0.0, 1.0], [2.0, 3.0]]]
>>> unroll(d, 3).type
'R[2] * R[2] * R[2] -> R[2] * R[2] * R[2]'
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ...backends.numpy.interpreter import evaluate
from ...core.builder import Builder, Emitter
from ...core.diagram import Diagram
from ...core.errors import CatError
from ..para import uncurry
from .mealy import Mealy, State, mealy


def run(d: Diagram | Mealy, xs: Sequence, params: Mapping | None = None, states: Sequence | None = None):
    """``(ys, final states)``: `d` on the streams `xs` (arrays whose leading
    axis is time, of one length), from its initial states or from `states`."""
    m = d if isinstance(d, Mealy) else mealy(d)
    xs = [np.asarray(x) for x in xs]
    if len(xs) != m.n_inputs:
        raise CatError(f"the model takes {m.n_inputs} stream(s), given {len(xs)}")
    steps = {len(x) for x in xs}
    if len(steps) > 1:
        raise CatError("the streams have different lengths", found=", ".join(str(len(x)) for x in xs))
    current = [s.initial() for s in m.states] if states is None else list(states)
    ys: list = [[] for _ in range(m.n_outputs)]
    for t in range(steps.pop() if steps else 0):
        outs = evaluate(m.step, [x[t] for x in xs] + current, params)
        for out, y in zip(ys, outs):
            out.append(y)
        current = outs[m.n_outputs:]
    return [np.stack(y) if y else np.zeros((0,)) for y in ys], current


def constant(g: Emitter, s: State):
    """The wire of ``s₀``, a constant of the state's type."""
    zero = g.zeros(s.type)
    value = float(s.initial(()))
    return zero if value == 0.0 else g.add(zero, value)


def unroll(d: Diagram, n: int, final_state: bool = False) -> Diagram:
    """The first `n` steps of a stateful `d` as an ordinary diagram
    ``X₀ ⊗ … ⊗ Xₙ₋₁ → Y₀ ⊗ … ⊗ Yₙ₋₁`` (step by step), with the parameters
    shared by every step; with `final_state`, ``sₙ`` follows."""
    if n < 0:
        raise CatError(f"cannot unroll {n} steps", expected="a number of steps ≥ 0")
    m = mealy(d)
    b = Builder()
    g = Emitter(b)
    params = [b.param(p.name, m.step.types[p.wire], p.init, p.span) for p in m.step.params]
    inputs = [[b.input(t) for t in d.dom] for _ in range(n)]
    states = [constant(g, s) for s in m.states]
    step = uncurry(m.step)
    outputs = []
    for k in range(n):
        outs = b.splice(step, params + inputs[k] + states)
        outputs += outs[:m.n_outputs]
        states = outs[m.n_outputs:]
    return b.finish(outputs + (states if final_state else []), f"unroll{n}[{d.name}]" if d.name else None)
