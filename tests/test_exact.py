"""Exact checks with sympy: the reverse derivative of random diagrams is the
transposed Jacobian (sympy.diff), symbol for symbol, with no tolerance."""
import numpy as np
import sympy
from hypothesis import given, settings

from catlearn.backends import sympy as exact
from catlearn.core.primitives import REGISTRY
from catlearn.semantics.rdc import forward, reverse
from catlearn.testing import diagrams

POLYNOMIAL = [REGISTRY[n] for n in ("add", "sub", "mul", "neg", "square", "dot", "matvec", "matmul", "outer",
                                    "transpose", "sum", "index", "concat", "broadcast", "embed", "flatten",
                                    "slice", "pad", "einsum")]
ANALYTIC = [REGISTRY[n] for n in ("exp", "sin", "cos", "tanh")]


def zero(expr) -> bool:
    return sympy.simplify(sympy.expand(expr)) == 0


@settings(max_examples=40, deadline=None)
@given(diagrams(primitives=POLYNOMIAL, max_ops=5, sizes=(1, 2), batch=False))
def test_reverse_derivative_is_exactly_the_transposed_jacobian(d):
    xs = [exact.symbols(f"x{i}", t) for i, t in enumerate(d.dom)]
    ps = {p.name: exact.symbols(p.name, d.types[p.wire]) for p in d.params}
    ws = [exact.symbols(f"w{i}", t) for i, t in enumerate(d.cod)]
    ys = exact.evaluate(d, xs, ps)
    pairing = sum(sympy.Add(*np.asarray(y * w).ravel().tolist()) for y, w in zip(ys, ws))  # ⟨f(x), w⟩
    grads = exact.evaluate(reverse(d), xs + ws, ps)
    for x, g in zip(xs + [ps[p.name] for p in d.params], grads):
        for xi, gi in zip(np.asarray(x).ravel(), np.asarray(g).ravel()):
            assert zero(gi - sympy.diff(pairing, xi))


@settings(max_examples=25, deadline=None)
@given(diagrams(primitives=POLYNOMIAL[:6] + ANALYTIC, max_ops=4, sizes=(1, 2), batch=False, params=False))
def test_forward_derivative_is_exactly_the_jacobian_times_v(d):
    xs = [exact.symbols(f"x{i}", t) for i, t in enumerate(d.dom)]
    vs = [exact.symbols(f"v{i}", t) for i, t in enumerate(d.dom)]
    ys = exact.evaluate(d, xs)
    jv = exact.evaluate(forward(d), xs + vs)
    for y, got in zip(ys, jv):
        for yi, gi in zip(np.asarray(y).ravel(), np.asarray(got).ravel()):
            expected = sum(sympy.diff(yi, xi) * vi for x, v in zip(xs, vs)
                           for xi, vi in zip(np.asarray(x).ravel(), np.asarray(v).ravel()))
            assert zero(gi - expected)
