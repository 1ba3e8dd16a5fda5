"""Training a learner with the NumPy reference interpreter: per mini-batch,
the forward and backward passes of the learner's compile strategy (lens or
optic), then the optimiser's update."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...data import Dataset
from ...grammar.module import Learner
from ...semantics.learner import training_step
from .interpreter import evaluate, init_params


@dataclass
class History:
    loss: list = field(default_factory=list)  # mean training loss per epoch
    accuracy: list = field(default_factory=list)  # held-out accuracy per epoch


def accuracy(learner: Learner, params: dict, x: np.ndarray, y: np.ndarray) -> float:
    (scores,) = evaluate(learner.diagram, [x], params)
    predicted = scores.argmax(-1) if scores.ndim > 1 and scores.shape[-1] > 1 else (scores.reshape(-1) > 0)
    return float(np.mean(predicted == y))


def fit(learner: Learner, data: Dataset, epochs: int | None = None, seed: int | None = None,
        callback=None) -> tuple[dict, History]:
    """Train `learner` on `data`; returns the parameters and the history.
    `callback(epoch, loss, accuracy)` is called after each epoch."""
    settings = learner.settings
    epochs = settings["epochs"] if epochs is None else epochs
    seed = settings["seed"] if seed is None else seed
    batch = min(settings["batch"], len(data.x_train))
    step = training_step(learner.diagram, learner.loss[0], learner.optimizer, batch, settings["strategy"])
    params = init_params(learner.diagram, seed)
    state = step.initial_state()
    targets = data.targets(data.y_train, learner.loss[0])
    rng = np.random.default_rng(seed)
    history = History()
    for epoch in range(epochs):
        order = rng.permutation(len(data.x_train))
        losses = []
        for i in range(0, len(order) - batch + 1, batch):
            rows = order[i:i + batch]
            params, state, value = step(params, state, data.x_train[rows], targets[rows], evaluate)
            losses.append(value)
        history.loss.append(float(np.mean(losses)))
        history.accuracy.append(accuracy(learner, params, data.x_val, data.y_val))
        if callback is not None:
            callback(epoch, history.loss[-1], history.accuracy[-1])
    return params, history
