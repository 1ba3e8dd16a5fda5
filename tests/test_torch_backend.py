"""The torch backend: generated code agrees with the NumPy reference on random
diagrams, the autograd and rd gradient modes agree (lens and optic), and the
modules behave as PyTorch users expect."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import catlearn
from catlearn.backends.numpy import evaluate
from catlearn.backends.torch import compile_module
from catlearn.semantics.rdc import reverse
from catlearn.testing import diagrams

from .test_derivatives import SMOOTH, point

TOL = dict(rtol=1e-9, atol=1e-10)


def values(module):
    return {n: module.get_parameter(n).detach().numpy() for n in module.parameter_names}


@settings(max_examples=40)
@given(diagrams(max_ops=6), st.integers(0, 2 ** 16))
def test_generated_code_agrees_with_the_numpy_reference(d, seed):
    module = compile_module(d, dtype=torch.float64)
    rng = np.random.default_rng(seed)
    xs = [point(rng, t, positive=True) for t in d.dom]
    with np.errstate(all="ignore"):
        want = evaluate(d, xs, values(module))
    got = module(*(torch.as_tensor(x) for x in xs))
    got = got if isinstance(got, tuple) else (got,)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().numpy(), w, equal_nan=True, **TOL)


@settings(max_examples=40)
@given(diagrams(primitives=SMOOTH, max_ops=6), st.integers(0, 2 ** 16), st.sampled_from(["lens", "optic"]))
def test_autograd_and_rd_gradients_agree(d, seed, strategy):
    assume(d.dom or d.params)
    rng = np.random.default_rng(seed)
    xs = [point(rng, t) for t in d.dom]
    dys = [rng.normal(size=tuple(t.shape)) for t in d.cod]
    grads = []
    for mode in ("autograd", "rd"):
        module = compile_module(d, mode, strategy=strategy, dtype=torch.float64, seed=seed)
        inputs = [torch.tensor(x, requires_grad=True) for x in xs]
        outs = module(*inputs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        total = sum((o * torch.as_tensor(dy)).sum() for o, dy in zip(outs, dys))
        if torch.is_tensor(total) and total.requires_grad:  # constant outputs have no gradient at all
            total.backward()
        grads.append([x.grad if x.grad is not None else torch.zeros_like(x) for x in inputs]
                     + [p.grad if p.grad is not None else torch.zeros_like(p)
                        for p in (module.get_parameter(n) for n in module.parameter_names)])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), **TOL)
    reference = evaluate(reverse(d), xs + dys, values(module))  # and both equal the NumPy reverse derivative
    for a, b in zip(grads[1], reference):
        np.testing.assert_allclose(a.numpy(), b, **TOL)


MLP = catlearn.load("models/digits_mlp.cat")["mlp"]


@pytest.mark.parametrize("mode", ["autograd", "rd"])
def test_a_module_is_an_ordinary_pytorch_module(mode):
    module = compile_module(MLP, mode)
    assert module.get_parameter("dense.W").dtype == torch.float32
    state = module.state_dict()
    assert list(state) == ["dense.W", "dense.b", "dense_1.W", "dense_1.b"]
    other = compile_module(MLP, mode, seed=5)
    other.load_state_dict(state)
    x = torch.randn(7, 64)
    assert torch.equal(other(x), module(x))
    out = torch.func.functional_call(module, {k: v * 0 for k, v in state.items()}, (x,))
    assert torch.count_nonzero(out) == 0
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)  # an ordinary training loop
    labels = torch.randint(0, 10, (7,))
    before = torch.nn.functional.cross_entropy(module(x), labels)
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(x), labels).backward()
        optimizer.step()
    assert torch.nn.functional.cross_entropy(module(x), labels) < before
    assert "gradient=" + mode in repr(module) and "def forward" in module.code


def test_torch_compile():
    module = compile_module(MLP)
    compiled = torch.compile(module)
    x = torch.randn(4, 64)
    torch.testing.assert_close(compiled(x), module(x))
