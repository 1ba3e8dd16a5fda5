"""The part of a Mealy step that reads no state, hoisted out of the loop.

A step ``φ : X ⊗ C ⊗ S → Y ⊗ S`` (sequence inputs, constants, states)
factors as ``φ = ρ ∘ (π ⊗ id_C ⊗ id_S) ∘ (Δ_C …)`` where ``π : X ⊗ C → H``
is every box that depends on a sequence input but on no state, and
``ρ : H ⊗ C ⊗ S → Y ⊗ S`` the rest (reading only the constants it needs).
Along a sequence, ``π`` needs no loop: it is a stateless map, so it runs on
a block of steps at once (its ``vmap`` over the time axis,
:func:`~catlearn.core.batching.batched`), and only ``ρ`` runs step by step.
For an Elman or GRU cell, ``π`` is the input projection ``W_ih xₜ + b_ih``:
one matrix product for a block of steps instead of one a step, in the
forward pass and in the backward one.

The price is ``H`` for a block of steps at a time (the torch backend's
``BLOCK``), recomputed in the backward pass: memory O(block).

>>> import catlearn
>>> from catlearn.semantics.stateful import mealy
>>> rnn = catlearn.loads('use "models/elman_rnn.cat"\\nmodel m : R[5, 2] -> R[5, 3] = scan(elman(2, 3))')["m"]
>>> step = mealy(rnn.ops[0].body).step  # its parameters are constants of the loop
>>> step.type
'R[2] * R[3, 2] * R[3] * R[3, 3] * R[3] * R[3] -> R[3] * R[3]'
>>> pre, rest, kept = hoisted(step, n_inputs=1, n_states=1)
>>> pre.type, rest.type, kept  # ρ reads W_hh and b_hh alone
('R[2] * R[3, 2] * R[3] * R[3, 3] * R[3] -> R[3]', 'R[3] * R[3, 3] * R[3] * R[3] -> R[3] * R[3]', (2, 3))
>>> [op.prim.name for op in pre.ops], [op.prim.name for op in rest.ops]
(['matvec', 'add'], ['matvec', 'add', 'add', 'tanh'])
"""
from __future__ import annotations

from ...core.diagram import Diagram
from ...core.passes import dead_code_elimination


def hoisted(step: Diagram, n_inputs: int, n_states: int) -> tuple[Diagram, Diagram, tuple] | None:
    """``(π : X ⊗ C → H, ρ : H ⊗ C' ⊗ S → Y ⊗ S, C')`` of a step whose
    first `n_inputs` inputs are sequences and last `n_states` states (see
    the module docstring), ``C'`` being the constants ρ still reads (their
    indices among C), or None where no box can leave the loop."""
    if step.params:
        return None
    n_consts = len(step.inputs) - n_inputs - n_states
    xs, cs = step.inputs[:n_inputs], step.inputs[n_inputs:n_inputs + n_consts]
    ss = step.inputs[n_inputs + n_consts:]
    free = set(xs) | set(cs)  # wires that read no state
    on_sequences = set(xs)  # … and read a sequence input
    moved = []
    for op in step.ops:
        if op.body is None and all(i in free for i in op.inputs):
            free.update(op.outputs)
            if any(i in on_sequences for i in op.inputs):
                on_sequences.update(op.outputs)
                moved.append(op)
    if not moved:
        return None
    staying = [op for op in step.ops if op not in moved]
    read = {i for op in staying for i in op.inputs} | set(step.outputs)
    hidden = tuple(sorted(w for w in on_sequences if w in read))
    if not hidden:  # the sequences are read by nothing
        return None
    pre = dead_code_elimination(Diagram(step.types, tuple(op for op in step.ops if op.body is None and
                                                          all(o in free for o in op.outputs)),
                                        (*xs, *cs), hidden, (), f"{step.name}/hoisted"))
    kept = tuple(j for j, c in enumerate(cs) if c in read)
    rest = dead_code_elimination(Diagram(step.types, tuple(staying), (*hidden, *(cs[j] for j in kept), *ss),
                                         step.outputs, (), step.name))
    return pre, rest, kept
