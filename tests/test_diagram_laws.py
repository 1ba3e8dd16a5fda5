"""LAWS.md §4: the laws of symmetric monoidal categories with copy/discard.

Each equation is checked twice: by the IR's normal form (equality up to the
laws) and by the NumPy interpreter on random points, which never looks at the
normal form, so a wrong normal form cannot pass both."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from catlearn.backends.numpy import evaluate, init_params
from catlearn.core.diagram import Diagram
from catlearn.core.types import TensorType
from catlearn.testing import diagrams, points


def assert_equal(left: Diagram, right: Diagram):
    assert left.dom == right.dom and left.cod == right.cod
    assert left == right
    xs = points(left, seed=1)
    ps = init_params(left, seed=2)
    assert sorted(ps) == sorted(p.name for p in right.params)
    with np.errstate(all="ignore"):
        for a, b in zip(evaluate(left, xs, ps), evaluate(right, xs, ps)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True)


@given(st.data())
def test_identity_laws(data):
    f = data.draw(diagrams(prefix="f"))
    assert_equal(Diagram.identity(f.dom) >> f, f)
    assert_equal(f >> Diagram.identity(f.cod), f)


@given(st.data())
def test_associativity(data):
    f = data.draw(diagrams(prefix="f", max_ops=4))
    g = data.draw(diagrams(dom=f.cod, prefix="g", max_ops=4))
    h = data.draw(diagrams(dom=g.cod, prefix="h", max_ops=4))
    assert_equal((f >> g) >> h, f >> (g >> h))


@given(st.data())
def test_interchange(data):
    f = data.draw(diagrams(prefix="f", max_ops=3))
    h = data.draw(diagrams(dom=f.cod, prefix="h", max_ops=3))
    g = data.draw(diagrams(prefix="g", max_ops=3))
    k = data.draw(diagrams(dom=g.cod, prefix="k", max_ops=3))
    assert_equal((f @ g) >> (h @ k), (f >> h) @ (g >> k))


@given(st.data())
def test_tensor_is_associative_and_unital(data):
    f, g, h = (data.draw(diagrams(prefix=p, max_ops=3)) for p in "fgh")
    assert_equal((f @ g) @ h, f @ (g @ h))
    unit = Diagram.identity(())
    assert_equal(f @ unit, f)
    assert_equal(unit @ f, f)


@given(st.data())
def test_symmetry_and_its_naturality(data):
    f = data.draw(diagrams(prefix="f", max_ops=3))
    g = data.draw(diagrams(prefix="g", max_ops=3))
    assert_equal(Diagram.swap(f.dom, g.dom) >> Diagram.swap(g.dom, f.dom), Diagram.identity(f.dom + g.dom))
    assert_equal((f @ g) >> Diagram.swap(f.cod, g.cod), Diagram.swap(f.dom, g.dom) >> (g @ f))


@given(st.data())
def test_hexagon(data):
    a, b, c = (data.draw(diagrams(prefix=p, max_ops=2)).dom for p in "abc")
    idb, idc = Diagram.identity(b), Diagram.identity(c)
    assert_equal(Diagram.swap(a, b + c), (Diagram.swap(a, b) @ idc) >> (idb @ Diagram.swap(a, c)))


@given(st.data())
def test_copy_is_a_cocommutative_comonoid(data):
    a = data.draw(diagrams(max_ops=2)).dom
    copy, ida, drop = Diagram.copy(a), Diagram.identity(a), Diagram.discard(a)
    assert_equal(copy >> (copy @ ida), copy >> (ida @ copy))
    assert_equal(copy >> (drop @ ida), ida)
    assert_equal(copy >> (ida @ drop), ida)
    assert_equal(copy >> Diagram.swap(a, a), copy)


@given(st.data())
def test_deterministic_boxes_commute_with_copy_and_discard(data):
    f = data.draw(diagrams(params=False))
    assert_equal(f >> Diagram.copy(f.cod), Diagram.copy(f.dom) >> (f @ f))
    assert_equal(f >> Diagram.discard(f.cod), Diagram.discard(f.dom))


@given(diagrams())
def test_normal_form_is_equal_and_computes_the_same(d):
    assert_equal(d.normal_form(), d)
    assert d.normal_form().normal_form().key() == d.normal_form().key()


@given(st.data())
def test_a_new_box_makes_a_different_diagram(data):
    d = data.draw(diagrams(prefix="f"))
    real = [i for i, t in enumerate(d.cod) if t.dtype == "R"]
    if not real:
        return
    i = real[0]
    layer = Diagram.identity(())
    for j, t in enumerate(d.cod):
        layer = layer @ (Diagram.box("tanh", [t]) if j == i else Diagram.identity([t]))
    assert d >> layer != d


def test_composition_is_not_commutative():
    r = TensorType("R", (3,))
    relu, tanh = Diagram.box("relu", [r]), Diagram.box("exp", [r])
    assert relu >> tanh != tanh >> relu
    x = [np.array([-1.0, 0.5, 2.0])]
    assert not np.allclose(evaluate(relu >> tanh, x)[0], evaluate(tanh >> relu, x)[0])


def test_parameters_are_compared_by_name_not_position():
    r = TensorType("R", (2,))
    from catlearn.core.builder import Builder

    def build(order):
        b = Builder()
        x = b.input(r)
        ws = {n: b.param(n, r) for n in order}
        return b.finish(b.apply("add", [b.apply("mul", [x, ws["a"]])[0], ws["b"]]))

    assert build("ab") == build("ba")
    b = Builder()
    x = b.input(r)
    a, c = b.param("a", r), b.param("c", r)
    other = b.finish(b.apply("add", [b.apply("mul", [x, a])[0], c]))
    assert other != build("ab")
