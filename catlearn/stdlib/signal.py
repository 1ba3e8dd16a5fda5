"""``std.signal``: causal convolution along the last (time) axis, and positions.

``causal_conv : R[l] * R[l] -> R[l]`` and ``causal_corr : R[l] * R[l] -> R[l]``
are a closed family of bilinear maps, each the other's derivative: the adjoint
of convolving u with k is, in u, correlating with k and, in k, correlating with
u.  Their torch semantics go through the FFT (zero-padded to twice the length,
so that nothing wraps around); their NumPy semantics are the direct sums, exact
on any numbers (sympy's too).  ``positions(n) : () -> R[n]`` is 0, 1, …, n − 1.
"""
import numpy as np

from ..core.primitives import Attr, placed, primitive

M = "std.signal"


def _zeros(x, y):
    return np.zeros(np.broadcast_shapes(np.shape(x), np.shape(y)), dtype=np.result_type(x, y))


def _fft(T, x, y, conjugate: bool):
    """``irfft(rfft(x) · rfft(y))`` (``conj(rfft(y))`` for a correlation), its first l entries."""
    length = x.shape[-1]
    fy = T.fft.rfft(y, n=2 * length)
    product = T.fft.rfft(x, n=2 * length) * (fy.conj() if conjugate else fy)
    return T.fft.irfft(product, n=2 * length)[..., :length]


@primitive("causal_conv", "R[l] * R[l] -> R[l]", module=M, polynomial=True, glyph="∗", preserves_zero="any",
           torch=lambda T, u, k: _fft(T, u, k, False),
           rd=lambda g, i, y, dy: [g.causal_corr(dy, i[1]), g.causal_corr(dy, i[0])])
def causal_conv(u, k):
    """yₜ = Σ_{s ≤ t} kₛ uₜ₋ₛ: u convolved causally with the kernel k (the first l entries of u ∗ k)"""
    u, k = np.asarray(u), np.asarray(k)
    out, length = _zeros(u, k), u.shape[-1]
    for s in range(length):
        out[..., s:] += k[..., s, None] * u[..., :length - s]
    return out


@primitive("causal_corr", "R[l] * R[l] -> R[l]", module=M, polynomial=True, glyph="⋆", preserves_zero="any",
           torch=lambda T, a, b: _fft(T, a, b, True),
           rd=lambda g, i, z, dz: [g.causal_conv(dz, i[1]), g.causal_corr(i[0], dz)])
def causal_corr(a, b):
    """zⱼ = Σ_{m ≤ l−1−j} aⱼ₊ₘ bₘ: a correlated with b (the adjoint of causal_conv in each argument)"""
    a, b = np.asarray(a), np.asarray(b)
    out, length = _zeros(a, b), a.shape[-1]
    for m in range(length):
        out[..., :length - m] += a[..., m:] * b[..., m, None]
    return out


@primitive("positions", "() -> R[n]", module=M, attrs={"n": Attr("dim")}, polynomial=True, glyph="0‥n",
           torch=lambda T, n, like=None: T.arange(n, **(placed(like) or {"dtype": T.get_default_dtype()})),
           rd=lambda g, ins, y, dy, **a: [])
def positions(n):
    """0, 1, …, n − 1: each position of an axis of size n"""
    return np.arange(n, dtype=float)
