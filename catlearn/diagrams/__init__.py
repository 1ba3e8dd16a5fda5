"""Neural circuit diagrams of any Diagram, drawn through graphviz.

Drawing is not part of this release yet: the language, the IR and its checker
come first (docs/architecture.md).
"""
