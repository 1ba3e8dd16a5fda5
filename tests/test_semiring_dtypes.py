"""The backends compute in real arithmetic (reduced for Z_p and B), which is
exact where ⊕ is + and ⊗ is ×, and refuse the semirings where it is not
(catlearn/backends/dtypes.py): a Trop model once ran as a real one, silently."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import catlearn
from catlearn.backends.numpy import evaluate
from catlearn.backends.torch import compile_module
from catlearn.core.errors import CatError

MATVEC = "use std\nmodel f : {d}[3] -> {d}[2] =\n  param W : {d}[2, 3] ~ zeros\n  x => matvec(W, x)\n"
PASSED_THROUGH = "use std\nmodel f : {d}[3] -> {d}[3] * {d}[2] =\n  param W : {d}[2] ~ zeros\n  x => (x, W)\n"
IN_A_SCAN = ("use std\ndef step : {d}[2] -> {d}[2] = feedback s : {d}[2] = zeros in (x, s) => (s, add(x, s))\n"
             "model f : {d}[4, 2] -> {d}[4, 2] = scan(step)\n")


@pytest.mark.parametrize("dt", ["Trop", "MinPlus", "Log"])
@pytest.mark.parametrize("source", [MATVEC, IN_A_SCAN, PASSED_THROUGH], ids=["matvec", "in a scan", "passed through"])
def test_a_semiring_whose_sum_is_not_plus_is_refused_by_both_backends(dt, source):
    f = catlearn.loads(source.format(d=dt), name="model.cat")["f"]
    x = np.zeros(tuple(f.dom[0].shape))
    with pytest.raises(CatError) as numpy_error:
        evaluate(f, [x], {p.name: np.zeros(tuple(f.types[p.wire].shape)) for p in f.params})
    with pytest.raises(CatError) as torch_error:
        compile_module(f)
    for error in (numpy_error.value, torch_error.value):
        text = str(error)
        assert f"over `{dt}`" in text and "model.cat:" in text and "hint:" in text, text


def _brute_matvec(w, x, add, mul, reduce):
    return [reduce(add, [mul(w[i][k], x[k]) for k in range(len(x))]) for i in range(len(w))]


EXACT = {  # dtype: (the values of a carrier to draw from, ⊕, ⊗, the reduction after each box)
    "B": ([0, 1], lambda a, b: a or b, lambda a, b: a and b, bool),
    "Z5": (range(5), lambda a, b: (a + b) % 5, lambda a, b: (a * b) % 5, lambda v: v % 5),
    "N": (range(7), lambda a, b: a + b, lambda a, b: a * b, lambda v: v),
}


@settings(max_examples=25, deadline=None)
@given(dt=st.sampled_from(sorted(EXACT)), data=st.data())
def test_matvec_over_a_semiring_whose_sum_is_plus_equals_brute_force(dt, data):
    values, add, mul, reduce = EXACT[dt]
    entry = st.sampled_from(list(values))
    w = [[data.draw(entry) for _ in range(3)] for _ in range(2)]
    x = [data.draw(entry) for _ in range(3)]
    f = catlearn.loads(MATVEC.format(d=dt))["f"]
    want = _brute_matvec(w, x, add, mul, lambda op, xs: reduce(list(itertools.accumulate(xs, op))[-1]))
    (got,) = evaluate(f, [np.array(x)], {"W": np.array(w)})
    assert [reduce(v) for v in np.asarray(got).tolist()] == [reduce(v) for v in want]
