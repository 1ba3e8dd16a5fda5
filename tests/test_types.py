"""Shape arithmetic: polynomials in shape variables against integer evaluation."""
from hypothesis import given
from hypothesis import strategies as st

from catlearn.core.signature import Signature
from catlearn.core.types import Poly, TensorType, dim_add, dim_mul, dim_str, dim_sub, dim_subst, same_type

VARS = ["n", "m", "k"]


@st.composite
def polys(draw, depth=3):
    """A random dim expression, with a Python function computing the same thing."""
    if depth == 0 or draw(st.booleans()):
        if draw(st.booleans()):
            c = draw(st.integers(-5, 5))
            return c, lambda env, c=c: c
        v = draw(st.sampled_from(VARS))
        return Poly.var(v), lambda env, v=v: env[v]
    (a, fa), (b, fb) = draw(polys(depth - 1)), draw(polys(depth - 1))
    op = draw(st.sampled_from(["+", "-", "*"]))
    fn = {"+": dim_add, "-": dim_sub, "*": dim_mul}[op]
    py = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}[op]
    return fn(a, b), lambda env: py(fa(env), fb(env))


envs = st.fixed_dictionaries({v: st.integers(-20, 20) for v in VARS})


@given(polys(), envs)
def test_polynomials_evaluate_like_integers(p, env):
    value, oracle = p
    assert dim_subst(value, env) == oracle(env)


@given(polys(), polys(), envs)
def test_equal_polynomials_agree_everywhere(p, q, env):
    if p[0] == q[0]:
        assert p[1](env) == q[1](env)


@given(polys())
def test_printed_dims_parse_back(p):
    value, _ = p
    sig = Signature.parse(f"R[{dim_str(value)}] -> R")
    assert sig.inputs[0].shape[0] == value


def test_named_axes_agree_only_where_both_are_named():
    n = Poly.var("n")
    assert same_type(TensorType("R", (n, 3), ("seq", None)), TensorType("R", (n, 3)))
    assert not same_type(TensorType("R", (n, 3), ("seq", None)), TensorType("R", (n, 3), ("feat", None)))
    assert not same_type(TensorType("R", (3,)), TensorType("Z2", (3,)))
