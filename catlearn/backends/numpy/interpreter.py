"""Forward evaluation of a diagram with the primitives' NumPy semantics.

``evaluate(d, inputs, params) -> outputs`` walks the ops once in their
(topological) order.  Arrays may carry extra leading batch axes: then it runs
``batched(d, …)``, the diagram's ``vmap`` (:mod:`catlearn.core.batching`), so
that each output is the model's on each example (an input without batch axes
is shared by the batch).

>>> import numpy as np, catlearn
>>> d = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[3] = relu ; square")["f"]
>>> evaluate(d, [np.array([-1.0, 1.0, 2.0])])
[array([0., 1., 4.])]
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ...core.batching import batch_shapes, batched
from ...core.diagram import CONST, SCAN, SCAN_REVERSE, Diagram
from ...core.errors import CatError
from ...core.initializers import INITIALIZERS
from ...core.types import dtype
from ..dtypes import require_real_arithmetic


def _reduce(value, dt: str):
    spec = dtype(dt)
    if spec is not None and spec.modulus:
        return np.mod(value, spec.modulus)
    if dt == "B":
        return np.asarray(value).astype(bool)
    return value


def evaluate(d: Diagram, inputs: Sequence, params: Mapping[str, np.ndarray] | None = None) -> list:
    """The outputs of `d` on `inputs` (arrays, one per input wire) and named `params`."""
    params = params or {}
    require_real_arithmetic(d, "NumPy interpreter")
    if len(inputs) != len(d.inputs):
        raise CatError(f"{d!r} takes {len(d.inputs)} input(s), given {len(inputs)}")
    inputs = [np.asarray(x) for x in inputs]
    d = batched(d, batch_shapes(d, [x.shape for x in inputs]))
    values: dict[int, object] = dict(zip(d.inputs, inputs))
    for p in d.params:
        if p.name not in params:
            raise CatError(f"no value for the parameter `{p.name}`", hint="init_params(d) makes initial values")
        values[p.wire] = np.asarray(params[p.name])
    last = _last_uses(d)
    for index, op in enumerate(d.ops):
        attrs = op.attr
        if op.prim is CONST:
            out = (np.asarray(attrs["value"]),)
        elif op.prim is SCAN:
            out = scan(op, [values[i] for i in op.inputs], [tuple(d.types[o].shape) for o in op.outputs])[0]
        elif op.prim is SCAN_REVERSE:
            out = scan_reverse(op, [values[i] for i in op.inputs], len(op.outputs))
        elif op.prim.numpy is None:
            raise CatError(f"`{op.prim.name}` has no NumPy semantics", op.span,
                           hint="this interpreter evaluates stateless diagrams of registered primitives")
        else:
            result = op.prim.numpy(*(values[i] for i in op.inputs), **attrs)
            out = result if isinstance(result, tuple) else (result,)
        for w, v in zip(op.outputs, out):
            values[w] = _reduce(v, d.types[w].dtype)
        for w in last.get(index, ()):  # free what no later box reads
            del values[w]
    return [values[w] for w in d.outputs]


def scan(op, inputs: list, out_shapes: list) -> tuple[list, list]:
    """A ``scan`` box: the Mealy form ``φ`` of its body run along each
    sequence's time axis.  Returns the outputs and every step's state."""
    from ...semantics.stateful.mealy import mealy

    a = op.attr
    n, step = a["n_inputs"], mealy(op.body)
    seqs, consts = inputs[:n], inputs[n:]
    times = [x.ndim - 1 - r for x, r in zip(seqs, a["in_ranks"])]
    states = [s.initial() for s in step.states]
    ys: list = [[] for _ in out_shapes]
    steps = [shape[:len(shape) - 1 - r] + shape[len(shape) - r:] for shape, r in zip(out_shapes, a["out_ranks"])]
    kept = []
    for t in range(seqs[0].shape[times[0]]):
        kept.append(states)
        outs = evaluate(step.step, [np.take(x, t, axis=k) for x, k in zip(seqs, times)] + consts + states)
        for y, value, shape in zip(ys, outs, steps):  # an output shared by the batch (a constant) is each example's
            y.append(np.broadcast_to(value, shape))
        states = outs[len(out_shapes):]
    return [np.stack(y, axis=len(shape) - 1 - r) if y else np.zeros(shape)
            for y, shape, r in zip(ys, out_shapes, a["out_ranks"])], kept


def scan_reverse(op, inputs: list, k: int) -> list:
    """A ``scan_reverse`` box: backpropagation through time, ``R[φ]`` run
    backwards over the states of the scan, its constants' cotangents summed."""
    from ...semantics.rdc import reverse
    from ...semantics.stateful.mealy import mealy

    a = op.attr
    n = a["n_inputs"]
    seqs, consts, cots = inputs[:n], inputs[n:k], inputs[k:]
    _, kept = scan(op, inputs[:k], [np.shape(c) for c in cots])
    back = reverse(mealy(op.body).step)
    times = [x.ndim - 1 - r for x, r in zip(seqs, a["in_ranks"])]
    out_times = [np.ndim(c) - 1 - r for c, r in zip(cots, a["out_ranks"])]
    ds = [np.zeros_like(s) for s in kept[0]] if kept else []
    dc = [np.zeros(np.shape(c)) for c in consts]
    dxs: list = [[None] * len(kept) for _ in seqs]
    for t in reversed(range(len(kept))):
        outs = evaluate(back, [np.take(x, t, axis=j) for x, j in zip(seqs, times)] + consts + kept[t]
                        + [np.take(c, t, axis=j) for c, j in zip(cots, out_times)] + ds)
        for j in range(n):
            dxs[j][t] = outs[j]
        dc = [a + b for a, b in zip(dc, outs[n:k])]
        ds = outs[k:]
    return [np.stack(d, axis=j) if kept else np.zeros(x.shape) for d, x, j in zip(dxs, seqs, times)] + dc


def _last_uses(d: Diagram) -> dict[int, list[int]]:
    """op index -> the wires read for the last time there (outputs are kept)."""
    last: dict[int, int] = {}
    for index, op in enumerate(d.ops):
        for i in op.inputs:
            last[i] = index
        for o in op.outputs:
            last.setdefault(o, index)
    keep = set(d.outputs)
    out: dict[int, list[int]] = {}
    for w, index in last.items():
        if w not in keep:
            out.setdefault(index, []).append(w)
    return out


def init_params(d: Diagram, seed: int = 0) -> dict[str, np.ndarray]:
    """Initial values of the parameters of `d`, from their initialisers."""
    rng = np.random.default_rng(seed)
    out = {}
    for p in d.params:
        t = d.types[p.wire]
        shape = t.shape
        if not all(isinstance(s, int) for s in shape):
            raise CatError(f"the parameter `{p.name}` has a symbolic shape {t}", hint="instantiate the definition first")
        name, kwargs = p.init
        out[p.name] = INITIALIZERS[name].sample(tuple(shape), rng, **dict(kwargs))
    return out
