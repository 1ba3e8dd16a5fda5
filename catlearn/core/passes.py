"""Passes on diagrams: dead-code elimination, common-subexpression
elimination and the normal form used for equality.

Because copy/discard are implicit and every box is deterministic, two
diagrams are equal in the free symmetric monoidal category with copy and
discard (a cartesian one) exactly when their maximally shared, dead-code-free
term graphs coincide.  Axis names inside are checks, not part of a morphism:
only the boundary's are compared.  :func:`canonical_key` computes that graph in a
canonical order by a depth-first walk from the outputs.  Parameters form a
named record, so they are compared by name, not by position (Para's
parameter objects up to their symmetries).

>>> from catlearn.core.types import TensorType
>>> from catlearn.core.diagram import Diagram
>>> R = TensorType("R", (2,))
>>> relu = Diagram.box("relu", [R])
>>> (Diagram.copy([R]) >> (relu @ relu)) == (relu >> Diagram.copy([R]))
True
"""
from __future__ import annotations

from .check import checked
from .diagram import Diagram, Op


def _user_signature(op: Op):
    return str(op.prim.signature) if op.prim.module in ("user", "value") else None


def _producers(d: Diagram) -> dict[int, tuple[Op, int]]:
    return {w: (op, k) for op in d.ops for k, w in enumerate(op.outputs)}


def _canonical_order(d: Diagram):
    """Ops reachable from the outputs in canonical post-order, merging equal
    ops (same primitive, attributes, inputs and body).  Returns
    (list of (op, key)), wire -> label."""
    producers = _producers(d)
    labels: dict[int, tuple] = {}
    for i, w in enumerate(d.inputs):
        labels.setdefault(w, ("in", i))
    for p in d.params:
        labels.setdefault(p.wire, ("param", p.name))
    order: list = []
    seen_keys: dict[tuple, int] = {}
    done: set[int] = set()
    stack = [(w, False) for w in reversed(d.outputs)]
    while stack:
        w, expanded = stack.pop()
        if w in labels:
            continue
        op, _ = producers[w]
        if id(op) in done:
            continue
        if not expanded:
            stack.append((w, True))
            stack.extend((i, False) for i in reversed(op.inputs) if i not in labels)
            continue
        body = op.body.key() if op.body is not None else None
        key = (op.prim.name, _user_signature(op), op.attrs, op.lift,
               tuple(labels[i] for i in op.inputs), tuple(d.types[o].unnamed() for o in op.outputs), body)
        index = seen_keys.setdefault(key, len(order))
        if index == len(order):
            order.append((op, key))
        for k, o in enumerate(op.outputs):
            labels[o] = ("op", index, k)
        done.add(id(op))
    return order, labels


def canonical_key(d: Diagram) -> tuple:
    order, labels = _canonical_order(d)
    params = tuple(sorted((p.name, d.types[p.wire], p.init) for p in d.params))
    return (d.dom, params, tuple(k for _, k in order), tuple(labels[w] for w in d.outputs))


def normal_form(d: Diagram) -> Diagram:
    """The diagram rebuilt in canonical order, with dead code removed and
    equal subexpressions shared.  Parameters are kept, in their order (they are
    the object P; equality compares them by name)."""
    order, labels = _canonical_order(d)
    wire_of: dict[tuple, int] = {}
    types: list = []

    def fresh(t):
        types.append(t)
        return len(types) - 1

    inputs = []
    for i, w in enumerate(d.inputs):
        wire_of[("in", i)] = fresh(d.types[w])
        inputs.append(wire_of[("in", i)])
    params = []
    for p in d.params:  # the record keeps its order: uncurry(d) and its derivatives must agree on it
        wire_of[("param", p.name)] = fresh(d.types[p.wire])
        params.append(type(p)(p.name, wire_of[labels[p.wire]], p.init, p.span))
    ops = []
    for index, (op, _) in enumerate(order):
        outs = []
        for k, o in enumerate(op.outputs):
            wire_of[("op", index, k)] = fresh(d.types[o])
            outs.append(wire_of[("op", index, k)])
        ops.append(Op(op.prim, op.attrs, tuple(wire_of[labels[i]] for i in op.inputs), tuple(outs),
                      op.lift, op.scope, op.span, op.body.normal_form() if op.body is not None else None))
    outputs = tuple(wire_of[labels[w]] for w in d.outputs)
    return checked(Diagram(tuple(types), tuple(ops), tuple(inputs), outputs, tuple(params), d.name), "normal_form")


def dead_code_elimination(d: Diagram) -> Diagram:
    """Remove the ops no output depends on (``f ; ! = !``), keeping order."""
    live = set(d.outputs)
    keep = []
    for op in reversed(d.ops):
        if any(o in live for o in op.outputs):
            keep.append(op)
            live.update(op.inputs)
    return checked(Diagram(d.types, tuple(reversed(keep)), d.inputs, d.outputs, d.params, d.name),
                   "dead_code_elimination")


def common_subexpressions(d: Diagram) -> Diagram:
    """Share equal ops (``f ; Δ = Δ ; (f ⊗ f)``), keeping the original order."""
    rename: dict[int, int] = {}
    seen: dict[tuple, Op] = {}
    ops = []
    for op in d.ops:
        ins = tuple(rename.get(i, i) for i in op.inputs)
        key = (op.prim.name, _user_signature(op), op.attrs, op.lift, ins,
               op.body.key() if op.body is not None else None)
        if key in seen:
            rename.update(zip(op.outputs, seen[key].outputs))
            continue
        new = Op(op.prim, op.attrs, ins, op.outputs, op.lift, op.scope, op.span, op.body)
        seen[key] = new
        ops.append(new)
    outputs = tuple(rename.get(w, w) for w in d.outputs)
    return checked(Diagram(d.types, tuple(ops), d.inputs, outputs, d.params, d.name), "common_subexpressions")
