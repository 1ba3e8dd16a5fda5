"""models/s4d.cat against an oracle of the official minimal S4D (state-spaces/s4,
models/s4/s4d.py) written here in torch's complex arithmetic, sharing no code
with catlearn: its kernel 2 Re(Σₙ C (e^{dtA} − 1)/A · e^{dtA·l}) and its layer
irfft(rfft(u) · rfft(K))[:L] + D u.  Errors are relative to each tensor's
largest entry; the initialisers against their formulas."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

import catlearn
from catlearn.backends.numpy import evaluate
from catlearn.backends.torch import compile_module
from catlearn.core.initializers import INITIALIZERS
from catlearn.semantics.rdc import reverse

SOURCE = (Path(__file__).parent.parent / "models" / "s4d.cat").read_text()
MODULE = catlearn.loads(SOURCE)
NAMES = ["log_dt", "log_A_real", "A_imag", "C_re", "C_im", "D"]


def oracle_kernel(log_dt, log_A_real, A_imag, C_re, C_im, length):
    dt = torch.exp(log_dt)
    A = -torch.exp(log_A_real) + 1j * A_imag
    dtA = A * dt[:, None]
    C = torch.complex(C_re, C_im) * (torch.exp(dtA) - 1) / A
    vandermonde = torch.exp(dtA[..., None] * torch.arange(length, dtype=log_dt.dtype))
    return 2 * torch.einsum("hn,hnl->hl", C, vandermonde).real


def oracle_layer(u, log_dt, log_A_real, A_imag, C_re, C_im, D):
    """u: (…, L, H), time first as in catlearn; the official layer takes (…, H, L)."""
    length = u.shape[-2]
    k = oracle_kernel(log_dt, log_A_real, A_imag, C_re, C_im, length)
    v = u.transpose(-1, -2)
    y = torch.fft.irfft(torch.fft.rfft(v, n=2 * length) * torch.fft.rfft(k, n=2 * length), n=2 * length)[..., :length]
    return (y + v * D[:, None]).transpose(-1, -2)


def rel(got, want) -> float:
    return ((got.double() - want.double()).abs().max() / want.double().abs().max()).item()


def oracle_run(params, u, w, dtype):
    """The oracle's output, and the gradients of ⟨y, w⟩ in u and the parameters, in `dtype`."""
    ps = [params[name].detach().to(dtype).requires_grad_(True) for name in NAMES]
    x = u.detach().to(dtype).requires_grad_(True)
    y = oracle_layer(x, *ps)
    return [y.detach(), *torch.autograd.grad((y * w.to(dtype)).sum(), [x, *ps])]


def catlearn_run(net, u, w):
    x = u.detach().clone().requires_grad_(True)
    y = net(x)
    return [y.detach(), *torch.autograd.grad((y * w).sum(), [x, *(getattr(net, n) for n in NAMES)])]


def conv_net(h, n, l, gradient, seed, dtype=torch.float32, init="s4d_lin"):
    net = compile_module(MODULE.instantiate("s4d_conv", h, n, l), gradient, seed=seed, dtype=dtype)
    if init != "s4d_lin":
        with torch.no_grad():
            net.A_imag.copy_(torch.as_tensor(INITIALIZERS[init].sample((h, n), None)))
    return net


CASES = [  # (h, n, l), A_imag's initialiser, batch: sizes among the model's own axes
    ((4, 8, 32), "s4d_lin", (32,)),
    ((3, 5, 7), "s4d_lin", (3,)),
    ((3, 5, 7), "s4d_lin", (7,)),
    ((3, 5, 7), "s4d_lin", ()),
    ((8, 16, 64), "s4d_inv", (2, 8)),
]


@pytest.mark.parametrize("gradient", ["autograd", "rd"])
@pytest.mark.parametrize("sizes, init, batch", CASES)
def test_the_kernel_form_is_the_official_s4d_in_float32(sizes, init, batch, gradient):
    """Outputs and gradients (input and every parameter) within 1e-5 of the exact (float64) oracle, or
    no further from it than twice the official formula is in float32, where the gradient's own
    rounding is larger (an A gradient is small beside the terms it sums)."""
    h, n, l = sizes
    for seed in range(3):
        net = conv_net(h, n, l, gradient, seed, init=init)
        torch.manual_seed(seed)
        u, w = torch.randn(*batch, l, h), torch.randn(*batch, l, h)
        params = dict(net.named_parameters())
        ours = catlearn_run(net, u, w)
        exact, official = oracle_run(params, u, w, torch.float64), oracle_run(params, u, w, torch.float32)
        for name, got, want, theirs in zip(["y", "u"] + NAMES, ours, exact, official):
            assert got.dtype == torch.float32 and got.shape == want.shape
            assert rel(got, want) <= max(1e-5, 2 * rel(theirs, want)), (name, seed)
        assert rel(ours[0], exact[0]) <= 1e-5 and rel(ours[1], exact[1]) <= 1e-5


@pytest.mark.parametrize("gradient", ["autograd", "rd"])
@pytest.mark.parametrize("sizes, init, batch", CASES)
def test_the_kernel_form_is_the_official_s4d_in_float64(sizes, init, batch, gradient):
    h, n, l = sizes
    net = conv_net(h, n, l, gradient, seed=5, dtype=torch.float64, init=init)
    torch.manual_seed(5)
    u, w = torch.randn(*batch, l, h, dtype=torch.float64), torch.randn(*batch, l, h, dtype=torch.float64)
    exact = oracle_run(dict(net.named_parameters()), u, w, torch.float64)
    for name, got, want in zip(["y", "u"] + NAMES, catlearn_run(net, u, w), exact):
        assert rel(got, want) <= 1e-10, name


def test_the_numpy_interpreter_runs_the_kernel_form_too():
    """The reference interpreter's output, and per-example parameter cotangents, summed over a batch of h."""
    h, n, l = 3, 5, 7
    d = MODULE.instantiate("s4d_conv", h, n, l)
    net = conv_net(h, n, l, "autograd", seed=2, dtype=torch.float64)
    params = dict(net.named_parameters())
    rng = np.random.default_rng(2)
    u, w = rng.normal(size=(h, l, h)), rng.normal(size=(h, l, h))
    ps = {name: p.detach().numpy() for name, p in params.items()}
    exact = oracle_run(params, torch.tensor(u), torch.tensor(w), torch.float64)
    assert rel(torch.tensor(evaluate(d, [u], ps)[0]), exact[0]) <= 1e-12
    du, *dps = evaluate(reverse(d), [u, w], ps)
    assert rel(torch.tensor(du), exact[1]) <= 1e-12
    assert [p.name for p in d.params] == NAMES
    for name, got, want in zip(NAMES, dps, exact[2:]):
        assert got.shape == (h,) + tuple(want.shape)
        assert rel(torch.tensor(got.sum(0)), want) <= 1e-12, name


@pytest.mark.parametrize("seed", range(3))
def test_the_kernel_does_not_cancel_for_small_steps(seed):
    """In float32, for dt down to 1e-4, within 1e-6 of the exact kernel: e^{dtA} − 1 is never formed
    from e^{dtA} (the official formula, which does, is 30 times further off at dt = 1e-4)."""
    h, n, l = 6, 8, 64
    d = catlearn.loads(SOURCE + f"\nmodel kernel : R[{h}] * R[{h}, {n}] * R[{h}, {n}] * R[{h}, {n}] * R[{h}, {n}] "
                                f"-> R[{h}, {l}] = s4d_kernel({l})\n")["kernel"]
    g = torch.Generator().manual_seed(seed)
    ps = [torch.empty(h).uniform_(math.log(1e-4), math.log(1e-1), generator=g),
          torch.full((h, n), math.log(0.5)) + 0.5 * torch.randn(h, n, generator=g),
          math.pi * torch.arange(n, dtype=torch.float32).expand(h, n).contiguous(),
          torch.randn(h, n, generator=g), torch.randn(h, n, generator=g)]
    exact = oracle_kernel(*(p.double() for p in ps), l)
    assert rel(compile_module(d)(*ps), exact) <= 1e-6


def recurrent(h, n, l, gradient):
    d = catlearn.loads(SOURCE + f"\nmodel rec : R[{l}, {h}] -> R[{l}, {h}] = s4d_rec({h}, {n})\n")["rec"]
    return compile_module(d, gradient, dtype=torch.float64)


@pytest.mark.parametrize("h, n, l, batch", [(3, 5, 7, (7,)), (4, 8, 32, (4,))])
def test_the_recurrent_form_is_the_same_layer(h, n, l, batch):
    """scan(s4d_step), with the kernel form's parameters, against the oracle's convolution."""
    rec = recurrent(h, n, l, "autograd")
    conv = conv_net(h, n, l, "autograd", seed=1, dtype=torch.float64)
    params = dict(conv.named_parameters())
    rec.load_state_dict({key: params[key.rsplit(".", 1)[-1]].detach() for key in rec.state_dict()})
    torch.manual_seed(1)
    u, w = torch.randn(*batch, l, h, dtype=torch.float64), torch.randn(*batch, l, h, dtype=torch.float64)
    exact = oracle_run(params, u, w, torch.float64)
    x = u.clone().requires_grad_(True)
    y = rec(x)
    rp = {key.rsplit(".", 1)[-1]: p for key, p in rec.named_parameters()}
    grads = torch.autograd.grad((y * w).sum(), [x, *(rp[name] for name in NAMES)])
    for name, got, want in zip(["y", "u"] + NAMES, [y.detach(), *grads], exact):
        assert rel(got, want) <= 1e-10, name


# -- the initialisers ----------------------------------------------------------------------
def test_s4d_lin_is_pi_n():
    values = INITIALIZERS["s4d_lin"].sample((3, 5), np.random.default_rng(0))
    np.testing.assert_array_equal(values, np.tile(math.pi * np.arange(5), (3, 1)))


def test_s4d_inv_counts_twice_the_modes_as_the_official_code_does():
    """(N/π)(N/(2n + 1) − 1) with N = 2 × (complex modes): the official d_state = 64 gives 32 modes."""
    values = INITIALIZERS["s4d_inv"].sample((2, 32), np.random.default_rng(0))
    k = np.arange(32)
    np.testing.assert_allclose(values, np.tile(64 / math.pi * (64 / (2 * k + 1) - 1), (2, 1)), rtol=1e-15)
    assert values[0, 0] == pytest.approx(64 * 63 / math.pi) and values[0, -1] == pytest.approx(64 / (63 * math.pi))


def test_log_uniform_is_uniform_in_the_log():
    samples = INITIALIZERS["log_uniform"].sample((20000,), np.random.default_rng(0), low=1e-3, high=1e-1)
    lo, hi = math.log(1e-3), math.log(1e-1)
    assert lo <= samples.min() and samples.max() <= hi
    assert stats.kstest(samples, stats.uniform(lo, hi - lo).cdf).pvalue > 0.01
    assert stats.kstest(samples, stats.uniform(lo, 0.9 * (hi - lo)).cdf).pvalue < 1e-6  # the test can fail


def test_the_layers_parameters_start_as_the_official_ones():
    h, n = 64, 64
    for d in (MODULE.instantiate("s4d_conv", h, n, 4),
              catlearn.loads(SOURCE + f"\nmodel rec : R[4, {h}] -> R[4, {h}] = s4d_rec({h}, {n})\n")["rec"]):
        net = compile_module(d, dtype=torch.float64, seed=3)
        p = {key.rsplit(".", 1)[-1]: v.detach().numpy() for key, v in net.named_parameters()}
        assert sorted(p) == sorted(NAMES)
        assert p["log_dt"].shape == (h,) and p["D"].shape == (h,) and p["C_re"].shape == (h, n)
        assert (math.log(1e-3) <= p["log_dt"]).all() and (p["log_dt"] <= math.log(1e-1)).all()
        np.testing.assert_allclose(np.exp(p["log_A_real"]), 0.5, rtol=1e-15)
        np.testing.assert_array_equal(p["A_imag"], np.tile(math.pi * np.arange(n), (h, 1)))
        for part in ("C_re", "C_im"):  # torch.randn's complex normal: each part N(0, 1/2)
            assert abs(p[part].std() - math.sqrt(0.5)) < 0.03 and abs(p[part].mean()) < 0.03
        assert abs(p["D"].std() - 1) < 0.3
