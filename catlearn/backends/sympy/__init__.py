"""Exact symbolic interpretation of diagrams with sympy."""
from .interpreter import evaluate, symbols

__all__ = ["evaluate", "symbols"]
