"""The IR checker: what every pass must keep true of a diagram.

:func:`check_diagram` verifies, in the spirit of JAX's ``check_jaxpr``:

* *wires*: every wire a box reads, and every output, is defined before it is
  read (an input, a parameter, or an earlier box's output: SSA order), and each
  wire is defined once; parameter names are distinct;
* *types*: each box's output types and lift are what its primitive's type
  rule gives on its input types, and an argument with batch axes never lacks
  the model's lifted axes of its box (:class:`~catlearn.core.signature.Misaligned`).
  Axis names are left out: they are checks of the source, and a spliced
  definition keeps its own.  Boxes without a type rule (a backend's fused
  kernels) are checked for their wires only;
* a feedback or scan box's body, the same way.

A failure raises :class:`IRError`, an internal error (never a user's), showing
the boxes around the fault.  Passes call :func:`checked` on what they return;
it checks only while :func:`enable_checks` is on, as the test suite does
(JAX's ``jax_enable_checks``).

>>> from catlearn.core.diagram import Diagram, Op
>>> from catlearn.core.primitives import REGISTRY
>>> from catlearn.core.types import TensorType
>>> R3 = TensorType("R", (3,))
>>> check_diagram(Diagram.box("relu", [R3]))
>>> broken = Diagram((R3, R3), (Op(REGISTRY["relu"], (), (1,), (0,)),), (0,), (1,))
>>> check_diagram(broken)
Traceback (most recent call last):
...
catlearn.core.check.IRError: box 0 (`relu`) reads wire 1, which is not defined before it
...
"""
from __future__ import annotations

import os

from .diagram import FEEDBACK, SCAN, SCAN_REVERSE, Diagram
from .errors import CatError
from .signature import Misaligned
from .types import object_str

_ENABLED = [bool(os.environ.get("CATLEARN_CHECKS"))]
CONTEXT = 3  # boxes shown on each side of a fault


class IRError(Exception):
    """A diagram that breaks an invariant of the IR: a bug in the pass that made it."""


def enable_checks(on: bool = True) -> None:
    """Check every diagram a pass returns (the test suite turns this on)."""
    _ENABLED[0] = on


def checked(d: Diagram, made_by: str) -> Diagram:
    """`d`, checked first where checks are on; `made_by` names the pass."""
    if _ENABLED[0]:
        check_diagram(d, made_by)
    return d


def check_diagram(d: Diagram, made_by: str | None = None) -> None:
    """Raise :class:`IRError` where `d` breaks an invariant (see the module docstring)."""
    problem = _problem(d)
    if problem is not None:
        where, message = problem
        after = f" (made by {made_by})" if made_by else ""
        raise IRError(f"{message}{after}\n{_around(d, where)}")


def _problem(d: Diagram) -> tuple[int | None, str] | None:
    """``(box index or None, what is wrong)`` of the first fault of `d`."""
    n = len(d.types)
    defined: set[int] = set()
    for kind, wires in (("input", d.inputs), ("parameter", [p.wire for p in d.params])):
        for w in wires:
            if not 0 <= w < n:
                return None, f"the {kind} wire {w} is not a wire of the diagram ({n} wires)"
            if w in defined:
                return None, f"wire {w} is defined twice, once as a {kind}"
            defined.add(w)
    names = [p.name for p in d.params]
    if len(set(names)) != len(names):
        return None, f"two parameters are called `{next(x for x in names if names.count(x) > 1)}`"
    inputs = set(d.inputs)
    for k, op in enumerate(d.ops):
        label = f"box {k} (`{op.prim.name}`)"
        for w in op.inputs:
            if w not in defined:
                return k, f"{label} reads wire {w}, which is not defined before it"
        for w in op.outputs:
            if not 0 <= w < n:
                return k, f"{label} defines wire {w}, which is not a wire of the diagram"
            if w in defined:
                return k, f"{label} defines wire {w}, which is already {'an input' if w in inputs else 'defined'}"
            defined.add(w)
        fault = _box_types(d, op)
        if fault:
            return k, f"{label} {fault}"
    for w in d.outputs:
        if w not in defined:
            return None, f"the output wire {w} is not defined"
    return None


def _box_types(d: Diagram, op) -> str | None:
    """What is wrong with the types of one box, or None."""
    ins = tuple(d.types[i].unnamed() for i in op.inputs)
    outs = tuple(d.types[o].unnamed() for o in op.outputs)
    if op.prim is FEEDBACK:
        if op.body is None or len(op.body.outputs) != len(op.outputs) + 1:
            return "is a feedback without a body of its outputs and the next state"
        problem = _problem(op.body)
        return None if problem is None else f"has a body in which {problem[1]}"
    if op.prim is SCAN or op.prim is SCAN_REVERSE:
        outputs = len(op.outputs) if op.prim is SCAN else len(op.inputs) - len(op.outputs)
        inputs = len(op.inputs) if op.prim is SCAN else len(op.outputs)
        if op.body is None or len(op.body.outputs) != outputs or len(op.body.inputs) != inputs:
            return "is a scan without a body of one step's inputs and outputs"
        problem = _problem(op.body)
        return None if problem is None else f"has a body in which {problem[1]}"
    if op.prim.signature is None and op.prim.type_rule is None:
        return None
    try:
        want, lift = op.prim.infer(ins, op.attr)
    except Misaligned as e:
        return f"takes misaligned arguments: {e.message}"
    except CatError as e:
        return f"does not type: {e.message}"
    want = tuple(t.unnamed() for t in want)
    if want != outs:
        return f"has outputs {object_str(outs)} where its rule gives {object_str(want)}"
    if lift != op.lift:
        return f"says it is lifted over {op.lift} axes where its rule gives {lift}"
    return None


def _around(d: Diagram, where: int | None) -> str:
    """The boxes around box `where` (the diagram's boundary where None), one per line."""
    def wire(w):
        return f"v{w} : {d.types[w]}" if 0 <= w < len(d.types) else f"v{w} : ?"

    lines = [f"  inputs: {', '.join(map(wire, d.inputs)) or '()'}"]
    if d.params:
        lines.append(f"  params: {', '.join(f'{p.name} = {wire(p.wire)}' for p in d.params)}")
    start, stop = (0, min(len(d.ops), 2 * CONTEXT)) if where is None else \
        (max(0, where - CONTEXT), min(len(d.ops), where + CONTEXT + 1))
    if start:
        lines.append("  …")
    for k in range(start, stop):
        op = d.ops[k]
        attrs = ", ".join(f"{key}={value!r}" for key, value in op.attrs)
        call = ", ".join([f"v{i}" for i in op.inputs] + ([attrs] if attrs else []))
        mark = ">" if k == where else " "
        lines.append(f"{mark} {k:3}: {', '.join(map(wire, op.outputs))} = {op.prim.name}({call})"
                     + (f"  ⇑{op.lift}" if op.lift else ""))
    if stop < len(d.ops):
        lines.append("  …")
    lines.append(f"  outputs: {', '.join(f'v{w}' for w in d.outputs) or '()'}")
    return "\n".join(lines)
