"""The dtypes the backends compute in.

The NumPy interpreter and the torch backend run every box in real
arithmetic, reduced after each box for ``Z_p`` (mod p) and ``B`` (nonzero is
true).  That is exact for the semirings whose ⊕ is + and ⊗ is ×: ``R``,
``Z``, ``N``, ``Z_p`` and ``B``.  Over ``Trop``, ``MinPlus`` and ``Log`` the
⊕ is max, min or logaddexp and the zero ∓∞: real arithmetic would give
another answer, so a model with wires of those types checks and draws, but
the backends refuse to run it rather than compute a wrong one.

>>> import catlearn
>>> from catlearn.backends.numpy import evaluate
>>> f = catlearn.loads("use std\\nmodel f : Trop[2] -> Trop[2] = param W : Trop[2, 2] ~ zeros\\n  x => matvec(W, x)")["f"]
>>> evaluate(f, [[1.0, 2.0]], {"W": [[0.0, 5.0], [1.0, 0.0]]})
Traceback (most recent call last):
...
catlearn.core.errors.CatError: <string>:3:8: error: the NumPy interpreter cannot run `matvec` over `Trop` (its ⊕ is not +)
  |
3 |   x => matvec(W, x)
  |        ^^^^^^^^^^^^
...
"""
from __future__ import annotations

from ..core.diagram import Diagram
from ..core.errors import CatError

#: semirings whose ⊕ is not +: no backend computes in them yet
NOT_RUN = ("Trop", "MinPlus", "Log")


def require_real_arithmetic(d: Diagram, backend: str) -> None:
    """Raise a :class:`CatError` at the first box of `d` (or of a body in it)
    with a wire over a semiring in :data:`NOT_RUN`, else at such a parameter
    or boundary wire (a model that passes one through)."""
    for op in d.ops:
        for w in (*op.inputs, *op.outputs):
            if d.types[w].dtype in NOT_RUN:
                _refuse(backend, f"`{op.prim.name}`", d.types[w], op.span)
        if op.body is not None:
            require_real_arithmetic(op.body, backend)
    for param in d.params:
        if d.types[param.wire].dtype in NOT_RUN:
            _refuse(backend, f"the parameter `{param.name}`", d.types[param.wire], param.span)
    for w in (*d.inputs, *d.outputs):
        if d.types[w].dtype in NOT_RUN:
            _refuse(backend, "a model", d.types[w], None)


def _refuse(backend: str, what: str, t, span) -> None:
    raise CatError(f"the {backend} cannot run {what} over `{t.dtype}` (its ⊕ is not +)", span,
                   expected="a dtype computed by real arithmetic: R, Z, N, B or Z_p", found=str(t),
                   hint="models over Trop, MinPlus and Log check and draw; their products run from Python "
                        "with catlearn.backends.torch.semiring (semiring_matmul(a, b, 'maxplus'), semiring_einsum, "
                        "semiring_conv1d, semiring_conv2d)")
