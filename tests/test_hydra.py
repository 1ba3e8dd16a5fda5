"""models/hydra.cat, a Hydra mixer written from two scans, against its quasiseparable matrix
built entry by entry here (explicit products of the gates, a double loop), sharing no code
with catlearn:

  M_ij = Σ_k c^f_{i-1,k} (∏_{m=j+1}^{i-1} a^f_{m,k}) b^f_{j,k}   for i > j,
  M_ii = δ_i,
  M_ij = Σ_k c^b_{i+1,k} (∏_{m=i+1}^{j-1} a^b_{m,k}) b^b_{j,k}   for i < j,

and y = M x for every channel. On gates given as inputs (`qs_mix`) the model is linear in
x, so its own matrix is read off by running it on a batch of the T unit impulses; on the
selective layer (`hydra`, whose gates are read off x) the oracle builds M(x) and applies it:
outputs and gradients, on the NumPy interpreter and on torch in both gradient modes."""
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import catlearn
from catlearn.backends.numpy import evaluate
from catlearn.backends.torch import compile_module
from catlearn.semantics.rdc import reverse

SOURCE = (Path(__file__).parent.parent / "models" / "hydra.cat").read_text()
GATES = ["W_a", "b_a", "W_b", "W_c"]
NAMES = [f"hydra.gates.{g}" for g in GATES] + [f"hydra.gates_1.{g}" for g in GATES] + \
        ["hydra.diagonal.w_D", "hydra.diagonal.D"]


def qs_matrix(af, bf, cf, ab, bb, cb, delta, stack):
    """The T × T matrix from the gates ((T, n) each) and the diagonal ((T,)), in numpy or torch."""
    steps = len(delta)

    def entry(i, j):
        if i > j:
            return (cf[i - 1] * af[j + 1:i].prod(0) * bf[j]).sum()
        if i < j:
            return (cb[i + 1] * ab[i + 1:j].prod(0) * bb[j]).sum()
        return delta[i]
    return stack([stack([entry(i, j) for j in range(steps)]) for i in range(steps)])


def oracle_gates(x, W_a, b_a, W_b, W_c):
    """One direction's gates from x : (T, d), in torch: σ(W_a x + b_a), W_b x, W_c x."""
    return torch.sigmoid(x @ W_a.T + b_a), x @ W_b.T, x @ W_c.T


def oracle_hydra(x, *params):
    """The selective layer on x : (…, T, d): M(x) x, one sequence at a time."""
    steps, d = x.shape[-2:]
    forward, backward, (w_D, D) = params[:4], params[4:8], params[8:]
    ys = []
    for seq in x.reshape(-1, steps, d):
        M = qs_matrix(*oracle_gates(seq, *forward), *oracle_gates(seq, *backward), seq @ w_D + D, torch.stack)
        ys.append(M @ seq)
    return torch.stack(ys).reshape(x.shape)


def random_gates(rng, steps, n):
    """Decays in (0.3, 1), so that every product stays well away from zero; b, c standard normal."""
    f = [rng.uniform(0.3, 1.0, (steps, n)), rng.normal(size=(steps, n)), rng.normal(size=(steps, n))]
    b = [rng.uniform(0.3, 1.0, (steps, n)), rng.normal(size=(steps, n)), rng.normal(size=(steps, n))]
    return f + b + [rng.normal(size=steps)]


def random_params(rng, d, n):
    gates = [rng.normal(size=(n, d)) / np.sqrt(d), rng.normal(size=n), rng.normal(size=(n, d)),
             rng.normal(size=(n, d))]
    gates_1 = [rng.normal(size=(n, d)) / np.sqrt(d), rng.normal(size=n), rng.normal(size=(n, d)),
               rng.normal(size=(n, d))]
    return dict(zip(NAMES, gates + gates_1 + [rng.normal(size=d) / np.sqrt(d), np.array(rng.normal())]))


def mixer(steps, d, n):
    seqs = " * ".join([f"R[{steps}, {n}]"] * 6)
    return catlearn.loads(SOURCE + f"\nmodel m : R[{steps}, {d}] * {seqs} * R[{steps}] -> R[{steps}, {d}] = qs_mix\n")["m"]


def layer(steps, d, n):
    return catlearn.loads(SOURCE + f"\nmodel m : R[{steps}, {d}] -> R[{steps}, {d}] = hydra({d}, {n})\n")["m"]


def rel(got, want) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    scale = np.abs(want).max()
    return float(np.abs(got - want).max() / scale) if scale else float(np.abs(got).max())


def matrix_of(model, gates, steps, d):
    """The model's own matrix: its outputs on the batch of T impulses x⁽ʲ⁾ = e_j ⊗ 1_d (the gates
    shared by the batch), column j read off output j; every channel must give the same one."""
    impulses = np.repeat(np.eye(steps)[:, :, None], d, axis=2)
    (y,) = evaluate(model, [impulses, *gates])
    assert y.shape == (steps, steps, d)
    for channel in range(1, d):
        np.testing.assert_array_equal(y[..., channel], y[..., 0])
    return y[..., 0].T


@settings(max_examples=15, deadline=None)
@given(steps=st.integers(1, 12), d=st.integers(1, 4), n=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
def test_the_mixer_is_its_quasiseparable_matrix(steps, d, n, seed):
    rng = np.random.default_rng(seed)
    model, gates = mixer(steps, d, n), random_gates(rng, steps, n)
    want = qs_matrix(*gates, np.stack)
    got = matrix_of(model, gates, steps, d)
    assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()
    x = rng.normal(size=(steps, steps, d))  # a batch of T sequences
    (y,) = evaluate(model, [x, *gates])
    assert rel(y, want @ x) <= 1e-12


@settings(max_examples=10, deadline=None)
@given(steps=st.integers(2, 12), n=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
def test_the_blocks_off_the_diagonal_have_the_rank_of_the_state(steps, n, seed):
    """Every block strictly below or above the diagonal of the model's matrix, M[k:, :k] and
    M[:k, k:], has rank min(n, k, T - k) (generic gates): at most the state size, and no less."""
    rng = np.random.default_rng(seed)
    gates = random_gates(rng, steps, n)
    M = matrix_of(mixer(steps, 2, n), gates, steps, 2)
    for k in range(1, steps):
        full = min(n, k, steps - k)
        assert np.linalg.matrix_rank(M[k:, :k]) == full
        assert np.linalg.matrix_rank(M[:k, k:]) == full
    if steps >= 2 * n + 2:  # a block that reaches the diagonal is not so confined
        k = steps // 2
        assert np.linalg.matrix_rank(M[k - 1:, :k + 1]) > n


def test_shift_delays_by_one_step_zero_first():
    model = catlearn.loads(SOURCE + "\nmodel s : R[5, 2] -> R[5, 2] = shift\n")["s"]
    x = np.arange(1.0, 11.0).reshape(5, 2)
    (y,) = evaluate(model, [np.stack([x, -x, 2 * x])])
    want = np.concatenate([np.zeros((1, 2)), x[:-1]])
    np.testing.assert_array_equal(y, np.stack([want, -want, 2 * want]))


def oracle_run(params, x, w, dtype):
    """The oracle's output, and the gradients of ⟨y, w⟩ in x and every parameter, in `dtype`."""
    ps = [torch.as_tensor(params[name], dtype=dtype).requires_grad_(True) for name in NAMES]
    xs = torch.as_tensor(x, dtype=dtype).requires_grad_(True)
    y = oracle_hydra(xs, *ps)
    loss = (y * torch.as_tensor(w, dtype=dtype)).sum()  # at T = 1 no gate reaches y: zero gradients
    return [y.detach(), *torch.autograd.grad(loss, [xs, *ps], allow_unused=True, materialize_grads=True)]


# (T, d, n, batch): the bundled instance with batches of T, d and n sequences; a generic instance
# with a batch of T, none, two batch axes; one step
CASES = [(16, 8, 4, (16,)), (16, 8, 4, (8,)), (16, 8, 4, (4,)), (7, 3, 2, (7,)), (7, 3, 2, ()),
         (5, 2, 3, (2, 3)), (1, 2, 2, (2,))]


def instance(steps, d, n):
    return catlearn.load("models/hydra.cat")["hydra_16_8_4"] if (steps, d, n) == (16, 8, 4) else layer(steps, d, n)


@pytest.mark.parametrize("steps, d, n, batch", CASES)
def test_the_numpy_interpreter_runs_the_layer(steps, d, n, batch):
    """Outputs, and per-example cotangents of x and of every parameter (summed over the batch)."""
    rng = np.random.default_rng(steps + d + n)
    model, params = instance(steps, d, n), random_params(rng, d, n)
    assert [p.name for p in model.params] == NAMES
    x, w = rng.normal(size=(*batch, steps, d)), rng.normal(size=(*batch, steps, d))
    exact = oracle_run(params, x, w, torch.float64)
    (y,) = evaluate(model, [x], params)
    assert rel(y, exact[0]) <= 1e-12
    dx, *dps = evaluate(reverse(model), [x, w], params)
    assert rel(dx, exact[1]) <= 1e-12
    for name, got, want in zip(NAMES, dps, exact[2:]):
        assert got.shape == batch + tuple(want.shape)
        assert rel(got.sum(tuple(range(len(batch)))), want) <= 1e-12, name


@pytest.mark.parametrize("gradient", ["autograd", "rd"])
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("steps, d, n, batch", CASES)
def test_the_torch_module_is_the_matrix_applied(steps, d, n, batch, gradient, dtype, tolerance):
    """Outputs and gradients (x and every parameter) within `tolerance` of the float64 oracle,
    relative to each tensor's largest entry."""
    rng = np.random.default_rng(steps * d * n)
    params = random_params(rng, d, n)
    net = compile_module(instance(steps, d, n), gradient, dtype=dtype)
    net.load_state_dict({name: torch.as_tensor(value, dtype=dtype) for name, value in params.items()})
    x, w = rng.normal(size=(*batch, steps, d)), rng.normal(size=(*batch, steps, d))
    exact = oracle_run(params, x, w, torch.float64)
    xs = torch.as_tensor(x, dtype=dtype).requires_grad_(True)
    y = net(xs)
    grads = torch.autograd.grad((y * torch.as_tensor(w, dtype=dtype)).sum(), [xs, *(net.get_parameter(p) for p in NAMES)])
    for name, got, want in zip(["y", "x"] + NAMES, [y.detach(), *grads], exact):
        assert got.dtype == dtype
        assert rel(got, want) <= tolerance, name
