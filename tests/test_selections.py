"""Selections at exact ties: one subgradient convention in every mode.

`max`, `min`, `maximum`, `minimum` and `maxpool2d` commute with adding a
constant to every entry, f(x + c·1) = f(x) + c, so the cotangents of the
entries an output selects from sum to that output's cotangent, exactly, ties
included.  The convention (docs/language.md): the whole cotangent goes to the
first selected entry: the lowest index, the first argument, the first entry of
a pooling window in row-major order.  The oracle computes that entry by brute
force with NumPy's argmax (the first, as NumPy documents)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from catlearn.backends.numpy import evaluate
from catlearn.backends.torch import compile_module
from catlearn.core.diagram import Diagram
from catlearn.core.types import TensorType
from catlearn.semantics.rdc import forward, reverse

MODES = [("autograd", "optic"), ("rd", "lens"), ("rd", "optic")]


def _first(x: np.ndarray, pick) -> np.ndarray:
    """The one-hot mask of the first `pick` (argmax or argmin) along the last axis, by NumPy."""
    mask = np.zeros_like(x)
    np.put_along_axis(mask, pick(x, -1)[..., None], 1.0, -1)
    return mask


def _reduction_oracle(pick):
    def oracle(xs, dy):
        (x,) = xs
        return [_first(x, pick) * dy[..., None]]
    return oracle


def _binary_oracle(first_wins):
    def oracle(xs, dy):
        x, y = xs
        wins = first_wins(x, y)
        return [np.where(wins, dy, 0.0), np.where(wins, 0.0, dy)]
    return oracle


def _pool_oracle(xs, dy):
    (x,) = xs
    *lead, c, h, w = x.shape
    blocks = x.reshape(*lead, c, h // 2, 2, w // 2, 2).swapaxes(-3, -2).reshape(*lead, c, h // 2, w // 2, 4)
    mask = _first(blocks, np.argmax) * dy[..., None]
    return [mask.reshape(*lead, c, h // 2, w // 2, 2, 2).swapaxes(-3, -2).reshape(x.shape)]


# primitive: input shapes of one example, attributes, the oracle's cotangents
CASES = {
    "max": ([(4,)], {}, _reduction_oracle(np.argmax)),
    "min": ([(4,)], {}, _reduction_oracle(np.argmin)),
    "maximum": ([(3,), (3,)], {}, _binary_oracle(lambda x, y: x >= y)),
    "minimum": ([(3,), (3,)], {}, _binary_oracle(lambda x, y: x <= y)),
    "maxpool2d": ([(2, 4, 4)], {"size": 2}, _pool_oracle),
}


@pytest.mark.parametrize("name", CASES)
@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 2 ** 16), batch=st.sampled_from([(), (2,), (3, 2)]))
def test_selections_at_ties_give_the_first_entry_the_whole_cotangent_in_every_mode(name, seed, batch):
    shapes, attrs, oracle = CASES[name]
    box = Diagram.box(name, [TensorType("R", s) for s in shapes], **attrs)
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-1, 2, batch + s).astype(float) for s in shapes]  # three values: ties everywhere
    dy = rng.integers(-3, 4, batch + tuple(box.cod[0].shape)).astype(float)  # whole numbers: sums are exact
    want = oracle(xs, dy)
    ours = evaluate(reverse(box), xs + [dy])
    for got, expected in zip(ours, want):
        np.testing.assert_array_equal(got, expected)
    # f(x + c·1) = f(x) + c: the cotangents of what an output selects from sum to its own
    assert sum(g.sum() for g in ours) == dy.sum()
    ones = [np.ones_like(x) for x in xs]
    np.testing.assert_array_equal(evaluate(forward(box), xs + ones)[0], np.ones_like(dy))  # D[f](x, 1) = 1
    for gradient, strategy in MODES:
        inputs = [torch.tensor(x, requires_grad=True) for x in xs]
        out = compile_module(box, gradient, strategy=strategy, dtype=torch.float64)(*inputs)
        (out * torch.tensor(dy)).sum().backward()
        for x, expected in zip(inputs, want):
            np.testing.assert_array_equal(x.grad.numpy(), expected, err_msg=f"{gradient}, {strategy}")


def test_the_max_of_copies_is_the_identity_in_every_mode():
    """``max(broadcast(s, n=3))`` is s: its derivative is 1, not 3, in every mode."""
    import catlearn

    f = catlearn.loads("use std.nn\nmodel f : R -> R = s => max(broadcast(s, n=3))")["f"]
    assert evaluate(reverse(f), [np.array(0.5), np.array(1.0)]) == [1.0]
    assert evaluate(forward(f), [np.array(0.5), np.array(1.0)]) == [1.0]
    for gradient, strategy in MODES:
        s = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        compile_module(f, gradient, strategy=strategy, dtype=torch.float64)(s).backward()
        assert s.grad.item() == 1.0
