"""What a ``learner`` declaration may say: losses, optimisers and settings.

These tables are what the checker validates a learner against; the
semantics (losses and optimisers as lenses) is given by
:mod:`catlearn.semantics`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .types import TensorType


@dataclass(frozen=True)
class LossSpec:
    name: str
    accepts: Callable[[TensorType], bool]
    expects: str
    doc: str


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    kwargs: dict  # name -> default (None: required)
    doc: str


def _real_vector(t: TensorType) -> bool:
    return t.dtype == "R" and t.rank == 1 and (not isinstance(t.shape[0], int) or t.shape[0] >= 2)


LOSSES = {s.name: s for s in [
    LossSpec("mse", lambda t: t.dtype == "R", "a real output", "½‖y − t‖², mean over the batch"),
    LossSpec("cross_entropy", _real_vector, "logits R[k] with k ≥ 2", "softmax cross-entropy against class labels"),
    LossSpec("binary_cross_entropy", lambda t: t.dtype == "R" and (t.rank == 0 or t.shape == (1,)),
             "one logit R or R[1]", "sigmoid cross-entropy against 0/1 labels"),
]}

OPTIMIZERS = {s.name: s for s in [
    OptimizerSpec("sgd", {"lr": 0.01}, "p ← p − lr·g"),
    OptimizerSpec("momentum", {"lr": 0.01, "beta": 0.9}, "v ← βv + g; p ← p − lr·v"),
    OptimizerSpec("nesterov", {"lr": 0.01, "beta": 0.9}, "Nesterov accelerated gradient"),
    OptimizerSpec("adam", {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, "Adam (Kingma & Ba)"),
]}

# learner settings: name -> (kind, default, check, description)
SETTINGS = {
    "epochs": ("int", 20, lambda v: v >= 1, "a positive number of epochs"),
    "batch": ("int", 32, lambda v: v >= 1, "a positive batch size"),
    "seed": ("int", 0, lambda v: v >= 0, "a non-negative seed"),
    "split": ("float", 0.2, lambda v: 0.0 < v < 1.0, "a validation fraction between 0 and 1"),
    "strategy": ("choice", "optic", lambda v: v in ("lens", "optic"), "`lens` or `optic`"),
    "data": ("str", None, lambda v: bool(v), "a dataset name or file"),
}
