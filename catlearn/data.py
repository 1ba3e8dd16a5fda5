"""Datasets for learners: scikit-learn's bundled ones by name, split and scaled.

Nothing is downloaded: iris, digits, wine and breast_cancer ship inside
scikit-learn; a user's data comes as a CSV or NPZ file.

>>> data = load("iris", split=0.2, seed=0)
>>> data.x_train.shape, data.x_val.shape, data.classes
((120, 4), (30, 4), 3)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def read(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels: a bundled dataset by name, a CSV file (the last
    column is the label; a header row is skipped) or an NPZ file (arrays x, y)."""
    path = Path(name)
    if path.suffix.lower() == ".npz":
        if not path.is_file():
            raise CatError(f"no such data file: {name}")
        with np.load(path) as f:
            if "x" not in f or "y" not in f:
                raise CatError(f"{name} must hold the arrays `x` and `y`", found=", ".join(f.files))
            return np.asarray(f["x"], dtype=float), np.asarray(f["y"])
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise CatError(f"no such data file: {name}")
        try:
            table = np.genfromtxt(path, delimiter=",", dtype=float)
        except ValueError as e:
            raise CatError(f"{name} is not a numeric CSV table", found=str(e).splitlines()[0]) from None
        table = table[~np.isnan(table).all(axis=1)] if table.ndim == 2 else table
        if table.ndim != 2 or table.shape[1] < 2:
            raise CatError(f"{name} needs a feature column and a label column", found=f"shape {table.shape}")
        if np.isnan(table).any():
            raise CatError(f"{name} has empty or non-numeric cells", hint="every cell must be a number")
        return table[:, :-1], table[:, -1].astype(int)
    if name not in BUNDLED:
        raise CatError(f"unknown dataset `{name}`", expected=", ".join(BUNDLED) + ", or a .csv/.npz file",
                       found=name, hint=did_you_mean(name, BUNDLED))
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")(return_X_y=True)


def load(name: str, split: float = 0.2, seed: int = 0) -> Dataset:
    """A dataset (see :func:`read`), shuffled with `seed`, `split` of each
    class held out (a stratified split), and its features standardised with the
    training part's mean and deviation."""
    x, y = read(name)
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
    return Dataset(Path(name).stem, x[train], y[train], x[val], y[val], int(y.max()) + 1, mean, scale)


@dataclass
class Graph:
    """One graph for node classification: the normalised adjacency
    ``Â = D^-½ (A + I) D^-½``, node features, labels, and which nodes are held out."""

    adjacency: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    held_out: np.ndarray  # boolean, one per node


def communities(classes: int = 3, size: int = 30, p_in: float = 0.25, p_out: float = 0.02, features: int = 8,
                signal: float = 0.5, split: float = 0.5, seed: int = 0) -> Graph:
    """A generated graph of `classes` communities of `size` nodes (a stochastic
    block model: an edge within a community with probability `p_in`, across
    with `p_out`).  A node's features are Gaussian noise plus `signal` on the
    feature of its community, too weak to classify a node alone; its
    neighbours, mostly of its own community, tell more.  `split` of each
    community is held out.

    >>> g = communities(seed=1)
    >>> g.adjacency.shape, g.features.shape, int(g.held_out.sum())
    ((90, 90), (90, 8), 45)
    """
    if features < classes:
        raise CatError(f"{features} features cannot mark {classes} communities", hint="use features >= classes")
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), size)
    p = np.where(labels[:, None] == labels[None, :], p_in, p_out)
    upper = np.triu(rng.random(p.shape) < p, 1)
    a = (upper | upper.T).astype(float) + np.eye(len(labels))
    d = 1.0 / np.sqrt(a.sum(1))
    x = rng.normal(size=(len(labels), features))
    x[np.arange(len(labels)), labels] += signal
    held_out = np.zeros(len(labels), bool)
    for label in range(classes):
        rows = rng.permutation(np.flatnonzero(labels == label))
        held_out[rows[:int(round(split * size))]] = True
    return Graph(d[:, None] * a * d[None, :], x, labels, held_out)
