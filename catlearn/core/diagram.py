"""The IR: a typed string diagram as data (a flat SSA open hypergraph).

A :class:`Diagram` ``f : A → B`` with parameters ``P`` (a morphism of
Para: ``P ⊗ A → B``) is

* ``types``  – the type of every wire (wires are ints indexing this tuple);
* ``inputs`` / ``outputs`` – ordered boundary wires (``A`` and ``B``);
* ``params`` – named parameter wires (``P``), each with an initialiser;
* ``ops``    – boxes in a topological order, each a :class:`Op`.

Copy and discard are implicit: a wire read twice is copied, a wire never read
is discarded; identities and symmetries are wiring.  So the laws of a
symmetric monoidal category with copy/discard (a cartesian one, all boxes
being deterministic) hold up to the normal form of
:mod:`catlearn.core.passes`.

>>> from catlearn.core.types import TensorType
>>> R3 = TensorType("R", (3,))
>>> f = Diagram.box("relu", [R3]) >> Diagram.box("tanh", [R3])
>>> f
<Diagram R[3] -> R[3]: 2 ops>
>>> f >> Diagram.identity([R3]) == f
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .errors import TypeError_
from .primitives import REGISTRY, Primitive, placed
from .types import TensorType, object_str, same_type


@dataclass(frozen=True, eq=False)
class Scope:
    """A frame of the definition-call stack an op was elaborated under."""

    name: str  # the definition called
    label: str  # unique within its parent frame: `dense`, `dense_1`, …
    parent: "Scope | None" = None
    lift: int = 0  # leading axes the call was lifted over (batch axes, then the model's)
    span: object = None

    def path(self) -> tuple["Scope", ...]:
        out, s = [], self
        while s is not None:
            out.append(s)
            s = s.parent
        return tuple(reversed(out))

    @property
    def qualname(self) -> str:
        return ".".join(s.label for s in self.path())


@dataclass(eq=False)
class Op:
    """One box: a primitive applied to input wires, giving output wires."""

    prim: Primitive
    attrs: tuple  # sorted (key, value) pairs
    inputs: tuple
    outputs: tuple
    lift: int = 0  # leading axes this application is lifted over (batch axes, then the model's)
    scope: Scope | None = None
    span: object = None
    body: "Diagram | None" = None  # for structured ops (feedback, scan)

    @property
    def attr(self) -> dict:
        return dict(self.attrs)


@dataclass(frozen=True)
class Param:
    """A parameter wire of a Para morphism, with its initialiser."""

    name: str
    wire: int
    init: tuple = ("zeros", ())  # (initialiser name, sorted kwargs)
    span: object = None


def _feedback_rule(inputs, attrs):
    raise TypeError_("feedback and scan boxes are typed by their body")


CONST = Primitive("const", None, "std.core", doc="a constant scalar", type_rule=lambda ins, a: ((TensorType(a["dtype"]),), 0),
                  polynomial=True, arity=0, glyph="c", rd=lambda g, ins, y, dy, **attrs: [],
                  torch=lambda T, value, dtype, like=None: T.full((), value, **placed(like)))
FEEDBACK = Primitive("feedback", None, "std.core", doc="the delayed trace of its body", type_rule=_feedback_rule,
                     stateful=True, glyph="⟲")
SCAN = Primitive("scan", None, "std.core", doc="its (stateful) body run along the time axis of its sequences",
                 type_rule=_feedback_rule, glyph="⟳")
SCAN_REVERSE = Primitive("scan_reverse", None, "std.core", type_rule=_feedback_rule, glyph="⟲ᵀ",
                         doc="the reverse derivative of a scan of its body: backpropagation through time")
STRUCTURED = (FEEDBACK, SCAN, SCAN_REVERSE)  # boxes with a body diagram, typed by it


@dataclass(frozen=True, eq=False)
class Diagram:
    """A typed open hypergraph ``P ⊗ A → B`` (see the module docstring)."""

    types: tuple
    ops: tuple
    inputs: tuple
    outputs: tuple
    params: tuple = ()
    name: str | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- boundary -----------------------------------------------------------
    @property
    def dom(self) -> tuple:
        return tuple(self.types[w] for w in self.inputs)

    @property
    def cod(self) -> tuple:
        return tuple(self.types[w] for w in self.outputs)

    @property
    def param_types(self) -> tuple:
        return tuple(self.types[p.wire] for p in self.params)

    @property
    def type(self) -> str:
        return f"{object_str(self.dom)} -> {object_str(self.cod)}"

    def __repr__(self):
        extra = f", {len(self.params)} params" if self.params else ""
        name = f" {self.name}" if self.name else ""
        return f"<Diagram{name} {self.type}: {len(self.ops)} ops{extra}>"

    # -- constructors -------------------------------------------------------
    @staticmethod
    def identity(types: Iterable[TensorType]) -> "Diagram":
        """``id_A : A → A``."""
        types = tuple(types)
        wires = tuple(range(len(types)))
        return Diagram(types, (), wires, wires)

    @staticmethod
    def swap(left: Iterable[TensorType], right: Iterable[TensorType]) -> "Diagram":
        """``σ_{A,B} : A ⊗ B → B ⊗ A``."""
        left, right = tuple(left), tuple(right)
        wires = tuple(range(len(left) + len(right)))
        return Diagram(left + right, (), wires, wires[len(left):] + wires[:len(left)])

    @staticmethod
    def copy(types: Iterable[TensorType], n: int = 2) -> "Diagram":
        """``Δ_A : A → A ⊗ A`` (``n`` copies)."""
        types = tuple(types)
        wires = tuple(range(len(types)))
        return Diagram(types, (), wires, wires * n)

    @staticmethod
    def discard(types: Iterable[TensorType]) -> "Diagram":
        """``!_A : A → I``."""
        types = tuple(types)
        return Diagram(types, (), tuple(range(len(types))), ())

    @staticmethod
    def box(prim: Primitive | str, dom: Iterable[TensorType], **attrs) -> "Diagram":
        """A single primitive box on wires of the given types."""
        from .builder import Builder

        prim = REGISTRY[prim] if isinstance(prim, str) else prim
        b = Builder()
        ins = [b.input(t) for t in dom]
        return b.finish(b.apply(prim, ins, attrs))

    # -- composition --------------------------------------------------------
    def then(self, other: "Diagram") -> "Diagram":
        """``self ; other`` (sequential composition, diagrammatic order)."""
        if len(self.cod) != len(other.dom) or not all(map(same_type, self.cod, other.dom)):
            raise TypeError_(f"{self!r} does not compose with {other!r}",
                             expected=object_str(other.dom), found=object_str(self.cod))
        from .builder import Builder

        b = Builder()
        outs = b.splice(self, [b.input(t) for t in self.dom])
        return b.finish(b.splice(other, outs))

    def tensor(self, other: "Diagram") -> "Diagram":
        """``self ⊗ other`` (parallel composition)."""
        from .builder import Builder

        b = Builder()
        left = [b.input(t) for t in self.dom]
        right = [b.input(t) for t in other.dom]
        return b.finish(b.splice(self, left) + b.splice(other, right))

    __rshift__ = then
    __matmul__ = tensor

    # -- equality up to the laws -------------------------------------------
    def normal_form(self) -> "Diagram":
        from .passes import normal_form

        if "nf" not in self._cache:
            self._cache["nf"] = normal_form(self)
        return self._cache["nf"]

    def key(self) -> tuple:
        """A hashable canonical key: equal iff the diagrams are equal up to
        the laws of symmetric monoidal categories with copy/discard."""
        from .passes import canonical_key

        if "key" not in self._cache:
            self._cache["key"] = canonical_key(self)
        return self._cache["key"]

    def __eq__(self, other):
        return isinstance(other, Diagram) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def to_cat(self, name: str | None = None) -> str:
        """This diagram as `.cat` source text (see :mod:`catlearn.grammar.printer`)."""
        from ..grammar.printer import print_diagram

        return print_diagram(self, name or self.name or "f")

    def draw(self, view: str = "forward", **style):
        """Its neural circuit diagram, a ``graphviz.Digraph`` (see :mod:`catlearn.diagrams`)."""
        from ..diagrams import draw as drawing

        options = {**drawing.default_style(self).__dict__, **style}
        return drawing.to_dot(self, style=drawing.Style(**options), view=view)

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows a diagram as its drawing (SVG, with a PNG for frontends
        without SVG), or as text where Graphviz's ``dot`` is missing."""
        import graphviz

        text = {"text/plain": repr(self)}
        graph = self.draw()
        try:
            return {"image/svg+xml": graph.pipe(format="svg").decode("utf-8"), "image/png": graph.pipe(format="png"),
                    **text}
        except graphviz.ExecutableNotFound:
            return text

    def with_name(self, name: str) -> "Diagram":
        return Diagram(self.types, self.ops, self.inputs, self.outputs, self.params, name)

    def primitives(self) -> set[str]:
        out = set()
        for op in self.ops:
            out.add(op.prim.name)
            if op.body is not None:
                out |= op.body.primitives()
        return out

