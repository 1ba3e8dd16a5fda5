"""The standard library: primitives (registered on import) and `.cat` modules.

``use std.math``, ``use std.linalg``, ``use std.array``, ``use std.nn``,
``use std.signal`` and ``use std.stream`` bring their primitives, and the
definitions of the `.cat` file of the same name beside this one, into scope;
``use std`` brings all of them.  A module also exports the modules it builds on
(:data:`REEXPORTS`): ``use std.nn`` is all a neural network needs.
"""
from pathlib import Path

from . import array, linalg, math, nn, signal, stream  # noqa: F401  (registration)

STD_DIR = Path(__file__).parent

REEXPORTS = {
    "std.nn": ["std.math", "std.linalg", "std.array"],
    "std.stream": ["std.math"],
}
