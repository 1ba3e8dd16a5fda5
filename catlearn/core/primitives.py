"""The primitive registry: one small definition per generator.

A :class:`Primitive` is a box of the free symmetric monoidal category the IR
lives in.  It carries its name, the std module that exports it, a
shape-polymorphic :class:`~catlearn.core.signature.Signature` (or a custom
type rule for attribute-dependent shapes such as ``einsum``), its attributes,
its reference NumPy semantics, and a drawing hint.  The parser, the checker,
the printer and the drawer all read the registry, so adding a primitive is
one call to :func:`primitive` in one place.

>>> relu = REGISTRY["relu"]
>>> str(relu.signature)
'R -> R'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import TypeError_
from .signature import Signature, check_size
from .types import dtype

ATTR_KINDS = ("int", "float", "number", "str", "dim", "dims", "init", "dtype")


@dataclass(frozen=True)
class Attr:
    """A keyword attribute of a primitive: its kind and default (None: required)."""

    kind: str
    default: Any = None
    doc: str = ""


DTYPE_CLASSES: dict[str, Callable[[str], bool]] = {
    "semiring": lambda n: dtype(n) is not None,
    "ring": lambda n: bool(dtype(n) and dtype(n).ring),
    "field": lambda n: bool(dtype(n) and dtype(n).field),
    "real": lambda n: n == "R",
    "ordered": lambda n: bool(dtype(n) and dtype(n).ordered),
}


@dataclass(frozen=True, eq=False)
class Primitive:
    """A generator: name, signature, attributes, NumPy semantics, drawing hint.

    ``infer(input_types, attrs) -> (output_types, lift)`` types one
    application; ``numpy(*arrays, **attrs)`` and ``torch(*tensors, **attrs)``
    compute it on arrays whose leading axes are batch axes.
    ``rd(g, inputs, output, cotangent, **attrs)`` builds its reverse derivative
    ``R[f](x, dy)`` from other primitives with the :class:`~catlearn.core.builder.Emitter`
    `g`, returning one cotangent wire per input (None for zero).
    ``torch_code(args, types, **attrs)`` may give the torch semantics as a
    Python expression over ``T`` on arguments named `args` of exactly the
    types `types` (batch axes included), for code generated for known shapes,
    or None for a call to ``torch``.
    ``contract(g, inputs, lift, k, **attrs)`` builds the sum of a box lifted
    over `lift` batch axes over its `k` leading ones, without building the batch
    of outputs first (``Σ_b dy_b x_bᵀ`` as one contraction); None to sum after.
    """

    name: str
    signature: Signature | None
    module: str
    doc: str = ""
    attrs: dict = field(default_factory=dict)
    dtypes: str = "semiring"
    numpy: Callable | None = None
    type_rule: Callable | None = None
    check: Callable | None = None
    polynomial: bool = False
    stateful: bool = False
    glyph: str = ""
    arity: int | Callable | None = None
    rd: Callable | None = None
    contract: Callable | None = None
    torch: Callable | None = None
    torch_code: Callable | None = None
    sympy: Callable | None = None  # ``sympy(S, *scalars)`` with S the sympy module, for non-polynomial ones
    preserves_zero: str = ""  # "all": f(0, …, 0) = 0; "any": one zero input gives zero

    def n_inputs(self, attrs: dict) -> int:
        """How many input wires one application takes (for point-free use)."""
        if self.signature is not None:
            return len(self.signature.inputs)
        if callable(self.arity):
            return self.arity(attrs)
        return self.arity if self.arity is not None else 1

    def infer(self, inputs: tuple, attrs: dict) -> tuple[tuple, int]:
        """(output types, number of lifted batch axes) of one application."""
        if self.type_rule is not None:
            expected = self.n_inputs(attrs)
            if len(inputs) != expected:
                raise TypeError_(f"`{self.name}` takes {expected} argument(s), found {len(inputs)}")
            outs, lift = self.type_rule(tuple(inputs), attrs)
            for t in outs:
                check_size(t)
        else:
            outs, lift = self.signature.apply(inputs, attrs, self.name, DTYPE_CLASSES[self.dtypes])
        if self.check is not None:
            problem = self.check(inputs, attrs, outs)
            if problem:
                raise TypeError_(problem if isinstance(problem, str) else problem[0],
                                 hint=None if isinstance(problem, str) else problem[1])
        return outs, lift

    def describe(self) -> str:
        sig = str(self.signature) if self.signature else "(attribute-dependent)"
        return f"{self.name} : {sig}"

    def __repr__(self):
        return f"<primitive {self.name}>"


REGISTRY: dict[str, Primitive] = {}


def placed(like) -> dict:
    """``dtype=``/``device=`` keywords for a new tensor beside `like` (a tensor or None),
    for the torch semantics of primitives that make tensors from nothing."""
    return {} if like is None else {"dtype": like.dtype, "device": like.device}


def primitive(name: str, signature: str | None, *, module: str, **options):
    """Register a primitive; use as a decorator on its NumPy semantics.
    A unary linear primitive may give ``dagger=(g, x, dy, **attrs) -> wire``,
    its adjoint, instead of ``rd``::

        @primitive("double", "R -> R", module="std.math", glyph="2×")
        def double(x):
            \"\"\"2x\"\"\"
            return 2 * x
    """
    sig = Signature.parse(signature) if signature else None

    def register(fn):
        if name in REGISTRY:
            raise ValueError(f"primitive {name!r} is registered twice")
        opts = dict(options)
        dagger = opts.pop("dagger", None)
        if dagger is not None:  # a linear map's reverse derivative is its adjoint applied to the cotangent
            opts["rd"] = lambda g, ins, y, dy, **attrs: [dagger(g, ins[0], dy, **attrs)]
            opts.setdefault("preserves_zero", "all")
        doc = opts.pop("doc", None) or ((fn.__doc__ or "").strip().splitlines() or [""])[0]
        REGISTRY[name] = Primitive(name, sig, module, doc=doc, numpy=fn, **opts)
        return fn

    return register


def generator(name: str, inputs: tuple, outputs: tuple, *, module: str = "user", doc: str = "") -> Primitive:
    """An opaque generator with a fixed (possibly symbolic) signature: a user
    ``gen`` declaration or a higher-order argument.  It has no semantics."""
    return Primitive(name, Signature(tuple(inputs), tuple(outputs)), module, doc=doc, dtypes="semiring")


def std_modules() -> dict[str, list[str]]:
    """Std module name -> names of the registry primitives it exports (the
    others, such as ``core.batch``'s, are the IR's own, for no `.cat` file)."""
    out: dict[str, list[str]] = {}
    for p in REGISTRY.values():
        if p.module.startswith("std."):
            out.setdefault(p.module, []).append(p.name)
    return out

