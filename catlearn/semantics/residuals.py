"""A reverse derivative split into what it recomputes and what it adds.

``R[φ] : A ⊗ B' → A'`` first recomputes the values of ``φ`` it needs, then
propagates the cotangents.  Where φ has just run (a loop going forward
before it goes back), the recomputation is waste.  :func:`residuals` splits
``R[φ] = R' ∘ (res ⊗ id_C ⊗ id_B')``: ``φᵣ : A → B ⊗ Res`` is φ that also
returns the values ``Res`` of R[φ]'s recomputation that its cotangent part
reads, and ``R' : Res ⊗ C ⊗ B' → A'`` is that cotangent part alone.  Inputs
listed as constants (``C``: the same at every step, parameters) are read by
``R'`` directly instead of being kept, and so is whatever depends on them
alone.

>>> import catlearn
>>> from catlearn.semantics.rdc import reverse
>>> from catlearn.semantics.stateful import mealy
>>> rnn = catlearn.loads('use "models/elman_rnn.cat"\\nmodel m : R[5, 2] -> R[5, 3] = scan(elman(2, 3))')["m"]
>>> step = mealy(rnn.ops[0].body).step
>>> forward, back, n = residuals(step, reverse(step), constants=range(1, 5))
>>> n, [op.prim.name for op in forward.ops]  # kept: the input, the state and 1 − y² (tanh's derivative)
(3, ['matvec', 'add', 'matvec', 'add', 'add', 'tanh', 'const', 'square', 'sub'])
>>> "tanh" in [op.prim.name for op in back.ops]  # the cotangent part does not recompute it
False
"""
from __future__ import annotations

from collections.abc import Iterable

from ..core.diagram import Diagram, Op
from ..core.passes import common_subexpressions, dead_code_elimination


def residuals(step: Diagram, back: Diagram, constants: Iterable[int]) -> tuple[Diagram, Diagram, int]:
    """``(φᵣ : A → B ⊗ Res, R' : Res ⊗ C ⊗ B' → A', |Res|)`` of a step and
    its reverse derivative ``back = reverse(step)`` (see the module
    docstring); `constants` are the indices of C among A.  The step has no
    parameters (a scan's body, whose parameters are constants of its loop)."""
    if step.params:
        raise ValueError(f"residuals: {step.name} has parameters; pass them as constants")
    n = len(step.inputs)
    constants = sorted(set(constants))
    varying = {w for i, w in enumerate(back.inputs[:n]) if i not in constants}
    cotangent = set(back.inputs[n:])
    recomputed = []  # the boxes of R[φ] that read a varying input and no cotangent
    for op in back.ops:
        if any(i in cotangent for i in op.inputs):
            cotangent.update(op.outputs)
        elif any(i in varying for i in op.inputs):
            varying.update(op.outputs)
            recomputed.append(op)
    rest = [op for op in back.ops if op not in recomputed]
    read = {i for op in rest for i in op.inputs} | set(back.outputs)
    kept = sorted(w for w in varying if w in read)
    tangent = dead_code_elimination(Diagram(back.types, tuple(rest),
                                            (*kept, *(back.inputs[i] for i in constants), *back.inputs[n:]),
                                            back.outputs, (), f"{back.name}/cotangents"))
    offset = len(step.types)
    rename = {w: step.inputs[i] for i, w in enumerate(back.inputs[:n])}

    def moved(w: int) -> int:
        return rename.get(w, w + offset)
    copied = tuple(Op(op.prim, op.attrs, tuple(map(moved, op.inputs)), tuple(map(moved, op.outputs)), op.lift,
                      op.scope, op.span, op.body) for op in back.ops if all(i not in cotangent for i in op.outputs))
    forward = Diagram(step.types + back.types, step.ops + copied, step.inputs,
                      (*step.outputs, *map(moved, kept)), (), f"{step.name}/residuals")
    return dead_code_elimination(common_subexpressions(forward)), tangent, len(kept)
