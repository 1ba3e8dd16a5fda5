"""An affine feedback compiles to a parallel prefix scan equal to the sequential
loop; a non-affine one never does (catlearn/semantics/stateful/affine.py).
The chunked form is tested with chunks of 2, 3 and the default, so that short
sequences already cross chunks (and chunks of chunks)."""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import catlearn
from catlearn.backends.numpy import evaluate
from catlearn.backends.torch import compile_module, scan
from catlearn.semantics.rdc import reverse
from catlearn.semantics.stateful import mealy, sequence
from catlearn.semantics.stateful.affine import affine

LA = catlearn.load("models/linear_attention.cat")


def _parallel(d) -> bool:
    return "_coefficients" in compile_module(d).code


def _masked_product(q, k, v):
    """The parallel form of linear attention: (QKᵀ ⊙ causal mask) V."""
    scores = q @ k.transpose(-1, -2)
    return torch.tril(scores) @ v


def _gla_loop(q, k, v, g):
    """Gated linear attention step by step: Sₜ = diag(σ(gₜ)) Sₜ₋₁ + kₜ vₜᵀ, yₜ = Sₜᵀ qₜ."""
    state = q.new_zeros(q.shape[0], q.shape[-1], v.shape[-1])
    ys = []
    for t in range(q.shape[1]):
        state = torch.sigmoid(g[:, t]).unsqueeze(-1) * state + k[:, t].unsqueeze(-1) * v[:, t].unsqueeze(-2)
        ys.append((state * q[:, t].unsqueeze(-1)).sum(-2))
    return torch.stack(ys, 1)


ONE_CHUNK_SIZE = [HealthCheck.function_scoped_fixture]  # `chunk` holds for all of a test's examples


@settings(max_examples=12, deadline=None, suppress_health_check=ONE_CHUNK_SIZE)
@given(length=st.integers(1, 70), batch=st.sampled_from([1, 4, 5]), seed=st.integers(0, 2 ** 16))
def test_linear_attention_parallel_equals_the_masked_product(length, batch, seed, chunk):
    d = sequence(LA["linear_attention_4"], length)
    assert _parallel(d)
    gen = torch.Generator().manual_seed(seed)
    qkv = [torch.randn(batch, length, 4, generator=gen, requires_grad=True) for _ in range(3)]
    y = compile_module(d)(*qkv)
    oracle_inputs = [x.detach().clone().requires_grad_() for x in qkv]
    oracle = _masked_product(*oracle_inputs)
    rms = oracle.pow(2).mean().sqrt()
    assert ((y - oracle).pow(2).mean().sqrt() / rms).item() < 1e-5
    w = torch.randn(y.shape, generator=gen)
    (y * w).sum().backward()
    (oracle * w).sum().backward()
    for a, b in zip(qkv, oracle_inputs):
        assert ((a.grad - b.grad).pow(2).mean().sqrt() / b.grad.pow(2).mean().sqrt()).item() < 1e-5


@settings(max_examples=10, deadline=None, suppress_health_check=ONE_CHUNK_SIZE)
@given(length=st.integers(1, 70), batch=st.sampled_from([1, 4, 16]), seed=st.integers(0, 2 ** 16))
def test_gated_linear_attention_parallel_equals_its_loop(length, batch, seed, chunk):
    step = LA["gla_16"].ops[0].body  # one step of the gated scan, a feedback
    d = sequence(step, length)
    assert _parallel(d)
    gen = torch.Generator().manual_seed(seed)
    xs = [torch.randn(batch, length, 4, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    y = compile_module(d, dtype=torch.float64)(*xs)
    oracle_inputs = [x.detach().clone().requires_grad_() for x in xs]
    oracle = _gla_loop(*oracle_inputs)
    torch.testing.assert_close(y, oracle, rtol=1e-10, atol=1e-10)
    y.sum().backward()
    oracle.sum().backward()
    for a, b in zip(xs, oracle_inputs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-10)


AFFINE_BODIES = [  # (next state, output) of a feedback over s : R[3] with inputs x, u : R[3]
    ("add(mul(s, sigmoid(u)), x)", "mul(s, x)"),
    ("sub(x, mul(tanh(u), s))", "tanh(s)"),
    ("add(div(s, add(exp(u), 1)), mul(x, 2))", "add(s, x)"),
    ("neg(add(s, s))", "add(s, u)"),
    ("add(mul(3, s), mul(s, u))", "mul(s, s)"),
]
NOT_AFFINE = ["tanh(add(s, x))", "mul(s, s)", "matvec(outer(x, u), s)", "add(x, exp(s))", "mul(s, relu(s))"]


COUPLED_BODIES = [  # (output, next s, next r) of a feedback over s and r : R[3], each next state affine in both
    ("add(s, r)", "mul(r, sigmoid(u))", "add(mul(s, x), r)"),
    ("mul(s, r)", "add(mul(s, tanh(u)), mul(r, x))", "sub(mul(s, sigmoid(x)), mul(r, 0.5))"),
]


def _feedback(nxt: str, out: str, length: int):
    text = f"""use std.nn
def f : R[3] * R[3] -> R[3] = feedback s : R[3] = constant(value=0.5) in (x, u, s) => ({out}, {nxt})
model m : R[{length}, 3] * R[{length}, 3] -> R[{length}, 3] = scan(f)
"""
    return catlearn.loads(text)["m"]


def _coupled(out: str, next_s: str, next_r: str, length: int):
    text = f"""use std.nn
def f : R[3] * R[3] -> R[3] =
  feedback s : R[3] = constant(value=0.5) in
    feedback r : R[3] = constant(value=-1.0) in (x, u, s, r) => ({out}, {next_s}, {next_r})
model m : R[{length}, 3] * R[{length}, 3] -> R[{length}, 3] = scan(f)
"""
    return catlearn.loads(text)["m"]


@pytest.fixture(params=[2, 3, scan.CHUNK], ids=lambda c: f"chunk{c}")
def chunk(request, monkeypatch):
    monkeypatch.setattr(scan, "CHUNK", request.param)
    return request.param


@pytest.mark.parametrize("length", [1, 2, 3, 8, 13, 40, 100])
@pytest.mark.parametrize("body", [("f", *b) for b in AFFINE_BODIES] + [("c", *b) for b in COUPLED_BODIES])
def test_a_random_affine_feedback_equals_the_sequential_loop(body, length, chunk):
    kind, *texts = body
    d = _feedback(*texts, length) if kind == "f" else _coupled(*texts, length)
    assert _parallel(d)
    rng = np.random.default_rng(length)
    xs = [rng.normal(size=(3, length, 3)) for _ in range(2)]
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    y = compile_module(d, dtype=torch.float64)(*ts)
    (reference,) = evaluate(d, xs)  # the NumPy interpreter runs the loop, step by step
    np.testing.assert_allclose(y.detach().numpy(), reference, rtol=1e-10, atol=1e-12)
    w = rng.normal(size=reference.shape)
    (y * torch.tensor(w)).sum().backward()
    grads = evaluate(reverse(d), xs + [w])
    for t, g in zip(ts, grads):  # an input a body does not read has no gradient
        np.testing.assert_allclose(t.grad.numpy() if t.grad is not None else np.zeros_like(g), g, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("nxt", NOT_AFFINE)
def test_a_non_affine_feedback_is_never_given_a_parallel_form(nxt):
    d = _feedback(nxt, "s", 4)
    assert affine(mealy(d.ops[0].body)) is None
    assert not _parallel(d)


def test_a_recurrent_network_keeps_its_loop():
    assert affine(mealy(catlearn.load("models/elman_rnn.cat")["elman_8_16"])) is None


def test_sequential_keeps_the_loop_and_agrees():
    from catlearn.semantics.stateful import sequential
    d = sequence(LA["linear_attention_4"], 12)
    loop = compile_module(sequential(d), dtype=torch.float64)
    assert "_coefficients" not in loop.code
    qkv = [torch.randn(3, 12, 4, dtype=torch.float64) for _ in range(3)]
    torch.testing.assert_close(loop(*qkv), compile_module(d, dtype=torch.float64)(*qkv), rtol=1e-12, atol=1e-12)


MIXED_RANKS = """use std
model f : R[2] -> R[2] * R[1, 1] * R[1, 1] =
  param p0 : R[1, 1] ~ normal
  x0 => let x1 = delay(x0, init=zeros),
            x2 = transpose(p0),
            x3 = delay(x1, init=ones),
            x4 = delay(x2, init=zeros)
        in (x3, x4, x2)
"""


@pytest.mark.parametrize("length", [1, 5, 13])
def test_states_of_different_ranks_keep_their_own_axes(length, chunk):
    """A regression the BPTT property found: delays of R[2] and of R[1, 1] in
    one affine step (the chunked form once aligned every coefficient to the
    largest rank, so R[2]'s steps met R[1, 1]'s axes)."""
    d = sequence(catlearn.loads(MIXED_RANKS)["f"], length)
    assert _parallel(d)
    module = compile_module(d, dtype=torch.float64)
    rng = np.random.default_rng(length)
    x = rng.uniform(-1, 1, (length, 2))
    t = torch.tensor(x, requires_grad=True)
    ys = module(t)
    params = {"p0": module.get_parameter("p0").detach().numpy()}
    for y, reference in zip(ys, evaluate(d, [x], params)):
        np.testing.assert_allclose(y.detach().numpy(), reference, rtol=1e-12, atol=1e-12)
    ws = [rng.normal(size=tuple(y.shape)) for y in ys]
    sum((y * torch.tensor(w)).sum() for y, w in zip(ys, ws)).backward()
    (dx, *_) = evaluate(reverse(d), [x, *ws], params)
    np.testing.assert_allclose(np.zeros_like(dx) if t.grad is None else t.grad.numpy(), dx, rtol=1e-10, atol=1e-12)


WITH_STATE = """use std.nn
def attention_and_state(d) : R[d] * R[d] * R[d] -> R[d] * R[d, d] =
  feedback S : R[d, d] = zeros in
    (q, k, v, S) => let S2 = add(S, outer(k, v))
                    in (matvec(transpose(S2), q), S2, S2)
model m(t) : R[t, 4] * R[t, 4] * R[t, 4] -> R[t, 4] * R[t, 4, 4] = scan(attention_and_state(4))
"""


@settings(max_examples=10, deadline=None, suppress_health_check=ONE_CHUNK_SIZE)
@given(length=st.integers(1, 70), batch=st.sampled_from([1, 4]), seed=st.integers(0, 2 ** 16))
def test_linear_attention_final_state_equals_the_sum_of_outer_products(length, batch, seed, chunk):
    """The chunked form's final state S_T = Σₜ kₜ vₜᵀ (an output of the step at
    T), and the gradients through it and the outputs, in float32, to 1e-5
    relative RMS (flash-linear-attention's tests accept 1e-3)."""
    d = catlearn.loads(WITH_STATE.replace("m(t) : R[t", f"m : R[{length}").replace("R[t,", f"R[{length},"))["m"]
    assert _parallel(d)
    gen = torch.Generator().manual_seed(seed)
    qkv = [torch.randn(batch, length, 4, generator=gen, requires_grad=True) for _ in range(3)]
    y, states = compile_module(d)(*qkv)
    ref = [x.detach().clone().requires_grad_() for x in qkv]
    y_ref, final_ref = _masked_product(*ref), torch.einsum("btk,btv->bkv", ref[1], ref[2])

    def rel(a, b):
        return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt()).item()
    assert rel(y, y_ref) < 1e-5 and rel(states[:, -1], final_ref) < 1e-5
    w, w_final = torch.randn(y.shape, generator=gen), torch.randn(final_ref.shape, generator=gen)
    ((y * w).sum() + (states[:, -1] * w_final).sum()).backward()
    ((y_ref * w).sum() + (final_ref * w_final).sum()).backward()
    for a, b in zip(qkv, ref):
        assert rel(a.grad, b.grad) < 1e-5
