"""Lens and optic compilations of a reverse derivative give the model's outputs
and identical gradients (LAWS.md §2), for random diagrams."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import catlearn
from catlearn.backends.numpy import evaluate, init_params
from catlearn.semantics.lens import compile_split
from catlearn.semantics.rdc import reverse
from catlearn.testing import diagrams

from .test_derivatives import SMOOTH, point


@pytest.mark.parametrize("strategy", ["lens", "optic"])
@given(d=diagrams(primitives=SMOOTH, max_ops=6), seed=st.integers(0, 2 ** 16))
def test_both_strategies_give_the_outputs_and_the_reverse_derivative(strategy, d, seed):
    rng = np.random.default_rng(seed)
    xs = [point(rng, t) for t in d.dom]
    ps = {p.name: point(rng, d.types[p.wire]) for p in d.params}
    dys = [rng.normal(size=tuple(t.shape)) for t in d.cod]
    split = compile_split(d, strategy)
    out = evaluate(split.forward, xs, ps)
    ys, residuals = out[:split.n_outputs], out[split.n_outputs:]
    for y, want in zip(ys, evaluate(d, xs, ps)):
        np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-14)
    for g, want in zip(evaluate(split.backward, residuals + dys, ps), evaluate(reverse(d), xs + dys, ps)):
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-14)


def test_the_trade_off_on_an_mlp():
    """A lens keeps only the input between passes and recomputes; an optic keeps
    the activations and computes only cotangents."""
    mlp = catlearn.loads("use std.nn\nmodel f : R[b: 8, 16] -> R[b: 8, 16] = "
                         + " ; relu ; ".join(["dense(16, 16)"] * 4))["f"]
    lens, optic = compile_split(mlp, "lens"), compile_split(mlp, "optic")
    size = lambda types: sum(t.size() for t in types)  # noqa: E731
    assert size(lens.residuals) == 8 * 16 < size(optic.residuals)
    assert len(optic.backward.ops) < len(lens.backward.ops)
    params = init_params(mlp)
    x = [np.random.default_rng(0).normal(size=(8, 16))]
    assert len(evaluate(optic.forward, x, params)) == 1 + len(optic.residuals)


from catlearn.core.diagram import Diagram  # noqa: E402
from catlearn.core.types import TensorType  # noqa: E402
from catlearn.semantics.lens import Lens  # noqa: E402


def lens_values(lens, a, c):
    return evaluate(lens.get, a), evaluate(lens.put, a + c)


def same(xs, ys):
    for x, y in zip(xs, ys):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


@given(st.data())
def test_learner_lenses_form_a_category_and_r_is_a_functor(data):
    f = data.draw(diagrams(primitives=SMOOTH, max_ops=4, params=False))
    g = data.draw(diagrams(primitives=SMOOTH, max_ops=4, params=False, dom=f.cod))
    h = data.draw(diagrams(primitives=SMOOTH, max_ops=3, params=False, dom=g.cod))
    F, G, H = Lens.of(f), Lens.of(g), Lens.of(h)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    a = [point(rng, t) for t in f.dom]
    c = [rng.normal(size=tuple(t.shape)) for t in h.cod]
    left, right = (F >> G) >> H, F >> (G >> H)
    assert left.get == right.get and left.put == right.put  # associativity, as diagrams
    whole = Lens.of(f >> g >> h)  # functoriality: (f, R[f]) ; (g, R[g]) ; (h, R[h]) = (f;g;h, R[f;g;h])
    for x, y in zip(lens_values(left, a, c), lens_values(whole, a, c)):
        same(x, y)
    unit = Lens.identity(f.dom) >> F  # identity: (id, π₂) ; F = F
    c_f = [rng.normal(size=tuple(t.shape)) for t in f.cod]
    for x, y in zip(lens_values(unit, a, c_f), lens_values(F, a, c_f)):
        same(x, y)


def projection(a_type, b_type) -> Lens:
    """The lawful lens of the first component: get = π₀, put((a, b), a') = (a', b)."""
    get = Diagram.identity([a_type]) @ Diagram.discard([b_type])
    put = Diagram.discard([a_type]) @ Diagram.swap([b_type], [a_type])
    return Lens(get, put)


def test_projection_lenses_are_lawful_and_so_are_their_composites():
    t3, t2, t4 = TensorType("R", (3,)), TensorType("R", (2,)), TensorType("R", (4,))
    first_two = Lens(Diagram.identity([t3, t2]) @ Diagram.discard([t4]),  # (A × B) × C → A × B
                     Diagram.discard([t3, t2]) @ Diagram.swap([t4], [t3, t2]))
    lenses = [projection(t3, t2), projection(t2, t4), first_two >> projection(t3, t2)]
    rng = np.random.default_rng(0)
    for lens in lenses:
        s = [rng.normal(size=tuple(t.shape)) for t in lens.get.dom]
        a1 = [rng.normal(size=tuple(t.shape)) for t in lens.get.cod]
        a2 = [rng.normal(size=tuple(t.shape)) for t in lens.get.cod]
        same(evaluate(lens.put, s + evaluate(lens.get, s)), s)  # GetPut
        same(evaluate(lens.get, evaluate(lens.put, s + a1)), a1)  # PutGet
        same(evaluate(lens.put, evaluate(lens.put, s + a1) + a2), evaluate(lens.put, s + a2))  # PutPut


def test_learner_lenses_break_put_get():
    """(f, R[f]) is not a lawful lens: get(put(a, b)) ≠ b.  Nobody should "fix" this."""
    f = catlearn.loads("use std.nn\nmodel f : R[2] -> R[2] = square")["f"]
    lens = Lens.of(f)
    a, b = [np.array([1.0, 2.0])], [np.array([3.0, 5.0])]
    got = evaluate(lens.get, evaluate(lens.put, a + b))[0]  # square(2·a·b) = (36, 400)
    np.testing.assert_allclose(got, [36.0, 400.0])
    assert not np.allclose(got, b[0])


def test_the_optics_backward_pass_does_not_recompute_the_forward_pass_after_a_constant():
    """Regression: boxes downstream of a constant went to the backward pass (the
    transformer block recomputed its attention and layer norms there)."""
    f = catlearn.loads("use std.nn\nmodel f : R[3] -> R[3] = x => tanh(mul(x, 2.0))")["f"]
    split = compile_split(f, "optic")
    assert "tanh" not in [op.prim.name for op in split.backward.ops]
    block = compile_split(catlearn.load("models/transformer_block.cat")["transformer"], "optic")
    assert not {"softmax", "layernorm"} & {op.prim.name for op in block.backward.ops}
