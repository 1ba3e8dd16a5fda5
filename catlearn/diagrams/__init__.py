"""Neural circuit diagrams of any Diagram, drawn through graphviz."""
from .draw import VIEWS, Style, default_style, svg, to_dot

__all__ = ["VIEWS", "Style", "default_style", "svg", "to_dot"]
