"""``std.math``: elementwise arithmetic and analytic functions (scalar
signatures, lifted over every axis)."""
import numpy as np

from ..core.primitives import primitive

M = "std.math"


@primitive("add", "D * D -> D", module=M, polynomial=True, glyph="+")
def add(x, y):
    """x ⊕ y, the semiring sum"""
    return x + y


@primitive("mul", "D * D -> D", module=M, polynomial=True, glyph="×")
def mul(x, y):
    """x ⊗ y, the semiring product"""
    return x * y


@primitive("sub", "D * D -> D", module=M, dtypes="ring", polynomial=True, glyph="−")
def sub(x, y):
    """x − y"""
    return x - y


@primitive("neg", "D -> D", module=M, dtypes="ring", polynomial=True, glyph="−")
def neg(x):
    """−x"""
    return -x


@primitive("div", "R * R -> R", module=M, glyph="÷")
def div(x, y):
    """x / y"""
    return x / y


@primitive("maximum", "D * D -> D", module=M, dtypes="ordered", glyph="max")
def maximum(x, y):
    """the larger of x and y"""
    return np.maximum(x, y)


@primitive("minimum", "D * D -> D", module=M, dtypes="ordered", glyph="min")
def minimum(x, y):
    """the smaller of x and y"""
    return np.minimum(x, y)


@primitive("square", "D -> D", module=M, polynomial=True, glyph="x²")
def square(x):
    """x ⊗ x"""
    return x * x


@primitive("exp", "R -> R", module=M, glyph="exp")
def exp(x):
    """eˣ"""
    return np.exp(x)


@primitive("log", "R -> R", module=M, glyph="log")
def log(x):
    """natural logarithm"""
    return np.log(x)


@primitive("sqrt", "R -> R", module=M, glyph="√")
def sqrt(x):
    """square root"""
    return np.sqrt(x)


@primitive("abs", "R -> R", module=M, glyph="|x|")
def abs_(x):
    """absolute value"""
    return np.abs(x)


@primitive("tanh", "R -> R", module=M, glyph="tanh")
def tanh(x):
    """hyperbolic tangent"""
    return np.tanh(x)


@primitive("sigmoid", "R -> R", module=M, glyph="σ")
def sigmoid(x):
    """1 / (1 + e⁻ˣ)"""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@primitive("sin", "R -> R", module=M, glyph="sin")
def sin(x):
    """sine"""
    return np.sin(x)


@primitive("cos", "R -> R", module=M, glyph="cos")
def cos(x):
    """cosine"""
    return np.cos(x)
