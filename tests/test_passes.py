"""Dead-code elimination and common-subexpression elimination: they keep the
diagram equal (up to the laws) and its outputs the same (NumPy oracle), and they
do remove what they should."""
import numpy as np
from hypothesis import given

from catlearn.backends.numpy import evaluate, init_params
from catlearn.core.builder import Builder
from catlearn.core.passes import common_subexpressions, dead_code_elimination
from catlearn.core.types import TensorType
from catlearn.testing import diagrams, points


def same_outputs(a, b):
    xs, ps = points(a, seed=3), init_params(a, seed=4)
    with np.errstate(all="ignore"):
        for x, y in zip(evaluate(a, xs, ps), evaluate(b, xs, ps)):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, equal_nan=True)


@given(diagrams(max_ops=8))
def test_dead_code_elimination_keeps_meaning_and_leaves_no_dead_op(d):
    e = dead_code_elimination(d)
    assert e == d
    same_outputs(d, e)
    used = set(e.outputs) | {i for op in e.ops for i in op.inputs}
    assert all(any(o in used for o in op.outputs) for op in e.ops)
    assert dead_code_elimination(e).ops == e.ops


@given(diagrams(max_ops=8))
def test_common_subexpressions_keep_meaning_and_share_equal_boxes(d):
    c = common_subexpressions(d)
    assert c == d
    same_outputs(d, c)
    keys = [(op.prim.name, op.attrs, op.inputs) for op in c.ops]
    assert len(keys) == len(set(keys))


def test_passes_remove_what_they_should():
    r = TensorType("R", (3,))
    b = Builder()
    x = b.input(r)
    a1, = b.apply("relu", [x])
    a2, = b.apply("relu", [x])  # the same box again
    b.apply("exp", [x])  # unused
    y, = b.apply("add", [a1, a2])
    d = b.finish([y])
    assert [op.prim.name for op in dead_code_elimination(d).ops] == ["relu", "relu", "add"]
    assert [op.prim.name for op in common_subexpressions(d).ops] == ["relu", "exp", "add"]
    assert [op.prim.name for op in d.normal_form().ops] == ["relu", "add"]
