"""Max-pooling's derivative through the indices of the maxima: `argmax_pool2d`
finds them as torch does, `unpool2d` and `gather2d` are each other's adjoint,
and in rd mode the gradient through `maxpool2d` is torch's, ties included."""
import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import catlearn
from catlearn.backends.torch import compile_module
from catlearn.stdlib.nn import argmax_pool2d, gather2d, maxpool2d, unpool2d

TORCH = {name: catlearn.core.primitives.REGISTRY[name].torch for name in ("argmax_pool2d", "unpool2d", "gather2d")}


@st.composite
def images(draw):
    """(batch, channels, size, h, w) and integer-valued entries, so blocks often tie."""
    batch = draw(st.sampled_from([(), (2,), (2, 3)]))
    c, size, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x = np.random.default_rng(draw(st.integers(0, 2 ** 16))).integers(-2, 3, batch + (c, size * h, size * w))
    return x.astype(float), size


@settings(max_examples=60, deadline=None)
@given(images())
def test_argmax_pool2d_finds_the_maxima_torch_finds(case):
    x, size = case
    flat = torch.as_tensor(x).reshape(-1, *x.shape[-3:])
    pooled, where = F.max_pool2d(flat, size, return_indices=True)
    ours = argmax_pool2d(x, size=size)
    assert np.array_equal(ours.reshape(where.shape), where.numpy())
    assert np.array_equal(gather2d(x, ours, size=size), maxpool2d(x, size=size))
    assert np.array_equal(TORCH["argmax_pool2d"](torch, torch.as_tensor(x), size=size).numpy(), ours)


@settings(max_examples=60, deadline=None)
@given(images(), st.booleans())
def test_unpool2d_is_the_derivative_of_max_pooling_and_gather2d_its_adjoint(case, unbatched_indices):
    x, size = case
    idx = argmax_pool2d(x, size=size)
    if unbatched_indices and x.ndim > 3:
        idx = idx[(0,) * (x.ndim - 3)]
    rng = np.random.default_rng(0)
    dy = rng.normal(size=x.shape[:-2] + idx.shape[-2:])
    z = rng.normal(size=x.shape)
    up = unpool2d(dy, idx, size=size)
    assert np.isclose(np.sum(up * z), np.sum(dy * gather2d(z, idx, size=size)))  # ⟨unpool dy, z⟩ = ⟨dy, gather z⟩
    t = [torch.as_tensor(a) for a in (dy, idx, z)]
    np.testing.assert_array_equal(TORCH["unpool2d"](torch, t[0], t[1], size=size).numpy(), up)
    np.testing.assert_array_equal(TORCH["gather2d"](torch, t[2], t[1], size=size).numpy(), gather2d(z, idx, size=size))
    if not unbatched_indices:  # the vector-Jacobian product of torch's own max-pooling
        xt = torch.as_tensor(x).reshape(-1, *x.shape[-3:]).requires_grad_()
        (grad,) = torch.autograd.grad(F.max_pool2d(xt, size), xt, torch.as_tensor(dy).reshape(-1, *dy.shape[-3:]))
        np.testing.assert_array_equal(grad.reshape(x.shape).numpy(), up)


def test_rd_mode_gradient_through_tied_maxima_is_torchs():
    d = catlearn.loads("use std.nn\nmodel f : R[2, 4, 4] -> R[2, 2, 2] = x => maxpool2d(relu(x), size=2)")["f"]
    x = torch.randint(-1, 2, (5, 2, 4, 4)).double()
    dy = torch.randn(5, 2, 2, 2, dtype=torch.float64)
    grads = []
    for mode in ("autograd", "rd"):
        xi = x.clone().requires_grad_()
        compile_module(d, mode, dtype=torch.float64)(xi).backward(dy)
        grads.append(xi.grad)
    code = compile_module(d, "rd").code
    assert "return_indices=True" in code and "scatter_" in code  # pooling with its indices; unpool2d, written out
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=0)
