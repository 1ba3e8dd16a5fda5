"""``std.stream``: the unit delay, the generator of stateful (stream) models,
and the boxes that read sequences (the time axis first: ``D[t, n]``).

``delay(init=…) : D → D`` outputs its initial value at step 0 and its input
of step n at step n + 1; it is ``dtr_init(σ)`` of the delayed trace.  Its
stream semantics is given by the stateful pass, not by a NumPy function.
"""
import numpy as np

from ..core.primitives import Attr, primitive

M = "std.stream"

primitive("delay", "D -> D", module=M, attrs={"init": Attr("init", ("zeros", ()))}, stateful=True, glyph="z⁻¹",
          doc="the unit delay: the previous step's input")(None)


@primitive("last", "D[t, n] -> D[n]", module=M, polynomial=True, glyph="xₜ₋₁",
           torch=lambda T, x: x[..., -1, :],
           dagger=lambda g, x, dy: g.at_last(dy, t=x.type.shape[-2]))
def last(x):
    """the last step of a sequence"""
    return x[..., -1, :]


@primitive("at_last", "D[n] -> D[t, n]", module=M, attrs={"t": Attr("dim")}, polynomial=True, glyph="⋯x",
           torch=lambda T, x, t: T.cat([T.zeros_like(x).unsqueeze(-2).expand(*x.shape[:-1], t - 1, x.shape[-1]),
                                        x.unsqueeze(-2)], -2),
           dagger=lambda g, x, dy, t: g.apply_named("last", dy))  # (Emitter.last is a size)
def at_last(x, t):
    """the sequence of t steps that is x at its last step and zero before (the adjoint of last)"""
    x = np.asarray(x)
    out = np.zeros(x.shape[:-1] + (t, x.shape[-1]), dtype=x.dtype)
    out[..., -1, :] = x
    return out


@primitive("flip", "D[t, n] -> D[t, n]", module=M, polynomial=True, glyph="⇄",
           torch=lambda T, x: x.flip(-2), dagger=lambda g, x, dy: g.flip(dy))
def flip(x):
    """the sequence in reverse time order (its own adjoint)"""
    return np.flip(x, -2).copy()
