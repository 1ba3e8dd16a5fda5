"""A batch is vmap: a model run on a batch equals the model run on each example,
in every backend and every derivative, for batch sizes equal to the model's own
axis sizes (where a batch confused with a model's axis goes unnoticed).

The oracle is the diagram's twin (tests/twin.py), written in torch without
catlearn's code, under torch.func's vmap, vjp and jvp."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import catlearn
from catlearn.backends.numpy import evaluate, init_params
from catlearn.backends.torch import compile_module
from catlearn.core.batching import batched
from catlearn.core.errors import CatError
from catlearn.core.primitives import REGISTRY
from catlearn.core.types import TensorType
from catlearn.semantics.rdc import forward, reverse
from catlearn.testing import diagrams

from .twin import TWINS, over, twin

REDUCTIONS = ["sum", "mean", "max", "min", "logsumexp", "dot"]  # lower-rank wires, to meet higher-rank ones
PRIMS = [REGISTRY[name] for name in list(TWINS) + 2 * REDUCTIONS + ["add", "sub", "mul", "maximum"]]
TOL = dict(rtol=1e-9, atol=1e-9)


@st.composite
def models_on_batches(draw):
    """A random model (broadcasts of lower-rank wires inside it, reductions,
    selections, definitions with axis names of their own) and a batch of rank
    0 to 2 drawn from its own axis sizes."""
    d = draw(diagrams(primitives=PRIMS, max_ops=8, names=True, definitions=True))
    assume(d.dom)
    sizes = sorted({s for t in d.types for s in t.shape if s} | {1})  # (torch.func.vmap maps over no empty batch)
    batch = tuple(draw(st.lists(st.sampled_from(sizes), max_size=2)))
    note(f"{d.to_cat('model')}on a batch of {batch}")
    return d, batch, draw(st.integers(0, 2 ** 16))


def values(d, batch, seed):
    rng = np.random.default_rng(seed)
    xs = [rng.uniform(-2.0, 2.0, batch + tuple(t.shape)) for t in d.dom]
    dys = [rng.normal(size=batch + tuple(t.shape)) for t in d.cod]
    vs = [rng.normal(size=batch + tuple(t.shape)) for t in d.dom]
    return xs, dys, vs, init_params(d, seed)


def tensors(arrays):
    return [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in arrays]


def close(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = w.detach().numpy()
        assert np.shape(g) == w.shape
        np.testing.assert_allclose(np.asarray(g, dtype=float), w, **TOL)


def oracle(d, batch, xs, dys, vs, ps):
    """(outputs, input cotangents + per-example parameter cotangents, tangents of the outputs) by the twin."""
    f, P = twin(d), tensors([ps[p.name] for p in d.params])
    n = len(batch)

    def pullback(x, dy):
        _, pull = torch.func.vjp(f, P, x)
        gp, gx = pull(dy)
        return list(gx) + list(gp)

    outputs = over(lambda x: f(P, x), n, (0,))(tensors(xs))
    cotangents = over(pullback, n, (0, 0))(tensors(xs), tensors(dys))
    tangents = over(lambda x, v: torch.func.jvp(lambda y: f(P, y), (x,), (v,))[1], n, (0, 0))(tensors(xs), tensors(vs))
    return outputs, cotangents, tangents


@settings(deadline=None)
@given(models_on_batches())
def test_the_numpy_interpreter_and_both_derivatives_on_a_batch_are_vmap(case):
    d, batch, seed = case
    xs, dys, vs, ps = values(d, batch, seed)
    outputs, cotangents, tangents = oracle(d, batch, xs, dys, vs, ps)
    with np.errstate(all="ignore"):
        close(evaluate(d, xs, ps), outputs)
        close(evaluate(reverse(d), xs + dys, ps), cotangents)  # parameter cotangents per example
        close(evaluate(forward(d), xs + vs, ps), tangents)


@settings(deadline=None)
@given(models_on_batches())
def test_the_derivatives_of_the_batched_diagram_are_vmap_too(case):
    """R and D of ``batched(d)`` itself (as torch's rd mode takes them): the parameters'
    cotangents summed over the batch in its own contractions, and D = π₁R[R[·]],
    whose second derivatives must know which axes the contractions took in."""
    d, batch, seed = case
    assume(batch)
    xs, dys, vs, ps = values(d, batch, seed)
    outputs, cotangents, tangents = oracle(d, batch, xs, dys, vs, ps)
    whole = batched(d, (batch,) * len(d.dom))
    summed = cotangents[:len(xs)] + [c.sum(tuple(range(len(batch)))) for c in cotangents[len(xs):]]
    with np.errstate(all="ignore"):
        close(evaluate(reverse(whole), xs + dys, ps), summed)
        close(evaluate(forward(whole), xs + vs, ps), tangents)


@settings(deadline=None, max_examples=30)
@given(models_on_batches(), st.sampled_from(["autograd", "rd"]), st.sampled_from(["lens", "optic"]))
def test_both_torch_modes_on_a_batch_are_vmap(case, gradient, strategy):
    d, batch, seed = case
    xs, dys, vs, ps = values(d, batch, seed)
    outputs, cotangents, _ = oracle(d, batch, xs, dys, vs, ps)
    module = compile_module(d, gradient, strategy=strategy, dtype=torch.float64)
    module.load_state_dict({name: torch.as_tensor(np.asarray(v, dtype=np.float64)) for name, v in ps.items()})
    inputs = [x.requires_grad_() for x in tensors(xs)]
    outs = module(*inputs)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    close([o.detach().numpy() for o in outs], outputs)
    total = sum((o * dy).sum() for o, dy in zip(outs, tensors(dys)))
    if total.requires_grad:
        total.backward()
    grads = [x.grad if x.grad is not None else torch.zeros_like(x) for x in inputs]
    params = dict(module.named_parameters())
    grads += [params[p.name].grad if params[p.name].grad is not None else torch.zeros_like(params[p.name])
              for p in d.params]
    summed = cotangents[:len(xs)] + [c.sum(tuple(range(len(batch)))) if batch else c for c in cotangents[len(xs):]]
    close([g.numpy() for g in grads], summed)


@st.composite
def broadcasts_of_reductions(draw):
    """``op(x, red(x))`` and its kin written in `.cat`: a lower-rank wire made
    from a batched input, broadcast inside the model against the input, on a
    batch of the model's own sizes."""
    shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    reduced = "x"
    for _ in range(draw(st.integers(1, len(shape)))):
        reduced = f"{draw(st.sampled_from(['sum', 'mean', 'max', 'min', 'logsumexp']))}({reduced})"
    op = draw(st.sampled_from(["add", "sub", "mul", "maximum", "minimum"]))
    body = f"{op}(x, {reduced})" if draw(st.booleans()) else f"{op}({reduced}, x)"
    axes = ", ".join(map(str, shape))
    try:
        d = _models(f"model f : R[{axes}] -> R[{axes}] = x => {body}")["f"]
    except CatError:  # the reduced axes must end the input's, as NumPy broadcasts
        assume(False)
    batch = tuple(draw(st.lists(st.sampled_from(shape), min_size=1, max_size=2)))
    note(f"{body} on R[{axes}], a batch of {batch}")
    return d, batch, draw(st.integers(0, 2 ** 16))


@settings(deadline=None, max_examples=40)
@given(broadcasts_of_reductions(), st.sampled_from(["numpy", "autograd", "rd"]))
def test_a_reduction_broadcast_against_its_input_on_a_batch_is_vmap(case, backend):
    d, batch, seed = case
    xs, dys, vs, ps = values(d, batch, seed)
    outputs, cotangents, _ = oracle(d, batch, xs, dys, vs, ps)
    if backend == "numpy":
        close(evaluate(d, xs, ps), outputs)
        close(evaluate(reverse(d), xs + dys, ps), cotangents)
        return
    x = tensors(xs)[0].requires_grad_()
    y = compile_module(d, backend, dtype=torch.float64)(x)
    (y * tensors(dys)[0]).sum().backward()
    close([y.detach().numpy(), x.grad.numpy()], outputs + cotangents)


def _models(text):
    return catlearn.loads("use std.nn\n" + text)


# -- the reproducers of the issue, each a regression test ------------------------------------
@pytest.mark.parametrize("n, batch", [(3, (3,)), (4, (3,)), (3, (3, 3)), (2, (2, 1))])
def test_a_broadcast_inside_the_model_happens_after_the_batch(n, batch):
    f = _models(f"model f : R[{n}] -> R[{n}] = x => sub(x, mean(x))")["f"]
    x = np.arange(np.prod(batch + (n,)), dtype=float).reshape(batch + (n,))
    want = x - x.mean(-1, keepdims=True)
    np.testing.assert_allclose(evaluate(f, [x])[0], want, rtol=1e-14)
    g = batched(f, (batch,))
    assert "repeat_leading" in [op.prim.name for op in g.ops]  # the mean, broadcast over the model's axis
    for gradient in ("autograd", "rd"):
        for strategy in ("lens", "optic"):
            module = compile_module(f, gradient, strategy=strategy, dtype=torch.float64)
            xt = torch.tensor(x, requires_grad=True)
            y = module(xt)
            (y * xt.detach()).sum().backward()
            np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-14)
            np.testing.assert_allclose(xt.grad.numpy(), want, atol=1e-12)  # J = I − 11ᵀ/n is symmetric


def test_a_batched_reverse_derivative_gives_unused_inputs_batched_zero_cotangents():
    d = _models("model d : R[3] * R[2] -> R[3] = (x, y) => tanh(x)")["d"]
    out = evaluate(reverse(d), [np.ones((4, 3)), np.ones((4, 2)), np.ones((4, 3))])
    assert [np.shape(c) for c in out] == [(4, 3), (4, 2)] and not out[1].any()


def test_a_batched_reverse_derivative_gives_per_example_parameter_cotangents():
    f = _models("model f : R[3] -> R[2] = dense(3, 2)")["f"]
    x, dy = np.random.default_rng(0).normal(size=(2, 5, 3)), np.random.default_rng(1).normal(size=(5, 2))
    ps = init_params(f)
    _, dW, db = evaluate(reverse(f), [x[0], dy], ps)
    assert dW.shape == (5, 2, 3) and db.shape == (5, 2)
    np.testing.assert_allclose(dW, dy[:, :, None] * x[0][:, None, :], rtol=1e-14)


@pytest.mark.parametrize("model", ["dense(3, 2)", "x => dense(3, 2)(sub(x, mean(x)))",
                                   "x => matvec(outer(x, x), x)"])
def test_second_derivatives_of_a_batched_diagram_know_the_batch(model):
    """D[batched(f)] = π₁R[R[batched(f)]]: the parameters' cotangents were summed over
    the batch as one contraction (`unbatch`); the derivative of that sum is a batch again."""
    f = _models(f"model f : R[3] -> R[{2 if 'dense' in model else 3}] = {model}")["f"]
    ps, rng = init_params(f), np.random.default_rng(0)
    x, v = rng.normal(size=(2, 4, 3))
    whole = batched(f, ((4,),))
    assert reverse(reverse(whole)).cod[0] == whole.dom[0]  # R[4 | 3], not R[4, 3]
    np.testing.assert_allclose(evaluate(forward(whole), [x, v], ps)[0], evaluate(forward(f), [x, v], ps)[0],
                               rtol=1e-12, atol=1e-12)


def test_a_definition_keeps_its_own_axis_names():
    m = _models('def f : R[t, 2] -> R[2, t] = x => rearrange(x, spec="t d -> d t")\n'
                "model g : R[seq: 3, 2] -> R[2, 3] = f")
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(evaluate(m["g"], [x])[0], x.T)
    assert m["g"].cod[0].names == (None, "seq")  # the caller's name, carried by the size t


def test_a_rearranged_residual_beside_its_source_keeps_both_in_the_optic():
    f = _models('model f : R[2, 2] -> R[2, 2] = x => mul(rearrange(x, spec="r c -> c r"), x)')["f"]
    x = torch.randn(3, 2, 2, dtype=torch.float64)
    grads = []
    for gradient, strategy in [("autograd", "optic"), ("rd", "lens"), ("rd", "optic")]:
        xt = x.clone().requires_grad_()
        compile_module(f, gradient, strategy=strategy, dtype=torch.float64)(xt).sum().backward()
        grads.append(xt.grad)
    want = x.transpose(-1, -2) + x.transpose(-1, -2)  # ∂/∂x Σ xᵀ ⊙ x
    for g in grads:
        torch.testing.assert_close(g, want, rtol=1e-14, atol=0)


def test_modules_and_learners_compile_with_one_default_strategy():
    from catlearn.core.learning import SETTINGS
    from catlearn.semantics.lens import DEFAULT_STRATEGY

    f = _models("model f : R[3] -> R[3] = tanh")["f"]
    assert compile_module(f, "rd").strategy == SETTINGS["strategy"][1] == DEFAULT_STRATEGY


def test_batch_axes_of_inputs_must_agree():
    f = _models("model f : R[3] * R[3] -> R[3] = (x, y) => add(x, y)")["f"]
    np.testing.assert_array_equal(evaluate(f, [np.ones((4, 3)), np.ones(3)])[0], np.full((4, 3), 2.0))  # shared
    with pytest.raises(CatError, match="batch axes of the inputs"):
        evaluate(f, [np.ones((4, 3)), np.ones((5, 3))])
    with pytest.raises(CatError, match="does not fit its type"):
        evaluate(f, [np.ones((4, 2)), np.ones(3)])


def test_broadcast_batch_shares_a_value_with_a_batch_and_its_adjoint_sums_it():
    x = TensorType("R", (3,))
    box = catlearn.Diagram.box("broadcast_batch", [x], shape=(4, 2))
    assert str(box.cod[0]) == "R[4, 2 | 3]"
    v, dy = np.arange(3.0), np.random.default_rng(0).normal(size=(4, 2, 3))
    np.testing.assert_array_equal(evaluate(box, [v])[0], np.broadcast_to(v, (4, 2, 3)))
    np.testing.assert_allclose(evaluate(reverse(box), [v, dy])[0], dy.sum((0, 1)), rtol=1e-14)


def test_unbatch_takes_a_batch_as_one_tensor_and_rebatch_is_its_adjoint():
    x = TensorType("R", (3,)).batched((4,))
    box = catlearn.Diagram.box("unbatch", [x])
    assert box.cod[0] == TensorType("R", (4, 3))
    assert reverse(box).cod[0] == x  # rebatch: the cotangent is a batch again
    v, dy = np.random.default_rng(0).normal(size=(2, 4, 3))
    np.testing.assert_array_equal(evaluate(reverse(box), [v, dy])[0], dy)
    with pytest.raises(CatError, match="rebatch"):
        catlearn.Diagram.box("rebatch", [x], axes=1)
