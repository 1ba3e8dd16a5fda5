"""Law checkers for a user's own models (``catlearn verify``).

Each checker takes a concrete real-valued diagram and a random generator and
returns the worst error over some random points, computed against an
oracle that does not share the code path under test (finite differences, the
other derivative, the model run example by example).  When a law fails on a
model, :func:`smallest_failure` finds the smallest sub-diagram that fails it
(one box, re-checked on the values that reach it) to show as `.cat` text.

>>> import catlearn, numpy as np
>>> f = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[2] = dense(3, 2) ; tanh")["f"]
>>> report = check_laws(f, np.random.default_rng(0), checks=5)
>>> all(r.passed for r in report)
True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..backends.numpy import evaluate, init_params
from ..core.builder import Builder
from ..core.diagram import CONST, Diagram
from ..core.errors import CatError
from ..semantics.lens import compile_split
from ..semantics.rdc import forward, reverse


@dataclass
class LawResult:
    law: str
    checks: int
    worst: float
    tolerance: float
    skipped: str = ""
    example: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.skipped) or self.worst <= self.tolerance


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / (1.0 + np.abs(b)))) if a.size else 0.0


def _inner(xs, ys) -> float:
    return float(sum(np.sum(np.asarray(x) * np.asarray(y)) for x, y in zip(xs, ys)))


def _point(d: Diagram, rng):
    xs = [rng.uniform(-1.0, 1.0, tuple(t.shape)) for t in d.dom]
    ps = init_params(d, seed=int(rng.integers(2 ** 31)))
    return xs, ps


def _cot(types, rng):
    return [rng.normal(size=tuple(t.shape)) for t in types]


def finite_differences(d: Diagram, rng) -> float:
    """⟨R[f](a, w), v⟩ against the central difference of ⟨f(a + hv), w⟩."""
    xs, ps = _point(d, rng)
    v, w = _cot(d.dom, rng), _cot(d.cod, rng)
    h = 1e-6
    plus = evaluate(d, [x + h * dv for x, dv in zip(xs, v)], ps)
    minus = evaluate(d, [x - h * dv for x, dv in zip(xs, v)], ps)
    fd = (_inner(plus, w) - _inner(minus, w)) / (2 * h)
    grad = evaluate(reverse(d), xs + w, ps)[:len(xs)]
    return abs(_inner(grad, v) - fd) / (1.0 + abs(fd))


def dot_product(d: Diagram, rng) -> float:
    """⟨D[f](a, v), w⟩ = ⟨v, R[f](a, w)⟩: the forward and reverse derivatives agree."""
    xs, ps = _point(d, rng)
    v, w = _cot(d.dom, rng), _cot(d.cod, rng)
    left = _inner(evaluate(forward(d), xs + v, ps), w)
    right = _inner(v, evaluate(reverse(d), xs + w, ps)[:len(xs)])
    return abs(left - right) / (1.0 + abs(right))


def linearity(d: Diagram, rng) -> float:
    """RD.2: R[f](a, b + c) = R[f](a, b) + R[f](a, c)."""
    xs, ps = _point(d, rng)
    b, c = _cot(d.cod, rng), _cot(d.cod, rng)
    r = reverse(d)
    both = evaluate(r, xs + [x + y for x, y in zip(b, c)], ps)
    parts = [x + y for x, y in zip(evaluate(r, xs + b, ps), evaluate(r, xs + c, ps))]
    return max((_rel(x, y) for x, y in zip(both, parts)), default=0.0)


def lens_optic(d: Diagram, rng) -> float:
    """The lens and optic compilations give the same gradients."""
    xs, ps = _point(d, rng)
    w = _cot(d.cod, rng)
    worst = 0.0
    grads = []
    for strategy in ("lens", "optic"):
        split = compile_split(d, strategy)
        out = evaluate(split.forward, xs, ps)
        grads.append(evaluate(split.backward, out[split.n_outputs:] + w, ps))
    for x, y in zip(*grads):
        worst = max(worst, _rel(x, y))
    return worst


MAX_EXAMPLES = 16  # the largest batch the batching law runs example by example


def batch_shape(d: Diagram, rng) -> tuple:
    """A batch of one or two axes whose sizes are sizes of the model's own axes
    (where a batch mistaken for a model's axis would go unnoticed), of at most
    :data:`MAX_EXAMPLES` examples."""
    sizes = sorted({s for t in d.types for s in t.shape if isinstance(s, int) and 1 < s <= MAX_EXAMPLES} or {3})
    first = int(rng.choice(sizes))
    second = [s for s in sizes if first * s <= MAX_EXAMPLES]
    return (first, int(rng.choice(second))) if second and rng.integers(2) else (first,)


def batching(d: Diagram, rng) -> float:
    """The model and its reverse derivative on a batch equal them example by
    example, for a batch whose sizes are the model's own axis sizes."""
    batch = batch_shape(d, rng)
    ps = init_params(d, seed=int(rng.integers(2 ** 31)))
    xs = [rng.uniform(-1.0, 1.0, batch + tuple(t.shape)) for t in d.dom]
    ws = [rng.normal(size=batch + tuple(t.shape)) for t in d.cod]
    r = reverse(d)
    together = evaluate(d, xs, ps) + evaluate(r, xs + ws, ps)
    worst = 0.0
    for k in np.ndindex(*batch):
        alone = evaluate(d, [x[k] for x in xs], ps) + evaluate(r, [x[k] for x in xs + ws], ps)
        worst = max([worst] + [_rel(t[k], a) for t, a in zip(together, alone)])
    return worst


# -- laws of several diagrams (LAWS.md §1–4, §6), for property tests ------------------------
def _worst(xs, ys) -> float:
    return max((_rel(x, y) for x, y in zip(xs, ys)), default=0.0)


def _by_position(whole: Diagram, values: dict, *parts: Diagram) -> list[dict]:
    """The parameter values of each part of a composite (whose later parts'
    clashing names were renamed), matched by position."""
    flat = [values[p.name] for p in whole.params]
    out, i = [], 0
    for part in parts:
        out.append({p.name: v for p, v in zip(part.params, flat[i:i + len(part.params)])})
        i += len(part.params)
    return out


def chain_rule(f: Diagram, g: Diagram, rng) -> float:
    """RD.5: ``R[f ; g](a, c) = R[f](a, R[g](f(a), c))``."""
    fg = f >> g
    a, ps = _point(fg, rng)
    pf, pg = _by_position(fg, ps, f, g)
    c = _cot(g.cod, rng)
    left = evaluate(reverse(fg), a + c, ps)
    rg = evaluate(reverse(g), evaluate(f, a, pf) + c, pg)
    rf = evaluate(reverse(f), a + rg[:len(g.dom)], pf)
    return _worst(left, rf + rg[len(g.dom):])


def pairing(d: Diagram, rng) -> float:
    """RD.4 with RD.1: ``R[⟨f, f⟩](a, (b, c)) = R[f](a, b) + R[f](a, c)``."""
    a, ps = _point(d, rng)
    b, c = _cot(d.cod, rng), _cot(d.cod, rng)
    both = Diagram.copy(d.dom) >> (d @ d)
    values = {p.name: v for p, v in zip(both.params, [ps[p.name] for p in d.params] * 2)}
    parts = [x + y for x, y in zip(evaluate(reverse(d), a + b, ps), evaluate(reverse(d), a + c, ps))]
    return _worst(evaluate(reverse(both), a + b + c, values)[:len(a)], parts[:len(a)])


def rd6(d: Diagram, rng) -> float:
    """RD.6: ``D[R[f]]((a, b), (0, c)) = R[f](a, c)``."""
    a, ps = _point(d, rng)
    b, c = _cot(d.cod, rng), _cot(d.cod, rng)
    zeros = [np.zeros(np.shape(x)) for x in a]
    return _worst(evaluate(forward(reverse(d)), a + b + zeros + c, ps), evaluate(reverse(d), a + c, ps))


def rd7(d: Diagram, rng) -> float:
    """RD.7: ``D[D[f]]((a, b), (c, e)) = D[D[f]]((a, c), (b, e))``."""
    a, ps = _point(d, rng)
    b, c, e = (_cot(d.dom, rng) for _ in range(3))
    dd = forward(forward(d))
    return _worst(evaluate(dd, a + b + c + e, ps), evaluate(dd, a + c + b + e, ps))


def backprop_functor(f: Diagram, g: Diagram, eps: float, rng) -> float:
    """§6: ``L(I ; J) = L(I) ; L(J)`` for gradient-descent learners with quadratic error."""
    from ..semantics.learner import backprop_learner

    p, q = init_params(f, int(rng.integers(2 ** 31))), init_params(g, int(rng.integers(2 ** 31)))
    pv, qv = [p[x.name] for x in f.params], [q[x.name] for x in g.params]
    a, c = [rng.uniform(-1, 1, tuple(t.shape)) for t in f.dom], _cot(g.cod, rng)
    lf, lg, lfg = backprop_learner(f, eps), backprop_learner(g, eps), backprop_learner(f >> g, eps)
    b = evaluate(lf[0], pv + a)
    s_b = evaluate(lg[2], qv + b + c)
    composite = (evaluate(lg[0], qv + b) + evaluate(lf[1], pv + a + s_b) + evaluate(lg[1], qv + b + c)
                 + evaluate(lf[2], pv + a + s_b))
    whole = (evaluate(lfg[0], pv + qv + a) + evaluate(lfg[1], pv + qv + a + c) + evaluate(lfg[2], pv + qv + a + c))
    return _worst(whole, composite)


def lens_functor(f: Diagram, g: Diagram, rng) -> float:
    """§2: ``(f, R[f]) ; (g, R[g]) = (f ; g, R[f ; g])`` (parameter-free f, g)."""
    from ..semantics.lens import Lens

    a, _ = _point(f, rng)
    c = _cot(g.cod, rng)
    left, right = Lens.of(f) >> Lens.of(g), Lens.of(f >> g)
    return max(_worst(evaluate(left.get, a), evaluate(right.get, a)),
               _worst(evaluate(left.put, a + c), evaluate(right.put, a + c)))


def lawful_lens(get: Diagram, put: Diagram, rng) -> dict[str, float]:
    """§2: GetPut, PutGet and PutPut of a lens ``get : S → A``, ``put : S ⊗ A → S``."""
    s = _cot(get.dom, rng)
    a1, a2 = _cot(get.cod, rng), _cot(get.cod, rng)
    return {"GetPut": _worst(evaluate(put, s + evaluate(get, s)), s),
            "PutGet": _worst(evaluate(get, evaluate(put, s + a1)), a1),
            "PutPut": _worst(evaluate(put, evaluate(put, s + a1) + a2), evaluate(put, s + a2))}


def para_composition(f: Diagram, g: Diagram, rng) -> float:
    """§3: ``(P, f) ; (Q, g) = (P × Q, (p, q, a) ↦ g(q, f(p, a)))``."""
    from ..semantics.para import uncurry

    fg = f >> g
    a, ps = _point(fg, rng)
    pf, pg = _by_position(fg, ps, f, g)
    whole = evaluate(uncurry(fg), [ps[p.name] for p in fg.params] + a)
    parts = evaluate(uncurry(g), [pg[p.name] for p in g.params]
                     + evaluate(uncurry(f), [pf[p.name] for p in f.params] + a))
    return _worst(whole, parts)


def monoidal(f: Diagram, g: Diagram, h: Diagram) -> dict[str, bool]:
    """§4: equations of symmetric monoidal categories with copy/discard, as
    equalities of diagrams (f ; g and g ; h must compose; f, g, h
    parameter-free for the cartesian ones)."""
    ida, idb = Diagram.identity(f.dom), Diagram.identity(f.cod)
    copy, drop = Diagram.copy(f.dom), Diagram.discard(f.dom)
    return {
        "id ; f = f = f ; id": ida >> f == f == f >> idb,
        "(f ; g) ; h = f ; (g ; h)": (f >> g) >> h == f >> (g >> h),
        "(f ⊗ h) ; (g ⊗ id) = (f ; g) ⊗ h": (f @ h) >> (g @ Diagram.identity(h.cod)) == (f >> g) @ h,
        "σ ; σ = id": Diagram.swap(f.dom, h.dom) >> Diagram.swap(h.dom, f.dom) == Diagram.identity(f.dom + h.dom),
        "(f ⊗ h) ; σ = σ ; (h ⊗ f)": (f @ h) >> Diagram.swap(f.cod, h.cod) == Diagram.swap(f.dom, h.dom) >> (h @ f),
        "Δ ; (! ⊗ id) = id": copy >> (drop @ ida) == ida,
        "Δ ; σ = Δ": copy >> Diagram.swap(f.dom, f.dom) == copy,
        "f ; Δ = Δ ; (f ⊗ f)": f >> Diagram.copy(f.cod) == copy >> (f @ f),
        "f ; ! = !": f >> Diagram.discard(f.cod) == drop,
    }


LAWS: list[tuple[str, Callable, float]] = [
    ("R[f] agrees with finite differences", finite_differences, 1e-5),
    ("⟨D[f](a, v), w⟩ = ⟨v, R[f](a, w)⟩", dot_product, 1e-9),
    ("RD.2  R[f](a, b + c) = R[f](a, b) + R[f](a, c)", linearity, 1e-9),
    ("lens and optic give the same gradients", lens_optic, 1e-12),
    ("a batch equals example by example, R[f] too", batching, 1e-12),
]


def _applicable(d: Diagram) -> str:
    if any(t.vars() for t in d.types):
        return "symbolic sizes: verify an instance"
    if any(t.dtype != "R" for t in d.types):
        return "not real-valued"
    for op in d.ops:
        if op.prim.stateful or op.body is not None:
            return "stateful (feedback): laws of the delayed trace"
        if op.prim.module in ("user", "value"):
            return f"`{op.prim.name}` has no semantics"
    return ""


def check_laws(d: Diagram, rng, checks: int = 20) -> list[LawResult]:
    """Every law in :data:`LAWS` on `d`, at `checks` random points each."""
    reason = _applicable(d)
    out = []
    for name, law, tol in LAWS:
        if reason:
            out.append(LawResult(name, 0, 0.0, tol, skipped=reason))
            continue
        with np.errstate(all="ignore"):
            errors = [law(d, rng) for _ in range(checks)]
        worst = float(np.nanmax(errors)) if not np.all(np.isnan(errors)) else float("nan")
        result = LawResult(name, checks, worst if np.all(np.isfinite(errors)) else float("inf"), tol)
        if not result.passed:
            result.example = smallest_failure(d, law, tol, rng)
        out.append(result)
    return out


def smallest_failure(d: Diagram, law: Callable, tol: float, rng) -> str:
    """The `.cat` text of the smallest failing sub-diagram: a single box of `d`
    that fails `law` on its own, else `d` itself."""
    for op in d.ops:
        if op.prim is CONST or op.body is not None:
            continue
        b = Builder()
        ins = [b.input(d.types[i]) for i in op.inputs]
        try:
            box = b.finish(b.apply(op.prim, ins, op.attr), op.prim.name)
            with np.errstate(all="ignore"):
                errors = [law(box, rng) for _ in range(5)]
        except CatError:
            continue
        if not all(np.isfinite(e) and e <= tol for e in errors):
            return box.to_cat(op.prim.name)
    return d.to_cat(d.name or "model")
