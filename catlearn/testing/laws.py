"""Law checkers for a user's own models (``catlearn verify``).

Each checker takes a concrete real-valued diagram and a random generator and
returns the worst error over some random points, computed against an
oracle that does not share the code path under test (finite differences, the
other derivative, the model run example by example).  When a law fails on a
model, :func:`smallest_failure` finds the smallest sub-diagram that fails it
(one box, re-checked on the values that reach it) to show as `.cat` text.

A stateful model (a step ``f : X → Y`` with ``feedback`` or ``delay``), and the
step of each ``scan`` in a model, is checked on sequences (LAWS.md §5):
backpropagation through time against finite differences and against the
network unrolled T steps, the forward derivative without unrolling, batches of
sequences, and torch's checkpointed BPTT (:data:`STATEFUL_LAWS`).

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
from ..core.check import checked
from ..core.diagram import CONST, SCAN, Diagram, Op, Param
from ..core.errors import CatError
from ..semantics.lens import compile_split
from ..semantics.rdc import forward, reverse
from ..semantics.stateful import derivative, is_stateful, mealy, run, sequence, unroll, with_checkpoints


@dataclass
class LawResult:
    """One law on one model: the worst error over `checks` random points
    (`skipped` says why it was not checked, `error` what the law raised on the
    model); `on` names what it was checked on when that is not the model
    itself (a scan's step)."""

    law: str
    checks: int
    worst: float
    tolerance: float
    skipped: str = ""
    example: str = ""
    on: str = ""
    error: str = ""

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


# -- stateful models (LAWS.md §5): the laws of a step f : X → Y on sequences -----------------
MAX_STEPS = 8  # the longest sequence the stateful laws run


def sequence_length(f: Diagram, rng) -> int:
    """A length T for sequences of `f`: 1 to 3, or a size of one of its own axes
    (at most :data:`MAX_STEPS`), where a time axis mistaken for another would go
    unnoticed."""
    own = {s for t in mealy(f).step.types for s in t.shape if isinstance(s, int) and s <= MAX_STEPS}
    return int(rng.choice(sorted(own | {1, 2, 3})))


def _sequences(f: Diagram, T: int, rng):
    """Random inputs ``x : X[T, …]``, output cotangents ``w : Y[T, …]`` and parameters of `f`."""
    xs = [rng.uniform(-1.0, 1.0, (T,) + tuple(t.shape)) for t in f.dom]
    ws = [rng.normal(size=(T,) + tuple(t.shape)) for t in f.cod]
    return xs, ws, init_params(f, seed=int(rng.integers(2 ** 31)))


def _bptt(f: Diagram, T: int, xs, ws, ps) -> tuple[list, dict]:
    """``R[scan(f)]`` on NumPy: the inputs' cotangents and the parameters' by name."""
    seq = sequence(f, T)
    out = evaluate(reverse(seq), xs + ws, ps)
    return out[:len(xs)], {p.name: g for p, g in zip(seq.params, out[len(xs):])}


def bptt_finite_differences(f: Diagram, rng) -> float:
    """Backpropagation through time, ``R[scan(f)]``, against central finite differences."""
    return finite_differences(sequence(f, sequence_length(f, rng)), rng)


def bptt_unrolled(f: Diagram, rng) -> float:
    """``R[scan(f)] = R[f unrolled T steps]``, the cotangents of every step's
    inputs and of the parameters (shared by every step, summed over them)."""
    T = sequence_length(f, rng)
    xs, ws, ps = _sequences(f, T, rng)
    dxs, dps = _bptt(f, T, xs, ws, ps)
    u = unroll(f, T)
    out = evaluate(reverse(u), [x[t] for t in range(T) for x in xs] + [w[t] for t in range(T) for w in ws], ps)
    n = len(xs)
    steps = [np.stack([out[t * n + j] for t in range(T)]) for j in range(n)]
    return _worst(dxs + [dps[p.name] for p in u.params], steps + out[T * n:])


def forward_without_unrolling(f: Diagram, rng) -> float:
    """``⟨D[f](x, v), w⟩ = ⟨v, R[scan(f)](x, w)⟩``: the forward derivative as a
    stateful morphism (``derivative``, tangent states, nothing unrolled) and
    backpropagation through time agree."""
    T = sequence_length(f, rng)
    xs, ws, ps = _sequences(f, T, rng)
    vs = [rng.normal(size=x.shape) for x in xs]
    tangents = run(derivative(f), xs + vs, ps)[0][len(f.cod):]
    left = _inner(tangents, ws)
    right = _inner(vs, _bptt(f, T, xs, ws, ps)[0])
    return abs(left - right) / (1.0 + abs(right))


def sequence_batching(f: Diagram, rng) -> float:
    """``scan(f)`` and BPTT on a batch of sequences equal them sequence by
    sequence (the batch's sizes drawn among the model's and the length's)."""
    return batching(sequence(f, sequence_length(f, rng)), rng)


def checkpoints(f: Diagram, rng) -> float:
    """BPTT on torch keeping every k-th state (k ≥ 2, recomputing the others)
    equals keeping every state, and NumPy's ``R[scan(f)]``, in both gradient modes."""
    import torch

    from ..backends.torch import compile_module

    T = max(3, sequence_length(f, rng))
    xs, ws, ps = _sequences(f, T, rng)
    every = int(rng.integers(2, T))
    dxs, dps = _bptt(f, T, xs, ws, ps)
    expected = dxs + [dps[k] for k in sorted(dps)]
    worst = 0.0
    for keep in (0, every):
        for mode in ("autograd", "rd"):
            module = compile_module(with_checkpoints(sequence(f, T), keep), mode, dtype=torch.float64)
            module.load_state_dict({k: torch.as_tensor(np.asarray(v), dtype=torch.float64) for k, v in ps.items()})
            named = dict(module.named_parameters())
            tx = [torch.tensor(x, requires_grad=True) for x in xs]
            ys = module(*tx)
            ys = ys if isinstance(ys, tuple) else (ys,)
            loss = sum((y * torch.as_tensor(w)).sum() for y, w in zip(ys, ws))
            wrt = tx + [named[k] for k in sorted(named)]
            grads = torch.autograd.grad(loss, wrt, allow_unused=True) if loss.requires_grad else [None] * len(wrt)
            got = [np.zeros(tuple(v.shape)) if g is None else g.detach().numpy() for v, g in zip(wrt, grads)]
            worst = max(worst, _worst(got, expected))
    return worst


STATEFUL_LAWS: list[tuple[str, Callable, float]] = [
    ("BPTT agrees with finite differences", bptt_finite_differences, 1e-5),
    ("BPTT = R[f unrolled T steps]", bptt_unrolled, 1e-9),
    ("⟨D[f](x, v), w⟩ = ⟨v, BPTT(x, w)⟩, no unrolling", forward_without_unrolling, 1e-9),
    ("a batch of sequences equals them one by one", sequence_batching, 1e-12),
    ("BPTT keeping every k-th state = every state", checkpoints, 1e-10),
]


def _boxes(d: Diagram):
    """``(op, types)`` of every box of `d`, inside feedback and scan bodies too."""
    for op in d.ops:
        if op.body is not None:
            yield from _boxes(op.body)
        else:
            yield op, d.types


def _applicable(d: Diagram) -> str:
    if any(t.vars() for t in d.types):
        return "symbolic sizes: verify an instance"
    if any(t.dtype != "R" for t in d.types):
        return "not real-valued"
    for op, types in _boxes(d):
        if any(types[w].dtype != "R" for w in op.inputs + op.outputs):
            return "not real-valued"
        if op.prim.module in ("user", "value"):
            return f"`{op.prim.name}` has no semantics"
    try:
        for f in [d] + [op.body for op in d.ops if op.prim is SCAN]:
            mealy(f)
    except CatError as e:  # a state that does not start from a constant
        return e.message
    return ""


def scan_step(d: Diagram, op: Op) -> Diagram:
    """The step ``f`` of a scan box of `d` as a model of its own: its body, the
    parameters of `d` that it reads as its own parameters, its other constants as inputs."""
    n, body = op.attr["n_inputs"], op.body
    params = {p.wire: p for p in d.params}
    outer = list(zip(body.inputs[n:], op.inputs[n:]))
    inputs = body.inputs[:n] + tuple(w for w, o in outer if o not in params)
    own = tuple(Param(params[o].name, w, params[o].init, params[o].span) for w, o in outer if o in params)
    return checked(Diagram(body.types, body.ops, inputs, body.outputs, own, f"{d.name or 'scan'}_step"),
                   "a scan's step")


def _check(d: Diagram, laws: list, rng, checks: int, on: str = "") -> list[LawResult]:
    out = []
    for name, law, tol in laws:
        error = ""
        try:
            with np.errstate(all="ignore"):
                errors = [law(d, rng) for _ in range(checks)]
        except Exception as e:  # a law that cannot run on the model fails, saying why
            errors, error = [float("inf")], f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        worst = float(np.nanmax(errors)) if not np.all(np.isnan(errors)) else float("nan")
        result = LawResult(name, checks, worst if np.all(np.isfinite(errors)) else float("inf"), tol, on=on,
                           error=error)
        if not result.passed:
            result.example = smallest_failure(d, law, tol, rng)
        out.append(result)
    return out


def check_laws(d: Diagram, rng, checks: int = 20) -> list[LawResult]:
    """The laws of `d`, at `checks` random points each: those of :data:`LAWS`
    on a stateless `d`; those of :data:`STATEFUL_LAWS` on a stateful one (a step
    with ``feedback`` or ``delay``); on a `d` with ``scan`` boxes, :data:`LAWS`
    but the forward derivative (which does not go through a scan) and
    :data:`STATEFUL_LAWS` on each scan's step."""
    reason = _applicable(d)
    if reason:
        return [LawResult(name, 0, 0.0, tol, skipped=reason) for name, _, tol in LAWS]
    if is_stateful(d):
        return _check(d, STATEFUL_LAWS, rng, checks)
    scans = [op for op in d.ops if op.prim is SCAN]
    if not scans:
        return _check(d, LAWS, rng, checks)
    out = _check(d, [law for law in LAWS if law[1] is not dot_product], rng, checks)
    out.insert(1, LawResult(LAWS[1][0], 0, 0.0, LAWS[1][2], skipped="not through a scan: see its step"))
    for k, op in enumerate(scans):
        step = scan_step(d, op)
        which = f"scan {k + 1}'s" if len(scans) > 1 else "the scan's"
        out += _check(step, STATEFUL_LAWS, rng, checks, on=f"{which} step, {step.type}")
    return out


def smallest_failure(d: Diagram, law: Callable, tol: float, rng) -> str:
    """The `.cat` text of the smallest failing sub-diagram: a single box of `d`
    (inside its loops and scans too) that fails `law` on its own, else `d` itself."""
    for op, types in _boxes(d):
        if op.prim is CONST or op.prim.stateful:
            continue
        b = Builder()
        ins = [b.input(types[i]) for i in op.inputs]
        try:
            box = b.finish(b.apply(op.prim, ins, op.attr), op.prim.name)
            with np.errstate(all="ignore"):
                errors = [law(box, rng) for _ in range(5)]
        except Exception:  # a box the law cannot run on is not the one to show
            continue
        if not all(np.isfinite(e) and e <= tol for e in errors):
            return box.to_cat(op.prim.name)
    return d.to_cat(d.name or "model")
