"""Fusion: rewrites of the IR into boxes that torch runs in fewer kernels.

* ``add(matvec(W, x), b)`` with an unbatched weight and bias, the product used
  by nothing else, becomes ``affine(W, x, b)`` (``F.linear``: one ``addmm``).
* ``maxpool2d(x)`` beside ``argmax_pool2d(x)`` (a reverse derivative's
  residual) becomes ``gather2d(x, argmax_pool2d(x))``: one pooling kernel
  finds both where the maxima are and, gathered from there, what they are.

The drawn and checked diagram keeps its boxes; only the code generated for
torch changes.

>>> import catlearn
>>> d = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[2] = dense(3, 2) ; relu")["f"]
>>> [op.prim.name for op in fuse(d).ops]
['affine', 'relu']
"""
from __future__ import annotations

from collections import Counter

from ...core.diagram import Diagram, Op
from ...core.primitives import REGISTRY


def _affine(d: Diagram) -> Diagram:
    uses = Counter(i for op in d.ops for i in op.inputs) + Counter(d.outputs)
    producer = {o: op for op in d.ops for o in op.outputs}
    absorbed: set[int] = set()  # the matvecs
    replaced: dict[int, Op] = {}  # the adds -> their affine boxes
    for op in d.ops:
        if op.prim.name != "add":
            continue
        for product, bias in (op.inputs, op.inputs[::-1]):
            mv = producer.get(product)
            if (mv is not None and mv.prim.name == "matvec" and uses[product] == 1
                    and d.types[mv.inputs[0]].rank == 2 and d.types[bias].rank == 1):
                absorbed.add(id(mv))
                replaced[id(op)] = Op(REGISTRY["affine"], (), (*mv.inputs, bias), op.outputs, op.lift, op.scope,
                                      op.span)
                break
    ops = tuple(replaced.get(id(op), op) for op in d.ops if id(op) not in absorbed)
    return Diagram(d.types, ops, d.inputs, d.outputs, d.params, d.name)


def _pooling(d: Diagram) -> Diagram:
    argmax = {(op.inputs, op.attrs): op for op in d.ops if op.prim.name == "argmax_pool2d"}
    moved: set[int] = set()
    ops = []
    for op in d.ops:
        found = argmax.get((op.inputs, op.attrs)) if op.prim.name == "maxpool2d" else None
        if found is not None:
            if id(found) not in moved:
                ops.append(found)
                moved.add(id(found))
            ops.append(Op(REGISTRY["gather2d"], op.attrs, (*op.inputs, found.outputs[0]), op.outputs, op.lift,
                          op.scope, op.span))
        elif id(op) not in moved:
            ops.append(op)
    return Diagram(d.types, tuple(ops), d.inputs, d.outputs, d.params, d.name)


def fuse(d: Diagram) -> Diagram:
    """The same morphism in fewer torch kernels (see the module docstring)."""
    return _pooling(_affine(d))
