"""Building diagrams: a mutable :class:`Builder` that types each box as it is
added, and :meth:`Builder.splice`, which replays a diagram into another one
under a substitution of shape variables, with new (possibly batch-lifted)
input types.  Splicing is how a definition is instantiated at a call site,
and how composition is built.  A spliced diagram keeps its own axis names: the
caller's name only the axes it lifts the diagram over.

Where an argument with batch axes lacks some of the model's lifted axes of a
box (:class:`~catlearn.core.signature.Misaligned`), the builder broadcasts it
over them first, with a ``repeat_leading`` box after its batch axes.

>>> from catlearn.core.types import TensorType
>>> b = Builder()
>>> x = b.input(TensorType("R", (4,)))
>>> y, = b.apply("relu", [x])
>>> b.finish([y, y])
<Diagram R[4] -> R[4] * R[4]: 1 ops>
"""
from __future__ import annotations

from typing import Callable, Mapping

from .check import checked
from .diagram import CONST, FEEDBACK, SCAN, SCAN_REVERSE, STRUCTURED, Diagram, Op, Param, Scope
from .errors import CatError, DefinitionError, TypeError_
from .primitives import REGISTRY, Primitive
from .signature import Misaligned, check_size
from .types import Dim, TensorType, dim_subst, object_str, same_type


class Wire:
    """A wire under construction, owned by one builder."""

    __slots__ = ("builder", "index", "type")

    def __init__(self, builder: "Builder", index: int, type: TensorType):
        self.builder = builder
        self.index = index
        self.type = type

    def __repr__(self):
        return f"<wire {self.index} : {self.type}>"


def subst_attr(value, env: Mapping[str, Dim]):
    """Substitute shape variables inside an attribute value."""
    if not env:
        return value
    if isinstance(value, tuple):
        return tuple(subst_attr(v, env) for v in value)
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return dim_subst(value, env)


class Builder:
    """Accumulates typed ops; child builders hold the bodies of feedback loops
    and capture the outer wires they read.

    Elaboration's builders check axis names (`names`): two names for one axis
    are an error in a `.cat` file.  A pass's builder leaves such an axis
    unnamed instead, since names are checks of the source (a spliced
    definition's own and its caller's may differ)."""

    def __init__(self, parent: "Builder | None" = None, names: bool = False):
        self.parent = parent
        self.names = parent.names if parent is not None else names
        self.types: list[TensorType] = []
        self.ops: list[Op] = []
        self.inputs: list[int] = []
        self.params: list[Param] = []
        self.captured: dict[Wire, int] = {}
        self.capture_sources: list[Wire] = []
        self.scope: Scope | None = parent.scope if parent else None
        self._labels: dict = {}
        self._param_names: set[str] = set()

    @property
    def root(self) -> "Builder":
        b = self
        while b.parent is not None:
            b = b.parent
        return b

    # -- wires ---------------------------------------------------------------
    def _new(self, t: TensorType) -> Wire:
        self.types.append(t)
        return Wire(self, len(self.types) - 1, t)

    def input(self, t: TensorType) -> Wire:
        w = self._new(t)
        self.inputs.append(w.index)
        return w

    def local(self, w: Wire) -> int:
        """The index of `w` here, capturing it from an enclosing builder."""
        if w.builder is self:
            return w.index
        if w not in self.captured:
            if self.parent is None:
                raise CatError("internal: a wire from another diagram was used")
            self.parent.local(w)
            self.captured[w] = self._new(w.type).index
            self.capture_sources.append(w)
        return self.captured[w]

    def param(self, name: str, t: TensorType, init: tuple = ("zeros", ()), span=None) -> Wire:
        """A new parameter of the root diagram, named under the current scope."""
        root = self.root
        full = f"{self.scope.qualname}.{name}" if self.scope else name
        base, k = full, 1
        while full in root._param_names:
            full = f"{base}_{k}"
            k += 1
        root._param_names.add(full)
        w = root._new(t)
        root.params.append(Param(full, w.index, init, span))
        return w

    # -- scopes --------------------------------------------------------------
    def enter(self, name: str, lift: int = 0, span=None) -> Scope:
        """Open a call frame of definition `name`; returns the previous scope."""
        parent = self.scope
        key = (id(parent), name)
        root = self.root
        count = root._labels.get(key, 0)
        root._labels[key] = count + 1
        label = name if count == 0 else f"{name}_{count}"
        self.scope = Scope(name, label, parent, lift, span)
        return parent

    # -- boxes ---------------------------------------------------------------
    def apply(self, prim: Primitive | str, inputs: list[Wire], attrs: Mapping | None = None, span=None,
              scope: Scope | None = None, body: Diagram | None = None) -> list[Wire]:
        """Add one box; returns its output wires.  Type errors get `span`."""
        prim = REGISTRY[prim] if isinstance(prim, str) else prim
        attrs = dict(attrs or {})
        inputs = list(inputs)
        try:
            try:
                outs, lift = self._infer(prim, inputs, attrs)
            except Misaligned as e:
                for index, shape in e.broadcasts:
                    x = inputs[index]
                    (inputs[index],) = self.apply("repeat_leading", [x], {"shape": shape, "keep": x.type.rank - x.type.batch},
                                                  span, scope)
                outs, lift = self._infer(prim, inputs, attrs)
        except CatError as e:
            raise e.at(span)
        return self.add_op(prim, attrs, inputs, outs, lift, span, scope, body)

    def _infer(self, prim: Primitive, inputs: list[Wire], attrs: dict) -> tuple[tuple, int]:
        types = tuple(w.type for w in inputs)
        try:
            return prim.infer(types, attrs)
        except Misaligned:
            raise
        except CatError:
            if self.names or not any(n for t in types for n in t.names):
                raise
            return prim.infer(tuple(t.unnamed() for t in types), attrs)

    def add_op(self, prim, attrs, inputs, out_types, lift=0, span=None, scope=None, body=None) -> list[Wire]:
        ins = tuple(self.local(w) for w in inputs)
        outs = [self._new(t) for t in out_types]
        self.ops.append(Op(prim, tuple(sorted(attrs.items())), ins, tuple(w.index for w in outs), lift,
                           scope if scope is not None else self.scope, span, body))
        return outs

    def const(self, value, dtype: str = "R", span=None) -> Wire:
        value = float(value) if dtype == "R" else int(value)
        return self.apply(CONST, [], {"value": value, "dtype": dtype}, span)[0]

    def finish(self, outputs: list[Wire], name: str | None = None) -> Diagram:
        return checked(Diagram(tuple(self.types), tuple(self.ops), tuple(self.inputs),
                               tuple(self.local(w) for w in outputs), tuple(self.params), name), "a builder")

    # -- feedback (the delayed trace) --------------------------------------
    def feedback(self, state: str, state_type: TensorType, init: tuple | None, inputs: list[Wire],
                 body: Callable[["Builder", list[Wire], Wire], tuple[list[Wire], Wire]], span=None,
                 lift: int = 0) -> list[Wire]:
        """``feedback state : S = init in body`` where ``body : X ⊗ S → Y ⊗ S``.

        The node's body diagram has inputs ``X, S, C`` (``C`` the outer wires
        it captures) and outputs ``Y, S``.  Without an initial state, every
        path from the state input to the next state must pass a ``delay``.
        `lift` counts the batch axes the whole loop is lifted over.
        """
        child = Builder(self)
        xs = [child.input(w.type) for w in inputs]
        s = child.input(state_type)
        ys, s_next = body(child, xs, s)
        if not same_type(s_next.type, state_type):
            raise TypeError_(f"the next value of the feedback state `{state}` has the wrong type",
                             span, expected=str(state_type), found=str(s_next.type))
        for w in [*ys, s_next]:  # an outer wire returned as it is is captured too
            child.local(w)
        for w in child.capture_sources:
            child.inputs.append(child.captured[w])
        inner = child.finish(list(ys) + [s_next], name=state)
        if init is None and not guarded(inner, len(xs)):
            raise DefinitionError(f"feedback `{state}` is not guarded by a delay", span,
                                  expected="every path from the state to its next value to pass through `delay`",
                                  found=f"a path from `{state}` to its next value with no delay",
                                  hint=f"give the state an initial value (`feedback {state} : {state_type} = zeros in …`) "
                                       f"or delay it (`delay({state}, init=zeros)`)")
        attrs = {"state": state, "state_type": state_type, "init": init, "n_inputs": len(inputs)}
        return self.add_op(FEEDBACK, attrs, list(inputs) + child.capture_sources, [t for t in inner.cod[:-1]],
                           lift, span, body=inner)

    # -- scan: a (stateful) body run along the time axis -----------------------
    def scan(self, inputs: list[Wire], body: Callable[["Builder", list[Wire]], list[Wire]], span=None) -> list[Wire]:
        """``scan(f) : X[t, …] → Y[t, …]`` for a stateful ``f : X → Y`` that
        `body` builds on one step's wires: ``f``'s stream semantics on each
        finite prefix.  The time axis of a sequence is its first model axis
        here; the box records each step's rank (``in_ranks``, ``out_ranks``),
        so that where it is lifted over more leading axes, its time axis is
        still the one before a step's own."""
        for w in inputs:
            if w.type.rank == w.type.batch:
                raise TypeError_("`scan` takes sequences, whose first axis is time", span,
                                 expected="a tensor with a time axis, D[t, …]", found=str(w.type))
        ranks = tuple(w.type.rank - w.type.batch - 1 for w in inputs)
        times, length, name = _time_axes(inputs, ranks, span)
        child = Builder(self)
        ys = list(body(child, [child.input(w.type.drop_axis(k)) for w, k in zip(inputs, times)]))
        for w in ys:  # an outer wire returned as it is is captured too
            child.local(w)
        for w in child.capture_sources:
            child.inputs.append(child.captured[w])
        inner = child.finish(ys, name="scan")
        out_ranks = tuple(t.rank - t.batch for t in inner.cod)
        attrs = {"n_inputs": len(inputs), "in_ranks": ranks, "out_ranks": out_ranks, "checkpoint": 0}
        return self._scan_box(SCAN, attrs, list(inputs) + child.capture_sources, inner, inner.cod, length, name,
                              max(times), span)

    def _scan_box(self, prim, attrs, inputs, body, step_outs, length, name, lift, span) -> list[Wire]:
        out_types = [t.insert_axis(t.rank - r, length, name) for t, r in zip(step_outs, attrs["out_ranks"])]
        for t in out_types:
            check_size(t)
        return self.add_op(prim, attrs, inputs, out_types, lift, span, body=body)

    def _scan_body(self, op: Op, seqs: list[Wire], consts: list[Wire], env, fill, span) -> tuple:
        """A scan box's body replayed on one step of the sequences `seqs`, with
        the constants `consts`: ``(body, times, length, name)``."""
        a = op.attr
        times, length, name = _time_axes(seqs, a["in_ranks"], span)
        child = Builder(names=self.names)
        child.scope = self.scope
        body = op.body
        ins = [child.input(w.type.drop_axis(k)) for w, k in zip(seqs, times)] + [child.input(c.type) for c in consts]
        inner = dict(zip(body.inputs, ins))
        child._replay(body, inner, env, fill, span)
        return child.finish([inner[w] for w in body.outputs], name=body.name), times, length, name

    def _replay_scan(self, op: Op, ins: list[Wire], env, fill, span) -> list[Wire]:
        n = op.attr["n_inputs"]
        body, times, length, name = self._scan_body(op, ins[:n], ins[n:], env, fill, span)
        return self._scan_box(SCAN, op.attr, ins, body, body.cod, length, name, max(times), op.span or span)

    def scan_reverse(self, scan: Op, inputs: list[Wire], cotangents: list[Wire], span=None) -> list[Wire]:
        """``R[scan(f)]``: the cotangents of a scan box's sequences and
        constants, given its inputs (`inputs`, as the box reads them) and its
        outputs' `cotangents`: backpropagation through time through ``f``."""
        return self.add_op(SCAN_REVERSE, scan.attr, list(inputs) + list(cotangents), [w.type for w in inputs],
                           scan.lift, span or scan.span, body=scan.body)

    def _replay_scan_reverse(self, op: Op, d: Diagram, ins: list[Wire], env, fill, span) -> list[Wire]:
        """A replayed ``scan_reverse``.  On new batch axes its constants are
        each example's (broadcast over the batch first), so that their
        cotangents are each example's too, as ``vmap``'s are."""
        n, k = op.attr["n_inputs"], len(op.outputs)
        seqs, consts, cots = ins[:n], ins[n:k], ins[k:]
        added = seqs[0].type.batch - d.types[op.inputs[0]].batch
        if added > 0:
            shape = seqs[0].type.shape[:seqs[0].type.batch]
            consts = [c if c.type.batch else self.apply("broadcast_batch", [c], {"shape": shape}, span)[0]
                      for c in consts]
        body, times, _, _ = self._scan_body(op, seqs, consts, env, fill, span)
        return self.add_op(SCAN_REVERSE, op.attr, seqs + consts + cots, [w.type for w in seqs + consts], max(times),
                           op.span or span, body=body)

    # -- splicing --------------------------------------------------------------
    def splice(self, d: Diagram, inputs: list[Wire], env: Mapping[str, Dim] | None = None,
               fill: Mapping[Primitive, Callable] | None = None, span=None) -> list[Wire]:
        """Replay `d` on `inputs`, substituting `env` in types and attributes.

        Every box is re-typed on its new inputs, so batch axes lift through.
        `fill` maps opaque generators (holes, value parameters) to callables
        ``(builder, wires) -> wires`` that elaborate them at this site.
        """
        m = self.copy_in(d, inputs, env, fill, span)
        return [m[w] for w in d.outputs]

    def copy_in(self, d: Diagram, inputs: list[Wire], env: Mapping[str, Dim] | None = None,
                fill: Mapping[Primitive, Callable] | None = None, span=None) -> dict[int, Wire]:
        """Like :meth:`splice`, returning where every wire of `d` went."""
        env = dict(env or {})
        m: dict[int, Wire] = {w: _own_names(x, d.types[w].subst(env)) for w, x in zip(d.inputs, inputs)}
        for p in d.params:
            m[p.wire] = self.param(p.name, d.types[p.wire].subst(env), p.init, p.span)
        self._replay(d, m, env, fill or {}, span)
        return m

    def _rebase(self, scope: Scope | None, cache: dict) -> Scope | None:
        """`scope` (a frame of a spliced diagram) moved under this builder's scope."""
        if scope is None:
            return self.scope
        missing = []
        while scope is not None and scope not in cache:
            missing.append(scope)
            scope = scope.parent
        parent = self.scope if scope is None else cache[scope]
        for s in reversed(missing):
            parent = cache[s] = Scope(s.name, s.label, parent, s.lift, s.span)
        return parent

    def _replay(self, d: Diagram, m: dict, env, fill, span) -> None:
        scopes: dict = {}
        substituted: dict = {}
        # on the very types it was checked on, a diagram is copied box for box
        same = not env and not fill and all(m[w].type == d.types[w] for w in d.inputs)

        def sub(w: int) -> TensorType:
            t = d.types[w]
            if t not in substituted:
                substituted[t] = t.subst(env)
            return substituted[t]

        for op in d.ops:
            ins = [m[i] for i in op.inputs]
            if same and op.prim not in STRUCTURED:
                scope = scopes.get(op.scope) or self._rebase(op.scope, scopes)
                outs = [self._new(d.types[o]) for o in op.outputs]
                self.ops.append(Op(op.prim, op.attrs, tuple(w.index if w.builder is self else self.local(w) for w in ins),
                                   tuple(w.index for w in outs), op.lift, scope, op.span))
            elif op.prim in fill:
                outs = fill[op.prim](self, ins)
            elif op.prim is FEEDBACK:
                outs = self._replay_feedback(op, ins, env, fill, span)
            elif op.prim is SCAN:
                outs = self._replay_scan(op, ins, env, fill, span)
            elif op.prim is SCAN_REVERSE:
                outs = self._replay_scan_reverse(op, d, ins, env, fill, span)
            else:
                scope = self._rebase(op.scope, scopes)
                attrs = {k: subst_attr(v, env) for k, v in op.attrs}
                try:
                    known = _retyped(op, ins, sub)
                    if known is not None:
                        out_types, lift = known
                        for t in out_types:
                            check_size(t)
                        outs = self.add_op(op.prim, attrs, ins, out_types, lift, op.span, scope)
                    else:
                        outs = self.apply(op.prim, ins, attrs, op.span, scope)
                except CatError as e:
                    raise _at_site(e, span)
            for w, x in zip(op.outputs, outs):
                m[w] = x

    def _replay_feedback(self, op: Op, ins: list[Wire], env, fill, span) -> list[Wire]:
        a = op.attr
        n = a["n_inputs"]
        body = op.body
        outer = list(zip(ins, body.inputs[:n] + body.inputs[n + 1:]))
        lift, x, was = max(((w.type.rank - body.types[v].rank, w.type, body.types[v]) for w, v in outer),
                           key=lambda c: c[0], default=(0, None, None))
        state_type = a["state_type"].subst(env)
        if lift > 0:  # the state is lifted with the most lifted input: over its new batch axes, then the model's
            state_type = TensorType(state_type.dtype, x.shape[:lift] + state_type.shape,
                                    x.names[:lift] + state_type.names, x.batch - was.batch + state_type.batch)

        def replay_body(child: Builder, xs, s):
            inner = dict(zip(body.inputs[:n], xs))
            inner[body.inputs[n]] = s
            inner.update(zip(body.inputs[n + 1:], ins[n:]))
            child._replay(body, inner, env, fill, span)
            outs = [inner[w] for w in body.outputs]
            missing = s.type.rank - outs[-1].type.rank
            if missing > 0:  # a next state shared by the new batch axes (a constant): each example's
                outs[-1] = child.apply("broadcast_batch", [outs[-1]], {"shape": s.type.shape[:missing]}, span)[0]
            return outs[:-1], outs[-1]

        return self.feedback(a["state"], state_type, a["init"], ins[:n], replay_body, op.span or span,
                             op.lift + max(lift, 0))



class Emitter:
    """Builds boxes by primitive name on a builder: ``g.mul(a, g.exp(b))``.

    Numbers become constants of the dtype of the first wire argument; keyword
    arguments are attributes.  Used to write reverse derivatives as diagrams.
    """

    def __init__(self, builder: Builder, span=None):
        self.builder = builder
        self.span = span

    def __getattr__(self, name: str):
        prim = REGISTRY.get(name)
        if prim is None:
            raise AttributeError(name)
        return lambda *args, **attrs: self.apply(prim, args, attrs)

    def apply(self, prim: Primitive, args, attrs: dict):
        dt = next((a.type.dtype for a in args if isinstance(a, Wire)), "R")
        wires = [a if isinstance(a, Wire) else self.builder.const(a, dt, self.span) for a in args]
        full = {k: attrs.get(k, spec.default) for k, spec in prim.attrs.items()}
        full.update(attrs)
        outs = self.builder.apply(prim, wires, full, self.span)
        return outs[0] if len(outs) == 1 else outs

    def apply_named(self, name: str, *args, **attrs):
        """``g.apply_named("conv2d_kernel", x, z, pad=1)``: a box by its name."""
        return self.apply(REGISTRY[name], args, attrs)

    def zeros(self, t: TensorType) -> Wire:
        """The zero of type `t` (made once per example, then broadcast over `t`'s batch axes)."""
        return zeros(self.builder, t, self.span)

    def last(self, w: Wire):
        """The size of the last axis of `w`."""
        return w.type.shape[-1]

    def whole(self, w: Wire) -> Wire:
        """`w` as one tensor, for a box that takes in its batch axes (``unbatch``; `w` itself without any)."""
        return self.unbatch(w) if w.type.batch else w


def zeros(b: Builder, t: TensorType, span=None) -> Wire:
    """The zero of type `t` on `b`: ``zeros`` of one example's shape, broadcast over `t`'s batch axes."""
    w = b.apply("zeros", [], {"shape": t.example.shape, "dtype": t.dtype}, span)[0]
    return b.apply("broadcast_batch", [w], {"shape": t.shape[:t.batch]}, span)[0] if t.batch else w


def _own_names(w: Wire, t: TensorType) -> Wire:
    """`w` as an input of a spliced diagram whose input has type `t`: the axes
    `t` declares keep `t`'s names (a diagram's names are its own), the axes
    `w` lifts it over keep `w`'s."""
    k = w.type.rank - t.rank
    if k < 0 or w.type.names[k:] == t.names:
        return w
    return Wire(w.builder, w.index, TensorType(w.type.dtype, w.type.shape, w.type.names[:k] + t.names, w.type.batch))


def _retyped(op: Op, ins: list, sub) -> tuple[list, int] | None:
    """The output types and lift of a box replayed on `ins`, when they follow
    from its checked types without unifying again: each input is its
    substituted original type, or that type under one common new batch prefix
    (and had all the box's lifted axes before).  None means: infer them afresh."""
    sig = op.prim.signature
    if op.prim.check is not None or sig is None:
        return None
    outs = [sub(o) for o in op.outputs]
    batch = outs[0].batch if outs else 0
    prefix = None
    for w, i, decl in zip(ins, op.inputs, sig.inputs):
        base, t = sub(i), w.type
        if t == base:
            continue
        k = t.batch - base.batch
        if k <= 0 or base.rank - decl.rank != op.lift or base.batch != batch:
            return None
        if prefix is None:
            prefix = (t.shape[:k], t.names[:k])
        if base.batched(*prefix) != t:
            return None
    if prefix is None:
        return outs, op.lift
    return [o.batched(*prefix) for o in outs], op.lift + len(prefix[0])


def _at_site(e: CatError, span) -> CatError:
    """An error raised while instantiating a definition, noted at the call site."""
    if span is not None and e.span is not None and e.span != span:
        e.notes = e.notes + (f"while instantiating the definition used at {span.location}",)
    return e.at(span)


def _time_axes(seqs: list[Wire], ranks: tuple, span) -> tuple:
    """``(time axis of each sequence, their length, the axis's name)``: the axis
    before a step's last ``ranks[i]``."""
    if not seqs:
        raise TypeError_("`scan` takes at least one sequence", span)
    times = [w.type.rank - 1 - r for w, r in zip(seqs, ranks)]
    lengths = [w.type.shape[k] for w, k in zip(seqs, times)]
    if any(n != lengths[0] for n in lengths):
        raise TypeError_("the sequences of a scan have different lengths", span,
                         expected=f"every time axis of size {lengths[0]}", found=", ".join(map(str, lengths)))
    return times, lengths[0], seqs[0].type.names[times[0]]


def guarded(body: Diagram, n_inputs: int) -> bool:
    """Whether every path from the state input to the state output of a
    feedback body passes through a ``delay``."""
    state_in = body.inputs[n_inputs]
    reach = {state_in}
    for op in body.ops:
        if op.prim.name == "delay":
            continue
        if any(i in reach for i in op.inputs):
            reach.update(op.outputs)
    return body.outputs[-1] not in reach


def check_object(found: tuple, expected: tuple, what: str, span=None) -> None:
    if len(found) != len(expected) or not all(map(same_type, found, expected)):
        raise TypeError_(what, span, expected=object_str(expected), found=object_str(found))
