"""``std.stream``: the unit delay, the generator of stateful (stream) models.

``delay(init=…) : D → D`` outputs its initial value at step 0 and its input
of step n at step n + 1; it is ``dtr_init(σ)`` of the delayed trace.  Its
stream semantics is given by the stateful pass, not by a NumPy function.
"""
from ..core.primitives import Attr, primitive

M = "std.stream"

primitive("delay", "D -> D", module=M, attrs={"init": Attr("init", ("zeros", ()))}, stateful=True, glyph="z⁻¹",
          doc="the unit delay: the previous step's input")(None)
