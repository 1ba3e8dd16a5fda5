"""LAWS.md §3: Para — composition, tensor, reparameterisation 2-cells, weight
tying, and the parameter gradient of a composite."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from catlearn.backends.numpy import evaluate
from catlearn.core.diagram import Diagram
from catlearn.core.types import TensorType
from catlearn.semantics.para import reparameterize, uncurry
from catlearn.semantics.rdc import reverse
from catlearn.testing import diagrams

from .test_derivatives import SMOOTH, point

TOL = dict(rtol=1e-10, atol=1e-12)


def draw(data, **kw):
    return data.draw(diagrams(primitives=SMOOTH, max_ops=4, batch=False, **kw))


def close(xs, ys):
    for x, y in zip(xs, ys):
        np.testing.assert_allclose(x, y, **TOL)


def values(rng, d):
    return [point(rng, d.types[p.wire]) for p in d.params]


@given(st.data())
def test_composition_and_tensor_follow_the_para_formulas(data):
    f = draw(data, prefix="f")
    g = draw(data, prefix="g", dom=f.cod)
    h = draw(data, prefix="h")
    rng = np.random.default_rng(0)
    p, q, r = values(rng, f), values(rng, g), values(rng, h)
    a, b = [point(rng, t) for t in f.dom], [point(rng, t) for t in h.dom]
    # (P, f) ; (Q, g) = (P × Q, (p, q, a) ↦ g(q, f(p, a)))
    close(evaluate(uncurry(f >> g), p + q + a), evaluate(uncurry(g), q + evaluate(uncurry(f), p + a)))
    # (P, f) ⊗ (R, h) = (P × R, (p, r, a, b) ↦ (f(p, a), h(r, b)))
    close(evaluate(uncurry(f @ h), p + r + a + b), evaluate(uncurry(f), p + a) + evaluate(uncurry(h), r + b))


def _reparam(data, d, prefix):
    """A random 2-cell r : P' → P for the parameters of `d`, as a diagram."""
    rs = [data.draw(diagrams(primitives=SMOOTH, max_ops=2, params=False, batch=False,
                             dom=(d.types[p.wire],))) for p in d.params]
    rs = [r if r.cod == r.dom else Diagram.identity(r.dom) for r in rs]
    r = Diagram.identity(())
    for part in rs:
        r = r @ part
    return r, [f"{prefix}{i}" for i in range(len(rs))]


@given(st.data())
def test_reparameterisations_compose_vertically(data):
    f = draw(data, prefix="f")
    r1, n1 = _reparam(data, f, "u")
    once = reparameterize(f, r1, n1)
    r2, n2 = _reparam(data, once, "w")
    twice = reparameterize(once, r2, n2)
    assert twice == reparameterize(f, r2 >> r1, n2)  # (f·r₁)·r₂ = f·(r₂ ; r₁)
    rng = np.random.default_rng(1)
    w, a = values(rng, twice), [point(rng, t) for t in f.dom]
    close(evaluate(uncurry(twice), w + a), evaluate(uncurry(f), evaluate(r2 >> r1, w) + a))


@given(st.data())
def test_horizontal_composition_and_interchange(data):
    f = draw(data, prefix="f")
    g = draw(data, prefix="g", dom=f.cod)
    r, nr = _reparam(data, f, "u")
    s, ns = _reparam(data, g, "w")
    # the horizontal composite of the 2-cells r and s is r × s on the composite
    assert reparameterize(f, r, nr) >> reparameterize(g, s, ns) == reparameterize(f >> g, r @ s, nr + ns)


@given(st.data())
def test_weight_tying_adds_parameter_gradients(data):
    t = TensorType("R", (data.draw(st.sampled_from((2, 3))),))
    from catlearn.core.builder import Builder

    b = Builder()
    x = b.input(t)
    p1, p2 = b.param("p1", t), b.param("p2", t)
    y, = b.apply("mul", [b.apply("tanh", [b.apply("mul", [x, p1])[0]])[0], p2])
    f = b.finish([y])
    tied = reparameterize(f, Diagram.copy([t]), ["w"])  # Δ : P → P × P
    rng = np.random.default_rng(2)
    w, a, c = point(rng, t), point(rng, t), rng.normal(size=tuple(t.shape))
    grad_tied = evaluate(reverse(tied), [a, c], {"w": w})[-1]
    grads = evaluate(reverse(f), [a, c], {"p1": w, "p2": w})
    np.testing.assert_allclose(grad_tied, grads[-2] + grads[-1], **TOL)


@given(st.data())
def test_parameter_gradient_of_a_composite_is_the_lens_composite(data):
    f = draw(data, prefix="f")
    g = draw(data, prefix="g", dom=f.cod)
    rng = np.random.default_rng(3)
    p, q = values(rng, f), values(rng, g)
    a = [point(rng, t) for t in f.dom]
    c = [rng.normal(size=tuple(t.shape)) for t in g.cod]
    ps = {**{x.name: v for x, v in zip(f.params, p)}, **{x.name: v for x, v in zip(g.params, q)}}
    whole = evaluate(reverse(f >> g), a + c, ps)
    fa = evaluate(f, a, ps)
    rg = evaluate(reverse(g), fa + c, ps)  # (∇_b, ∇_q)
    rf = evaluate(reverse(f), a + rg[:len(fa)], ps)  # (∇_a, ∇_p) at the cotangent g passes back
    close(whole, rf[:len(a)] + rf[len(a):] + rg[len(fa):])
