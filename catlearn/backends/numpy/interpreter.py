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
from ...core.diagram import CONST, Diagram
from ...core.errors import CatError
from ...core.initializers import INITIALIZERS
from ...core.types import dtype


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
