"""Learners: optimisers against torch.optim, the loss against torch, and
backprop as a functor (LAWS.md §6)."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import catlearn
from catlearn.backends.numpy import evaluate, init_params
from catlearn.semantics.learner import backprop_learner, training_step
from catlearn.testing import diagrams, laws

from .test_derivatives import SMOOTH

MODEL = catlearn.loads("use std.nn\nmodel f : R[4] -> R[3] = dense(4, 3) ; tanh ; dense(3, 3)")["f"]
TORCH_OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    "nesterov": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8),
}
HYPER = {"sgd": {"lr": 0.1}, "momentum": {"lr": 0.1, "beta": 0.9}, "nesterov": {"lr": 0.1, "beta": 0.9},
         "adam": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}}


@pytest.mark.parametrize("name", TORCH_OPTIMIZERS)
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_training_steps_match_torch_optim(name, loss):
    step = training_step(MODEL, loss, (name, tuple(sorted(HYPER[name].items()))), batch=8)
    params, state = init_params(MODEL, seed=1), step.initial_state()
    weights = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt = TORCH_OPTIMIZERS[name](list(weights.values()))
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.normal(size=(8, 4))
        labels = rng.integers(0, 3, 8)
        target = np.eye(3)[labels] if loss == "cross_entropy" else rng.normal(size=(8, 3))
        params, state, value = step(params, state, x, target, evaluate)
        h = torch.tanh(torch.tensor(x) @ weights["dense.W"].T + weights["dense.b"])  # the model, by hand
        y = h @ weights["dense_1.W"].T + weights["dense_1.b"]
        if loss == "cross_entropy":
            expected = torch.nn.functional.cross_entropy(y, torch.tensor(labels))
        else:
            expected = 0.5 * ((y - torch.tensor(target)) ** 2).sum(-1).mean()
        assert value == pytest.approx(expected.item(), rel=1e-10)
        opt.zero_grad()
        expected.backward()
        opt.step()
        for k in params:
            np.testing.assert_allclose(params[k], weights[k].detach().numpy(), rtol=1e-9, atol=1e-12)


@given(st.data())
def test_backprop_is_a_functor(data):
    """L(I ; J) = L(I) ; L(J) with quadratic error, composing learners as in
    Fong, Spivak and Tuyéras (the checker spells out the composite)."""
    f = data.draw(diagrams(primitives=SMOOTH, max_ops=4, prefix="f", batch=False))
    g = data.draw(diagrams(primitives=SMOOTH, max_ops=4, prefix="g", dom=f.cod, batch=False))
    with np.errstate(all="ignore"):
        error = laws.backprop_functor(f, g, 0.1, np.random.default_rng(data.draw(st.integers(0, 2 ** 16))))
    assert error <= 1e-9


def test_backprop_of_the_identity_is_the_identity_learner():
    t = catlearn.TensorType("R", (3,))
    implement, update, request = backprop_learner(catlearn.Diagram.identity([t]), 0.1)
    a, b = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 4.0])
    np.testing.assert_allclose(evaluate(implement, [a])[0], a)
    np.testing.assert_allclose(evaluate(request, [a, b])[0], b)  # r(a, b) = a − (a − b) = b
    assert update.cod == ()


def test_parameter_order_survives_derivatives():
    """A regression: the normal form once sorted parameters by name, so
    uncurry(reverse(f)) took them in another order than uncurry(f)."""
    from catlearn.semantics.rdc import reverse

    m = catlearn.loads("use std.nn\ndef a(n) : R[n] -> R[n] = dense(n, n)\n"
                       "model f : R[2] -> R[2] = dense(2, 2) ; a(2) ; tanh")["f"]
    names = [p.name for p in m.params]
    assert names != sorted(names)
    assert [p.name for p in reverse(m).params] == names
    assert [p.name for p in m.normal_form().params] == names


def test_binary_cross_entropy_matches_torch():
    model = catlearn.loads("use std.nn\nmodel f : R[4] -> R[1] = dense(4, 1)")["f"]
    step = training_step(model, "binary_cross_entropy", ("sgd", (("lr", 0.5),)), batch=6)
    params, state = init_params(model, seed=2), step.initial_state()
    w = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt = torch.optim.SGD(list(w.values()), lr=0.5)
    rng = np.random.default_rng(1)
    for _ in range(4):
        x, labels = rng.normal(size=(6, 4)), rng.integers(0, 2, (6, 1)).astype(float)
        params, state, value = step(params, state, x, labels, evaluate)
        logits = torch.tensor(x) @ w["dense.W"].T + w["dense.b"]
        expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor(labels))
        assert value == pytest.approx(expected.item(), rel=1e-10)
        opt.zero_grad()
        expected.backward()
        opt.step()
    for k in params:
        np.testing.assert_allclose(params[k], w[k].detach().numpy(), rtol=1e-9)
