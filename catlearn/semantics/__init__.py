"""Categorical constructions as passes on diagrams (reverse derivative, lenses
and optics, Para, learners, the delayed trace, semiring circuits).

Each pass takes Diagrams and returns Diagrams; none is part of this release
yet: the language, the IR and its checker come first (docs/architecture.md).
"""
