"""The NumPy reference interpreter of diagrams."""
from .interpreter import evaluate, init_params

__all__ = ["evaluate", "init_params"]
