"""The reverse derivative as a source-to-source pass on diagrams.

``reverse(f)`` is ``R[f] : A ⊗ B → A`` of a reverse derivative category
(Cockett et al.): given a point ``a`` and a cotangent ``b'`` of the outputs, the
cotangent ``J_f(a)ᵀ b'`` of the inputs.  A Para morphism ``f : P ⊗ A → B``
also gets the cotangent of its parameters: ``R[f] : A ⊗ B → A ⊗ P`` with the
parameters ``P`` kept as parameters.  Every primitive declares its ``rd`` as a
diagram of other primitives, so ``R`` can be applied again: ``forward(f)`` is
the forward derivative ``D[f](a, v) = π₁ R[R[f]]((a, 0), v)``.

>>> import catlearn
>>> f = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[3] = tanh")["f"]
>>> reverse(f).type
'R[3] * R[3] -> R[3]'
"""
from __future__ import annotations

from collections import defaultdict

from ..core.builder import Builder, Emitter, Wire
from ..core.diagram import FEEDBACK, SCAN, SCAN_REVERSE, Diagram
from ..core.errors import CatError
from .simplify import simplify as simplify_pass


def _total(g: Emitter, parts: list) -> Wire | None:
    total = None
    for p in parts:
        total = p if total is None else g.add(total, p)
    return total


def _fit(g: Emitter, c: Wire, target) -> Wire:
    """Sum a cotangent over the leading axes its primal was broadcast along:
    batch axes the primal is shared by, then the model's lifted axes it lacks
    (an argument lacks only leading ones: see ``core/signature.py``).  Summed
    into a primal shared by the whole batch, by the producing box's own
    ``contract`` rule where it has one, so that the batch of outer products or
    kernel gradients is never built."""
    k = c.type.rank - target.rank
    if k <= 0:
        return c
    producer = next((op for op in reversed(g.builder.ops[-8:]) if op.outputs == (c.index,)), None)
    if producer is not None and producer.prim.contract is not None and producer.lift >= k and not target.batch:
        b = g.builder
        made = producer.prim.contract(g, [Wire(b, i, b.types[i]) for i in producer.inputs], producer.lift, k,
                                      **producer.attr)
        if made is not None:
            return made
    return g.sum_leading(c, axes=k, keep=target.rank)


def reverse(d: Diagram, simplify: bool = True) -> Diagram:
    """``R[d]``: inputs ``A`` then cotangents of the outputs; outputs the
    cotangents of the inputs, then of the parameters (in ``d.params`` order).

    Run on a batch, ``R[d]`` is taken example by example, like any diagram
    (:mod:`catlearn.core.batching`): the parameters' cotangents are each
    example's, with the batch axes in front; their sum over those axes is the
    gradient of the loss summed over the batch.  (``reverse(batched(d, …))``
    sums them itself, in its own contractions: torch's ``rd`` mode does that.)

    >>> import catlearn, numpy as np
    >>> from catlearn.backends.numpy import evaluate
    >>> f = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[2] = dense(3, 2)")["f"]
    >>> params = {"dense.W": np.ones((2, 3)), "dense.b": np.zeros(2)}
    >>> _, dW, db = evaluate(reverse(f), [np.ones((5, 3)), np.ones((5, 2))], params)
    >>> dW.shape, dW.sum(axis=0).shape
    ((5, 2, 3), (2, 3))
    """
    b = Builder()
    xs = [b.input(t) for t in d.dom]
    dys = [b.input(t) for t in d.cod]
    m = b.copy_in(d, xs)
    g = Emitter(b)
    ct: dict[int, list] = defaultdict(list)
    for w, dy in zip(d.outputs, dys):
        ct[w].append(dy)
    for op in reversed(d.ops):
        cots = [_total(g, ct.get(o, [])) for o in op.outputs]
        if all(c is None for c in cots):
            continue
        if op.prim is FEEDBACK or op.prim.stateful:
            raise CatError("a stateful box has a reverse derivative on sequences", op.span,
                           hint="run it along a time axis with `scan` (backpropagation through time), "
                                "or unroll it: catlearn.semantics.stateful.unroll(d, n)")
        if op.prim is SCAN:
            g.span = op.span
            b.scope = op.scope
            cots = [c if c is not None else g.zeros(d.types[o]) for c, o in zip(cots, op.outputs)]
            grads = b.scan_reverse(op, [m[i] for i in op.inputs], cots)
            for i, c in zip(op.inputs, grads):
                ct[i].append(_fit(g, c, d.types[i]))
            continue
        if op.prim is SCAN_REVERSE:
            raise CatError("backpropagation through time has no reverse derivative here", op.span,
                           hint="for a forward derivative of a stateful model use "
                                "catlearn.semantics.stateful.derivative")
        if op.prim.rd is None or len(op.outputs) != 1:
            raise CatError(f"`{op.prim.name}` has no reverse derivative", op.span,
                           hint="declare one with rd= where the primitive is defined")
        g.span = op.span
        b.scope = op.scope  # a box's derivative is drawn, and named, with the box
        ins = [m[i] for i in op.inputs]
        grads = op.prim.rd(g, ins, m[op.outputs[0]], cots[0], **op.attr)
        for i, c in zip(op.inputs, grads):
            if c is not None:
                ct[i].append(_fit(g, c, d.types[i]))
    b.scope = None
    outs = []
    for w in list(d.inputs) + [p.wire for p in d.params]:
        total = _total(g, ct.get(w, []))
        outs.append(total if total is not None else g.zeros(d.types[w]))
    r = b.finish(outs, f"R[{d.name}]" if d.name else None)
    return simplify_pass(r) if simplify else r


def forward(d: Diagram, simplify: bool = True) -> Diagram:
    """``D[d] : A ⊗ A → B``, the forward derivative (a point, then a tangent),
    computed as ``π₁ R[R[d]]((a, 0), v)`` with the parameters held fixed."""
    rr = reverse(reverse(d, simplify), simplify)
    b = Builder()
    g = Emitter(b)
    a = [b.input(t) for t in d.dom]
    v = [b.input(t) for t in d.dom]
    zero_b = [g.zeros(t) for t in d.cod]
    zero_p = [g.zeros(d.types[p.wire]) for p in d.params]
    outs = b.splice(rr, a + zero_b + v + zero_p)
    n = len(d.dom)
    r = b.finish(outs[n:n + len(d.cod)], f"D[{d.name}]" if d.name else None)
    return simplify_pass(r) if simplify else r
