"""Stateful models: the delayed trace, St(C), and sequences.

* :mod:`.mealy` — the normal form ``(S, s₀, φ : X ⊗ S → Y ⊗ S)`` of a diagram with
  ``feedback`` loops and ``delay`` boxes;
* :mod:`.stream` — its stream semantics on finite prefixes, and ``unroll(n)``;
* :mod:`.trace` — the delayed trace, sequences (``scan``), the forward derivative
  of a stateful morphism as a stateful morphism, checkpointed BPTT.
"""
from .mealy import Mealy, State, is_stateful, mealy
from .stream import run, unroll
from .trace import derivative, from_mealy, sequence, sequential, trace, with_checkpoints

__all__ = ["Mealy", "State", "is_stateful", "mealy", "run", "unroll", "derivative", "from_mealy", "sequence", "sequential", "trace",
           "with_checkpoints"]
