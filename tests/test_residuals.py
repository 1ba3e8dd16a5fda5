"""A reverse derivative split into what it recomputes and what it adds
(catlearn/semantics/residuals.py): ``R' ∘ (res ⊗ id) = R[φ]`` on random
stateful diagrams' steps, by the NumPy interpreter, and ``φᵣ`` is φ."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from catlearn.backends.numpy import evaluate
from catlearn.core.diagram import SCAN
from catlearn.semantics.rdc import reverse
from catlearn.semantics.residuals import residuals
from catlearn.semantics.stateful import mealy, sequence
from tests.test_delayed_trace import SMOOTH, stateful_diagrams


@settings(max_examples=40, deadline=None)
@given(stateful_diagrams(primitives=SMOOTH), st.integers(0, 2 ** 16))
def test_the_cotangent_part_on_the_residuals_is_the_reverse_derivative(d, seed):
    op = next(o for o in sequence(d, 2).ops if o.prim is SCAN)
    m = mealy(op.body)
    step, n, k = m.step, op.attr["n_inputs"], len(m.states)
    constants = range(n, len(step.inputs) - k)
    forward, back, count = residuals(step, reverse(step), constants)
    rng = np.random.default_rng(seed)
    inputs = [rng.uniform(0.1, 1, tuple(step.types[w].shape)) for w in step.inputs]
    cotangents = [rng.normal(size=tuple(step.types[w].shape)) for w in step.outputs]
    outs = evaluate(forward, inputs)
    for ours, theirs in zip(outs, evaluate(step, inputs)):  # φᵣ is φ, then its residuals
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    assert len(outs) == len(step.outputs) + count
    kept = outs[len(step.outputs):]
    ours = evaluate(back, [*kept, *(inputs[i] for i in constants), *cotangents])
    for a, b in zip(ours, evaluate(reverse(step), inputs + cotangents)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
