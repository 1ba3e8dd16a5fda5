"""Reverse derivatives of every primitive against torch.func.vjp, and the
laws of reverse derivative categories (LAWS.md §1) over random diagrams.

The oracle is torch's autograd of each primitive's torch semantics, which
shares no code with the `rd` rules, evaluated by the NumPy interpreter."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from catlearn.backends.numpy import evaluate, init_params
from catlearn.core.diagram import Diagram
from catlearn.core.errors import CatError
from catlearn.core.types import TensorType
from catlearn.semantics.rdc import forward, reverse
from catlearn.testing import diagrams, laws
from catlearn.testing.strategies import default_primitives, instances

from .oracle import as_torch, torch_eval

PRIMS = default_primitives("R")
POSITIVE = {"log": [0], "sqrt": [0], "div": [1]}  # arguments that must be positive
ZERO_RD = {"step", "sign", "eq"}  # derivative zero almost everywhere
SMOOTH = [p for p in PRIMS if p.name in {
    "add", "mul", "sub", "neg", "square", "tanh", "sigmoid", "sin", "cos", "exp", "erf", "gelu", "softplus",
    "matvec", "matmul", "dot", "outer", "transpose", "sum", "mean", "softmax", "softmax_grad", "log_softmax",
    "logsumexp", "layernorm", "layernorm_grad", "concat", "index", "broadcast", "flatten", "reshape", "rearrange",
    "einsum", "slice", "pad", "embed", "sum_leading", "repeat_leading", "conv1d", "conv2d", "upsample2d",
    "avgpool2d"}]
TOL = dict(rtol=1e-9, atol=1e-10)


def close(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), **TOL)


def point(rng, t: TensorType, positive=False):
    """Values away from the kinks of relu/abs/step, positive where needed."""
    x = rng.uniform(0.3, 2.0, tuple(t.shape))
    return x if positive else x * rng.choice([-1.0, 1.0], tuple(t.shape))


@pytest.mark.parametrize("prim", PRIMS, ids=lambda p: p.name)
@settings(max_examples=20)
@given(data=st.data())
def test_reverse_derivative_of_every_primitive_matches_torch_vjp(prim, data):
    ins, attrs = data.draw(instances(prim))
    batch = data.draw(st.sampled_from([(), (2,)]))
    ins = [TensorType("R", batch + t.shape) if batch and data.draw(st.booleans()) else t for t in ins]
    try:
        box = Diagram.box(prim, ins, **attrs)
    except CatError:
        assume(False)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    xs = [point(rng, t, k in POSITIVE.get(prim.name, [])) for k, t in enumerate(ins)]
    dys = [rng.normal(size=tuple(t.shape)) for t in box.cod]
    ours = evaluate(reverse(box), xs + dys)
    assert [np.shape(g) for g in ours] == [tuple(t.shape) for t in ins]
    if prim.name in ZERO_RD:
        assert all(not np.any(g) for g in ours)
        return
    fn = lambda *ts: prim.torch(torch, *ts, **attrs)  # noqa: E731
    np.testing.assert_allclose(fn(*as_torch(xs)).numpy(), evaluate(box, xs)[0], **TOL)  # same forward semantics
    if not ins:
        return
    _, vjp = torch.func.vjp(fn, *as_torch(xs))
    for got, want in zip(ours, vjp(*as_torch(dys))):
        close(got, want.numpy())


def lawful(smooth=True, **kw):
    return diagrams(primitives=SMOOTH if smooth else None, max_ops=kw.pop("max_ops", 5), **kw)


def run(d, xs, ps=None):
    with np.errstate(all="ignore"):
        return evaluate(d, xs, ps or {})


def vjp_oracle(d, xs, dys, ps):
    names = [p.name for p in d.params]
    fn = lambda *ts: tuple(torch_eval(d, list(ts[:len(xs)]), dict(zip(names, ts[len(xs):]))))  # noqa: E731
    _, pull = torch.func.vjp(fn, *as_torch(xs), *as_torch([ps[n] for n in names]))
    return [g.numpy() for g in pull(tuple(as_torch(dys)))]


@settings(max_examples=150)
@given(lawful(smooth=False, max_ops=6), st.integers(0, 2 ** 16))
def test_reverse_derivative_of_random_diagrams_matches_torch_vjp(d, seed):
    rng = np.random.default_rng(seed)
    xs = [point(rng, t, positive=True) for t in d.dom]
    ps = {p.name: point(rng, d.types[p.wire], positive=True) for p in d.params}
    dys = [rng.normal(size=tuple(t.shape)) for t in d.cod]
    ours = run(reverse(d), xs + dys, ps)
    want = vjp_oracle(d, xs, dys, ps)
    assume(all(np.all(np.isfinite(w)) for w in want))
    for got, w in zip(ours, want):
        close(got, w)


@settings(max_examples=150)
@given(lawful(), st.integers(0, 2 ** 16))
def test_forward_derivative_is_the_jvp(d, seed):
    assume(d.dom)
    rng = np.random.default_rng(seed)
    xs = [point(rng, t) for t in d.dom]
    vs = [rng.normal(size=tuple(t.shape)) for t in d.dom]
    ps = {p.name: point(rng, d.types[p.wire]) for p in d.params}
    tp = {k: v for k, v in zip(ps, as_torch(ps.values()))}
    _, want = torch.func.jvp(lambda *ts: tuple(torch_eval(d, list(ts), tp)), tuple(as_torch(xs)), tuple(as_torch(vs)))
    for got, w in zip(run(forward(d), xs + vs, ps), want):
        close(got, w.numpy())


def holds(error: float, tol: float = 1e-9) -> None:
    """A law checker's worst error, judged only where the functions are defined."""
    assume(np.isfinite(error))
    assert error <= tol


@given(st.data())
def test_rd5_chain_rule(data):
    f = data.draw(lawful(smooth=False))
    g = data.draw(lawful(smooth=False, dom=f.cod))
    holds(laws.chain_rule(f, g, np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))))


@given(lawful(), st.integers(0, 2 ** 16))
def test_rd1_rd2_rd4_additivity_and_linearity(d, seed):
    rng = np.random.default_rng(seed)
    holds(laws.linearity(d, rng))  # RD.2
    holds(laws.pairing(d, rng))  # RD.4 (with RD.1)
    a = [point(rng, t) for t in d.dom]
    zeros = [np.zeros(tuple(t.shape)) for t in d.cod]
    assert all(not np.any(z) for z in run(reverse(d), a + zeros, init_params(d)))  # R[f](a, 0) = 0


def test_rd3_structure():
    t, u = TensorType("R", (3,)), TensorType("R", (2,))
    a, b, c = np.arange(3.0), np.arange(2.0) + 5, np.arange(3.0) - 7
    close(run(reverse(Diagram.identity([t])), [a, c])[0], c)  # R[id](a, b) = b
    proj = Diagram.identity([t]) @ Diagram.discard([u])  # π₀ : A × B → A
    r = run(reverse(proj), [a, b, c])
    close(r[0], c)
    close(r[1], np.zeros(2))  # R[π₀]((a, b), c) = (c, 0)
    assert all(not np.any(z) for z in run(reverse(Diagram.discard([t])), [a]))  # R[!] = 0


@given(lawful(max_ops=4), st.integers(0, 2 ** 16))
def test_rd6_derivative_of_r_is_linear_in_its_second_argument(d, seed):
    holds(laws.rd6(d, np.random.default_rng(seed)))


@settings(max_examples=25)
@given(lawful(max_ops=3), st.integers(0, 2 ** 16))
def test_rd7_second_derivatives_are_symmetric(d, seed):
    holds(laws.rd7(d, np.random.default_rng(seed)))


@given(lawful(), st.integers(0, 2 ** 16))
def test_dot_product_test(d, seed):
    holds(laws.dot_product(d, np.random.default_rng(seed)))


def test_sums_distribute_on_the_left_but_not_on_the_right():
    """f ; (g + h) = f ; g + f ; h, but (g + h) ; k ≠ g ; k + h ; k for nonlinear k."""
    import catlearn

    m = catlearn.loads("use std.nn\n"
                       "model left : R[3] -> R[3] = tanh ; (sin + exp)\n"
                       "model split : R[3] -> R[3] = (tanh ; sin) + (tanh ; exp)\n"
                       "model right : R[3] -> R[3] = (sin + exp) ; square\n"
                       "model parts : R[3] -> R[3] = (sin ; square) + (exp ; square)\n")
    x = [np.array([0.1, -0.7, 1.3])]
    close(run(m["left"], x)[0], run(m["split"], x)[0])
    assert not np.allclose(run(m["right"], x)[0], run(m["parts"], x)[0])
