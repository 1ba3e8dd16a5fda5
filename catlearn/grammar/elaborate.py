"""Elaboration: from the AST to typed diagrams, checking types on the way.

Every expression is elaborated *applied to concrete typed wires*: in
morphism mode (point-free: ``dense(64, 128) ; relu``) an expression becomes a
:class:`Morph` that is later applied; in wire mode (pointful:
``x => add(x, f(x))``) it becomes wires.  Both end in the same calls to the
:class:`~catlearn.core.builder.Builder`, so the two styles elaborate to the
same diagram, with copy and discard implicit (Catlab ``@program`` semantics).

A definition is elaborated once, generically (its shape variables rigid), into
a :class:`Definition`; a use of it splices that diagram in under a
substitution, re-typing every box on the actual wires, so batch axes lift.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..core.builder import Builder, Wire
from ..core.diagram import Diagram
from ..core.errors import CatError, DefinitionError, NameError_, Source, TypeError_, did_you_mean
from ..core.initializers import INITIALIZERS
from ..core.primitives import REGISTRY, Primitive, generator
from ..core.signature import Signature, check_size
from ..core.types import (MAX_SIZE, Dim, Poly, TensorType, dim_add, dim_mul, dim_str, dim_sub, dtype, dtype_names,
                          object_str, same_type)
from . import ast as A

STRUCTURAL = {"id": (1, "id_A : A → A"), "swap": (2, "σ : A ⊗ B → B ⊗ A"), "copy": (1, "Δ : A → A ⊗ A"),
              "discard": (1, "! : A → ()"), "fst": (2, "π₀ : A ⊗ B → A"), "snd": (2, "π₁ : A ⊗ B → B")}
#: combinators: built-in forms taking one morphism, ``scan(f)``
COMBINATORS = {"scan": "scan(f) : X[t, …] → Y[t, …], the stateful f : X → Y run along the time axis"}


@dataclass
class Definition:
    """A checked definition: its generic diagram and how to instantiate it."""

    name: str
    kind: str  # def | model | circuit
    decl: A.Def
    dom: tuple
    cod: tuple
    diagram: Diagram
    shape_params: list
    value_params: dict  # name -> generator standing for the value
    morph_params: dict  # name -> generator standing for the morphism
    over: str | None
    module: str
    calls: dict = field(default_factory=dict, repr=False)  # name -> (Definition, times spliced into this one)

    @property
    def type(self) -> str:
        return f"{object_str(self.dom)} -> {object_str(self.cod)}"

    def header(self) -> str:
        ps = ", ".join(p.name for p in self.decl.params)
        return f"{self.kind} {self.name}{f'({ps})' if ps else ''} : {self.type}"


@dataclass
class TypeAlias:
    decl: A.TypeDecl
    module: str


@dataclass
class Literal:
    """A number in wire position, materialised once its dtype is known."""

    value: float | int
    span: object


@dataclass
class Env:
    """Local names: wires, shape variables, values and morphisms."""

    wires: dict = field(default_factory=dict)  # name -> Wire
    dims: dict = field(default_factory=dict)  # name -> Dim
    morphs: dict = field(default_factory=dict)  # name -> Morph

    def child(self) -> "Env":
        return Env(dict(self.wires), dict(self.dims), dict(self.morphs))


# -- morphisms (point-free values) ----------------------------------------------------
class Morph:
    """A morphism awaiting its inputs: ``arity`` wires in, ``apply(el, b, wires)`` out."""

    arity: int
    span: object = None
    label: str = "morphism"


@dataclass
class PrimMorph(Morph):
    prim: Primitive
    attrs: dict
    span: object = None

    @property
    def arity(self):
        return self.prim.n_inputs(self.attrs)

    @property
    def label(self):
        return f"`{self.prim.name}`"

    def apply(self, el, b, wires):
        return b.apply(self.prim, el.real(b, wires), self.attrs, self.span)


@dataclass
class DefMorph(Morph):
    defn: Definition
    shapes: dict
    values: dict
    morphs: dict
    span: object = None

    @property
    def arity(self):
        return len(self.defn.dom)

    @property
    def label(self):
        return f"`{self.defn.name}`"

    def apply(self, el, b, wires):
        return el.instantiate(self.defn, b, el.real(b, wires), self.shapes, self.values, self.morphs, self.span)


@dataclass
class StructMorph(Morph):
    name: str
    span: object = None

    @property
    def arity(self):
        return STRUCTURAL[self.name][0]

    @property
    def label(self):
        return f"`{self.name}`"

    def apply(self, el, b, wires):
        x = wires
        return {"id": x, "swap": x[::-1], "copy": x + x, "discard": [], "fst": x[:1], "snd": x[1:]}[self.name]


@dataclass
class LambdaMorph(Morph):
    binders: list
    body: A.Expr
    env: Env
    span: object = None

    @property
    def arity(self):
        return len(self.binders)

    def apply(self, el, b, wires):
        env = self.env.child()
        for name, w in zip(self.binders, wires):
            env.wires[name] = w
        return el.wires(self.body, env, b)


@dataclass
class SeqMorph(Morph):
    items: list
    span: object = None

    @property
    def arity(self):
        return self.items[0].arity

    def apply(self, el, b, wires):
        for prev, m in zip([None] + self.items, self.items):
            if len(wires) != m.arity:
                raise TypeError_(f"{m.label} takes {m.arity} input(s), but {prev.label} gives {len(wires)}", m.span,
                                 expected=f"{m.arity} wire(s)", found=object_str(w.type if isinstance(w, Wire) else "R"
                                                                                 for w in wires),
                                 hint="use `*` to put morphisms side by side, or `copy`/`discard` to adjust wires")
            wires = m.apply(el, b, wires)
        return wires


@dataclass
class TensorMorph(Morph):
    items: list
    span: object = None

    @property
    def arity(self):
        return sum(m.arity for m in self.items)

    def apply(self, el, b, wires):
        out, i = [], 0
        for m in self.items:
            out += m.apply(el, b, wires[i:i + m.arity])
            i += m.arity
        return out


@dataclass
class FanMorph(Morph):
    """``(f, g)`` (the pairing ⟨f, g⟩) or ``f + g`` / ``f - g`` (pointwise sum)."""

    items: list
    ops: list | None
    span: object = None

    @property
    def arity(self):
        return self.items[0].arity

    def apply(self, el, b, wires):
        for m in self.items[1:]:
            if m.arity != self.items[0].arity:
                raise TypeError_(f"{m.label} takes {m.arity} input(s), but {self.items[0].label} takes "
                                 f"{self.items[0].arity}", m.span, hint="the parts of a pairing or sum share their inputs")
        outs = [m.apply(el, b, wires) for m in self.items]
        if self.ops is None:
            return [w for o in outs for w in o]
        total = outs[0]
        for op, o, m in zip(self.ops, outs[1:], self.items[1:]):
            if len(o) != len(total):
                raise TypeError_(f"{m.label} gives {len(o)} output(s), but the sum needs {len(total)}", m.span)
            total = [b.apply("add" if op == "+" else "sub", [x, y], {}, self.span)[0] for x, y in zip(total, o)]
        return total


@dataclass
class FeedbackMorph(Morph):
    node: A.Feedback
    body: Morph
    env: Env
    span: object = None

    @property
    def arity(self):
        return self.body.arity - 1

    def apply(self, el, b, wires):
        node = self.node
        (state_type,) = el.type_of(node.type, self.env.dims, one=True)
        init = el.init(node.init) if node.init else None
        if self.body.arity < 1:
            raise TypeError_("the body of a feedback must take the state as its last input", node.body.span)

        def body(child, xs, s):
            outs = el.real(child, self.body.apply(el, child, xs + [s]))
            if not outs:
                raise TypeError_("the body of a feedback must return its next state last", node.body.span,
                                 expected=f"(outputs…, {state_type})", found="no outputs")
            return outs[:-1], outs[-1]

        return b.feedback(node.state, state_type, init, el.real(b, wires), body, self.span)


@dataclass
class ScanMorph(Morph):
    step: Morph
    span: object = None

    @property
    def arity(self):
        return self.step.arity

    @property
    def label(self):
        return "`scan`"

    def apply(self, el, b, wires):
        return b.scan(el.real(b, wires), lambda child, xs: el.real(child, self.step.apply(el, child, xs)), self.span)


# -- the expansion budget ------------------------------------------------------------
MAX_SPLICED_BOXES = 50_000
CHARS_PER_BOX = 8  # each this many characters of source allow one more spliced box


class SpliceBudget:
    """The boxes that splicing definitions may copy in one check, in all.

    A use of a definition copies its boxes, so uses of uses multiply: n
    definitions ``d{i} = d{i-1} ; d{i-1}`` expand to 2^n boxes.  Each splice
    is charged before it copies, so such a chain is refused at its first
    definition past the budget.  The budget is :data:`MAX_SPLICED_BOXES`, and
    one box more per :data:`CHARS_PER_BOX` characters of the files checked:
    expanding costs at most a constant times reading what was written.
    """

    def __init__(self, limit: int = MAX_SPLICED_BOXES):
        self.limit = limit
        self.spent = 0

    def allow(self, source: Source) -> None:
        """Grow the budget for one more file read."""
        self.limit += len(source.text) // CHARS_PER_BOX

    def charge(self, defn: Definition, within: str | None, span) -> None:
        boxes = len(defn.diagram.ops)
        if self.spent + boxes <= self.limit:
            self.spent += boxes
            return
        raise DefinitionError(f"the definitions expand to more than {self.limit:,} boxes", span,
                              expected=f"at most {self.limit:,} boxes copied in by uses of definitions "
                                       f"({MAX_SPLICED_BOXES:,}, and one per {CHARS_PER_BOX} characters of source)",
                              found=f"{self.spent:,} copied, then `{defn.name}` with {_boxes(defn)}",
                              notes=(f"the expansion: {_expansion(within, defn)}",),
                              hint="every use of a definition copies its boxes, so uses of uses multiply; "
                                   "use the repeated part fewer times, or feed a loop through `feedback`")


def _boxes(defn: Definition) -> str:
    n = len(defn.diagram.ops)
    return f"{n:,} box" + ("" if n == 1 else "es")


def _expansion(within: str | None, defn: Definition) -> str:
    """The chain of largest uses below `defn`: ``a uses b 2× (…boxes) → b uses c 2× …``."""
    steps = [f"`{within}` uses `{defn.name}` ({_boxes(defn)})"] if within else []
    seen = {within}
    while defn.calls and defn.name not in seen:
        seen.add(defn.name)
        callee, times = max(defn.calls.values(), key=lambda c: c[1] * len(c[0].diagram.ops))
        steps.append(f"`{defn.name}` uses `{callee.name}` {times}× ({_boxes(callee)})")
        defn = callee
    if len(steps) > 6:
        steps = steps[:3] + [f"… {len(steps) - 5} more …"] + steps[-2:]
    return " → ".join(steps)


# -- the elaborator ------------------------------------------------------------------
class Elaborator:
    """Elaborates the expressions of one module against its global names."""

    def __init__(self, scope, over: str | None = None):
        self.scope = scope  # .lookup(name, span) -> Definition | Primitive | TypeAlias | None; .names(); .budget
        self.over = over
        self.defining: str | None = None
        self.calls: dict = {}

    def lookup(self, name: str, span):
        return self.scope.lookup(name, span)

    # types ----------------------------------------------------------------
    def dim(self, d: A.Dim, dims: dict, implicit: dict | None = None) -> Dim:
        e = d.expr
        if e[0] == "num":
            return e[1]
        if e[0] == "var":
            if e[1] in dims:
                return dims[e[1]]
            if implicit is not None:
                return implicit.setdefault(e[1], Poly.var(e[1]))
            raise NameError_(f"unknown size `{e[1]}`", d.span, hint=did_you_mean(e[1], dims) or
                             "sizes come from the definition's parameters or its signature")
        a, c = self.dim(e[1], dims, implicit), self.dim(e[2], dims, implicit)
        try:
            return {"+": dim_add, "-": dim_sub, "*": dim_mul}[e[0]](a, c)
        except CatError as err:
            raise err.at(d.span)

    def type_of(self, t: A.TypeExpr, dims: dict, implicit: dict | None = None, one: bool = False,
                _seen: tuple = ()) -> tuple:
        out = []
        for f in t.factors:
            if isinstance(f, A.TypeExpr):
                out += self.type_of(f, dims, implicit, _seen=_seen)
                continue
            out += self.tensor_type(f, dims, implicit, _seen)
        if one and len(out) != 1:
            raise TypeError_("expected a single tensor type", t.span, found=object_str(out))
        return tuple(out)

    def tensor_type(self, f: A.TensorExpr, dims, implicit, seen) -> list:
        if dtype(f.name) is not None:
            if f.args:
                raise TypeError_(f"the dtype `{f.name}` takes no arguments", f.span, hint=f"write {f.name}[…] for a tensor")
            names, shape = [], []
            for ax in f.axes or []:
                if ax.name and ax.name in names:
                    raise TypeError_(f"the axis name `{ax.name}` is used twice", ax.span)
                names.append(ax.name)
                shape.append(self.dim(ax.size, dims, implicit))
            t = TensorType(f.name, tuple(shape), tuple(names))
            try:
                check_size(t)
            except CatError as e:
                raise e.at(f.span)
            return [t]
        entry = self.lookup(f.name, f.span)
        if not isinstance(entry, TypeAlias):
            known = dtype_names() + [n for n, v in self.scope.names().items() if isinstance(v, TypeAlias)]
            raise NameError_(f"unknown type `{f.name}`", f.span, hint=did_you_mean(f.name, known) or
                             "tensor types are written like R[n, 64], Z2[8] or B")
        decl = entry.decl
        if f.name in seen:
            raise DefinitionError(f"the type `{f.name}` is defined in terms of itself", f.span)
        if f.axes is not None:
            raise TypeError_(f"`{f.name}` is a named type; it takes no axes", f.span)
        args = f.args or []
        if len(args) != len(decl.params):
            raise TypeError_(f"the type `{f.name}` takes {len(decl.params)} size argument(s)", f.span,
                             expected=f"{f.name}({', '.join(decl.params)})" if decl.params else f.name,
                             found=f"{len(args)} argument(s)")
        inner = {p: self.dim(a, dims, implicit) for p, a in zip(decl.params, args)}
        return list(self.type_of(decl.type, inner, None, _seen=seen + (f.name,)))

    def init(self, node: A.Init | A.Expr) -> tuple:
        """An initialiser spec ``(name, sorted kwargs)`` from ``glorot`` or ``normal(std=0.1)``."""
        if isinstance(node, A.Init):
            name, kwargs, span = node.name, node.kwargs, node.span
        elif isinstance(node, A.Name):
            name, kwargs, span = node.id, [], node.span
        elif isinstance(node, A.Call) and isinstance(node.func, A.Name) and not node.args:
            name, kwargs, span = node.func.id, node.kwargs, node.span
        else:
            raise TypeError_("expected an initialiser", node.span, expected="a name like `zeros` or `normal(std=0.1)`")
        spec = INITIALIZERS.get(name)
        if spec is None:
            raise NameError_(f"unknown initialiser `{name}`", span, expected=", ".join(sorted(INITIALIZERS)),
                             found=f"`{name}`", hint=did_you_mean(name, INITIALIZERS))
        values = {}
        for k in kwargs:
            if k.name not in spec.kwargs:
                raise NameError_(f"`{name}` has no option `{k.name}`", k.span,
                                 expected=", ".join(spec.kwargs) or "no options", found=f"`{k.name}`")
            values[k.name] = self.number(k.value)
        return (name, tuple(sorted(values.items())))

    def number(self, e: A.Expr) -> float | int:
        if isinstance(e, A.Number):
            return e.value
        if isinstance(e, A.Negate) and isinstance(e.value, A.Number):
            return -e.value.value
        raise TypeError_("expected a number", e.span, found=_what(e))

    def dim_expr(self, e: A.Expr, dims: dict) -> Dim:
        """A size given as an argument: ``64``, ``n``, ``2 * n + 1``."""
        if isinstance(e, A.Number) and isinstance(e.value, int):
            return _size_literal(e)
        if isinstance(e, A.Name) and e.id in dims:
            return dims[e.id]
        if isinstance(e, A.Chain) and e.ops[0] != ";":
            value = self.dim_expr(e.items[0], dims)
            for op, item in zip(e.ops, e.items[1:]):
                if op == "/":
                    raise TypeError_("sizes cannot be divided", e.span)
                try:
                    value = {"+": dim_add, "-": dim_sub, "*": dim_mul}[op](value, self.dim_expr(item, dims))
                except CatError as err:
                    raise err.at(e.span)
            return value
        if isinstance(e, A.Name):
            raise NameError_(f"unknown size `{e.id}`", e.span, hint=did_you_mean(e.id, dims))
        raise TypeError_("expected a size", e.span, expected="a whole number or a size variable", found=_what(e))

    # attributes -----------------------------------------------------------------
    def attrs(self, prim: Primitive, kwargs: list, env: Env, span) -> dict:
        out = {}
        for k in kwargs:
            spec = prim.attrs.get(k.name)
            if spec is None:
                raise NameError_(f"`{prim.name}` has no keyword `{k.name}`", k.span,
                                 expected=", ".join(prim.attrs) or "no keywords", found=f"`{k.name}`",
                                 hint=did_you_mean(k.name, prim.attrs))
            out[k.name] = self.attr_value(spec.kind, k, env)
        for name, spec in prim.attrs.items():
            if name not in out:
                if spec.default is None:
                    raise TypeError_(f"`{prim.name}` needs the keyword `{name}`", span,
                                     expected=f"{prim.name}(…, {name}=…)", hint=spec.doc or None)
                out[name] = spec.default
        return out

    def attr_value(self, kind: str, k: A.Kwarg, env: Env):
        v = k.value
        if kind == "str":
            if not isinstance(v, A.String):
                raise TypeError_(f"`{k.name}` must be a string", v.span, found=_what(v))
            return v.value
        if kind == "init":
            return self.init(v)
        if kind == "dtype":
            if not (isinstance(v, A.Name) and dtype(v.id)):
                raise TypeError_(f"`{k.name}` must be a dtype", v.span, expected=", ".join(dtype_names()), found=_what(v))
            return v.id
        if kind == "dims":
            items = v.items if isinstance(v, A.Tuple) else [v]
            return tuple(self.dim_expr(i, env.dims) for i in items)
        if kind in ("dim", "int"):
            d = self.dim_expr(v, env.dims)
            if kind == "int" and not isinstance(d, int):
                raise TypeError_(f"`{k.name}` must be a whole number", v.span, found=_what(v))
            return d
        value = self.number(v)
        return float(value) if kind == "float" else value

    # morphism mode -------------------------------------------------------------
    def morph(self, e: A.Expr, env: Env) -> Morph:
        if isinstance(e, A.Name):
            return self.named_morph(e, env)
        if isinstance(e, A.Call):
            return self.called_morph(e, env)
        if isinstance(e, A.Chain):
            items = [self.morph(i, env) for i in e.items]
            if e.ops[0] == ";":
                return SeqMorph(items, e.span)
            if e.ops[0] in "+-":
                return FanMorph(items, e.ops, e.span)
            if "/" in e.ops:
                raise TypeError_("morphisms cannot be divided", e.span, hint="`/` divides wires inside `x => …`")
            return TensorMorph(items, e.span)
        if isinstance(e, A.Tuple):
            if not e.items:
                return TensorMorph([], e.span)
            return FanMorph([self.morph(i, env) for i in e.items], None, e.span)
        if isinstance(e, A.Lambda):
            return LambdaMorph(e.binders, e.body, env, e.span)
        if isinstance(e, A.Feedback):
            return FeedbackMorph(e, self.morph(e.body, env), env, e.span)
        if isinstance(e, A.Let):
            raise TypeError_("a `let` needs named inputs", e.span, expected="a morphism",
                             found="a `let` expression", hint="write `x => let … in …`")
        raise TypeError_("expected a morphism", e.span, found=_what(e),
                         hint="wires and numbers belong inside a pointful body `x => …`")

    def named_morph(self, e: A.Name, env: Env) -> Morph:
        name = e.id
        if name in env.morphs:
            return env.morphs[name]
        if name in env.wires:
            raise TypeError_(f"`{name}` is a wire, not a morphism", e.span,
                             hint=f"use `{name}` as an argument, e.g. relu({name})")
        if name in env.dims:
            raise TypeError_(f"`{name}` is a size, not a morphism", e.span)
        entry = self.lookup(name, e.span)
        if isinstance(entry, Definition):
            if entry.decl.params:
                ps = ", ".join(p.name for p in entry.decl.params)
                raise TypeError_(f"`{name}` needs its parameters", e.span, expected=f"{name}({ps})", found=name)
            return DefMorph(entry, {}, {}, {}, e.span)
        if isinstance(entry, Primitive):
            return PrimMorph(entry, self.attrs(entry, [], env, e.span), e.span)
        if entry is None and name in STRUCTURAL:
            return StructMorph(name, e.span)
        if entry is None and name in COMBINATORS:
            raise TypeError_(f"`{name}` needs the morphism it runs", e.span, expected=f"{name}(f)", found=name,
                             hint=COMBINATORS[name])
        raise self.unknown(name, e.span, env)

    def called_morph(self, e: A.Call, env: Env) -> Morph:
        if not isinstance(e.func, A.Name) or e.func.id in env.wires or e.func.id in env.morphs:
            raise TypeError_("expected a morphism, found an application to wires", e.span,
                             hint="apply morphisms to wires inside a pointful body `x => …`")
        name = e.func.id
        entry = self.lookup(name, e.func.span)
        if isinstance(entry, Definition):
            shapes, values, morphs = self.bind_params(entry, e, env)
            return DefMorph(entry, shapes, values, morphs, e.span)
        if isinstance(entry, Primitive):
            if e.args:
                raise TypeError_(f"`{name}` takes its inputs as wires", e.args[0].span,
                                 hint=f"inside `x => …` write {name}(x, …); point-free, give only keywords: "
                                      f"{name}(key=…)")
            return PrimMorph(entry, self.attrs(entry, e.kwargs, env, e.span), e.span)
        if entry is None and name in STRUCTURAL:
            raise TypeError_(f"`{name}` takes no parameters", e.span)
        if entry is None and name in COMBINATORS:
            if len(e.args) != 1 or e.kwargs:
                raise TypeError_(f"`{name}` takes one morphism", e.span, expected=f"{name}(f)",
                                 found=f"{len(e.args)} argument(s)" + (" and keywords" if e.kwargs else ""),
                                 hint=COMBINATORS[name])
            return ScanMorph(self.morph(e.args[0], env), e.span)
        raise self.unknown(name, e.func.span, env)

    def bind_params(self, defn: Definition, e: A.Call, env: Env):
        params = defn.decl.params
        given: dict = {}
        if len(e.args) > len(params):
            raise TypeError_(f"`{defn.name}` takes {len(params)} parameter(s), found {len(e.args)}", e.span,
                             expected=f"{defn.name}({', '.join(p.name for p in params)})",
                             hint=f"to apply it to wires, give the parameters first: {defn.name}(…)(x)"
                             if params else f"apply `{defn.name}` to wires inside `x => …`")
        for p, a in zip(params, e.args):
            given[p.name] = a
        names = {p.name for p in params}
        for k in e.kwargs:
            if k.name not in names:
                raise NameError_(f"`{defn.name}` has no parameter `{k.name}`", k.span,
                                 expected=", ".join(names) or "no parameters", hint=did_you_mean(k.name, names))
            if k.name in given:
                raise TypeError_(f"the parameter `{k.name}` is given twice", k.span)
            given[k.name] = k.value
        missing = [p.name for p in params if p.name not in given]
        if missing:
            raise TypeError_(f"`{defn.name}` is missing the parameter `{missing[0]}`", e.span,
                             expected=f"{defn.name}({', '.join(p.name for p in params)})")
        shapes, values, morphs = {}, {}, {}
        for p in params:
            a = given[p.name]
            if p.kind == "shape":
                shapes[p.name] = self.dim_expr(a, env.dims)
            elif p.kind == "value":
                if isinstance(a, A.Name) and a.id in env.wires:
                    values[p.name] = env.wires[a.id]
                else:
                    values[p.name] = self.number(a)
            else:
                morphs[p.name] = (a, env)
        return shapes, values, morphs

    def unknown(self, name: str, span, env: Env) -> CatError:
        home = self.scope.home_of(name)
        if home is not None:
            return NameError_(f"`{name}` is not in scope", span, hint=f"`{name}` is in {home}: add `use {home}`")
        known = list(env.wires) + list(env.morphs) + list(STRUCTURAL) + list(COMBINATORS) + list(self.scope.names())
        return NameError_(f"unknown name `{name}`", span, hint=did_you_mean(name, known))

    # wire mode --------------------------------------------------------------------
    def wires(self, e: A.Expr, env: Env, b: Builder) -> list:
        if isinstance(e, A.Name):
            if e.id in env.wires:
                return [env.wires[e.id]]
            if e.id in env.dims:
                raise TypeError_(f"`{e.id}` is a size, not a wire", e.span)
            m = self.named_morph(e, env)
            raise TypeError_(f"{m.label} is a morphism, not a wire", e.span,
                             hint=f"apply it: {e.id}(x)")
        if isinstance(e, A.Number):
            return [Literal(e.value, e.span)]
        if isinstance(e, A.Negate):
            if isinstance(e.value, A.Number):
                return [Literal(-e.value.value, e.span)]
            return self.prim_call("neg", [e.value], env, b, e.span)
        if isinstance(e, A.Tuple):
            return [w for i in e.items for w in self.wires(i, env, b)]
        if isinstance(e, A.Let):
            env = env.child()
            for binding in e.bindings:
                ws = self.wires(binding.value, env, b)
                if len(ws) != len(binding.names):
                    raise TypeError_(f"the pattern names {len(binding.names)} wire(s), but the value has {len(ws)}",
                                     binding.span, expected=f"{len(binding.names)} wire(s)", found=f"{len(ws)} wire(s)")
                for name, w in zip(binding.names, self.real(b, ws)):
                    env.wires[name] = w
            return self.wires(e.body, env, b)
        if isinstance(e, A.Index):
            return self.prim_call("index", [e.target], env, b, e.span, {"i": e.index})
        if isinstance(e, A.Chain):
            if e.ops[0] == ";":
                raise TypeError_("`;` composes morphisms, not wires", e.span,
                                 hint="apply them instead, g(f(x)), or compose first: (f ; g)(x)")
            result = self.wires(e.items[0], env, b)
            for op, item in zip(e.ops, e.items[1:]):
                prim = {"+": "add", "-": "sub", "*": "mul", "/": "div"}[op]
                result = self.apply_prim(REGISTRY[prim], result + self.wires(item, env, b), {}, b, e.span)
            return result
        if isinstance(e, A.Call):
            return self.call(e, env, b)
        if isinstance(e, A.String):
            raise TypeError_("a string is not a wire", e.span, hint="strings are keyword values, e.g. spec=\"ij->ji\"")
        raise TypeError_("expected wires, found a morphism", e.span,
                         hint="apply the morphism to its inputs: (…)(x)")

    def call(self, e: A.Call, env: Env, b: Builder) -> list:
        f = e.func
        if isinstance(f, A.Name) and f.id not in env.morphs and f.id not in env.wires:
            entry = self.lookup(f.id, f.span)
            if isinstance(entry, Primitive):
                attrs = self.attrs(entry, e.kwargs, env, e.span)
                args = [w for a in e.args for w in self.wires(a, env, b)]
                return self.apply_prim(entry, args, attrs, b, e.span)
            if isinstance(entry, Definition) and entry.decl.params:
                ps = ", ".join(p.name for p in entry.decl.params)
                raise TypeError_(f"`{f.id}` needs its parameters before its inputs", e.span,
                                 expected=f"{f.id}({ps})(inputs…)", found=f"{f.id}(…) with inputs mixed in")
            if entry is None and f.id not in STRUCTURAL and f.id not in COMBINATORS:
                raise self.unknown(f.id, f.span, env)
        if e.kwargs:
            raise TypeError_("keywords can only be given to primitives and definitions", e.kwargs[0].span)
        m = self.morph(f, env)
        args = [w for a in e.args for w in self.wires(a, env, b)]
        if len(args) != m.arity:
            raise TypeError_(f"{m.label} takes {m.arity} input(s), found {len(args)}", e.span,
                             expected=f"{m.arity} wire(s)", found=f"{len(args)} wire(s)")
        return m.apply(self, b, args)

    def prim_call(self, name, args, env, b, span, attrs=None):
        ws = [w for a in args for w in self.wires(a, env, b)]
        return self.apply_prim(REGISTRY[name], ws, attrs or {}, b, span)

    def apply_prim(self, prim: Primitive, args: list, attrs: dict, b: Builder, span) -> list:
        dt = next((w.type.dtype for w in args if isinstance(w, Wire)), None)
        return b.apply(prim, self.real(b, args, dt), attrs, span)

    def real(self, b: Builder, items: list, dt: str | None = None) -> list:
        """Materialise literals as constants of dtype `dt` (or the ``over`` semiring)."""
        dt = dt or self.over or "R"
        out = []
        for w in items:
            if isinstance(w, Literal):
                if dt != "R" and not float(w.value).is_integer():
                    raise TypeError_(f"the number {w.value} is not a {dt} constant", w.span,
                                     expected=f"a whole number in {dt}", found=str(w.value))
                w = b.const(w.value, dt, w.span)
            out.append(w)
        return out

    # definitions ------------------------------------------------------------------
    def instantiate(self, defn: Definition, b: Builder, wires: list, shapes: dict, values: dict, morphs: dict,
                    span, frame: bool = True) -> list:
        """Splice `defn` in on `wires` (the call site is `span`); without a
        `frame`, its boxes and parameters are not scoped under its name."""
        sig = Signature(defn.dom, defn.cod)
        try:
            outs, lift, env = sig.unify(tuple(w.type for w in wires), shapes, defn.name)
        except CatError as e:
            raise e.at(span)
        fill = {}
        for name, prim in defn.value_params.items():
            v = values[name]
            fill[prim] = (lambda bb, ins, v=v, dt=prim.signature.outputs[0].dtype:
                          [v] if isinstance(v, Wire) else [bb.const(v, dt, span)])
        for name, prim in defn.morph_params.items():
            expr, caller_env = morphs[name]
            fill[prim] = self._hole_filler(defn, name, prim, expr, caller_env, env, b.scope)
        self.scope.budget.charge(defn, self.defining, span)
        self.calls[defn.name] = (defn, self.calls.get(defn.name, (defn, 0))[1] + 1)
        prev = b.enter(defn.name, lift, span) if frame else b.scope
        try:
            result = b.splice(defn.diagram, wires, env, fill, span)
        finally:
            b.scope = prev
        for got, want in zip(result, outs):
            if not same_type(got.type, want):
                raise TypeError_(f"`{defn.name}` does not have its declared type here", span,
                                 expected=object_str(outs), found=object_str(w.type for w in result))
        return [_named_as(b, got, want, wires) for got, want in zip(result, outs)]

    def _hole_filler(self, defn, name, prim, expr, caller_env, env, caller_scope):
        """Elaborates a morphism argument where the hole is, in the caller's scope."""
        def fill(b, ins):
            inner, b.scope = b.scope, caller_scope
            try:
                return self._fill(defn, name, prim, expr, caller_env, env, b, ins)
            finally:
                b.scope = inner
        return fill

    def _fill(self, defn, name, prim, expr, caller_env, env, b, ins):
        m = self.morph(expr, caller_env)
        declared = prim.signature
        if m.arity != len(ins):
            raise TypeError_(f"the argument `{name}` of `{defn.name}` takes {m.arity} input(s)", expr.span,
                             expected=str(declared), found=f"a morphism with {m.arity} input(s)")
        want, _ = declared.apply(tuple(w.type for w in ins), env, name)
        outs = m.apply(self, b, ins)
        if len(outs) != len(want) or not all(same_type(w.type, t) for w, t in zip(outs, want)):
            raise TypeError_(f"the argument `{name}` of `{defn.name}` has the wrong type", expr.span,
                             expected=f"{object_str(w.type for w in ins)} -> {object_str(want)}",
                             found=f"{object_str(w.type for w in ins)} -> {object_str(w.type for w in outs)}")
        return outs

    def define(self, d: A.Def, module: str) -> Definition:
        """Check a definition generically and build its diagram."""
        self.defining, self.calls = d.name, {}
        shape_params = [p.name for p in d.params if p.kind == "shape"]
        dims: dict = {n: Poly.var(n) for n in shape_params}
        implicit: dict = {}
        dom = self.type_of(d.sig.dom, dims, implicit)
        dom_vars = set().union(*(t.vars() for t in dom)) if dom else set()
        cod = self.type_of(d.sig.cod, dims, implicit)
        for v in implicit:
            if v not in dom_vars:
                raise TypeError_(f"the size `{v}` is not determined by the inputs of `{d.name}`", d.sig.span,
                                 hint=f"make it a parameter: {d.kind} {d.name}({', '.join(shape_params + [v])}) …")
        dims.update(implicit)
        env = Env(dims=dict(dims))
        b = Builder(names=True)
        inputs = [b.input(t) for t in dom]
        values, morphs = {}, {}
        for p in d.params:
            if p.kind == "value":
                prim = generator(p.name, (), (TensorType(p.value_type),), module="value", doc="a value parameter")
                values[p.name] = prim
                env.wires[p.name] = b.apply(prim, [], {}, p.span)[0]
            elif p.kind == "morph":
                pdom = self.type_of(p.sig.dom, dims, dict(implicit))
                pcod = self.type_of(p.sig.cod, dims, dict(implicit))
                prim = generator(p.name, pdom, pcod, doc=f"the argument `{p.name}` of `{d.name}`")
                morphs[p.name] = prim
                env.morphs[p.name] = PrimMorph(prim, {}, p.span)
        seen = {p.name for p in d.params}
        for pd in d.param_decls:
            if pd.name in seen:
                raise NameError_(f"`{pd.name}` is already defined in `{d.name}`", pd.span)
            seen.add(pd.name)
            (t,) = self.type_of(pd.type, dims, one=True)
            init = self.init(pd.init) if pd.init else ("zeros", ())
            env.wires[pd.name] = b.param(pd.name, t, init, pd.span)
        self.over = d.over
        m = self.morph(d.body, env)
        if m.arity != len(dom):
            raise TypeError_(f"the body of `{d.name}` takes {m.arity} input(s), but its type has {len(dom)}",
                             d.body.span, expected=object_str(dom), found=f"{m.arity} input(s)",
                             hint="name every input: (x, y) => …" if m.arity < len(dom) else None)
        outs = self.real(b, m.apply(self, b, inputs))
        if len(outs) != len(cod) or not all(same_type(w.type, t) for w, t in zip(outs, cod)):
            raise TypeError_(f"the body of `{d.name}` does not have its declared type", d.body.span,
                             expected=object_str(cod), found=object_str(w.type for w in outs),
                             hint=_shape_hint(cod, [w.type for w in outs]))
        for w, t in zip(outs, cod):  # the declared axis names hold of the outputs
            if w.builder is b and t.names != w.type.names:
                b.types[w.index] = w.type = TensorType(t.dtype, w.type.shape,
                                                       tuple(x or y for x, y in zip(t.names, w.type.names)),
                                                       w.type.batch)
        diagram = b.finish(outs, d.name)
        if d.kind == "circuit":
            check_circuit(diagram, d)
        return Definition(d.name, d.kind, d, dom, cod, diagram, shape_params, values, morphs, d.over, module,
                          self.calls)


def _size_literal(e: A.Number) -> int:
    if e.value > MAX_SIZE:
        raise TypeError_("this size is too large", e.span, expected="a whole number of at most 2^63",
                         found=f"a number of {len(e.text):,} digits", hint="no tensor could have an axis this long")
    return e.value


def _named_as(b: Builder, got: Wire, want: TensorType, inputs: list) -> Wire:
    """An output of a definition with the names its use gives it where the
    definition's own leave an axis unnamed (a caller's input passed through is
    the caller's wire)."""
    for w in inputs:
        if w.builder is got.builder and w.index == got.index:
            return w
    names = tuple(x or y for x, y in zip(got.type.names, want.names))
    if got.builder is b and names != got.type.names:
        b.types[got.index] = got.type = TensorType(got.type.dtype, got.type.shape, names, got.type.batch)
    return got


def _shape_hint(want, got) -> str | None:
    if len(want) != len(got):
        return f"the body gives {len(got)} output(s), the type says {len(want)}"
    for w, g in zip(want, got):
        if w.dtype != g.dtype:
            return f"{g.dtype} is not {w.dtype}"
        if w.rank != g.rank:
            return f"a rank-{g.rank} tensor is not a rank-{w.rank} one"
        for a, c in zip(w.shape, g.shape):
            if a != c:
                return f"the size {dim_str(c)} should be {dim_str(a)}"
    return None


def check_circuit(d: Diagram, decl: A.Def) -> None:
    """A circuit uses only polynomial operations, over its ``over`` semiring."""
    over = decl.over
    for op in d.ops:
        if not op.prim.polynomial and op.prim.module not in ("user", "value"):
            raise DefinitionError(f"`{op.prim.name}` is not a polynomial operation", op.span or decl.span,
                                  expected="semiring operations (add, mul, sum, matmul, index, constants, …)",
                                  found=f"`{op.prim.name}`", hint="declare it with `def` if it is not a circuit")
    if over is not None:
        for t in list(d.dom) + list(d.cod) + [d.types[o] for op in d.ops for o in op.outputs]:
            if t.dtype != over:
                raise DefinitionError(f"a circuit over {over} carries a {t.dtype} wire", decl.sig.span,
                                      expected=f"{over} wires", found=str(t))


def _what(e: A.Expr) -> str:
    return {A.Name: "a name", A.Number: "a number", A.String: "a string", A.Tuple: "a tuple", A.Call: "a call",
            A.Lambda: "a pointful morphism", A.Let: "a `let`", A.Chain: "an expression", A.Index: "an index",
            A.Negate: "a negation", A.Feedback: "a feedback loop"}.get(type(e), "an expression")
