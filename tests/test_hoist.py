"""Hoisting a step's stateless part out of its loop: ``φ = ρ ∘ (π ⊗ id)``.

The factorisation is checked on the NumPy interpreter (ρ after π equals φ on
random inputs), the split is the one promised (π reads no state, ρ keeps no
box that reads sequences alone), and π runs a block of steps at a time.
That the compiled, hoisted scans equal torch.nn's RNN, GRU and LSTM, outputs
and gradients in both modes, is tests/test_rnn_oracles.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import catlearn
from catlearn.backends.numpy import evaluate
from catlearn.backends.torch.codegen import generate
from catlearn.core.diagram import SCAN
from catlearn.semantics.stateful import mealy, with_checkpoints
from catlearn.semantics.stateful.hoist import hoisted

MODELS = Path(__file__).resolve().parent.parent / "models"

SEQUENCES = {
    "elman": ('"elman_rnn.cat"', "R[5, 3] -> R[5, 4] = scan(elman(3, 4))"),
    "gru": ('"gru.cat"', "R[5, 3] -> R[5, 4] = gru_seq(3, 4)"),
    "lstm": ('"lstm.cat"', "R[5, 3] -> R[5, 4] = lstm_seq(3, 4)"),
    "s4d": ('"s4d.cat"', "R[5, 3] -> R[5, 3] = s4d_rec(3, 2)"),
    "gla": ('"linear_attention.cat"', "R[5, 4] * R[5, 4] * R[5, 4] * R[5, 4] -> R[5, 4] = gla_seq"),
}


def scan_op(name: str, every: int = 0):
    path, rest = SEQUENCES[name]
    d = catlearn.loads(f"use {path}\nmodel m : {rest}\n", search_path=[str(MODELS)])["m"]
    d = with_checkpoints(d, every) if every else d
    return d, next(op for op in d.ops if op.prim is SCAN)


def split(name: str):
    _, op = scan_op(name)
    m = mealy(op.body)
    return m, op.attr["n_inputs"], hoisted(m.step, op.attr["n_inputs"], len(m.states))


@settings(max_examples=10, deadline=None)
@given(name=st.sampled_from(sorted(SEQUENCES)), seed=st.integers(0, 2**16))
def test_the_loop_after_the_hoisted_part_is_the_step(name, seed):
    m, n, parts = split(name)
    if parts is None:
        return
    pre, rest, kept = parts
    rng = np.random.default_rng(seed)
    inputs = [rng.normal(size=m.step.types[w].shape) for w in m.step.inputs]
    k = len(m.states)
    consts, states = inputs[n:len(inputs) - k], inputs[len(inputs) - k:]
    hidden = evaluate(pre, inputs[:len(inputs) - k])
    for ours, theirs in zip(evaluate(rest, [*hidden, *(consts[j] for j in kept), *states]), evaluate(m.step, inputs)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["elman", "gru", "lstm"])
def test_the_input_projection_leaves_the_loop(name):
    m, n, (pre, rest, kept) = split(name)
    k = len(m.states)
    assert "matvec" in [op.prim.name for op in pre.ops]
    states = set(rest.inputs[len(rest.inputs) - k:])
    sequences = set(rest.inputs[:len(pre.outputs)])
    reads_state = set(states)
    for op in rest.ops:  # every box left in the loop reads a state, or none of the sequences
        touches = {i for i in op.inputs if i in reads_state}
        assert touches or not any(i in sequences for i in op.inputs), op.prim.name
        if touches:
            reads_state.update(op.outputs)
    assert len([op for op in rest.ops if op.prim.name == "matvec"]) == 1  # W_hh h alone
    assert len(kept) == 2  # and the loop reads W_hh and b_hh alone, not W_ih and b_ih


def test_the_hoisted_part_runs_a_segment_at_a_time():
    """An affine recurrence keeps its parallel form; a loop runs π on blocks
    of at most BLOCK steps (from 0, and from each checkpoint), so that the
    hoisted part adds O(BLOCK), not O(T), to what a pass keeps."""
    d, _ = scan_op("gla")
    assert "_pre" not in generate(d) and "_coefficients" in generate(d)
    d, _ = scan_op("gru")  # T = 5 < BLOCK: one segment
    assert "def forward_scan0_pre5(" in generate(d) and "hoisted={5: (" in generate(d)
    d, _ = scan_op("gru", every=2)  # the forward pass's block of 5, then segments of 2, the last of 1
    assert "hoisted={1: (forward_scan0_pre1, forward_scan0_pre_back1), 2: (" in generate(d)
