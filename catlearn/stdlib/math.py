"""``std.math``: elementwise arithmetic and analytic functions (scalar
signatures, lifted over every axis).

Each primitive gives its NumPy semantics (the decorated function), its torch
semantics (``torch=``, taking the torch module first), and its reverse
derivative (``rd=``) built from other primitives.
"""
from math import pi, sqrt

import numpy as np

from ..core.primitives import primitive

M = "std.math"


@primitive("add", "D * D -> D", module=M, polynomial=True, glyph="+", preserves_zero="all",
           torch=lambda T, x, y: x + y, torch_code=lambda a, t: f"{a[0]} + {a[1]}",
           rd=lambda g, i, y, dy: [dy, dy])
def add(x, y):
    """x ⊕ y, the semiring sum"""
    return x + y


@primitive("mul", "D * D -> D", module=M, polynomial=True, glyph="×", preserves_zero="any",
           torch=lambda T, x, y: x * y, torch_code=lambda a, t: f"{a[0]} * {a[1]}",
           rd=lambda g, i, y, dy: [g.mul(dy, i[1]), g.mul(dy, i[0])])
def mul(x, y):
    """x ⊗ y, the semiring product"""
    return x * y


@primitive("sub", "D * D -> D", module=M, dtypes="ring", polynomial=True, glyph="−", preserves_zero="all",
           torch=lambda T, x, y: x - y, torch_code=lambda a, t: f"{a[0]} - {a[1]}",
           rd=lambda g, i, y, dy: [dy, g.neg(dy)])
def sub(x, y):
    """x − y"""
    return x - y


@primitive("neg", "D -> D", module=M, dtypes="ring", polynomial=True, glyph="−",
           torch=lambda T, x: -x, dagger=lambda g, x, dy: g.neg(dy))
def neg(x):
    """−x"""
    return -x


@primitive("div", "R * R -> R", module=M, sympy=lambda S, x, y: x / y, glyph="÷", torch=lambda T, x, y: x / y,
           rd=lambda g, i, y, dy: [g.div(dy, i[1]), g.neg(g.mul(dy, g.div(y, i[1])))])
def div(x, y):
    """x / y"""
    return x / y


# maximum and minimum select: where x and y are equal the whole cotangent goes
# to x, the first argument (as for every selection: see std.array's `max`).
def _select_rd(g, i, y, dy, other_wins):
    """[dy where x is selected, dy where y is]: y is selected where ``step(other_wins) = 1``."""
    m = g.step(other_wins)
    return [g.mul(dy, g.sub(1.0, m)), g.mul(dy, m)]


@primitive("maximum", "D * D -> D", module=M, dtypes="ordered", glyph="max",
           torch=lambda T, x, y: T.where((x >= y) | T.isnan(x), x, y),
           rd=lambda g, i, y, dy: _select_rd(g, i, y, dy, g.sub(i[1], i[0])))
def maximum(x, y):
    """the larger of x and y (its derivative goes to x where they are equal)"""
    return np.maximum(x, y)


@primitive("minimum", "D * D -> D", module=M, dtypes="ordered", glyph="min",
           torch=lambda T, x, y: T.where((x <= y) | T.isnan(x), x, y),
           rd=lambda g, i, y, dy: _select_rd(g, i, y, dy, g.sub(i[0], i[1])))
def minimum(x, y):
    """the smaller of x and y (its derivative goes to x where they are equal)"""
    return np.minimum(x, y)


@primitive("square", "D -> D", module=M, polynomial=True, glyph="x²", preserves_zero="all",
           torch=lambda T, x: x * x, rd=lambda g, i, y, dy: [g.mul(dy, g.mul(i[0], 2.0))])
def square(x):
    """x ⊗ x"""
    return x * x


@primitive("exp", "R -> R", module=M, sympy=lambda S, x: S.exp(x), glyph="exp", torch=lambda T, x: T.exp(x),
           rd=lambda g, i, y, dy: [g.mul(dy, y)])
def exp(x):
    """eˣ"""
    return np.exp(x)


@primitive("log", "R -> R", module=M, sympy=lambda S, x: S.log(x), glyph="log", torch=lambda T, x: T.log(x),
           rd=lambda g, i, y, dy: [g.div(dy, i[0])])
def log(x):
    """natural logarithm"""
    return np.log(x)


@primitive("sqrt", "R -> R", module=M, sympy=lambda S, x: S.sqrt(x), glyph="√", preserves_zero="all", torch=lambda T, x: T.sqrt(x),
           rd=lambda g, i, y, dy: [g.div(dy, g.mul(y, 2.0))])
def sqrt_(x):
    """square root"""
    return np.sqrt(x)


@primitive("abs", "R -> R", module=M, sympy=lambda S, x: S.Abs(x), glyph="|x|", preserves_zero="all", torch=lambda T, x: T.abs(x),
           rd=lambda g, i, y, dy: [g.mul(dy, g.sign(i[0]))])
def abs_(x):
    """absolute value"""
    return np.abs(x)


@primitive("tanh", "R -> R", module=M, sympy=lambda S, x: S.tanh(x), glyph="tanh", preserves_zero="all", torch=lambda T, x: T.tanh(x),
           rd=lambda g, i, y, dy: [g.mul(dy, g.sub(1.0, g.square(y)))])
def tanh(x):
    """hyperbolic tangent"""
    return np.tanh(x)


@primitive("sigmoid", "R -> R", module=M, sympy=lambda S, x: 1 / (1 + S.exp(-x)), glyph="σ", torch=lambda T, x: T.sigmoid(x),
           rd=lambda g, i, y, dy: [g.mul(dy, g.mul(y, g.sub(1.0, y)))])
def sigmoid(x):
    """1 / (1 + e⁻ˣ)"""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@primitive("sin", "R -> R", module=M, sympy=lambda S, x: S.sin(x), glyph="sin", preserves_zero="all", torch=lambda T, x: T.sin(x),
           rd=lambda g, i, y, dy: [g.mul(dy, g.cos(i[0]))])
def sin(x):
    """sine"""
    return np.sin(x)


@primitive("cos", "R -> R", module=M, sympy=lambda S, x: S.cos(x), glyph="cos", torch=lambda T, x: T.cos(x),
           rd=lambda g, i, y, dy: [g.neg(g.mul(dy, g.sin(i[0])))])
def cos(x):
    """cosine"""
    return np.cos(x)


@primitive("erf", "R -> R", module=M, sympy=lambda S, x: S.erf(x), glyph="erf", preserves_zero="all", torch=lambda T, x: T.special.erf(x),
           rd=lambda g, i, y, dy: [g.mul(dy, g.mul(g.exp(g.neg(g.square(i[0]))), 2.0 / sqrt(pi)))])
def erf(x):
    """the error function"""
    from scipy.special import erf as _erf

    return _erf(x)


@primitive("step", "R -> R", module=M, glyph="H", preserves_zero="all",
           torch=lambda T, x: (x > 0).to(x.dtype), rd=lambda g, i, y, dy: [None])
def step(x):
    """1 where x > 0, else 0 (its derivative is zero almost everywhere)"""
    return np.greater(x, 0).astype(np.result_type(x, 1.0))


@primitive("sign", "R -> R", module=M, glyph="sgn", preserves_zero="all", torch=lambda T, x: T.sign(x),
           rd=lambda g, i, y, dy: [None])
def sign(x):
    """−1, 0 or 1 (its derivative is zero almost everywhere)"""
    return np.sign(x)
