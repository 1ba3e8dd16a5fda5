"""Datasets for learners: scikit-learn's bundled ones by name, split and scaled.

Nothing is downloaded: iris, digits, wine and breast_cancer ship inside
scikit-learn.

>>> data = load("iris", split=0.2, seed=0)
>>> data.x_train.shape, data.x_val.shape, data.classes
((120, 4), (30, 4), 3)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core.errors import CatError, did_you_mean

BUNDLED = ("iris", "digits", "wine", "breast_cancer")


@dataclass
class Dataset:
    """A train/validation split with standardised features and integer labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: int
    mean: np.ndarray
    scale: np.ndarray

    def targets(self, labels: np.ndarray, loss: str) -> np.ndarray:
        """Labels as the targets a loss compares predictions with."""
        if loss == "cross_entropy":
            return np.eye(self.classes)[labels]
        if loss == "binary_cross_entropy":
            return labels.astype(float)[:, None]
        return labels.astype(float)[:, None] if labels.ndim == 1 else labels


def load(name: str, split: float = 0.2, seed: int = 0) -> Dataset:
    """A bundled dataset, shuffled with `seed`, `split` of each class held out
    (a stratified split), and its features standardised with the training
    part's mean and deviation."""
    if name not in BUNDLED:
        raise CatError(f"unknown dataset `{name}`", expected=", ".join(BUNDLED), found=name,
                       hint=did_you_mean(name, BUNDLED))
    from sklearn import datasets

    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    rng = np.random.default_rng(seed)
    val, train = [], []
    for label in np.unique(y):  # stratified: each class split in the same proportion
        rows = rng.permutation(np.flatnonzero(y == label))
        n_val = int(round(split * len(rows)))
        val.append(rows[:n_val])
        train.append(rows[n_val:])
    val, train = rng.permutation(np.concatenate(val)), rng.permutation(np.concatenate(train))
    mean = x[train].mean(0)
    scale = x[train].std(0)
    scale[scale == 0] = 1.0
    x = (x - mean) / scale
    return Dataset(name, x[train], y[train], x[val], y[val], int(y.max()) + 1, mean, scale)
