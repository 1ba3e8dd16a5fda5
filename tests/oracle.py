"""An independent oracle for derivative tests: a diagram evaluated with the
primitives' *torch* semantics, so torch.func can differentiate it."""
import numpy as np
import torch




def torch_eval(d, inputs, params=None):
    """The outputs of `d` on torch tensors (one per input) and named parameters."""
    params = params or {}
    values = dict(zip(d.inputs, inputs))
    for p in d.params:
        values[p.wire] = params[p.name]
    like = next(iter(values.values()), torch.zeros((), dtype=torch.float64))
    for op in d.ops:
        attrs = op.attr
        if not op.inputs:  # constants are made beside the inputs (float64 here)
            attrs["like"] = like
        values[op.outputs[0]] = op.prim.torch(torch, *(values[i] for i in op.inputs), **attrs)
    return [values[w] for w in d.outputs]


def as_torch(arrays):
    return [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in arrays]
