"""Code generation: a diagram as a flat Python function over torch.

One line per box, in the diagram's order, each calling the primitive's (or
the fused kernel's) torch semantics; a box of several outputs unpacks them;
boxes that make tensors from nothing are placed beside the first argument
(``like=``).  No graph is walked at run time.

>>> import catlearn
>>> d = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[2] = dense(3, 2) ; relu")["f"]
>>> print(generate(d, "f"))
def f(p_dense_W, p_dense_b, x0):
    v0 = cat.matvec(T, p_dense_W, x0)
    v1 = cat.add(T, v0, p_dense_b)
    v2 = cat.relu(T, v1)
    return (v2,)
"""
from __future__ import annotations

import math
import re
from types import SimpleNamespace

from ...core.diagram import CONST, FEEDBACK, SCAN, SCAN_REVERSE, Diagram
from ...core.errors import CatError
from ...core.primitives import REGISTRY
from ...core.types import Poly


def _var(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _literal(value) -> str:
    if isinstance(value, Poly):
        raise CatError(f"cannot compile a symbolic size ({value}); instantiate the definition first")
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    return repr(value)


def _static(t) -> bool:
    return all(isinstance(n, int) for n in t.shape)


def generate(d: Diagram, name: str = "forward", shapes: bool = False) -> str:
    """Source of ``def name(parameters…, inputs…)`` returning a tuple of outputs
    (``def name(like)`` for a constant diagram: its values take `like`'s dtype and device).
    With `shapes`, the code is for inputs of exactly the diagram's types, and
    boxes with a ``torch_code`` are written out inline."""
    names: dict[int, str] = {}
    args = []
    for p in d.params:
        names[p.wire] = _var(p.name)
        args.append(names[p.wire])
    for k, w in enumerate(d.inputs):
        names.setdefault(w, f"x{k}")
        args.append(f"x{k}")
    if not args:  # constants need a tensor to take their dtype and device from
        args.append("like")
    like = args[0]
    preamble: list[str] = []
    lines = [f"def {name}({', '.join(args)}):"]
    for k, op in enumerate(d.ops):
        if op.prim is SCAN or op.prim is SCAN_REVERSE:
            outs = [f"v{k}_{j}" for j in range(len(op.outputs))]
            preamble.append(_scan(d, op, f"{name}_scan{k}"))
            names.update(zip(op.outputs, outs))
            call = f"{name}_scan{k}" if op.prim is SCAN else f"{name}_scan{k}.reverse"
            lines.append(f"    {''.join(o + ', ' for o in outs)}= {call}({', '.join(names[i] for i in op.inputs)})")
            continue
        if op.prim is FEEDBACK or op.prim.stateful:
            raise CatError("a stateful box runs on sequences: give the model's inputs a time axis with `scan`", op.span,
                           hint="`scan(f) : X[t, …] -> Y[t, …]` runs f along the time axis "
                                "(catlearn.semantics.stateful.sequence(d) from Python)")
        if op.prim.torch is None:
            raise CatError(f"`{op.prim.name}` has no torch semantics", op.span)
        outs = [f"v{k}"] if len(op.outputs) == 1 else [f"v{k}_{j}" for j in range(len(op.outputs))]
        types = [d.types[i] for i in op.inputs]
        code = (op.prim.torch_code([names[i] for i in op.inputs], types, **op.attr)
                if shapes and op.prim.torch_code and all(map(_static, types)) else None)
        if code is None:
            call = [names[i] for i in op.inputs] + [f"{key}={_literal(v)}" for key, v in op.attrs]
            if not op.inputs:
                call.append(f"like={like}")
            code = f"cat.{op.prim.name}(T, {', '.join(call)})"
        names.update(zip(op.outputs, outs))
        lines.append(f"    {', '.join(outs)} = {code}")
    lines.append(f"    return ({''.join(names[w] + ', ' for w in d.outputs)})".replace(", )", ",)"))
    return "\n\n".join(preamble + ["\n".join(lines)])


def _scan(d: Diagram, op, name: str) -> str:
    """The definitions of a ``scan`` box: its Mealy step, the step's reverse
    derivative, and the :class:`~catlearn.backends.torch.scan.Scan` running
    them; an affine recurrence also gets its parallel form, and another
    step's stateless part on its sequences
    (:mod:`catlearn.semantics.stateful.hoist`) runs on a block of steps at once."""
    from ...core.batching import batched
    from ...semantics.rdc import reverse
    from ...semantics.residuals import residuals
    from ...semantics.stateful.affine import affine
    from ...semantics.stateful.hoist import hoisted
    from ...semantics.stateful.mealy import mealy
    from .fuse import fuse
    from .scan import block_lengths

    a = op.attr
    m = mealy(op.body)
    n, k = a["n_inputs"], len(m.states)
    states = tuple((tuple(s.type.shape), float(s.initial(()))) for s in m.states)
    times = tuple(d.types[i].rank - 1 - r for i, r in zip(op.inputs, a["in_ranks"]))
    outs = op.outputs if op.prim is SCAN else op.inputs[len(op.outputs):]  # a scan_reverse reads their cotangents
    out_times = tuple(d.types[o].rank - 1 - r for o, r in zip(outs, a["out_ranks"]))
    shapes = tuple(tuple(d.types[o].shape) for o in outs)
    length = d.types[op.inputs[0]].shape[times[0]]
    n_consts = len(m.step.inputs) - n - k
    over_time = [(length,)] * n + [()] * n_consts
    linear = affine(m) if op.prim is SCAN and a.get("parallel", True) else None
    split = hoisted(m.step, n, k) if linear is None and isinstance(length, int) and length > 0 else None
    parts, parallel, hoist, loop_consts = [], "None", "None", "None"
    if linear is not None:  # the recurrence is affine: a parallel prefix scan, no loop
        parts.append(generate(fuse(batched(linear.coefficients, over_time)), f"{name}_coefficients", shapes=True))
        parts.append(generate(fuse(batched(linear.outputs, over_time + [(length,)] * k)),
                              f"{name}_outputs", shapes=True))
        parallel = f"({name}_coefficients, {name}_outputs, {_literal(linear.pairs)})"
    step = m.step
    if split is not None:  # π on a block of steps at once (of each length a block can have), the loop over ρ
        pre, step, kept = split
        loop_consts = _literal(kept)
        sizes = block_lengths(length, a.get("checkpoint", 0))
        for size in sizes:
            block = batched(pre, [(size,)] * n + [()] * n_consts)
            parts.append(generate(fuse(block), f"{name}_pre{size}", shapes=True))
            parts.append(generate(fuse(reverse(block)), f"{name}_pre_back{size}", shapes=True))
        hoist = "{" + ", ".join(f"{size}: ({name}_pre{size}, {name}_pre_back{size})" for size in sizes) + "}"
    read = len(split[2]) if split is not None else n_consts  # the constants the loop's step reads
    first = len(step.inputs) - k - read
    with_residuals, back, _ = residuals(step, reverse(step), range(first, first + read))
    parts.append(generate(fuse(step), f"{name}_step", shapes=True))
    parts.append(generate(fuse(with_residuals), f"{name}_step_residuals", shapes=True))
    parts.append(generate(fuse(back), f"{name}_back", shapes=True))
    parts.append(f"{name} = cat.Scan({name}_step, {name}_step_residuals, {name}_back, n_inputs={a['n_inputs']}, "
                 f"states={_literal(states)}, "
                 f"times={_literal(times)}, out_times={_literal(out_times)}, out_shapes={_literal(shapes)}, "
                 f"checkpoint={a.get('checkpoint', 0)}, parallel={parallel}, hoisted={hoist}, "
                 f"loop_consts={loop_consts})")
    return "\n\n".join(parts)


def compile_source(source: str, name: str):
    """The function `name` defined by generated `source`."""
    import torch

    from .kernels import KERNELS, direct
    from .scan import Scan

    boxes = {n: p.torch for n, p in (*REGISTRY.items(), *KERNELS.items()) if p.torch}
    namespace = {"T": torch, "cat": SimpleNamespace(const=CONST.torch, direct=direct, Scan=Scan, **boxes)}
    exec(compile(source, f"<catlearn:{name}>", "exec"), namespace)
    return namespace[name]
