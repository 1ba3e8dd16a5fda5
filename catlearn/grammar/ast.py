"""The abstract syntax of `.cat` files; every node keeps its source span.

Chains of one operator (``f ; g ; h``, ``a + b - c``) and nested ``let``\\ s
are flat lists, so a long model does not make a deep tree.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import Span


@dataclass
class Node:
    span: Span | None = field(default=None, repr=False, compare=False, kw_only=True)


# -- types -------------------------------------------------------------------
@dataclass
class Dim(Node):
    """A shape expression: ``("num", 3)``, ``("var", "n")``, or ``(op, a, b)``."""

    expr: tuple
    depth: int = field(default=1, repr=False, compare=False, kw_only=True)


@dataclass
class AxisExpr(Node):
    name: str | None
    size: Dim


@dataclass
class TensorExpr(Node):
    """``R[n, 64]``, a named type ``Image`` or ``Seq(n)``."""

    name: str
    axes: list | None = None
    args: list | None = None


@dataclass
class TypeExpr(Node):
    """A product of tensor types (``[]`` is the unit ``()``)."""

    factors: list


@dataclass
class SigExpr(Node):
    dom: TypeExpr
    cod: TypeExpr


# -- expressions -----------------------------------------------------------------
@dataclass
class Expr(Node):
    depth: int = field(default=1, repr=False, compare=False, kw_only=True)


@dataclass
class Name(Expr):
    id: str


@dataclass
class Number(Expr):
    value: int | float
    text: str


@dataclass
class String(Expr):
    value: str


@dataclass
class Tuple(Expr):
    items: list


@dataclass
class Kwarg(Node):
    name: str
    value: Expr


@dataclass
class Call(Expr):
    func: Expr
    args: list
    kwargs: list


@dataclass
class Index(Expr):
    target: Expr
    index: int


@dataclass
class Chain(Expr):
    """``items[0] ops[0] items[1] …`` for one precedence level: ``;``, ``+ -`` or ``* /``."""

    ops: list
    items: list


@dataclass
class Negate(Expr):
    value: Expr


@dataclass
class Lambda(Expr):
    binders: list
    body: Expr


@dataclass
class Binding(Node):
    names: list
    tuple_pattern: bool
    value: Expr


@dataclass
class Let(Expr):
    bindings: list
    body: Expr


@dataclass
class Init(Node):
    name: str
    kwargs: list


@dataclass
class Feedback(Expr):
    state: str
    type: TypeExpr
    init: Init | None
    body: Expr


# -- declarations --------------------------------------------------------------
@dataclass
class Use(Node):
    target: str
    is_file: bool
    alias: str | None


@dataclass
class TypeDecl(Node):
    name: str
    params: list
    type: TypeExpr


@dataclass
class GenDecl(Node):
    name: str
    sig: SigExpr


@dataclass
class DefParam(Node):
    """A definition parameter: a shape (``n``), a value (``alpha : Real``) or a
    morphism (``f : R[n] -> R[n]``)."""

    name: str
    kind: str  # "shape" | "value" | "morph"
    value_type: str | None = None
    sig: SigExpr | None = None


@dataclass
class ParamDecl(Node):
    name: str
    type: TypeExpr
    init: Init | None


@dataclass
class Def(Node):
    kind: str  # "def" | "model" | "circuit"
    name: str
    params: list
    over: str | None
    sig: SigExpr
    param_decls: list
    body: Expr
    name_span: Span | None = None


@dataclass
class Clause(Node):
    key: str
    value: Expr


@dataclass
class LearnerDecl(Node):
    name: str
    model: Expr
    clauses: list


@dataclass
class Module(Node):
    decls: list
    comments: list  # (line, col, text)
