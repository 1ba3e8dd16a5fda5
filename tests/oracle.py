"""An independent oracle for derivative tests: a diagram evaluated with the
primitives' *torch* semantics, so torch.func can differentiate it."""
import numpy as np
import torch

from catlearn.core.diagram import CONST

torch.set_default_dtype(torch.float64)


def torch_eval(d, inputs, params=None):
    """The outputs of `d` on torch tensors (one per input) and named parameters."""
    params = params or {}
    values = dict(zip(d.inputs, inputs))
    for p in d.params:
        values[p.wire] = params[p.name]
    for op in d.ops:
        attrs = op.attr
        if op.prim is CONST:
            out = torch.tensor(float(attrs["value"]))
        else:
            out = op.prim.torch(torch, *(values[i] for i in op.inputs), **attrs)
        values[op.outputs[0]] = out
    return [values[w] for w in d.outputs]


def as_torch(arrays):
    return [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in arrays]
