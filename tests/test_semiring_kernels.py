"""The blocked semiring kernels against brute force in pure Python over itertools' indices,
the semiring axioms, convolution's monoid laws, and torch's autograd of the naive code."""
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from catlearn.backends.torch.semiring import (SEMIRINGS, semiring, semiring_conv1d, semiring_conv2d,
                                              semiring_einsum, semiring_matmul)

INF = math.inf


def _logadd(x, y):
    if x == -INF:
        return y
    if y == -INF:
        return x
    hi, lo = max(x, y), min(x, y)
    return hi + math.log1p(math.exp(lo - hi))


# (⊕, ⊗, 0) on Python scalars, written independently of the kernels
PY = {
    "real": (lambda x, y: x + y, lambda x, y: x * y, 0.0),
    "log": (_logadd, lambda x, y: x + y, -INF),
    "maxplus": (max, lambda x, y: x + y, -INF),
    "minplus": (min, lambda x, y: x + y, INF),
    "viterbi": (max, lambda x, y: x * y, 0.0),
    "boolean": (lambda x, y: x or y, lambda x, y: x and y, False),
    "counting": (lambda x, y: x + y, lambda x, y: x * y, 0),
}
EXACT = {"maxplus", "minplus", "viterbi", "boolean", "counting"}
NAMES = list(SEMIRINGS)


def _values(name, size, rng):
    """Random entries of `size` for the semiring `name` (integers where ⊕, ⊗ are exact), with some zeros."""
    if name == "boolean":
        return rng.integers(0, 2, size).astype(bool)
    if name == "counting":
        return rng.integers(-3, 4, size).astype(np.int64)
    if name == "viterbi":
        return rng.integers(0, 6, size).astype(np.float64)
    v = rng.integers(-5, 6, size).astype(np.float64) if name in EXACT else rng.normal(size=size)
    v[rng.random(size) < 0.15] = PY[name][2]
    return v


def _close(got, want, name):
    got = got.detach().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    want = np.asarray(want, dtype=got.dtype)
    assert got.shape == want.shape
    if name in EXACT:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def _brute_einsum(spec, x, y, name):
    add, mul, zero = PY[name]
    ins, out = spec.split("->")
    left, right = ins.split(",")
    size = dict(zip(left, x.shape)) | dict(zip(right, y.shape))
    summed = sorted(set(left + right) - set(out))
    z = np.empty(tuple(size[c] for c in out), dtype=np.result_type(x, y))
    for o in itertools.product(*(range(size[c]) for c in out)):
        acc = zero
        for r in itertools.product(*(range(size[c]) for c in summed)):
            at = dict(zip(out, o)) | dict(zip(summed, r))
            acc = add(acc, mul(x[tuple(at[c] for c in left)].item(), y[tuple(at[c] for c in right)].item()))
        z[o] = acc
    return z


def test_lookup():
    assert semiring("log").zero == -INF and semiring(semiring("real")).name == "real"
    with pytest.raises(ValueError, match="known: real, log, maxplus"):
        semiring("tropical")


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=30)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_axioms(name, seed):
    s = semiring(name)
    x, y, z = (torch.as_tensor(_values(name, 16, np.random.default_rng(seed + i))) for i in range(3))
    zero, one = s.full(x.shape, s.zero, x), s.full(x.shape, s.one, x)
    eq = torch.equal if name in EXACT else lambda p, q: torch.allclose(p, q, rtol=1e-9, atol=1e-9, equal_nan=False)
    assert eq(s.add(x, y), s.add(y, x)) and eq(s.mul(x, y), s.mul(y, x))
    assert eq(s.add(s.add(x, y), z), s.add(x, s.add(y, z)))
    assert eq(s.mul(s.mul(x, y), z), s.mul(x, s.mul(y, z)))
    assert eq(s.add(x, zero), x) and eq(s.mul(x, one), x) and eq(s.mul(x, zero), zero)
    assert eq(s.mul(x, s.add(y, z)), s.add(s.mul(x, y), s.mul(x, z)))
    assert eq(s.sum(torch.stack([x, y, z]), 0), s.add(s.add(x, y), z))


@st.composite
def _matmul_case(draw):
    name = draw(st.sampled_from(NAMES))
    m, k, n = (draw(st.integers(0 if d == "k" else 1, 4)) for d in "mkn")
    batch = draw(st.sampled_from([(), (m,), (k,), (n,), (2, 1)]))
    b_batch = draw(st.sampled_from([batch, batch[1:], (1,) * len(batch)]))
    return name, batch + (m, k), b_batch + (k, n), draw(st.integers(0, 2 ** 32 - 1))


@settings(max_examples=80)
@given(_matmul_case())
def test_matmul_brute_force(case):
    name, sa, sb, seed = case
    rng = np.random.default_rng(seed)
    a, b = _values(name, sa, rng), _values(name, sb, rng)
    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    ae, be = np.broadcast_to(a, batch + sa[-2:]), np.broadcast_to(b, batch + sb[-2:])
    want = np.empty(batch + (sa[-2], sb[-1]), dtype=np.result_type(a, b))
    for i in itertools.product(*map(range, batch)):
        want[i] = _brute_einsum("ik,kj->ij", ae[i], be[i], name)
    for block in (None, 1, 3, max(sa[-1], 1)):
        _close(semiring_matmul(torch.as_tensor(a), torch.as_tensor(b), name, block), want, name)


@pytest.mark.parametrize("name", NAMES)
def test_block_sizes_agree(name):
    rng = np.random.default_rng(1)
    a, b = torch.as_tensor(_values(name, (3, 17, 23), rng)), torch.as_tensor(_values(name, (23, 9), rng))
    results = [semiring_matmul(a, b, name, block) for block in (1, 3, 23, None)]
    for r in results[1:]:
        _close(r, results[0].numpy(), name)


SPECS = ["ij,jk->ik", "bij,bjk->bik", "i,j->ij", "ijk,jkl->il", "ij,ij->", "bij,jk->bki", "ij,kj->ik",
         "ij,k->ki", "abc,cb->a"]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("name", NAMES)
def test_einsum_brute_force(spec, name):
    rng = np.random.default_rng(len(spec))
    size = dict(zip("abcdijkl", (2, 3, 4, 2, 3, 4, 2, 3)))
    left, right = spec.split("->")[0].split(",")
    x = _values(name, tuple(size[c] for c in left), rng)
    y = _values(name, tuple(size[c] for c in right), rng)
    got = semiring_einsum(spec, torch.as_tensor(x), torch.as_tensor(y), semiring=name)
    _close(got, _brute_einsum(spec, x, y, name), name)
    if name == "real":
        _close(got, torch.einsum(spec, torch.as_tensor(x), torch.as_tensor(y)).numpy(), name)


def test_einsum_rejects():
    x = torch.zeros(2, 3)
    for spec in ("ij,jk", "ii,ij->j", "ij,jk->q", "ij,j->i"):
        with pytest.raises(ValueError):
            semiring_einsum(spec, x, x, semiring="real")


def _brute_conv1d(x, w, name):
    add, mul, zero = PY[name]
    out = [zero] * (len(x) + len(w) - 1)
    for i, j in itertools.product(range(len(x)), range(len(w))):
        out[i + j] = add(out[i + j], mul(x[i].item(), w[j].item()))
    return out


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=20)
@given(lx=st.integers(1, 6), lw=st.integers(1, 6), seed=st.integers(0, 2 ** 32 - 1))
def test_conv1d(name, lx, lw, seed):
    rng = np.random.default_rng(seed)
    x, w = _values(name, (2, lx), rng), _values(name, lw, rng)
    got = semiring_conv1d(torch.as_tensor(x), torch.as_tensor(w), name)
    _close(got, [_brute_conv1d(r, w, name) for r in x], name)
    if name == "real":
        _close(got, [np.convolve(r, w) for r in x], name)


@pytest.mark.parametrize("name", NAMES)
def test_conv1d_monoid(name):
    s, rng = semiring(name), np.random.default_rng(2)
    f, g, h, h2 = (torch.as_tensor(_values(name, n, rng)) for n in (5, 3, 4, 4))
    conv = lambda p, q: semiring_conv1d(p, q, name)
    delta = s.full((1,), s.one, f)
    _close(conv(conv(f, g), h), conv(f, conv(g, h)).numpy(), name)
    _close(conv(f, delta), f.numpy(), name)
    _close(conv(delta, f), f.numpy(), name)
    _close(conv(f, s.add(h, h2)), s.add(conv(f, h), conv(f, h2)).numpy(), name)


@settings(max_examples=20)
@given(stride=st.integers(1, 2), padding=st.integers(0, 2), seed=st.integers(0, 2 ** 32 - 1))
def test_conv2d_real(stride, padding, seed):
    g = torch.Generator().manual_seed(seed)
    x, k = torch.randn(2, 3, 7, 6, generator=g), torch.randn(4, 3, 3, 2, generator=g)
    assert torch.equal(semiring_conv2d(x, k, "real", stride, padding), F.conv2d(x, k, stride=stride, padding=padding))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), ((1, 2), (2, 0))])
def test_conv2d_brute_force(name, stride, padding):
    add, mul, zero = PY[name]
    rng = np.random.default_rng(3)
    x, k = _values(name, (2, 3, 5, 6), rng), _values(name, (2, 3, 3, 2), rng)
    (sh, sw), (ph, pw) = [(v, v) if isinstance(v, int) else v for v in (stride, padding)]
    ho, wo = (5 + 2 * ph - 3) // sh + 1, (6 + 2 * pw - 2) // sw + 1
    want = np.empty((2, 2, ho, wo), dtype=x.dtype)
    for n, o, y, z in itertools.product(range(2), range(2), range(ho), range(wo)):
        acc = zero
        for c, i, j in itertools.product(range(3), range(3), range(2)):
            r, q = y * sh + i - ph, z * sw + j - pw
            v = x[n, c, r, q].item() if 0 <= r < 5 and 0 <= q < 6 else zero
            acc = add(acc, mul(v, k[o, c, i, j].item()))
        want[n, o, y, z] = acc
    _close(semiring_conv2d(torch.as_tensor(x), torch.as_tensor(k), name, stride, padding), want, name)


NAIVE = {
    "log": lambda a, b: torch.logsumexp(a[..., :, :, None] + b[..., None, :, :], -2),
    "maxplus": lambda a, b: (a[..., :, :, None] + b[..., None, :, :]).amax(-2),
    "minplus": lambda a, b: (a[..., :, :, None] + b[..., None, :, :]).amin(-2),
    "viterbi": lambda a, b: (a[..., :, :, None] * b[..., None, :, :]).amax(-2),
}


@pytest.mark.parametrize("name", list(NAIVE))
@pytest.mark.parametrize("shapes", [((5, 7), (7, 4)), ((3, 5, 7), (7, 4)), ((2, 1, 4, 6), (3, 6, 4))])
@pytest.mark.parametrize("block", [None, 1, 3])
def test_gradient_equals_naive(name, shapes, block):
    g = torch.Generator().manual_seed(4)
    a, b = (torch.rand(s, generator=g, dtype=torch.float64).requires_grad_() for s in shapes)
    got, want = semiring_matmul(a, b, name, block), NAIVE[name](a, b)
    torch.testing.assert_close(got, want)
    dout = torch.randn(want.shape, generator=g, dtype=torch.float64)
    for x, y in zip(torch.autograd.grad(got, (a, b), dout), torch.autograd.grad(want, (a, b), dout)):
        torch.testing.assert_close(x, y)


def test_log_stable_with_minus_inf():
    g = torch.Generator().manual_seed(5)
    a, b = 300 * torch.randn(4, 6, generator=g, dtype=torch.float64), 300 * torch.randn(6, 3, generator=g,
                                                                                         dtype=torch.float64)
    a[0] = -INF
    a[1, :3] = -INF
    a.requires_grad_()
    got = semiring_matmul(a, b, "log", 2)
    torch.testing.assert_close(got, NAIVE["log"](a, b))
    assert torch.all(got[0] == -INF) and torch.isfinite(got[1:]).all()
    ga, = torch.autograd.grad(got.sum(), a)
    assert torch.isfinite(ga).all() and torch.all(ga[0] == 0)
    torch.autograd.gradcheck(lambda p, q: semiring_matmul(p, q, "log", 2),
                             (torch.randn(3, 5, dtype=torch.float64, requires_grad=True),
                              torch.randn(5, 2, dtype=torch.float64, requires_grad=True)))


def test_einsum_and_conv2d_differentiable():
    g = torch.Generator().manual_seed(6)
    x, k = torch.randn(2, 3, 5, 5, generator=g, requires_grad=True), torch.randn(4, 3, 3, 3, generator=g)
    semiring_conv2d(x, k, "maxplus", padding=1).sum().backward()
    assert x.grad.sum().item() == pytest.approx(2 * 4 * 5 * 5)  # each output entry has one winner
    a = torch.randn(2, 3, 4, generator=g, requires_grad=True)
    semiring_einsum("bij,bjk->bik", a, torch.randn(2, 4, 5, generator=g), semiring="log").sum().backward()
    torch.testing.assert_close(a.grad.sum(-1), torch.full((2, 3), 5.0))  # softmax weights sum to 1 over j
