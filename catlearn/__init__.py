"""catlearn: a category-theoretic compositional learning language.

Models are `.cat` files: string diagrams of parametric lenses.  They are
parsed, type-checked and elaborated into one typed diagram IR
(:class:`~catlearn.core.diagram.Diagram`) on which every construction is a pass.

>>> import catlearn
>>> m = catlearn.loads("use std.nn\\nmodel f : R[8] -> R[8] = relu ; tanh")
>>> m["f"].type
'R[8] -> R[8]'
"""
from importlib.metadata import PackageNotFoundError, version

from . import stdlib  # noqa: F401  (registers the standard primitives)
from .core import batching  # noqa: F401  (registers broadcast_batch)
from .core.diagram import Diagram
from .core.errors import CatError
from .core.primitives import REGISTRY, primitive
from .core.types import TensorType
from .grammar.module import Module, load, loads

try:
    __version__ = version("catlearn-lang")  # the distribution's name: `catlearn` on PyPI is another project
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

__all__ = ["CatError", "Diagram", "Module", "REGISTRY", "TensorType", "load", "loads", "primitive", "__version__"]
