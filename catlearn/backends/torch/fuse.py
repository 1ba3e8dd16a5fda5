"""Fusion: rewrites of the IR into boxes that torch runs in fewer kernels.

* A box reading a batch as one tensor (``unbatch``, before a sum over the batch
  as one contraction) reads the batch itself.

* ``add(matvec(W, x), b)`` with an unbatched weight and bias, the product used
  by nothing else, becomes ``affine(W, x, b)`` (``F.linear``: one ``addmm``).
* ``transpose(einsum(…))``, the product used by nothing else, becomes one
  einsum with its last two output axes swapped: a transposed cotangent (of
  ``matmul(q, transpose(k))``'s ``k``) is made in the order its readers want.
* ``channel_bias(conv2d(x, K), b)``, likewise, becomes the kernel
  ``conv2d_bias(x, K, b)``: one convolution with a bias.
* A kernel gradient summed over a batch axis, which the reverse derivative
  writes as a convolution with the batch as channels between rearrangements,
  becomes the kernel ``conv2d_weight_grad``: torch's own kernel gradient.
  Beside the input gradient ``conv2d_transpose`` (and the bias gradient) of
  the same cotangent, the three become one kernel, ``conv2d_backward``; beside
  the bias gradient alone, it gives both.  oneDNN's bias gradient costs more
  than a sum (15–70 µs at batch 32–256), so it is a sum but on the direct path.
* ``maxpool2d(x)`` beside ``argmax_pool2d(x)`` (a reverse derivative's
  residual) becomes the kernel ``max_pool2d_with_indices(x)``, with both as
  its two outputs: one pooling finds where the maxima are and what they are.

Across the two passes of a lens or optic (:func:`fuse_split`), a residual
that is a rearrangement is rearranged in the backward pass instead (the
fusion of kernel gradients finds it there and reads the tensor as it was),
and a ``layernorm`` of the forward pass whose input the backward pass's
``layernorm_grad`` reads becomes the kernel ``native_layer_norm``, which also
gives the mean and 1/σ; they become two more residuals, and the backward pass's
``layer_norm_backward`` kernel reads them instead of computing them again.
A norm then scaled and shifted by parameters, ``add(mul(layernorm(x), γ), β)``
(std.nn's ``layer_norm``), becomes one ``native_layer_norm`` with γ and β,
and in the backward pass the three boxes of ``layernorm_grad(x, dy · γ)``,
``Σ dy · layernorm(x)`` and ``Σ dy`` become one ``layer_norm_backward``: the
normalised x is kept no longer.

The kernels are in :mod:`.kernels`; the drawn and checked diagram keeps its
boxes, and only the code generated for torch changes.

>>> import catlearn
>>> d = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[2] = dense(3, 2) ; relu")["f"]
>>> [op.prim.name for op in fuse(d).ops]
['affine', 'relu']
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ...core.check import checked
from ...core.diagram import Diagram, Op
from ...core.passes import dead_code_elimination
from ...core.primitives import REGISTRY
from ...core.types import TensorType
from .kernels import KERNELS


def _readers(d: Diagram) -> dict[int, list]:
    """Each wire's readers: the boxes reading it, and None for each time it is an output of `d`."""
    readers: dict[int, list] = {}
    for op in d.ops:
        for i in op.inputs:
            readers.setdefault(i, []).append(op)
    for w in d.outputs:
        readers.setdefault(w, []).append(None)
    return readers


def _sole(made: dict, readers: dict, w: int, name: str, spec: str | None = None) -> Op | None:
    """The box `name` (of einsum `spec`) making w, where one box reads w and nothing else does."""
    op = made.get(w)
    if op is None or len(readers.get(w, ())) != 1 or op.prim.name != name or (spec and op.attr["spec"] != spec):
        return None
    return op


def _absorb(d: Diagram, outer: str, inner: str, make: Callable[[Op, Op, int], Op | None]) -> Diagram:
    """Each `outer` box whose argument is an `inner` box's output, used by
    nothing else, replaced by ``make(inner_box, outer_box, argument)`` (None: kept)."""
    readers = _readers(d)
    producer = {o: op for op in d.ops for o in op.outputs}
    absorbed: set[int] = set()  # the inner boxes
    replaced: dict[int, Op] = {}  # the outer boxes -> their fused boxes
    for op in d.ops:
        if op.prim.name != outer:
            continue
        for k, w in enumerate(op.inputs):
            found = producer.get(w)
            fused = make(found, op, k) if _sole(producer, readers, w, inner) else None
            if fused is not None:
                absorbed.add(id(found))
                replaced[id(op)] = fused
                break
    ops = tuple(replaced.get(id(op), op) for op in d.ops if id(op) not in absorbed)
    return Diagram(d.types, ops, d.inputs, d.outputs, d.params, d.name)


def _whole_tensors(d: Diagram) -> Diagram:
    """Boxes reading ``unbatch(w)`` read w, the same tensor: the code sees
    tensors, not batches, and the fusions below see the cotangent the batch's
    kernel gradient and bias gradient are taken of as the one the input
    gradient is."""
    source = {op.outputs[0]: op.inputs[0] for op in d.ops if op.prim.name == "unbatch"}
    if not source:
        return d
    ops = tuple(replace(op, inputs=tuple(source.get(i, i) for i in op.inputs)) for op in d.ops
                if op.prim.name != "unbatch")
    return Diagram(d.types, ops, d.inputs, tuple(source.get(w, w) for w in d.outputs), d.params, d.name)


def _affine(d: Diagram) -> Diagram:
    def make(mv: Op, add: Op, k: int) -> Op | None:
        bias = add.inputs[1 - k]
        if d.types[mv.inputs[0]].rank != 2 or d.types[bias].rank != 1:
            return None
        return Op(REGISTRY["affine"], (), (*mv.inputs, bias), add.outputs, mv.lift, add.scope, add.span)
    return _absorb(d, "add", "matvec", make)


def _transposed_einsum(d: Diagram) -> Diagram:
    def make(product: Op, transpose: Op, k: int) -> Op | None:
        inputs, out = product.attr["spec"].split("->")
        if len(out) < 2:
            return None
        spec = f"{inputs}->{out[:-2]}{out[-1]}{out[-2]}"
        return Op(product.prim, (("spec", spec),), product.inputs, transpose.outputs, product.lift, transpose.scope,
                  transpose.span)
    return _absorb(d, "transpose", "einsum", make)


def _conv_bias(d: Diagram) -> Diagram:
    def make(conv: Op, bias: Op, k: int) -> Op | None:
        if k != 0 or d.types[conv.inputs[1]].rank != 4 or d.types[bias.inputs[1]].rank != 1:
            return None
        return Op(KERNELS["conv2d_bias"], conv.attrs, (*conv.inputs, bias.inputs[1]), bias.outputs, bias.lift,
                  bias.scope, bias.span)
    return _absorb(d, "channel_bias", "conv2d", make)


def _weight_grad(d: Diagram) -> Diagram:
    made, readers = {o: op for op in d.ops for o in op.outputs}, _readers(d)

    def single(w: int, name: str, spec: str | None = None) -> Op | None:
        return _sole(made, readers, w, name, spec)
    absorbed: set[int] = set()
    replaced: dict[int, Op] = {}
    for op in d.ops:
        if op.prim.name != "rearrange" or op.attr["spec"] != "c o h w -> o c h w":
            continue
        conv = single(op.inputs[0], "conv2d")
        flips = conv and (single(conv.inputs[0], "rearrange", "b c h w -> c b h w"),
                          single(conv.inputs[1], "rearrange", "b o h w -> o b h w"))
        if flips and all(flips) and all(d.types[f.inputs[0]].rank == 4 for f in flips):
            absorbed |= {id(conv), *map(id, flips)}
            attrs = conv.attrs + (("shape", tuple(d.types[op.outputs[0]].shape)),)
            replaced[id(op)] = Op(KERNELS["conv2d_weight_grad"], attrs, tuple(f.inputs[0] for f in flips), op.outputs,
                                  0, op.scope, op.span)
    ops = tuple(replaced.get(id(op), op) for op in d.ops if id(op) not in absorbed)
    return Diagram(d.types, ops, d.inputs, d.outputs, d.params, d.name)


def _merge(d: Diagram, groups: list[tuple[list[Op], Op]]) -> Diagram:
    """Each group's boxes replaced by its kernel, of all their outputs, placed
    where the first of them was (a group whose kernel would read a wire made
    later stays as it is)."""
    position = {id(op): k for k, op in enumerate(d.ops)}
    made = {o: k for k, op in enumerate(d.ops) for o in op.outputs}
    fused: dict[int, Op] = {}
    for members, kernel in groups:
        first = min(position[id(op)] for op in members)
        if all(made.get(i, -1) < first for i in kernel.inputs) and not any(id(op) in fused for op in members):
            fused.update((id(op), kernel) for op in members)
    ops, placed = [], set()
    for op in d.ops:
        kernel = fused.get(id(op), op)
        if id(kernel) not in placed:
            placed.add(id(kernel))
            ops.append(kernel)
    return Diagram(d.types, tuple(ops), d.inputs, d.outputs, d.params, d.name)


def _pooling(d: Diagram) -> Diagram:
    argmax: dict = {}
    for op in d.ops:
        if op.prim.name == "argmax_pool2d":
            argmax.setdefault((op.inputs, op.attrs), op)
    groups = []
    for op in d.ops:
        where = argmax.pop((op.inputs, op.attrs), None) if op.prim.name == "maxpool2d" else None
        if where is not None:
            groups.append(([op, where], Op(KERNELS["max_pool2d_with_indices"], op.attrs, op.inputs,
                                           op.outputs + where.outputs, op.lift, op.scope, op.span)))
    return _merge(d, groups)


def _conv_backward(d: Diagram) -> Diagram:
    weight_grads = {(op.inputs[1], op.attr["pad"]): op for op in d.ops if op.prim.name == "conv2d_weight_grad"}
    bias_grads = {op.inputs[0]: op for op in d.ops if op.prim.name == "einsum" and op.attr["spec"] == "achw->c"}
    groups = []
    for op in d.ops:
        if op.prim.name != "conv2d_transpose" or d.types[op.inputs[1]].rank != 4:
            continue
        z, kernel = op.inputs
        found = weight_grads.pop((z, op.attr["pad"]), None)
        if found is None:
            continue
        bias = bias_grads.pop(z, None)
        members = [op, found] + ([bias] if bias else [])
        groups.append((members, Op(KERNELS["conv2d_backward"], op.attrs + (("bias", bias is not None),),
                                   (found.inputs[0], z, kernel), tuple(o for m in members for o in m.outputs),
                                   0, op.scope, op.span)))
    for (z, _), found in weight_grads.items():  # no input gradient: the kernel's and the bias's
        bias = bias_grads.pop(z, None)
        if bias is not None:
            groups.append(([found, bias], Op(found.prim, found.attrs + (("bias", True),), found.inputs,
                                             found.outputs + bias.outputs, 0, found.scope, found.span)))
    return _merge(d, groups)


def fuse_split(forward: Diagram, backward: Diagram, n_outputs: int) -> tuple[Diagram, Diagram]:
    """``(forward, backward)`` of a split whose model has `n_outputs` outputs,
    rearranged residuals rearranged in the backward pass instead (where the
    fusions of kernel gradients find them), the layer norms' statistics
    computed once (see the module docstring)."""
    for rewrite in (_late_rearrangements, _share_statistics, _affine_layer_norms):
        forward, backward = rewrite(forward, backward, n_outputs)
        checked(forward, rewrite.__name__)
        checked(backward, rewrite.__name__)
    return forward, backward


def _late_rearrangements(forward: Diagram, backward: Diagram, n_outputs: int) -> tuple[Diagram, Diagram]:
    """Each residual that is a rearrangement of a forward wire is made in the
    backward pass instead, from that wire, kept once however many residuals
    read it (a residual that is kept too, the source of several rearranged
    ones, the same forward wire twice: each one backward input)."""
    n_kept = len(backward.inputs) - n_outputs
    producer = {o: op for op in forward.ops for o in op.outputs}
    types = list(backward.types)
    kept: dict[int, int] = {}  # the forward's residuals -> the backward's wire for each
    same: dict[int, int] = {}  # a backward residual wire -> the one it is read as instead
    moved = []
    residuals = list(zip(forward.outputs[n_outputs:], backward.inputs[:n_kept]))
    rearranged = {f for f, _ in residuals if producer.get(f) is not None and producer[f].prim.name == "rearrange"}
    if not rearranged:
        return forward, backward
    for f, b in residuals:
        if f not in rearranged:
            same[b] = kept.setdefault(f, b)
    for f, b in residuals:
        if f in rearranged:
            op = producer[f]
            source = op.inputs[0]
            if source not in kept:
                types.append(forward.types[source])
                kept[source] = len(types) - 1
            moved.append(Op(op.prim, op.attrs, (kept[source],), (b,), op.lift, op.scope, op.span))
    forward = dead_code_elimination(Diagram(forward.types, forward.ops, forward.inputs,
                                            forward.outputs[:n_outputs] + tuple(kept), forward.params, forward.name))
    ops = tuple(moved) + tuple(replace(op, inputs=tuple(same.get(i, i) for i in op.inputs)) for op in backward.ops)
    backward = Diagram(tuple(types), ops, tuple(kept.values()) + backward.inputs[n_kept:],
                       tuple(same.get(w, w) for w in backward.outputs), backward.params, backward.name)
    return forward, backward


def _share_statistics(forward: Diagram, backward: Diagram, n_outputs: int) -> tuple[Diagram, Diagram]:
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
            t = TensorType(x.dtype, x.shape[:-1] + (1,), (), min(x.batch, x.rank - 1))
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


def _affine_layer_norms(forward: Diagram, backward: Diagram, n_outputs: int) -> tuple[Diagram, Diagram]:
    n_kept = len(backward.inputs) - n_outputs
    source = dict(zip(backward.inputs[:n_kept], forward.outputs[n_outputs:]))  # residual: backward wire -> forward
    name, b_name = ({p.wire: p.name for p in d.params} for d in (forward, backward))  # the passes' own wires
    wire = {p.name: p.wire for p in backward.params}
    f_made, b_made = ({o: op for op in d.ops for o in op.outputs} for d in (forward, backward))
    f_readers, b_readers = _readers(forward), _readers(backward)
    totals = {}  # a backward wire -> its sum over every row but the last axis
    for op in backward.ops:
        if op.prim.name == "sum_leading" and backward.types[op.outputs[0]].rank == 1:
            totals.setdefault(op.inputs[0], op)

    def other(op, w):  # a binary box's other argument than w
        return op.inputs[1] if op.inputs[0] == w else op.inputs[0] if op.inputs[1] == w else None

    f_groups, b_groups, dropped, claimed = [], [], set(), set()
    for grad in backward.ops:
        if grad.prim.name != "layer_norm_backward" or len(grad.inputs) != 4:
            continue
        x, scaled, mean, rstd = grad.inputs
        norm, scale = f_made.get(source.get(mean)), _sole(b_made, b_readers, scaled, "mul")
        if norm is None or scale is None or len(norm.inputs) != 1:
            continue
        y = norm.outputs[0]  # the normalised x: read by `weight` alone, and kept once for the backward
        readers = f_readers.get(y, [])
        if len(readers) != 2 or readers.count(None) != 1 or forward.outputs.index(y) < n_outputs:
            continue
        weight = next(op for op in readers if op is not None)
        (shift, *more) = f_readers.get(weight.outputs[0], [None]) if weight.prim.name == "mul" else [None]
        if shift is None or more or shift.prim.name != "add":
            continue
        gamma, beta = other(weight, y), other(shift, weight.outputs[0])
        dy = next((w for w in scale.inputs if b_name.get(other(scale, w)) == name.get(gamma)), None)
        if name.get(gamma) is None or name.get(beta) is None or dy is None or \
                not forward.types[gamma].shape == forward.types[beta].shape == forward.types[y].shape[-1:]:
            continue
        y_kept = backward.inputs[forward.outputs.index(y) - n_outputs]
        (product, *more) = b_readers.get(y_kept, [None])  # Σ dy · y: the normalised x's one reader, summed
        product = product if not more and product and product.prim.name == "mul" and \
            set(product.inputs) == {dy, y_kept} else None
        weight_sum = product and len(b_readers[product.outputs[0]]) == 1 and totals.get(product.outputs[0])
        bias_sum = totals.get(dy)  # Σ dy
        if not weight_sum or bias_sum is None or id(bias_sum) in claimed:
            continue
        claimed.add(id(bias_sum))  # (another norm of the same dy keeps its boxes: _merge fuses every group)
        f_groups.append(([norm, weight, shift], Op(norm.prim, norm.attrs, (*norm.inputs, gamma, beta),
                                                   (shift.outputs[0], *norm.outputs[1:]), norm.lift, norm.scope,
                                                   norm.span)))
        b_groups.append(([scale, grad, product, weight_sum, bias_sum],
                         Op(grad.prim, grad.attrs, (x, dy, mean, rstd, wire[name[gamma]], wire[name[beta]]),
                            (grad.outputs[0], weight_sum.outputs[0], bias_sum.outputs[0]), grad.lift, grad.scope,
                            grad.span)))
        dropped.add(y)
    if not dropped:
        return forward, backward
    kept = [(f, b) for f, b in zip(forward.outputs[n_outputs:], backward.inputs[:n_kept]) if f not in dropped]
    forward, backward = _merge(forward, f_groups), _merge(backward, b_groups)
    forward = Diagram(forward.types, forward.ops, forward.inputs, forward.outputs[:n_outputs] +
                      tuple(f for f, _ in kept), forward.params, forward.name)
    backward = Diagram(backward.types, backward.ops, tuple(b for _, b in kept) + backward.inputs[n_kept:],
                       backward.outputs, backward.params, backward.name)
    return forward, backward


def fuse(d: Diagram) -> Diagram:
    """The same morphism in fewer torch kernels (see the module docstring)."""
    for rewrite in (_whole_tensors, _affine, _transposed_einsum, _conv_bias, _weight_grad, _conv_backward, _pooling):
        d = checked(rewrite(d), rewrite.__name__)
    return d
