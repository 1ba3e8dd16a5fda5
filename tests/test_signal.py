"""std.signal: causal convolution and correlation against numpy.convolve and
brute-force sums, their reverse derivatives (and the derivatives of those)
against torch's autograd of a brute-force twin, exactly with sympy, and on
batches as large as the model's own axes."""
import numpy as np
import pytest
import sympy
import torch

import catlearn
from catlearn.backends import sympy as exact
from catlearn.backends.numpy import evaluate, init_params
from catlearn.backends.torch import compile_module
from catlearn.core.diagram import Diagram
from catlearn.core.primitives import REGISTRY
from catlearn.core.types import TensorType
from catlearn.semantics.rdc import forward, reverse

CONV, CORR, POSITIONS = REGISTRY["causal_conv"], REGISTRY["causal_corr"], REGISTRY["positions"]
LENGTHS = [1, 2, 5, 16]
TOL = dict(rtol=1e-12, atol=1e-12)


def truncated_convolve(u, k):
    """The first len(u) entries of the full convolution, by NumPy, row by row."""
    u, k = np.broadcast_arrays(u, k)
    out = np.empty(u.shape)
    for index in np.ndindex(*u.shape[:-1]):
        out[index] = np.convolve(u[index], k[index])[:u.shape[-1]]
    return out


def brute_corr(a, b):
    """z_j = Σ_m a_{j+m} b_m over 0 ≤ j + m < l, by a double loop."""
    a, b = np.broadcast_arrays(a, b)
    out = np.zeros(a.shape)
    length = a.shape[-1]
    for j in range(length):
        for m in range(length - j):
            out[..., j] += a[..., j + m] * b[..., m]
    return out


def twin_conv(u, k):
    """causal_conv in torch by shifted copies of u (autograd differentiates this, not the FFT)."""
    length = u.shape[-1]
    return sum(k[..., s:s + 1] * torch.nn.functional.pad(u[..., :length - s], (s, 0)) for s in range(length))


def twin_corr(a, b):
    length = a.shape[-1]
    return sum(b[..., m:m + 1] * torch.nn.functional.pad(a[..., m:], (0, m)) for m in range(length))


@pytest.mark.parametrize("length", LENGTHS)
def test_causal_conv_is_numpy_convolve_truncated(length):
    rng = np.random.default_rng(length)
    u, k = rng.normal(size=(3, length)), rng.normal(size=(3, length))
    want = truncated_convolve(u, k)
    np.testing.assert_allclose(CONV.numpy(u, k), want, **TOL)
    np.testing.assert_allclose(CONV.torch(torch, torch.tensor(u), torch.tensor(k)).numpy(), want, **TOL)
    assert CONV.numpy(u, k)[0, 0] == u[0, 0] * k[0, 0]  # y_0 sees u_0 only: causal


@pytest.mark.parametrize("length", LENGTHS)
def test_causal_corr_is_the_brute_force_sum(length):
    rng = np.random.default_rng(length)
    a, b = rng.normal(size=(2, length)), rng.normal(size=(2, length))
    want = brute_corr(a, b)
    np.testing.assert_allclose(CORR.numpy(a, b), want, **TOL)
    np.testing.assert_allclose(CORR.torch(torch, torch.tensor(a), torch.tensor(b)).numpy(), want, **TOL)


def test_a_long_fft_convolution_in_float32_is_accurate():
    rng = np.random.default_rng(0)
    u, k = rng.normal(size=(4, 1024)), rng.normal(size=(4, 1024)) * np.exp(-np.arange(1024) / 100)
    want = truncated_convolve(u, k)
    got = CONV.torch(torch, torch.tensor(u, dtype=torch.float32), torch.tensor(k, dtype=torch.float32))
    assert got.dtype == torch.float32
    assert np.abs(got.numpy() - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize("length", LENGTHS)
def test_the_adjoints_are_correlations(length):
    """⟨u ∗ k, z⟩ = ⟨u, z ⋆ k⟩ = ⟨k, z ⋆ u⟩."""
    rng = np.random.default_rng(length)
    u, k, z = (rng.normal(size=length) for _ in range(3))
    pairing = np.dot(CONV.numpy(u, k), z)
    np.testing.assert_allclose(np.dot(u, CORR.numpy(z, k)), pairing, **TOL)
    np.testing.assert_allclose(np.dot(k, CORR.numpy(z, u)), pairing, **TOL)


def _box(prim, shapes):
    return Diagram.box(prim, [TensorType("R", s) for s in shapes])


@pytest.mark.parametrize("prim, twin", [(CONV, twin_conv), (CORR, twin_corr)], ids=["conv", "corr"])
@pytest.mark.parametrize("shapes", [((5,), (5,)), ((3, 4), (4,)), ((4,), (2, 4)), ((2, 3, 6), (3, 6))])
def test_reverse_derivatives_and_their_reverse_derivatives_match_autograd(prim, twin, shapes):
    """R[f] and R[R[f]] (an input's cotangent's derivative) against torch.func.vjp of the twin,
    broadcasting over the model's leading axes included."""
    rng = np.random.default_rng(len(shapes[0]))
    box = _box(prim, shapes)
    xs = [rng.normal(size=s) for s in shapes]
    dy = rng.normal(size=box.cod[0].shape)
    ts = [torch.tensor(x) for x in xs]
    _, pull = torch.func.vjp(twin, *ts)
    for got, want in zip(evaluate(reverse(box), xs + [dy]), pull(torch.tensor(dy))):
        np.testing.assert_allclose(got, want.numpy(), **TOL)

    second = reverse(reverse(box))  # inputs: x, dy, then cotangents of R[f]'s outputs (the dx)
    dds = [rng.normal(size=s) for s in shapes]

    def first(*args):
        return torch.func.vjp(twin, *args[:2])[1](args[2])

    _, pull2 = torch.func.vjp(first, *ts, torch.tensor(dy))
    for got, want in zip(evaluate(second, xs + [dy] + dds), pull2(tuple(torch.tensor(d) for d in dds))):
        np.testing.assert_allclose(got, want.numpy(), **TOL)


@pytest.mark.parametrize("prim, twin", [(CONV, twin_conv), (CORR, twin_corr)], ids=["conv", "corr"])
def test_forward_derivatives_match_jvp(prim, twin):
    rng = np.random.default_rng(1)
    box = _box(prim, [(3, 6), (6,)])
    xs, vs = [rng.normal(size=(3, 6)), rng.normal(size=6)], [rng.normal(size=(3, 6)), rng.normal(size=6)]
    _, want = torch.func.jvp(twin, tuple(map(torch.tensor, xs)), tuple(map(torch.tensor, vs)))
    np.testing.assert_allclose(evaluate(forward(box), xs + vs)[0], want.numpy(), **TOL)


@pytest.mark.parametrize("prim", [CONV, CORR], ids=["conv", "corr"])
def test_reverse_derivatives_are_exact(prim):
    """With sympy: R[f](x, w) is the gradient of ⟨f(x), w⟩, symbol for symbol."""
    length = 4
    u, k, w = (np.array(sympy.symbols(f"{c}0:{length}"), dtype=object) for c in "ukw")
    box = _box(prim, [(length,), (length,)])
    (y,) = exact.evaluate(box, [u, k])
    pairing = sympy.expand(sum(y * w))
    for xs, grad in zip((u, k), exact.evaluate(reverse(box), [u, k, w])):
        assert all(sympy.expand(g - sympy.diff(pairing, x)) == 0 for g, x in zip(grad, xs))


def test_positions():
    np.testing.assert_array_equal(POSITIONS.numpy(n=4), [0.0, 1.0, 2.0, 3.0])
    like = torch.zeros((), dtype=torch.float64)
    got = POSITIONS.torch(torch, n=4, like=like)
    assert got.dtype == torch.float64 and got.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert POSITIONS.torch(torch, n=3).dtype == torch.get_default_dtype()
    assert evaluate(reverse(Diagram.box(POSITIONS, [], n=3)), [np.ones(3)]) == []


SOURCE = """use std.nn
use std.signal
-- an input filtered by a learned kernel shared over the channels, and the same written with positions
model filter(h, l) : R[h, l] -> R[h, l] =
  param k : R[l] ~ normal
  u => causal_conv(u, k)
model pair(h, l) : R[h, l] * R[h, l] -> R[h, l] = (a, b) => causal_corr(a, b)
model ramp(l) : R[l] -> R[l] = u => causal_conv(u, exp(positions(n=l) * -0.5))
"""


def test_models_in_cat_use_them():
    module = catlearn.loads(SOURCE)
    ramp = module.instantiate("ramp", 6)
    u = np.random.default_rng(0).normal(size=6)
    np.testing.assert_allclose(evaluate(ramp, [u])[0], truncated_convolve(u, np.exp(-0.5 * np.arange(6))), **TOL)
    net = compile_module(ramp, dtype=torch.float64)
    np.testing.assert_allclose(net(torch.tensor(u)).detach().numpy(), evaluate(ramp, [u])[0], **TOL)


@pytest.mark.parametrize("h, l, batch", [(3, 5, (3,)), (3, 5, (5,)), (2, 4, (4, 2)), (4, 4, (4,))])
def test_a_batch_of_the_models_own_sizes_is_example_by_example(h, l, batch):
    """On a batch whose sizes are the model's axis sizes, outputs, input and parameter
    cotangents equal each example's (NumPy; torch's autograd and rd modes sum the
    parameter cotangents over the batch)."""
    module = catlearn.loads(SOURCE)
    rng = np.random.default_rng(h * l)
    f = module.instantiate("filter", h, l)
    ps = init_params(f, seed=1)
    u, dy = rng.normal(size=batch + (h, l)), rng.normal(size=batch + (h, l))
    k = ps["k"]
    want_y = truncated_convolve(u, k)
    want_du = brute_corr(dy, k)
    want_dk = brute_corr(dy, u).sum(-2)  # per example: summed over the channels the kernel is shared by
    got_y = evaluate(f, [u], ps)[0]
    got_du, got_dk = evaluate(reverse(f), [u, dy], ps)
    np.testing.assert_allclose(got_y, want_y, **TOL)
    np.testing.assert_allclose(got_du, want_du, **TOL)
    np.testing.assert_allclose(got_dk, want_dk, **TOL)
    for gradient in ("autograd", "rd"):
        net = compile_module(f, gradient, dtype=torch.float64)
        net.load_state_dict({"k": torch.tensor(k)})
        x = torch.tensor(u, requires_grad=True)
        y = net(x)
        (y * torch.tensor(dy)).sum().backward()
        np.testing.assert_allclose(y.detach().numpy(), want_y, **TOL)
        np.testing.assert_allclose(x.grad.numpy(), want_du, **TOL)
        np.testing.assert_allclose(net.k.grad.numpy(), want_dk.reshape(-1, l).sum(0), **TOL)

    pair = module.instantiate("pair", h, l)
    a, b = rng.normal(size=batch + (h, l)), rng.normal(size=batch + (h, l))
    np.testing.assert_allclose(evaluate(pair, [a, b])[0], brute_corr(a, b), **TOL)
    shared = evaluate(pair, [a, b[(0,) * len(batch)]])[0]  # the second input shared by the batch
    np.testing.assert_allclose(shared, brute_corr(a, b[(0,) * len(batch)]), **TOL)
