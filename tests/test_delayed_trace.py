"""LAWS.md §5: the delayed trace (Sprunger and Katsumata), on random steps.

A step is ``φ : X ⊗ S → Y ⊗ S`` (catlearn's order: inputs then state, outputs
then next state) and ``dtr_i(φ)`` its ``feedback`` from the initial state ``i``.
Stream semantics on finite prefixes (:func:`run`) is compared with the
definition, ``s₀ = i, (yₙ, sₙ₊₁) = φ(xₙ, sₙ)``, computed here by one NumPy
evaluation of φ per step (:func:`stream`), which never sees the Mealy pass;
derivatives with torch's autograd and ``jvp`` of the network unrolled by hand
and with finite differences.
"""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import catlearn
from catlearn.backends.numpy import evaluate, init_params
from catlearn.backends.torch import compile_module
from catlearn.core.builder import Builder
from catlearn.core.diagram import Diagram
from catlearn.core.errors import DefinitionError
from catlearn.core.primitives import REGISTRY
from catlearn.core.types import TensorType
from catlearn.semantics.rdc import reverse
from catlearn.testing.laws import sequence_batching
from catlearn.semantics.stateful import (Mealy, State, derivative, from_mealy, mealy, run, sequence, trace, unroll,
                                         with_checkpoints)
from catlearn.testing.strategies import (diagrams, initial_states, maps, smooth_primitives,
                                         stateful_diagrams, steps, streams, tensor_types)

SMOOTH = smooth_primitives()
FAST = settings(max_examples=50, deadline=None)
SLOW = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2 ** 31)
lengths = st.integers(1, 6)


def initial(t: TensorType, init: tuple) -> np.ndarray:
    """The value of an initial-state spec (zeros, ones, constant(value=c)) of type `t`."""
    name, kwargs = init
    return np.full(t.shape, {"zeros": 0.0, "ones": 1.0}[name] if name != "constant" else dict(kwargs)["value"])


def stream(phi: Diagram, xs: list, inits: list, params: dict) -> list:
    """``y₀, y₁, …`` of ``dtr(φ)`` from the definition (LAWS.md §5), stacked along time."""
    states = [initial(t, i) for t, i in zip(phi.dom[len(xs):], inits)]
    ny = len(phi.cod) - len(states)
    ys: list = [[] for _ in range(ny)]
    for n in range(len(xs[0])):
        outs = evaluate(phi, [x[n] for x in xs] + states, params)
        for y, value in zip(ys, outs):
            y.append(value)
        states = outs[ny:]
    return [np.stack(y) for y in ys]


def assert_streams(left: list, right: list, tol: float = 1e-12):
    assert len(left) == len(right)
    for a, b in zip(left, right):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)


def values(left: Diagram, right: Diagram, seed: int) -> dict:
    """Parameter values for two sides of a law, which have the same parameters."""
    ps = init_params(left, seed)
    assert sorted(ps) == sorted(p.name for p in right.params)
    return ps


def tensored(phi: Diagram, g: Diagram) -> Diagram:
    """``φ ⊗ g`` with the state of φ last: ``X ⊗ X' ⊗ S → Y ⊗ Y' ⊗ S``."""
    b = Builder()
    xs, xs2, s = [b.input(t) for t in phi.dom[:-1]], [b.input(t) for t in g.dom], b.input(phi.dom[-1])
    outs = b.splice(phi, xs + [s])
    return b.finish(outs[:-1] + b.splice(g, xs2) + outs[-1:])


# -- yanking fails: the trace of the symmetry is the unit delay -----------------------------
@FAST
@given(tensor_types(), initial_states(), lengths, st.sampled_from([(), (3,)]), seeds)
def test_yanking_fails_the_trace_of_the_swap_is_the_unit_delay(t, init, n, batch, seed):
    """``dtr_i(σ_{X,X}) : X → X`` outputs ``i, x₀, x₁, …``: the unit delay, not ``id``."""
    yank = trace(Diagram.swap([t], [t]), init)
    xs = streams(yank, n, seed, batch)
    (ys,), (last,) = run(yank, xs)
    first = np.broadcast_to(initial(t, init), (1,) + batch + t.shape)
    expected = np.concatenate([first, xs[0][:-1]])
    assert np.array_equal(ys, expected)
    assert np.array_equal(last, xs[0][-1])
    assert not np.array_equal(ys, xs[0])
    assert np.array_equal(run(Diagram.box("delay", [t], init=init), xs)[0][0], expected)


def test_yanking_regression_by_hand():
    yank = trace(Diagram.swap([TensorType("R", (2,))], [TensorType("R", (2,))]), ("constant", (("value", 7.0),)))
    (ys,), _ = run(yank, [np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])])
    assert ys.tolist() == [[7.0, 7.0], [1.0, 2.0], [3.0, 4.0]]


# -- the delayed trace is the definition -----------------------------------------------------
@FAST
@given(steps(), initial_states(), lengths, seeds)
def test_the_feedback_of_a_step_is_its_stream_semantics(phi, init, n, seed):
    d = trace(phi, init)
    xs, ps = streams(d, n, seed), init_params(phi, seed)
    with np.errstate(all="ignore"):
        assert_streams(run(d, xs, ps)[0], stream(phi, xs, [init], ps))


# -- naturality (tightening), even for stateful h and k --------------------------------------
@FAST
@given(st.data(), lengths, seeds)
def test_naturality_holds_for_stateful_h_and_k(data, n, seed):
    """``dtr_i((h ⊗ S) ; φ ; (k ⊗ S)) = h ; dtr_i(φ) ; k`` for stateful ``h, k``,
    and both are the composite of the three stream functions."""
    h = data.draw(stateful_diagrams(prefix="h"))
    phi = data.draw(steps(inputs=h.cod, prefix="f"))
    k = data.draw(stateful_diagrams(phi.cod[:-1], prefix="k"))
    init = data.draw(initial_states())
    ids = Diagram.identity(phi.dom[-1:])
    left = trace((h @ ids) >> phi >> (k @ ids), init)
    right = h >> trace(phi, init) >> k
    ps = values(left, right, seed)
    xs = streams(left, n, seed)
    with np.errstate(all="ignore"):
        composite = run(k, stream(phi, run(h, xs, ps)[0], [init], ps), ps)[0]
        assert_streams(run(left, xs, ps)[0], composite)
        assert_streams(run(right, xs, ps)[0], composite)


# -- vanishing, superposing, nesting -----------------------------------------------------------
@FAST
@given(st.lists(tensor_types(), min_size=1, max_size=3).flatmap(lambda dom: diagrams(dom=tuple(dom), batch=False)),
       lengths, seeds)
def test_vanishing_a_stateless_diagram_is_its_own_mealy_form(g, n, seed):
    """``S = I``: a stateless ``g`` has no state and runs as ``g`` at every step."""
    m = mealy(g)
    assert m.stateless and m.step == g
    xs, ps = streams(g, n, seed), init_params(g, seed)
    with np.errstate(all="ignore"):
        by_step = [np.stack(y) for y in zip(*(evaluate(g, [x[t] for x in xs], ps) for t in range(n)))]
        assert_streams(run(g, xs, ps)[0], by_step)


@FAST
@given(st.data(), lengths, seeds)
def test_vanishing_a_trace_over_the_unit_is_its_body(data, n, seed):
    """``dtr(φ) = (X ⊗ ∗) ; φ ; (Y ⊗ !)`` for the state ``R[0]`` (one point: ``I``)."""
    unit = TensorType("R", (0,))
    phi = data.draw(steps(states=(unit,)))
    b = Builder()
    xs = [b.input(t) for t in phi.dom[:-1]]
    (point,) = b.apply("zeros", [], {"shape": (0,), "dtype": "R"})
    body = b.finish(b.splice(phi, xs + [point])[:-1])
    d = trace(phi, data.draw(initial_states()))
    xs, ps = streams(d, n, seed), init_params(phi, seed)
    with np.errstate(all="ignore"):
        assert_streams(run(d, xs, ps)[0], evaluate(body, xs, ps))  # time as a batch axis: no state


@FAST
@given(st.data(), st.booleans(), lengths, seeds)
def test_superposing(data, stateful, n, seed):
    """``dtr(φ) ⊗ g = dtr(φ ⊗ g)``, for a stateless and for a stateful g."""
    phi = data.draw(steps(prefix="f"))
    g = data.draw(stateful_diagrams(prefix="g") if stateful else diagrams(prefix="g", batch=False))
    init = data.draw(initial_states())
    left, right = trace(phi, init) @ g, trace(tensored(phi, g), init)
    ps = values(left, right, seed)
    xs = streams(left, n, seed)
    with np.errstate(all="ignore"):
        assert_streams(run(left, xs, ps)[0], run(right, xs, ps)[0])
        assert_streams(run(left, xs, ps)[0][:len(phi.cod) - 1], stream(phi, xs[:len(phi.dom) - 1], [init], ps))


@FAST
@given(st.data(), lengths, seeds)
def test_nesting_two_traces_are_the_trace_over_the_product(data, n, seed):
    """``dtr_{(i,j)}`` over ``S ⊗ T`` (the Mealy form with both states, and
    `from_mealy`'s nested loops) = ``dtr_i(dtr_j(φ))``."""
    s, t = data.draw(tensor_types()), data.draw(tensor_types())
    phi = data.draw(steps(states=(s, t)))
    i, j = data.draw(initial_states()), data.draw(initial_states())
    nx, ny = len(phi.dom) - 2, len(phi.cod) - 2
    nested = trace(trace(phi, j, state="t"), i, state="s")
    product = Mealy(phi, (State(s, i), State(t, j)), nx, ny)
    xs, ps = streams(nested, n, seed), init_params(phi, seed)
    expected = stream(phi, xs, [i, j], ps)
    with np.errstate(all="ignore"):
        assert_streams(run(nested, xs, ps)[0], expected)
        assert_streams(run(product, xs, ps)[0], expected)
        assert_streams(run(from_mealy(product), xs, ps)[0], expected)


@FAST
@given(st.data(), st.integers(1, 3), st.integers(1, 3), lengths, seeds)
def test_nesting_with_one_state_wire_for_the_product(data, a, c, n, seed):
    """``S ⊗ T`` as one wire ``R[a + c]`` (a concatenation): one feedback equals two nested ones.
    Its initial value is one constant, so ``i = j`` here."""
    s, t = TensorType("R", (a,)), TensorType("R", (a + c,))
    phi = data.draw(steps(states=(s, TensorType("R", (c,)))))
    init = data.draw(initial_states())
    b = Builder()
    xs, both = [b.input(x) for x in phi.dom[:-2]], b.input(t)
    halves = [b.apply("slice", [both], {"start": 0, "stop": a})[0],
              b.apply("slice", [both], {"start": a, "stop": a + c})[0]]
    outs = b.splice(phi, xs + halves)
    one = trace(b.finish(outs[:-2] + b.apply("concat", outs[-2:])), init)
    nested = trace(trace(phi, init, state="t"), init, state="s")
    ps = values(one, nested, seed)
    xs = streams(one, n, seed)
    with np.errstate(all="ignore"):
        assert_streams(run(one, xs, ps)[0], run(nested, xs, ps)[0])


# -- dinaturality: for stateless g with the initial state pushed forward; not for a delay -----
#: boxes mapping tensors whose entries are all equal to such tensors (elementwise maps, reductions, broadcasts)
UNIFORM = [REGISTRY[n] for n in ("add", "sub", "mul", "neg", "square", "tanh", "sin", "cos", "sigmoid", "softplus",
                                 "maximum", "minimum", "sum", "mean", "max", "min", "logsumexp", "softmax",
                                 "broadcast", "transpose", "flatten", "outer", "dot", "matvec")]
#: boxes mapping 0 to 0 when one input is 0 (multilinear or odd), with parameters as the other inputs
ZERO = [REGISTRY[n] for n in ("mul", "neg", "tanh", "sin", "matvec", "dot", "outer", "einsum", "sum", "transpose",
                              "broadcast", "square")]


def _constant(value: np.ndarray):
    """The initial-state spec whose value is `value`, if its entries are all equal (else None)."""
    flat = np.ravel(value)
    if flat.size and (not np.all(flat == flat[0]) or not np.isfinite(flat[0])):
        return None
    return ("constant", (("value", float(flat[0]) if flat.size else 0.0),))


@FAST
@given(st.data(), st.booleans(), lengths, seeds)
def test_dinaturality_for_stateless_g_with_the_initial_state_pushed_forward(data, linear, n, seed):
    """``dtr_i((X ⊗ g) ; φ) = dtr_{g(i)}(φ ; (Y ⊗ g))`` for ``φ : X ⊗ S → Y ⊗ S'``,
    ``g : S' → S`` stateless, ``i : S'``.

    An initial state is a constant (every entry one value), so ``g(i)`` must be
    one: either ``i`` is any constant and ``g`` is made, without parameters, of
    boxes that keep tensors constant (elementwise maps, reductions, broadcasts),
    or ``i = 0`` and ``g`` is made, with parameters, of boxes that keep 0
    (multilinear and odd maps).  Any other ``g(i)`` (a learned bias, a one-hot)
    cannot be the initial value of a ``feedback``: the law is not expressible."""
    s2, s = data.draw(tensor_types()), data.draw(tensor_types())
    if linear:
        g, i = data.draw(maps((s2,), (s,), ZERO, prefix="g", consts=False)), ("zeros", ())
    else:
        g, i = data.draw(maps((s2,), (s,), UNIFORM, prefix="g", params=False)), data.draw(initial_states())
    phi = data.draw(steps(inputs=data.draw(st.lists(tensor_types(), min_size=1, max_size=2)), states=(s,),
                          nexts=(s2,), prefix="f"))
    ps = init_params(phi, seed) | init_params(g, seed + 1)
    with np.errstate(all="ignore"):
        pushed = _constant(evaluate(g, [initial(s2, i)], ps)[0])
    assume(pushed is not None)
    xid, yid = Diagram.identity(phi.dom[:-1]), Diagram.identity(phi.cod[:-1])
    left, right = trace((xid @ g) >> phi, i), trace(phi >> (yid @ g), pushed)
    xs = streams(left, n, seed)
    with np.errstate(all="ignore"):
        assert_streams(run(left, xs, ps)[0], run(right, xs, ps)[0])


def _accumulator(t):
    """``φ(x, s) = (s, x + s)``: outputs the state it reads."""
    b = Builder()
    x, s = b.input(t), b.input(t)
    return b.finish([s] + b.apply("add", [x, s]))


@FAST
@given(tensor_types(), st.floats(-1, 1, width=32), st.floats(0.125, 1, width=32), st.integers(2, 6), seeds)
def test_dinaturality_fails_for_a_delay(t, i, gap, n, seed):
    """With ``g`` the delay from ``j`` and ``i ≠ j``, ``dtr_i((X ⊗ g) ; φ)`` reads
    ``j, i, x₀ + j, x₁ + i, …`` and ``dtr_k(φ ; (Y ⊗ g))`` reads ``k, j, x₀ + k, x₁ + j, …``:
    their second entries differ for every ``k``."""
    j = i + gap
    const = lambda v: ("constant", (("value", float(v)),))  # noqa: E731
    phi, delay = _accumulator(t), Diagram.box("delay", [t], init=const(j))
    ids = Diagram.identity([t])
    left = trace((ids @ delay) >> phi, const(i))
    (x,) = streams(left, n, seed)
    (ys,), _ = run(left, [x])
    seen = [np.full(t.shape, j), np.full(t.shape, i)]
    for m in range(2, n):
        seen.append(x[m - 2] + seen[m - 2])
    np.testing.assert_allclose(ys, np.stack(seen), rtol=1e-15, atol=0)
    for k in (i, j):
        (other,), _ = run(trace(phi >> (ids @ delay), const(k)), [x])
        assert np.all(other[1] == j) and np.all(ys[1] == i)  # whatever k, as i ≠ j
        seen_right = [np.full(t.shape, k), np.full(t.shape, j)]
        for m in range(2, n):
            seen_right.append(x[m - 2] + seen_right[m - 2])
        np.testing.assert_allclose(other, np.stack(seen_right), rtol=1e-15, atol=0)
    same = trace((ids @ delay) >> phi, const(j))  # i = j: both read j, j, x₀ + j, x₁ + j, …
    assert np.array_equal(run(same, [x])[0][0], run(trace(phi >> (ids @ delay), const(j)), [x])[0][0])


# -- derivatives: BPTT and the forward derivative without unrolling ----------------------------
def _load(module, ps: dict):
    module.load_state_dict({k: torch.as_tensor(np.asarray(v), dtype=torch.float64) for k, v in ps.items()})
    return module


def _unrolled_loss(d: Diagram, T: int, ps: dict, xs, ws):
    """``Σₜ ⟨yₜ, wₜ⟩`` of the network unrolled by `unroll` on torch (autograd
    differentiates it), with `xs`, `ws` sequences ``(T, …)``."""
    module = _load(compile_module(unroll(d, T), dtype=torch.float64), ps)
    outs = module(*[x[t] for t in range(T) for x in xs])
    outs = outs if isinstance(outs, tuple) else (outs,)
    ny = len(d.cod)
    return module, sum((y * ws[j][t]).sum() for t in range(T) for j, y in enumerate(outs[t * ny:(t + 1) * ny]))


def _grads(loss, module, xs) -> list:
    """The gradients of `loss` with respect to `xs`, then the module's parameters by name."""
    named = dict(module.named_parameters())
    wrt = list(xs) + [named[k] for k in sorted(named)]
    grads = torch.autograd.grad(loss, wrt, allow_unused=True) if loss.requires_grad else [None] * len(wrt)
    return [np.zeros(tuple(w.shape)) if g is None else g.detach().numpy() for w, g in zip(wrt, grads)]


@SLOW
@given(stateful_diagrams(primitives=SMOOTH), st.integers(1, 7), st.integers(2, 4), seeds)
def test_bptt_equals_autograd_of_the_unrolled_network(d, T, every, seed):
    """The gradients of ``⟨scan(d)(x), w⟩`` by BPTT (torch, both gradient modes,
    every state kept and every k-th; NumPy's ``R[scan]``) = torch's autograd of
    ``d`` unrolled T steps = central finite differences, on one sequence (on a
    batch: the next test)."""
    seq = sequence(d, T)
    rng = np.random.default_rng(seed)
    ps = init_params(seq, seed)
    xs = [rng.uniform(-1, 1, (T,) + tuple(t.shape)) for t in d.dom]
    ws = [rng.normal(size=(T,) + tuple(t.shape)) for t in d.cod]
    tx = [torch.tensor(x, requires_grad=True) for x in xs]
    module, loss = _unrolled_loss(d, T, ps, tx, [torch.tensor(w) for w in ws])
    oracle = _grads(loss, module, tx)
    for mode, keep in [(m, k) for m in ("autograd", "rd") for k in (0, every)]:
        scanned = _load(compile_module(with_checkpoints(seq, keep), mode, dtype=torch.float64), ps)
        tx = [torch.tensor(x, requires_grad=True) for x in xs]
        outs = scanned(*tx)
        outs = outs if isinstance(outs, tuple) else (outs,)
        assert_streams(_grads(sum((y * torch.tensor(w)).sum() for y, w in zip(outs, ws)), scanned, tx), oracle, 1e-10)
    back, names = evaluate(reverse(seq), xs + ws, ps), [p.name for p in seq.params]
    assert_streams(back[:len(xs)] + [back[len(xs) + names.index(k)] for k in sorted(ps)], oracle, 1e-10)
    dx = [rng.normal(size=x.shape) for x in xs]
    dp = {k: rng.normal(size=np.shape(v)) for k, v in ps.items()}
    h = 1e-6

    def loss_at(eps):
        ys = evaluate(seq, [x + eps * v for x, v in zip(xs, dx)], {k: ps[k] + eps * dp[k] for k in ps})
        return sum(float(np.sum(y * w)) for y, w in zip(ys, ws))

    fd = (loss_at(h) - loss_at(-h)) / (2 * h)
    along = sum(float(np.sum(g * v)) for g, v in zip(oracle, dx + [dp[k] for k in sorted(ps)]))
    assert abs(along - fd) <= 1e-6 * (1 + abs(fd))


@SLOW
@given(stateful_diagrams(primitives=SMOOTH), seeds)
def test_a_batch_of_sequences_equals_them_one_by_one(d, seed):
    """``scan(d)`` and its BPTT on a batch of sequences (NumPy; the batch's
    sizes drawn among the model's axis sizes and the length) equal them
    sequence by sequence: the batch is ``vmap``."""
    assert sequence_batching(d, np.random.default_rng(seed)) <= 1e-12


@SLOW
@given(stateful_diagrams(primitives=SMOOTH), lengths, seeds)
def test_the_forward_derivative_without_unrolling_is_the_jvp_of_the_unrolled_network(d, T, seed):
    """``derivative(d)`` run on ``(x, ẋ)`` streams gives ``d``'s outputs and
    their tangents: those of ``torch.func.jvp`` of ``d`` unrolled T steps."""
    rng = np.random.default_rng(seed)
    ps = init_params(d, seed)
    xs = [rng.uniform(-1, 1, (T,) + tuple(t.shape)) for t in d.dom]
    dxs = [rng.normal(size=x.shape) for x in xs]
    outs = run(derivative(d), xs + dxs, ps)[0]
    module = _load(compile_module(unroll(d, T), dtype=torch.float64), ps)
    primal = tuple(torch.tensor(x[t]) for t in range(T) for x in xs)
    tangent = tuple(torch.tensor(v[t]) for t in range(T) for v in dxs)
    ys, dys = torch.func.jvp(lambda *a: module(*a), primal, tangent)
    ys, dys = (ys, dys) if isinstance(ys, tuple) else ((ys,), (dys,))
    ny = len(d.cod)

    def by_output(zs):  # step-major outputs, stacked along time
        return [np.stack([zs[t * ny + j].detach().numpy() for t in range(T)]) for j in range(ny)]

    assert_streams(outs, by_output(ys) + by_output(dys), 1e-10)


# -- the type checker: feedback guarded by a delay -------------------------------------------
def _check(text: str):
    return catlearn.loads("use std.nn\nuse std.stream\n" + text)


@pytest.mark.parametrize("init, first", [("", 0.0), (", init=ones", 1.0), (", init=constant(value=2.5)", 2.5)])
def test_a_guarded_feedback_without_initial_value_is_accepted_and_accumulates(init, first):
    """``t = x + delay(t)``: ``yₙ = d₀ + x₀ + … + xₙ`` with ``d₀`` the delay's initial value."""
    m = _check(f"model acc : R[3] -> R[3] = feedback s : R[3] in (x, s) => let t = add(x, delay(s{init})) in (t, t)")
    xs = np.random.default_rng(0).uniform(-1, 1, (5, 3))
    (ys,), _ = run(m["acc"], [xs])
    np.testing.assert_allclose(ys, first + np.cumsum(xs, axis=0), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("body", ["let t = add(delay(x), s) in (t, t)",  # the delay is on the input's path
                                  "let t = add(delay(s), s) in (t, t)",  # one path of two is guarded
                                  "let t = add(x, s) in (delay(t), t)"])  # the delay is on the output's path
def test_a_feedback_whose_only_delay_is_on_another_path_is_rejected(body):
    with pytest.raises(DefinitionError, match="not guarded by a delay"):
        _check(f"model acc : R[3] -> R[3] = feedback s : R[3] in (x, s) => {body}")


# -- regressions: a loop body returning an outer wire as it is (a parameter, an outer state) ----
def test_a_feedback_body_may_return_a_parameter():
    m = _check("model f : R[3] -> R[3] =\n  param W : R[3] ~ normal\n"
               "  feedback s : R[3] = zeros in (x, s) => (W, add(x, s))")
    ps = init_params(m["f"], 0)
    (ys,), _ = run(m["f"], [np.zeros((4, 3))], ps)
    np.testing.assert_array_equal(ys, np.broadcast_to(ps["W"], (4, 3)))


def test_a_scan_body_may_return_a_parameter():
    m = _check("model f : R[4, 3] -> R[4, 3] =\n  param W : R[3] ~ normal\n  scan(x => W)")
    ps = init_params(m["f"], 0)
    np.testing.assert_array_equal(evaluate(m["f"], [np.zeros((4, 3))], ps)[0], np.broadcast_to(ps["W"], (4, 3)))


def test_the_forward_derivative_of_a_delay():
    """``D[delay_i](x, ẋ) = (delay_i(x), delay_0(ẋ))``."""
    z = _check("model z : R[2] -> R[2] = x => delay(x, init=ones)")["z"]
    x, dx = np.arange(6.0).reshape(3, 2), np.arange(6.0, 12.0).reshape(3, 2)
    (y, dy), _ = run(derivative(z), [x, dx])
    assert y.tolist() == [[1.0, 1.0], [0.0, 1.0], [2.0, 3.0]] and dy.tolist() == [[0.0, 0.0], [6.0, 7.0], [8.0, 9.0]]


def test_from_mealy_of_two_delays():
    zz = _check("model zz : R[2] -> R[2] = x => delay(delay(x))")["zz"]
    x = np.arange(8.0).reshape(4, 2)
    assert run(from_mealy(mealy(zz)), [x])[0][0].tolist() == [[0.0, 0.0], [0.0, 0.0], [0.0, 1.0], [2.0, 3.0]]


def test_numpy_bptt_on_a_batch_with_a_constant_output():
    """Regression: a step output shared by the batch (a constant) is stacked as each example's."""
    c = _check("model c : R[4, 2] -> R[4, 2] * R[4] = scan(x => (tanh(x), 1.0))")["c"]
    rng = np.random.default_rng(0)
    x, w, v = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4))
    (together,) = evaluate(reverse(c), [x, w, v])
    for b in range(3):
        np.testing.assert_allclose(together[b], evaluate(reverse(c), [x[b], w[b], v[b]])[0], rtol=1e-14, atol=0)


def test_a_feedback_whose_next_state_is_a_constant_runs_on_a_batch():
    """Regression: a loop lifted over a batch lifts its state with its most lifted input, and a next state
    shared by the batch (a constant) is each example's."""
    m = _check("model c : R -> R = feedback s : R = zeros in (x, s) => (add(x, s), 1.0)\n"
               "model cs : R[4] -> R[4] = scan(c)")
    x = np.random.default_rng(0).normal(size=(2, 4))
    np.testing.assert_allclose(evaluate(m["cs"], [x])[0], x + [0.0, 1.0, 1.0, 1.0], rtol=1e-15, atol=0)


def test_a_feedback_whose_first_input_is_a_parameter_runs_on_a_batch():
    """Regression: the state is lifted with a later input where the first (a parameter) is not."""
    m = _check("model f : R -> R =\n  param p : R ~ normal\n"
               "  x => (feedback s : R = zeros in (a, b, s) => let t = add(b, s) in (t, t))(p, x)\n"
               "model fs : R[4] -> R[4] = scan(f)")
    x = np.random.default_rng(0).normal(size=(2, 4))
    np.testing.assert_allclose(evaluate(m["fs"], [x], init_params(m["fs"], 0))[0], np.cumsum(x, axis=1),
                               rtol=1e-14, atol=1e-14)
