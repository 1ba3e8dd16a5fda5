"""Fusion: rewrites of the IR into boxes that torch runs in fewer kernels.

* ``add(matvec(W, x), b)`` with an unbatched weight and bias, the product used
  by nothing else, becomes ``affine(W, x, b)`` (``F.linear``: one ``addmm``).
* ``channel_bias(conv2d(x, K), b)``, likewise, becomes the kernel
  ``conv2d_bias(x, K, b)``: one convolution with a bias.
* ``maxpool2d(x)`` beside ``argmax_pool2d(x)`` (a reverse derivative's
  residual) becomes the kernel ``max_pool2d_with_indices(x)``, with both as
  its two outputs: one pooling finds where the maxima are and what they are.

Across the two passes of a lens or optic (:func:`share_statistics`), a
``layernorm`` of the forward pass whose input the backward pass's
``layernorm_grad`` reads becomes the kernel ``native_layer_norm``, which also
gives the mean and 1/σ; they become two more residuals, and the backward pass's
``layer_norm_backward`` kernel reads them instead of computing them again.

Kernels are boxes of this backend alone (:data:`KERNELS`, with torch
semantics only); the drawn and checked diagram keeps its boxes, and only the
code generated for torch changes.

>>> import catlearn
>>> d = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[2] = dense(3, 2) ; relu")["f"]
>>> [op.prim.name for op in fuse(d).ops]
['affine', 'relu']
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

from ...core.diagram import Diagram, Op
from ...core.primitives import REGISTRY, Primitive
from ...core.types import TensorType
from ...stdlib.nn import over_batch


def _kernel(name: str, doc: str, torch: Callable) -> Primitive:
    return Primitive(name, None, "torch", doc=doc, torch=torch)


def _layer_norm_backward(T, x, dy, mean, rstd, eps=1e-5):
    """(A reverse derivative's cotangent has its primal's shape: x and dy agree.)"""
    return T.ops.aten.native_layer_norm_backward(dy, x, x.shape[-1:], mean, rstd, None, None, (True, False, False))[0]


KERNELS = {k.name: k for k in (
    _kernel("conv2d_bias", "channel_bias(conv2d(x, K, pad), b)",
            lambda T, x, w, b, pad=0: over_batch(lambda v: T.nn.functional.conv2d(v, w, b, padding=pad), x, 2)),
    _kernel("max_pool2d_with_indices", "(maxpool2d(x, size), argmax_pool2d(x, size))",
            lambda T, x, size=2: over_batch(lambda v: T.nn.functional.max_pool2d(v, size, return_indices=True), x, 2)),
    _kernel("native_layer_norm", "(layernorm(x, eps), the mean of x, 1/√(var x + eps)), the last two with a unit axis",
            lambda T, x, eps=1e-5: T.ops.aten.native_layer_norm(x, x.shape[-1:], None, None, eps)),
    _kernel("layer_norm_backward", "layernorm_grad(x, dy, eps), given native_layer_norm's statistics of x",
            _layer_norm_backward),
)}


def _absorb(d: Diagram, outer: str, inner: str, make: Callable[[Op, Op, int], Op | None]) -> Diagram:
    """Each `outer` box whose argument is an `inner` box's output, used by
    nothing else, replaced by ``make(inner_box, outer_box, argument)`` (None: kept)."""
    uses = Counter(i for op in d.ops for i in op.inputs) + Counter(d.outputs)
    producer = {o: op for op in d.ops for o in op.outputs}
    absorbed: set[int] = set()  # the inner boxes
    replaced: dict[int, Op] = {}  # the outer boxes -> their fused boxes
    for op in d.ops:
        if op.prim.name != outer:
            continue
        for k, w in enumerate(op.inputs):
            found = producer.get(w)
            fused = make(found, op, k) if found is not None and found.prim.name == inner and uses[w] == 1 else None
            if fused is not None:
                absorbed.add(id(found))
                replaced[id(op)] = fused
                break
    ops = tuple(replaced.get(id(op), op) for op in d.ops if id(op) not in absorbed)
    return Diagram(d.types, ops, d.inputs, d.outputs, d.params, d.name)


def _affine(d: Diagram) -> Diagram:
    def make(mv: Op, add: Op, k: int) -> Op | None:
        bias = add.inputs[1 - k]
        if d.types[mv.inputs[0]].rank != 2 or d.types[bias].rank != 1:
            return None
        return Op(REGISTRY["affine"], (), (*mv.inputs, bias), add.outputs, add.lift, add.scope, add.span)
    return _absorb(d, "add", "matvec", make)


def _conv_bias(d: Diagram) -> Diagram:
    def make(conv: Op, bias: Op, k: int) -> Op | None:
        if k != 0 or d.types[conv.inputs[1]].rank != 4 or d.types[bias.inputs[1]].rank != 1:
            return None
        return Op(KERNELS["conv2d_bias"], conv.attrs, (*conv.inputs, bias.inputs[1]), bias.outputs, bias.lift,
                  bias.scope, bias.span)
    return _absorb(d, "channel_bias", "conv2d", make)


def _pooling(d: Diagram) -> Diagram:
    argmax: dict = {}
    for op in d.ops:
        if op.prim.name == "argmax_pool2d":
            argmax.setdefault((op.inputs, op.attrs), op)
    pairs: dict = {}  # (input, attributes) -> (maxpool2d, argmax_pool2d) on it
    for op in d.ops:
        key = (op.inputs, op.attrs)
        if op.prim.name == "maxpool2d" and key in argmax and key not in pairs:
            pairs[key] = (op, argmax[key])
    fused: dict[int, Op] = {}  # both boxes of a pair -> the kernel, placed where the first of them was
    for pool, where in pairs.values():
        kernel = Op(KERNELS["max_pool2d_with_indices"], pool.attrs, pool.inputs, pool.outputs + where.outputs,
                    pool.lift, pool.scope, pool.span)
        fused[id(pool)] = fused[id(where)] = kernel
    ops, placed = [], set()
    for op in d.ops:
        kernel = fused.get(id(op), op)
        if id(kernel) not in placed:
            placed.add(id(kernel))
            ops.append(kernel)
    return Diagram(d.types, tuple(ops), d.inputs, d.outputs, d.params, d.name)


def share_statistics(forward: Diagram, backward: Diagram, n_outputs: int) -> tuple[Diagram, Diagram]:
    """``(forward, backward)`` of a split whose model has `n_outputs` outputs, the
    layer norms' statistics computed once (see the module docstring)."""
    n_kept = len(backward.inputs) - n_outputs
    source = dict(zip(backward.inputs[:n_kept], forward.outputs[n_outputs:]))  # residual: backward wire -> forward
    norms = {(op.inputs[0], op.attrs): op for op in forward.ops if op.prim.name == "layernorm"}
    types, f_types = list(backward.types), list(forward.types)
    stats: dict[int, tuple] = {}  # forward layernorm -> (its statistics' forward wires, their backward wires)
    replaced: dict[int, Op] = {}
    for op in backward.ops:
        norm = norms.get((source.get(op.inputs[0]), op.attrs)) if op.prim.name == "layernorm_grad" else None
        if norm is None:
            continue
        if id(norm) not in stats:
            x = f_types[norm.inputs[0]]
            t = TensorType(x.dtype, x.shape[:-1] + (1,))
            f_types += [t, t]
            types += [t, t]
            stats[id(norm)] = ((len(f_types) - 2, len(f_types) - 1), (len(types) - 2, len(types) - 1))
        replaced[id(op)] = Op(KERNELS["layer_norm_backward"], op.attrs, op.inputs + stats[id(norm)][1], op.outputs,
                              op.lift, op.scope, op.span)
    if not stats:
        return forward, backward
    f_ops = tuple(Op(KERNELS["native_layer_norm"], op.attrs, op.inputs, op.outputs + stats[id(op)][0], op.lift,
                     op.scope, op.span) if id(op) in stats else op for op in forward.ops)
    f_new = tuple(w for pair in stats.values() for w in pair[0])
    b_new = tuple(w for pair in stats.values() for w in pair[1])
    forward = Diagram(tuple(f_types), f_ops, forward.inputs, forward.outputs + f_new, forward.params, forward.name)
    backward = Diagram(tuple(types), tuple(replaced.get(id(op), op) for op in backward.ops),
                       backward.inputs[:n_kept] + b_new + backward.inputs[n_kept:], backward.outputs,
                       backward.params, backward.name)
    return forward, backward


def fuse(d: Diagram) -> Diagram:
    """The same morphism in fewer torch kernels (see the module docstring)."""
    return _pooling(_conv_bias(_affine(d)))
