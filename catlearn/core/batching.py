"""Batches: a diagram run on leading batch axes is its ``vmap``.

``batched(d, batches)`` is ``d`` on inputs with the batch axes ``batches[i]`` in
front of input ``i``'s type.  It splices ``d`` on batch-typed inputs, so that
every wire depending on a batched input carries the batch in front of the
model's own axes (its type's ``batch``), and it broadcasts every output over
the whole batch, as ``vmap``'s outputs are.  Wires that depend on no batched
input (parameters, constants) are shared by the batch.  A broadcast written
inside the model happens after the batch axes: the builder broadcasts an
argument explicitly where NumPy's alignment would match the batch with the
model's axes (``sub(x, mean(x))`` below).

>>> import catlearn
>>> f = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[3] = x => sub(x, mean(x))")["f"]
>>> g = batched(f, ((3,),))
>>> g.type
'R[3 | 3] -> R[3 | 3]'
>>> [op.prim.name for op in g.ops]
['mean', 'repeat_leading', 'sub']
"""
from __future__ import annotations

import numpy as np

from .builder import Builder
from .diagram import Diagram
from .errors import CatError
from .primitives import Attr, primitive
from .types import dim_str

MAX_CACHED = 16  # batch layouts whose batched diagram a diagram keeps


def _broadcast_batch_rule(inputs, attrs):
    (x,) = inputs
    return (x.batched(tuple(attrs["shape"])),), 0


@primitive("broadcast_batch", None, module="core.batch", attrs={"shape": Attr("dims")}, type_rule=_broadcast_batch_rule,
           arity=1, polynomial=True, glyph="⇶",
           torch=lambda T, x, shape: x.expand(*shape, *x.shape).contiguous(),
           torch_code=lambda args, types, shape: f"{args[0]}.expand({tuple(shape) + tuple(types[0].shape)}).contiguous()",
           dagger=lambda g, x, dy, shape: g.sum_leading(dy, axes=len(shape), keep=x.type.rank))
def broadcast_batch(x, shape):
    """x shared by a batch of `shape`: the same value for every example, new batch axes in front (a copy: each
    example's may be written to)"""
    return np.broadcast_to(x, tuple(shape) + np.shape(x)).copy()


def _unbatch_rule(inputs, attrs):
    (x,) = inputs
    return (x.with_batch(0),), 0


def _rebatch_rule(inputs, attrs):
    (x,), axes = inputs, attrs["axes"]
    if x.batch or not 0 <= axes <= x.rank:
        raise CatError(f"`rebatch` makes batch axes of the leading axes of a tensor without any, not of {x}")
    return (x.with_batch(axes),), 0


# A box that takes in batch axes as axes of its own (a sum over the batch, as one
# contraction) leaves the vmap: `unbatch` marks where, and its adjoint `rebatch`
# where the derivative enters it again, so that derivatives of derivatives know
# which axes are the batch's.
@primitive("unbatch", None, module="core.batch", type_rule=_unbatch_rule, arity=1, polynomial=True, glyph="⇶⁻",
           torch=lambda T, x: x, torch_code=lambda args, types: args[0],
           dagger=lambda g, x, dy: g.rebatch(dy, axes=x.type.batch))
def unbatch(x):
    """the batch of x as one tensor, its batch axes axes of its own (the same values)"""
    return x


@primitive("rebatch", None, module="core.batch", attrs={"axes": Attr("int")}, type_rule=_rebatch_rule, arity=1,
           polynomial=True, glyph="⇶", torch=lambda T, x, axes: x, torch_code=lambda args, types, axes: args[0],
           dagger=lambda g, x, dy, axes: g.unbatch(dy))
def rebatch(x, axes):
    """x as a batch over its leading `axes` axes (the same values; the adjoint of unbatch)"""
    return x


def batch_shapes(d: Diagram, shapes) -> tuple:
    """The batch axes of each input of `d` given arrays of `shapes`: what each
    has in front of its input's type.  A :class:`CatError` where an array does
    not end with its input's axes."""
    if len(shapes) != len(d.dom):
        raise CatError(f"{_name(d)} takes {len(d.dom)} input(s), given {len(shapes)}")
    out = []
    for k, (shape, t) in enumerate(zip(shapes, d.dom), 1):
        shape = tuple(shape)
        extra = len(shape) - t.rank
        if extra < 0 or shape[extra:] != tuple(t.shape):
            raise CatError(f"input {k} of {_name(d)} does not fit its type",
                           expected=f"{t}, after any batch axes", found=f"an array of shape {shape}",
                           hint="batch axes go in front of the input's own axes")
        out.append(shape[:extra])
    return tuple(out)


def batched(d: Diagram, batches) -> Diagram:
    """``vmap(d)``: `d` on inputs with the leading batch axes ``batches[i]``
    (each the longest one's tail: an input without them is shared by the batch),
    every output broadcast over the whole batch (see the module docstring)."""
    batches = tuple(tuple(b) for b in batches)
    if not any(batches):
        return d
    cache = d._cache.setdefault("batched", {})
    if batches in cache:
        return cache[batches]
    whole = max(batches, key=len)
    for k, shape in enumerate(batches, 1):
        if whole[len(whole) - len(shape):] != shape:
            raise CatError(f"the batch axes of the inputs of {_name(d)} do not agree",
                           expected=f"batch axes that end [{', '.join(map(dim_str, whole))}]",
                           found=f"input {k} with batch axes [{', '.join(map(dim_str, shape))}]",
                           hint="an input's batch axes must end the longest input's; an input without any is "
                                "shared by the batch")
    b = Builder()
    inputs = [b.input(t.batched(shape)) for t, shape in zip(d.dom, batches)]
    outputs = []
    for w in b.splice(d, inputs):
        missing = whole[:len(whole) - w.type.batch]
        outputs.append(b.apply("broadcast_batch", [w], {"shape": missing})[0] if missing else w)
    result = b.finish(outputs, d.name)
    if len(cache) >= MAX_CACHED:
        del cache[next(iter(cache))]
    cache[batches] = result
    return result


def _name(d: Diagram) -> str:
    return f"`{d.name}`" if d.name else "the diagram"

