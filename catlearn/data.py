"""Datasets for learners: scikit-learn's bundled ones by name, split and scaled.

Nothing is downloaded: iris, digits, wine and breast_cancer ship inside
scikit-learn; a user's data comes as a CSV or NPZ file, checked as it is read
(a :class:`FileError` names the file and what is wrong with it).

>>> data = load("iris", split=0.2, seed=0)
>>> data.x_train.shape, data.x_val.shape, data.classes
((120, 4), (30, 4), 3)
"""
from __future__ import annotations

import csv
import math
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.errors import CatError, FileError, did_you_mean

BUNDLED = ("iris", "digits", "wine", "breast_cancer")
MAX_BYTES = 2 ** 31  # the largest data file, or array in an NPZ file (uncompressed), catlearn reads
_NUMBERS = "biuf"  # the dtype kinds of data: booleans, integers and reals
_KINDS = {"c": "complex numbers", "O": "Python objects", "U": "text", "S": "bytes", "V": "records",
          "M": "dates", "m": "time spans"}
_LAYOUT = ("one example a row, the label last; a first line with no number in it is a header, and lines "
           "starting with # are comments")


@dataclass
class Dataset:
    """A train/validation split with standardised features, and labels (integers where they are classes)."""

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


def read(name: str, features: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Examples and labels: a bundled dataset by name, a CSV file or an NPZ file
    (arrays `x` and `y`), checked: numbers, all finite, one label per example.
    Whole-number labels of one number per example come back as integers.

    A CSV file holds one example a row, the label in the last column; a first
    line none of whose cells is a number is a header, and skipped; lines starting
    with ``#`` are comments, and a cell may be quoted (``"1.5"``).  Given
    `features` (a model's number of input numbers, for predicting), labels are
    optional: a CSV row of exactly `features` cells is all features, and an NPZ
    file need not hold `y`; without labels the second value is None.
    """
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".npz"):
        if not path.is_file():
            raise FileError(name, "no such data file",
                            hint="give a .csv or .npz file that exists, or a bundled dataset: " + ", ".join(BUNDLED))
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise FileError(name, f"the file is too large ({size / 2 ** 30:.1f} GiB)",
                            hint=f"catlearn reads data files of up to {MAX_BYTES // 2 ** 30} GiB: give a sample")
        x, y = (_csv if suffix == ".csv" else _npz)(path, features)
        return _checked(name, x, y)
    if name not in BUNDLED:
        raise CatError(f"unknown dataset `{name}`", expected=", ".join(BUNDLED) + ", or a .csv/.npz file",
                       found=name, hint=did_you_mean(name, BUNDLED))
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")(return_X_y=True)


def _checked(name: str, x: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """`x` and `y` as read, checked to be examples and one label each; whole labels as integers."""
    if x.ndim == 0 or not len(x):
        raise FileError(name, "the file holds no examples", hint="give at least one example a row")
    if y is None:
        return x, None
    if y.ndim == 0:
        raise FileError(name, "`y` is a single number, not one label per example", hint="give one label per example")
    if len(y) != len(x):
        raise FileError(name, f"`x` holds {len(x)} examples but `y` {len(y)} labels",
                        hint="give one label per example, in the examples' order")
    y = y.astype(float)
    if y.ndim == 1 and np.all(y == np.round(y)) and np.abs(y).max() < 2 ** 53:
        y = y.astype(np.int64)
    return x, y


def _csv(path: Path, features: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A CSV file's features and labels (see :func:`read`)."""
    skip = _header(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": an empty table, reported later
            table = np.loadtxt(path, delimiter=",", quotechar='"', skiprows=skip, ndmin=2, encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from None
    except ValueError as e:
        raise _csv_problem(path, skip) or FileError(path, "the file is not a CSV table of numbers",
                                                    found=str(e).splitlines()[0], hint=_LAYOUT) from None
    except OSError as e:
        raise FileError(path, "the file cannot be read", found=e.strerror) from None
    if not len(table):
        raise FileError(path, "the file holds no examples", hint=_LAYOUT)
    if not np.isfinite(table).all():
        raise _csv_problem(path, skip) or FileError(path, "the file holds a NaN or infinite number", hint=_LAYOUT)
    width = table.shape[1]
    if features is not None and width == features:
        return table, None
    if width < 2 or features is not None and width != features + 1:
        wanted = (f"{features} features (the model's), then a label or none" if features is not None else
                  "features, then a label")
        raise FileError(path, f"the rows have {width} column{'s' * (width != 1)}", expected=f"a row of {wanted}",
                        hint=_LAYOUT)
    return table[:, :-1], table[:, -1]


def _not_utf8(path: Path, e: UnicodeDecodeError) -> FileError:
    return FileError(path, "the file is not UTF-8 text", found=f"the byte {e.object[e.start]:#04x}",
                     hint="save the table as UTF-8 CSV")


def _number(cell: str) -> float | None:
    try:
        return None if "_" in cell else float(cell)
    except ValueError:
        return None


def _rows(path: Path, skip: int = 0):
    """(line number, cells) of each row of a CSV file past its first `skip` lines, as np.loadtxt reads them."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            for number, line in enumerate(f, 1):
                text = line.split("#", 1)[0].strip()
                if number > skip and text:
                    yield number, next(csv.reader([text]))
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from None
    except OSError as e:
        raise FileError(path, "the file cannot be read", found=e.strerror) from None


def _header(path: Path) -> int:
    """The lines to skip: up to the first row if it is a header (no cell a number), else none."""
    for number, cells in _rows(path):
        return number if all(_number(c) is None for c in cells) else 0
    return 0


def _csv_problem(path: Path, skip: int) -> FileError | None:
    """The first ragged row, non-number or non-finite cell of a CSV file, found line by line."""
    width = first = None
    for number, cells in _rows(path, skip):
        if width is None:
            width, first = len(cells), number
        elif len(cells) != width:
            return FileError(path, f"line {number} has {len(cells)} cells, line {first} {width}",
                             hint="give every row as many cells: the features, then the label")
        for column, cell in enumerate(cells, 1):
            value = _number(cell)
            if value is None:
                found = f"`{cell.strip()[:40]}`" if cell.strip() else "an empty cell"
                return FileError(path, f"line {number}, column {column} is not a number", found=found,
                                 hint="every cell must be a number; " + _LAYOUT)
            if not math.isfinite(value):
                return FileError(path, f"line {number}, column {column} is {cell.strip()}",
                                 hint="give a finite number for every missing or infinite value, or leave "
                                      "the row out")
    return None


def _npz(path: Path, features: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """An NPZ file's arrays `x` and `y` (`y` optional given `features`), read
    without pickle and within MAX_BYTES each."""
    hint = "write it with numpy.savez(path, x=examples, y=labels)"
    try:
        archive = np.load(path, mmap_mode="r")  # allow_pickle stays False
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise FileError(path, "the file is not an NPZ archive", found=str(e).splitlines()[0][:200],
                        hint=hint) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise FileError(path, "the file is a single NumPy array (.npy), not an NPZ archive of `x` and `y`",
                        hint=hint)
    with archive:
        needed = ("x",) if features is not None else ("x", "y")
        missing = [k for k in needed if k not in archive.files]
        if missing:
            raise FileError(path, f"the file holds no array `{missing[0]}`",
                            expected="the arrays `x` (examples) and `y` (labels)" +
                                     (", or `x` alone" if features is not None else ""),
                            found=", ".join(f"`{k}`" for k in archive.files) or "no arrays", hint=hint)
        x = _array(path, archive, "x")
        return x, _array(path, archive, "y") if "y" in archive.files else None


def _array(path: Path, archive, key: str) -> np.ndarray:
    """The array `key` of an NPZ archive, its header checked before it is read: numbers, and no larger than
    MAX_BYTES or than the archive holds."""
    try:
        info = archive.zip.getinfo(f"{key}.npy")
        with archive.zip.open(info) as f:
            version = np.lib.format.read_magic(f)
            header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in header:
                raise ValueError(f"the .npy format version {version[0]}.{version[1]}")
            shape, _, dtype = header[version](f)
        if dtype.kind not in _NUMBERS:
            raise FileError(path, f"`{key}` holds {_KINDS.get(dtype.kind, dtype.str)}, not numbers",
                            hint="number the classes 0, 1, 2, …" if key == "y" else "give the examples as numbers")
        size = math.prod(shape) * dtype.itemsize
        if size > MAX_BYTES:
            raise FileError(path, f"`{key}` is too large ({size / 2 ** 30:.1f} GiB, shape {shape})",
                            hint=f"catlearn reads arrays of up to {MAX_BYTES // 2 ** 30} GiB: give a sample")
        if size > info.file_size:
            raise ValueError(f"`{key}` of shape {shape} needs {size:,} bytes but holds {info.file_size:,}")
        array = np.asarray(archive[key])
    except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise FileError(path, f"the array `{key}` is corrupt", found=str(e).splitlines()[0][:200],
                        hint="write the file again with numpy.savez") from None
    bad = np.argwhere(~np.isfinite(array)) if array.dtype.kind == "f" else ()
    if len(bad):
        where = tuple(int(i) for i in bad[0])
        raise FileError(path, f"`{key}[{', '.join(map(str, where))}]` is {array[where]}",
                        hint="give a finite number for every missing or infinite value, or leave the example out")
    return array.astype(float) if key == "x" else array


def load(name: str, split: float = 0.2, seed: int = 0) -> Dataset:
    """A dataset (see :func:`read`), shuffled with `seed`, `split` of it held
    out (of each class, when the labels are classes: integers, one per
    example), and its features standardised with the training part's mean and
    deviation.  A split that leaves nothing held out, or nothing to train on, is
    a CatError."""
    x, y = read(name)
    rng = np.random.default_rng(seed)
    classes = y.ndim == 1 and y.dtype.kind == "i"
    val, train = [], []
    for label in np.unique(y) if classes else [None]:  # stratified: each class split in the same proportion
        rows = rng.permutation(np.flatnonzero(y == label) if classes else np.arange(len(y)))
        n_val = int(round(split * len(rows)))
        val.append(rows[:n_val])
        train.append(rows[n_val:])
    val, train = rng.permutation(np.concatenate(val)), rng.permutation(np.concatenate(train))
    if not len(val) or not len(train):
        least = math.floor(0.5 / split) + 1
        hint = (f"give more examples: with a split of {split:g}, a class of fewer than {least} has none held out"
                if not len(val) else f"give more examples, or a smaller `split` than {split:g} in the learner")
        raise FileError(name, f"{len(x)} examples leave {len(val)} held out and {len(train)} to train on",
                        hint=hint)
    mean = x[train].mean(0)
    scale = x[train].std(0)
    scale = np.where(scale == 0, 1.0, scale)
    x = (x - mean) / scale
    return Dataset(Path(name).stem, x[train], y[train], x[val], y[val], int(y.max()) + 1 if classes else 0, mean,
                   scale)


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
