"""Public testing tools: Hypothesis strategies for random well-typed diagrams,
usable on user-defined primitives too (requires ``hypothesis``)."""
from .strategies import INSTANCES, default_primitives, diagrams, points

__all__ = ["INSTANCES", "default_primitives", "diagrams", "points"]
