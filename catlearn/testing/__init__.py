"""Public testing tools (requires ``hypothesis``):

* :mod:`~catlearn.testing.strategies` — random well-typed diagrams over any
  primitives (user-defined ones too), random points and cotangents;
* :mod:`~catlearn.testing.laws` — checkers for the laws of LAWS.md §1–4 and §6
  (reverse derivative categories, lenses, Para, monoidal structure, backprop
  as a functor) and the per-model laws run by ``catlearn verify``.
"""
from .strategies import INSTANCES, cotangents, default_primitives, diagrams, instances, points

__all__ = ["INSTANCES", "cotangents", "default_primitives", "diagrams", "instances", "points"]
