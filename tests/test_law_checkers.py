"""The public law checkers hold on lawful inputs and fail on unlawful ones
(a checker that cannot fail is no checker)."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import catlearn
from catlearn.core.diagram import Diagram
from catlearn.core.types import TensorType
from catlearn.semantics.rdc import reverse
from catlearn.testing import diagrams, laws

from .test_derivatives import SMOOTH

T = TensorType("R", (3,))


def smooth(**kw):
    return diagrams(primitives=SMOOTH, max_ops=4, batch=False, **kw)


@given(st.data())
def test_lens_and_para_checkers_hold(data):
    f = data.draw(smooth(params=False))
    g = data.draw(smooth(params=False, dom=f.cod))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    with np.errstate(all="ignore"):
        assert laws.lens_functor(f, g, rng) <= 1e-10
        p = data.draw(smooth(prefix="p"))
        q = data.draw(smooth(prefix="q", dom=p.cod))
        assert laws.para_composition(p, q, rng) <= 1e-12


@given(st.data())
def test_monoidal_checker_holds(data):
    f = data.draw(smooth(params=False))
    g = data.draw(smooth(params=False, dom=f.cod))
    h = data.draw(smooth(params=False, dom=g.cod))
    assert all(laws.monoidal(f, g, h).values())


def test_checkers_fail_on_unlawful_inputs(monkeypatch):
    """Structural laws (RD.5, functoriality) hold whatever the primitives' rules;
    a wrong rule is caught by the oracle checks, and a learner lens breaks PutGet."""
    import dataclasses

    from catlearn.core.primitives import REGISTRY

    rng = np.random.default_rng(0)
    square = catlearn.loads("use std.nn\nmodel f : R[3] -> R[3] = square")["f"]
    assert laws.lawful_lens(square, reverse(square), rng)["PutGet"] > 1e-3
    projection = laws.lawful_lens(Diagram.identity([T]) @ Diagram.discard([T]),
                                  Diagram.discard([T]) @ Diagram.swap([T], [T]), rng)
    assert max(projection.values()) <= 1e-12
    wrong = dataclasses.replace(REGISTRY["tanh"], rd=lambda g, i, y, dy: [g.mul(dy, g.sub(1.0, y))])
    monkeypatch.setitem(REGISTRY, "tanh", wrong)
    model = catlearn.loads("use std.nn\nmodel f : R[3] -> R[3] = tanh")["f"]
    assert laws.finite_differences(model, rng) > 1e-3
    assert laws.chain_rule(model, model, rng) <= 1e-12  # consistent, though wrong


def test_the_batching_law_catches_semantics_that_mix_the_examples(monkeypatch):
    """A `mean` whose NumPy semantics averages the whole array, batch included:
    right on one example, wrong on a batch, whose sizes the law draws from the
    model's own (so a batch of 3 beside a model axis of 3 is tried)."""
    import dataclasses

    from catlearn.core.primitives import REGISTRY

    rng = np.random.default_rng(0)
    model = catlearn.loads("use std.nn\nmodel f : R[3] -> R[3] = x => sub(x, mean(x))")["f"]
    assert laws.batching(model, rng) <= 1e-12
    assert all(s == 3 for s in laws.batch_shape(model, rng))
    mixing = dataclasses.replace(REGISTRY["mean"], numpy=lambda x: np.full(np.shape(x)[:-1], np.mean(x)))
    monkeypatch.setitem(REGISTRY, "mean", mixing)
    model = catlearn.loads("use std.nn\nmodel f : R[3] -> R[3] = x => sub(x, mean(x))")["f"]
    assert laws.batching(model, rng) > 1e-3
