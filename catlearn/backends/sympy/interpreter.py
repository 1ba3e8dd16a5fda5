"""Exact interpretation: a diagram evaluated on arrays of sympy expressions.

Polynomial primitives run their NumPy semantics on object arrays; analytic ones
declare ``sympy=`` (a scalar sympy function, applied entrywise).  Constants
become exact rationals.  Used as an oracle for laws that hold exactly.

>>> import catlearn
>>> f = catlearn.loads("use std.nn\\nmodel f : R[2] -> R = x => sum(mul(x, x))")["f"]
>>> evaluate(f, [symbols("x", f.dom[0])])[0]
x_0**2 + x_1**2
"""
from __future__ import annotations

import numpy as np

from ...core.diagram import CONST, Diagram
from ...core.errors import CatError
from ...core.types import TensorType


def symbols(name: str, t: TensorType) -> np.ndarray:
    """An object array of fresh symbols ``name_i_j…`` of the shape of `t`."""
    import sympy

    shape = tuple(t.shape)
    flat = [sympy.Symbol(f"{name}_{'_'.join(map(str, idx))}" if shape else name, real=True)
            for idx in np.ndindex(*shape)]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(shape) if shape else out[0]


def evaluate(d: Diagram, inputs, params=None) -> list:
    """The outputs of `d` as sympy expressions (object arrays)."""
    import sympy

    params = params or {}
    values = dict(zip(d.inputs, inputs))
    for p in d.params:
        values[p.wire] = params[p.name]
    for op in d.ops:
        ins = [values[i] for i in op.inputs]
        if op.prim is CONST:
            out = sympy.nsimplify(op.attr["value"], rational=True)
        elif op.prim.sympy is not None:
            fn, attrs = op.prim.sympy, op.attr
            out = np.vectorize(lambda *xs, fn=fn, attrs=attrs: fn(sympy, *xs, **attrs), otypes=[object])(*ins)
        elif op.prim.polynomial and op.prim.numpy is not None:
            out = op.prim.numpy(*ins, **op.attr)
            if np.asarray(out).dtype.kind in "fiu":  # constants (zeros, ones): exact numbers
                out = np.vectorize(lambda v: sympy.nsimplify(v, rational=True), otypes=[object])(out)
        else:
            raise CatError(f"`{op.prim.name}` has no exact semantics", op.span,
                           hint="only polynomial primitives and those declaring sympy= evaluate exactly")
        values[op.outputs[0]] = out
    return [values[w] for w in d.outputs]
