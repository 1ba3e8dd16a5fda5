"""Objects of the category: tensor types and their products.

A wire carries a :class:`TensorType` ``D[a₀, …, aₖ]``: a dtype (a semiring such
as ``R`` or ``Z2``) and axes, each with a size and an optional name.  Sizes are
:data:`Dim` values: an ``int``, or a :class:`Poly` (an integer polynomial
in shape variables such as ``n`` or ``h - k + 1``).  An object of the monoidal
category is a tuple of tensor types; ``()`` is the unit.

A type also says how many of its leading axes are *batch* axes (``batch``):
the axes a diagram run on a batch maps over, as ``vmap`` does, kept apart from
the model's own axes.  A model's types have none; :func:`~catlearn.core.batching.batched`
prepends them.  They print before a bar: ``R[32 | 4]`` is a batch of 32 ``R[4]``.

>>> str(TensorType("R", (Poly.var("n"), 64), ("seq", None)))
'R[seq: n, 64]'
>>> str(TensorType("R", (4,)).batched((32,)))
'R[32 | 4]'
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Iterable, Mapping, Union

from .errors import TypeError_

MAX_ELEMENTS = 2 ** 33  # the largest tensor a type may describe (64 GiB of float64)
MAX_SIZE = 2 ** 63  # the largest magnitude of a size or of a size polynomial's coefficient
MAX_TERMS = 256  # the most terms a size polynomial may have


class Poly:
    """An integer polynomial in shape variables, kept in a canonical form.

    ``terms`` maps monomials (sorted tuples of variable names, with repeats
    for powers) to nonzero integer coefficients.  Constant polynomials are
    never built: arithmetic returns a plain ``int`` instead.
    """

    __slots__ = ("terms", "_key")

    def __init__(self, terms: Mapping[tuple[str, ...], int]):
        self.terms = {m: c for m, c in terms.items() if c}
        self._key = tuple(sorted(self.terms.items()))

    @staticmethod
    def var(name: str) -> "Poly":
        return Poly({(name,): 1})

    def __eq__(self, other):
        return isinstance(other, Poly) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return f"Poly({dim_str(self)!r})"


Dim = Union[int, Poly]


def _terms(d: Dim) -> dict:
    if isinstance(d, int):
        return {(): d} if d else {}
    return dict(d.terms)


def _too_large(what: str, found: str) -> TypeError_:
    return TypeError_(f"a size is too large: {what}", expected=f"sizes of at most 2^63 and {MAX_TERMS} terms",
                      found=found, hint="check the size arithmetic; no tensor could have such an axis")


def _bounded(n: int) -> int:
    if abs(n) > MAX_SIZE:
        raise _too_large("it exceeds 2^63", f"about 2^{n.bit_length()}")
    return n


def _make(terms: dict) -> Dim:
    terms = {m: _bounded(c) for m, c in terms.items() if c}
    if len(terms) > MAX_TERMS:
        raise _too_large("its polynomial has too many terms", f"{len(terms)} terms")
    if not terms:
        return 0
    if list(terms) == [()]:
        return terms[()]
    return Poly(terms)


def dim_add(a: Dim, b: Dim, sign: int = 1) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return _bounded(a + sign * b)
    out = _terms(a)
    for m, c in _terms(b).items():
        out[m] = out.get(m, 0) + sign * c
    return _make(out)


def dim_sub(a: Dim, b: Dim) -> Dim:
    return dim_add(a, b, -1)


def dim_mul(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return _bounded(a * b)
    out: dict = {}
    for ma, ca in _terms(a).items():
        for mb, cb in _terms(b).items():
            m = tuple(sorted(ma + mb))
            out[m] = out.get(m, 0) + ca * cb
    return _make(out)


def dim_vars(d: Dim) -> set[str]:
    if isinstance(d, int):
        return set()
    return {v for m in d.terms for v in m}


def dim_subst(d: Dim, env: Mapping[str, Dim]) -> Dim:
    """Replace the variables of `d` bound in `env` (simultaneously)."""
    if isinstance(d, int) or not env:
        return d
    out: Dim = 0
    for mono, coef in d.terms.items():
        term: Dim = coef
        for v in mono:
            term = dim_mul(term, env.get(v, Poly.var(v)))
        out = dim_add(out, term)
    return out


def dim_str(d: Dim) -> str:
    if isinstance(d, int):
        return str(d)
    parts = []
    if all(c < 0 for c in d.terms.values()):
        parts.append("0")
    for mono, coef in sorted(d.terms.items(), key=lambda t: (t[1] < 0, -len(t[0]), t[0])):
        body = "*".join(mono)
        if not mono:
            text = str(abs(coef))
        elif abs(coef) == 1:
            text = body
        else:
            text = f"{abs(coef)}*{body}"
        if not parts:
            parts.append(text if coef > 0 else f"-{text}")
        else:
            parts.append(f"+ {text}" if coef > 0 else f"- {text}")
    return " ".join(parts)


@dataclass(frozen=True)
class Dtype:
    """A scalar domain: a semiring, with what further structure it has."""

    name: str
    ring: bool = False  # has subtraction
    field: bool = False  # has division
    real: bool = False  # admits analytic functions (exp, tanh, …)
    ordered: bool = False  # admits max/relu
    modulus: int | None = None
    doc: str = ""


_BASE_DTYPES = {
    "R": Dtype("R", ring=True, field=True, real=True, ordered=True, doc="real numbers (floating point)"),
    "Z": Dtype("Z", ring=True, ordered=True, doc="integers"),
    "N": Dtype("N", ordered=True, doc="natural numbers: the counting semiring (+, ×)"),
    "B": Dtype("B", doc="booleans: the semiring (or, and)"),
    "Trop": Dtype("Trop", ordered=True, doc="tropical semiring (max, +) with zero −∞"),
    "MinPlus": Dtype("MinPlus", ordered=True, doc="tropical semiring (min, +) with zero +∞"),
    "Log": Dtype("Log", doc="log semiring (logaddexp, +)"),
}


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % q for q in range(2, int(p ** 0.5) + 1))


def dtype(name: str) -> Dtype | None:
    """The dtype called `name` (``R``, ``Z2``, ``Z7``, ``Trop``, …), or None."""
    if name in _BASE_DTYPES:
        return _BASE_DTYPES[name]
    if name.startswith("Z") and name[1:].isdigit() and not name[1:].startswith("0"):
        p = int(name[1:])
        if p < 10 ** 6 and _is_prime(p):
            return Dtype(name, ring=True, field=True, modulus=p, doc=f"integers modulo {p}")
    return None


def dtype_names() -> list[str]:
    return [*_BASE_DTYPES, "Z2", "Z3", "Z5", "Z7"]


@dataclass(frozen=True, slots=True)
class TensorType:
    """``dtype[axes]``: a tensor type with optional axis names, whose first
    ``batch`` axes are batch axes."""

    dtype: str
    shape: tuple = ()
    names: tuple = ()
    batch: int = 0

    def __post_init__(self):
        if len(self.names) != len(self.shape):
            object.__setattr__(self, "names", (None,) * len(self.shape))
        if not 0 <= self.batch <= len(self.shape):
            raise ValueError(f"a type of rank {len(self.shape)} cannot have {self.batch} batch axes")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def example(self) -> "TensorType":
        """The type of one example: this type without its batch axes."""
        if not self.batch:
            return self
        return TensorType(self.dtype, self.shape[self.batch:], self.names[self.batch:])

    def axes(self) -> list[tuple[str | None, Dim]]:
        return list(zip(self.names, self.shape))

    def vars(self) -> set[str]:
        return set().union(*map(dim_vars, self.shape)) if self.shape else set()

    def subst(self, env: Mapping[str, Dim]) -> "TensorType":
        if not env:
            return self
        return TensorType(self.dtype, tuple(dim_subst(d, env) for d in self.shape), self.names, self.batch)

    def batched(self, shape: tuple, names: tuple | None = None) -> "TensorType":
        """This type with the batch axes `shape` in front of its own (which stay
        in front of the model's axes)."""
        if not shape:
            return self
        names = tuple(names) if names is not None else (None,) * len(shape)
        return TensorType(self.dtype, tuple(shape) + self.shape, names + self.names, self.batch + len(shape))

    def with_batch(self, batch: int) -> "TensorType":
        """The same axes, the first `batch` of them batch axes."""
        return self if batch == self.batch else TensorType(self.dtype, self.shape, self.names, batch)

    def drop_axis(self, k: int) -> "TensorType":
        """This type without its axis `k` (a model axis: ``k ≥ batch``)."""
        return TensorType(self.dtype, self.shape[:k] + self.shape[k + 1:], self.names[:k] + self.names[k + 1:],
                          self.batch)

    def insert_axis(self, k: int, size: Dim, name: str | None = None) -> "TensorType":
        """This type with a model axis of `size` put at position `k` (``k ≥ batch``)."""
        return TensorType(self.dtype, self.shape[:k] + (size,) + self.shape[k:], self.names[:k] + (name,) + self.names[k:],
                          self.batch)

    def size(self) -> int | None:
        """Number of elements, or None when the shape is symbolic."""
        if all(isinstance(d, int) for d in self.shape):
            return prod(self.shape)
        return None

    def unnamed(self) -> "TensorType":
        return TensorType(self.dtype, self.shape, (), self.batch)

    def __str__(self):
        if not self.shape:
            return self.dtype
        axes = [f"{n}: {dim_str(d)}" if n else dim_str(d) for n, d in zip(self.names, self.shape)]
        if self.batch:
            model = ", ".join(axes[self.batch:])
            return f"{self.dtype}[{', '.join(axes[:self.batch])} |{' ' + model if model else ''}]"
        return f"{self.dtype}[{', '.join(axes)}]"


def object_str(types: Iterable[TensorType]) -> str:
    """An object (product of tensor types) as text: ``R[3] * Z2``, or ``()``."""
    types = list(types)
    return " * ".join(map(str, types)) if types else "()"


def same_type(a: TensorType, b: TensorType) -> bool:
    """Equal dtype, sizes and batch axes, and names that agree where both are given."""
    if a.dtype != b.dtype or a.shape != b.shape or a.batch != b.batch:
        return False
    return all(x is None or y is None or x == y for x, y in zip(a.names, b.names))
