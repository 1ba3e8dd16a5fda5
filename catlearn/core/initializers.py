"""Initialisers of parameters and feedback states (``param W : R[m, n] ~ glorot``).

Each takes the shape and a NumPy ``Generator`` and returns an array; fan-in
and fan-out are the last and second-to-last axes (a ``matvec`` weight is
``R[out, in]``; a conv kernel ``R[out, in, k…]`` uses the receptive field).
The S4D ones (Gu et al., 2022) give the imaginary parts of a diagonal state
matrix ``R[h, n]``, one entry per complex mode k = 0 … n − 1 along the last axis;
as in the official code, N = 2n counts the state's real dimensions, n conjugate
pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import log, pi, prod, sqrt
from typing import Callable

import numpy as np


def _fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    field = prod(shape[2:]) if len(shape) > 2 else 1
    if len(shape) > 2:
        return shape[1] * field, shape[0] * field
    return shape[-1], shape[-2]


@dataclass(frozen=True)
class Initializer:
    name: str
    kwargs: dict  # name -> default
    sample: Callable
    doc: str


def _glorot(shape, rng):
    fan_in, fan_out = _fans(shape)
    a = sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, shape)


def _he(shape, rng):
    fan_in, _ = _fans(shape)
    return rng.normal(0.0, sqrt(2.0 / fan_in), shape)


def _modes(shape):
    """The index k of each entry along the last axis (its complex mode), as floats."""
    return np.broadcast_to(np.arange(shape[-1], dtype=float), shape).copy() if shape else np.zeros(())


def _s4d_inv(shape, rng):
    big_n = 2 * (shape[-1] if shape else 1)
    return big_n / pi * (big_n / (2 * _modes(shape) + 1) - 1)


INITIALIZERS = {i.name: i for i in [
    Initializer("zeros", {}, lambda shape, rng: np.zeros(shape), "all zeros"),
    Initializer("ones", {}, lambda shape, rng: np.ones(shape), "all ones"),
    Initializer("constant", {"value": 0.0}, lambda shape, rng, value=0.0: np.full(shape, float(value)), "all `value`"),
    Initializer("glorot", {}, _glorot, "Glorot/Xavier uniform: U(±√(6 / (fan_in + fan_out)))"),
    Initializer("he", {}, _he, "He/Kaiming normal: N(0, 2 / fan_in)"),
    Initializer("normal", {"mean": 0.0, "std": 1.0},
                lambda shape, rng, mean=0.0, std=1.0: rng.normal(mean, std, shape), "N(mean, std²)"),
    Initializer("uniform", {"low": -1.0, "high": 1.0},
                lambda shape, rng, low=-1.0, high=1.0: rng.uniform(low, high, shape), "U(low, high)"),
    Initializer("log_uniform", {"low": 0.001, "high": 0.1},
                lambda shape, rng, low=0.001, high=0.1: rng.uniform(log(low), log(high), shape),
                "U(log low, log high): the log of a log-uniform value in [low, high] (S4D's log dt)"),
    Initializer("s4d_lin", {}, lambda shape, rng: pi * _modes(shape),
                "S4D-Lin: π k for the k-th entry of the last axis"),
    Initializer("s4d_inv", {}, _s4d_inv,
                "S4D-Inv: (N/π)(N/(2k + 1) − 1) for the k-th of the n entries of the last axis, N = 2n"),
]}
