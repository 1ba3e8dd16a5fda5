"""The torch backend: generated code agrees with the NumPy reference on random
diagrams, the autograd and rd gradient modes agree (lens and optic), and the
modules behave as PyTorch users expect."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import catlearn
from catlearn.backends.numpy import evaluate
from catlearn.backends.torch import compile_module
from catlearn.core.batching import batched
from catlearn.core.builder import Builder
from catlearn.core.types import TensorType
from catlearn.core.errors import CatError
from catlearn.semantics.rdc import reverse
from catlearn.testing import diagrams
from catlearn.testing.strategies import points

from .test_derivatives import SMOOTH, point

TOL = dict(rtol=1e-9, atol=1e-10)


def values(module):
    return {n: module.get_parameter(n).detach().numpy() for n in module.parameter_names}


@settings(max_examples=40)
@given(diagrams(max_ops=6), st.integers(0, 2 ** 16))
def test_generated_code_agrees_with_the_numpy_reference(d, seed):
    module = compile_module(d, dtype=torch.float64)
    rng = np.random.default_rng(seed)
    xs = [point(rng, t, positive=True) for t in d.dom]
    with np.errstate(all="ignore"):
        want = evaluate(d, xs, values(module))
    got = module(*(torch.as_tensor(x) for x in xs))
    got = got if isinstance(got, tuple) else (got,)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().numpy(), w, equal_nan=True, **TOL)


@settings(max_examples=40)
@given(diagrams(primitives=SMOOTH, max_ops=6), st.integers(0, 2 ** 16), st.sampled_from(["lens", "optic"]))
def test_autograd_and_rd_gradients_agree(d, seed, strategy):
    assume(d.dom or d.params)
    rng = np.random.default_rng(seed)
    xs = [point(rng, t) for t in d.dom]
    dys = [rng.normal(size=tuple(t.shape)) for t in d.cod]
    grads = []
    for mode in ("autograd", "rd"):
        module = compile_module(d, mode, strategy=strategy, dtype=torch.float64, seed=seed)
        inputs = [torch.tensor(x, requires_grad=True) for x in xs]
        outs = module(*inputs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        total = sum((o * torch.as_tensor(dy)).sum() for o, dy in zip(outs, dys))
        if torch.is_tensor(total) and total.requires_grad:  # constant outputs have no gradient at all
            total.backward()
        grads.append([x.grad if x.grad is not None else torch.zeros_like(x) for x in inputs]
                     + [p.grad if p.grad is not None else torch.zeros_like(p)
                        for p in (module.get_parameter(n) for n in module.parameter_names)])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), **TOL)
    reference = evaluate(reverse(d), xs + dys, values(module))  # and both equal the NumPy reverse derivative
    for a, b in zip(grads[1], reference):
        np.testing.assert_allclose(a.numpy(), b, **TOL)


MLP = catlearn.load("models/digits_mlp.cat")["mlp"]


@pytest.mark.parametrize("mode", ["autograd", "rd"])
def test_a_module_is_an_ordinary_pytorch_module(mode):
    module = compile_module(MLP, mode)
    assert module.get_parameter("dense.W").dtype == torch.float32
    state = module.state_dict()
    assert list(state) == ["dense.W", "dense.b", "dense_1.W", "dense_1.b"]
    other = compile_module(MLP, mode, seed=5)
    other.load_state_dict(state)
    x = torch.randn(7, 64)
    assert torch.equal(other(x), module(x))
    out = torch.func.functional_call(module, {k: v * 0 for k, v in state.items()}, (x,))
    assert torch.count_nonzero(out) == 0
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)  # an ordinary training loop
    labels = torch.randint(0, 10, (7,))
    before = torch.nn.functional.cross_entropy(module(x), labels)
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(x), labels).backward()
        optimizer.step()
    assert torch.nn.functional.cross_entropy(module(x), labels) < before
    assert "gradient=" + mode in repr(module) and "def forward" in module.code


@pytest.mark.parametrize("mode", ["autograd", "rd"])
def test_torch_compile(mode):
    module = compile_module(MLP, mode)
    compiled = torch.compile(module)
    x = torch.randn(4, 64)
    out = compiled(x)
    out.square().sum().backward()
    grads = [p.grad.clone() for p in module.parameters()]
    module.zero_grad()
    torch.testing.assert_close(out, module(x))
    module(x).square().sum().backward()
    for got, p in zip(grads, module.parameters()):
        torch.testing.assert_close(got, p.grad)


def run_with_gradients(module, inputs, cotangents, wanted):
    inputs = [x.clone().requires_grad_(want) for x, want in zip(inputs, wanted)]
    outs = module(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    total = sum((o * dy).sum() for o, dy in zip(outs, cotangents))
    if torch.is_tensor(total) and total.requires_grad:
        total.backward()
    return [x.grad for x in inputs] + [p.grad for p in module.parameters()]


@settings(max_examples=40)
@given(diagrams(primitives=SMOOTH, max_ops=6), st.integers(0, 2 ** 16), st.sampled_from(["lens", "optic"]),
       st.lists(st.integers(1, 3), min_size=1, max_size=2), st.data())
def test_rd_on_a_batch_sums_parameter_gradients_as_autograd_does(d, seed, strategy, batch, data):
    """The rd passes compiled for batch axes (cotangents of parameters contracted
    over the batch), and only the cotangents autograd asks for."""
    assume(d.dom)
    rng = np.random.default_rng(seed)
    lifts = [data.draw(st.integers(0, len(batch))) for _ in d.dom]
    xs = [torch.as_tensor(np.stack([point(rng, t) for _ in range(int(np.prod(batch[len(batch) - k:])))])
                          .reshape(tuple(batch[len(batch) - k:]) + tuple(t.shape))) for t, k in zip(d.dom, lifts)]
    wanted = [data.draw(st.booleans()) for _ in d.dom]
    try:  # batch axes must broadcast against the other inputs' axes (as suffixes, as in the type checker)
        batched(d, tuple(tuple(x.shape[:x.dim() - t.rank]) for x, t in zip(xs, d.dom)))
    except CatError:
        assume(False)
    autograd = compile_module(d, dtype=torch.float64, seed=seed)
    with torch.no_grad():
        outs = autograd(*xs)
    dys = [torch.as_tensor(rng.normal(size=tuple(o.shape))) for o in (outs if isinstance(outs, tuple) else (outs,))]
    rd = compile_module(d, "rd", strategy=strategy, dtype=torch.float64, seed=seed)
    for a, b in zip(run_with_gradients(autograd, xs, dys, wanted), run_with_gradients(rd, xs, dys, wanted)):
        if a is None or b is None:  # not asked for, or no path from it to an output
            assert b is None or not torch.any(b), "a cotangent nobody asked for"
            continue
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("path, name, shape", [("models/digits_cnn.cat", "cnn", (64,)),
                                               ("models/transformer_block.cat", "transformer", (10, 32))])
@pytest.mark.parametrize("strategy", ["lens", "optic"])
def test_rd_gradients_of_bundled_models_on_a_batch(path, name, shape, strategy):
    """Kernel gradients summed over the batch by torch's own kernel, layer norms' statistics shared (optic)."""
    d = catlearn.load(path)[name]
    x = torch.randn(5, *shape, dtype=torch.float64)
    dy = torch.randn_like(compile_module(d, dtype=torch.float64)(x))
    grads = [run_with_gradients(compile_module(d, mode, strategy=strategy, dtype=torch.float64), [x], [dy], [True])
             for mode in ("autograd", "rd")]
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)
    if name == "cnn":
        backward = compile_module(d, "rd", strategy=strategy).code.split("def backward_pass")[1]
        assert "conv2d_kernel" not in backward and "convolution_backward" in backward


FUSIBLE = [catlearn.core.primitives.REGISTRY[n]
           for n in ("matvec", "add", "mul", "relu", "maxpool2d", "reshape", "conv2d", "channel_bias", "einsum",
                     "transpose")]


@settings(max_examples=40, deadline=None)
@given(diagrams(FUSIBLE, max_ops=8, sizes=(2, 4)), st.integers(0, 2 ** 16))
def test_fusion_keeps_the_forward_pass_and_its_residuals(d, seed):
    """The torch fusions (affine boxes, convolutions with their bias, pooling
    with its indices, transposed products) give the values NumPy gives the
    unfused optic forward pass."""
    from catlearn.backends.torch.codegen import compile_source, generate
    from catlearn.backends.torch.fuse import fuse
    from catlearn.semantics.lens import compile_split

    b = Builder()  # a layer before each input (a convolution before images): every example has something to fuse
    layers = []
    for k, t in enumerate(d.dom):
        x = b.input(t)
        if t.rank == 3:
            c = t.shape[0]
            kernel, bias = b.param(f"K{k}", TensorType("R", (c, c, 3, 3))), b.param(f"b{k}", TensorType("R", (c,)))
            x = b.apply("channel_bias", [b.apply("conv2d", [x, kernel], {"pad": 1})[0], bias])[0]
        elif t.rank:
            n = TensorType("R", t.shape[-1:])
            weight, bias = b.param(f"W{k}", TensorType("R", t.shape[-1:] * 2)), b.param(f"b{k}", n)
            x = b.apply("add", [b.apply("matvec", [weight, x])[0], bias])[0]
        layers.append(x)
    forward = compile_split(b.finish(b.splice(d, layers) + layers), "optic").forward
    fused = [op.prim.name for op in fuse(forward).ops]
    assert fused.count("conv2d_bias") >= sum(t.rank == 3 for t in d.dom)
    assert fused.count("affine") >= sum(t.rank not in (0, 3) for t in d.dom)
    fused = fuse(forward)
    rng = np.random.default_rng(seed)
    params = {p.name: rng.normal(size=tuple(forward.types[p.wire].shape)) for p in forward.params}
    xs = points(forward, seed)
    run = compile_source(generate(fused, "run"), "run")
    args = [torch.as_tensor(params[p.name]) for p in forward.params] + [torch.as_tensor(x) for x in xs]
    got = run(*(args or [torch.zeros((), dtype=torch.float64)]))  # a constant diagram takes a tensor to be like
    for a, b in zip(got, evaluate(forward, xs, params)):
        np.testing.assert_allclose(a.numpy(), b, **TOL)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["ij,jk->ik", "i,j->ij", "ijk,ik->ij", "ij->ji", "ijk,ij->kji"]),
       st.lists(st.integers(1, 3), max_size=2), st.lists(st.integers(1, 4), min_size=4, max_size=4),
       st.integers(0, 2 ** 16))
def test_a_transposed_product_is_one_einsum(spec, batch, sizes, seed):
    """transpose(einsum(…)) fuses into one einsum, its output axes swapped, with the
    values NumPy gives the two boxes: over batch axes, in code for any shapes and inline."""
    from catlearn.backends.torch.codegen import compile_source, generate
    from catlearn.backends.torch.fuse import fuse

    size = dict(zip("ijk", sizes))
    b = Builder()
    xs = [b.input(TensorType("R", (*batch, *(size[c] for c in part)))) for part in spec.split("->")[0].split(",")]
    d = b.finish(b.apply("transpose", b.apply("einsum", xs, {"spec": spec})))
    fused = fuse(d)
    assert [op.prim.name for op in fused.ops] == ["einsum"]
    xs = points(d, seed)
    want = evaluate(d, xs, {})[0]
    for shapes in (False, True):
        got = compile_source(generate(fused, "run", shapes=shapes), "run")(*map(torch.as_tensor, xs))[0]
        np.testing.assert_allclose(got.numpy(), want, **TOL)


@pytest.mark.parametrize("path, name, shape", [("models/digits_cnn.cat", "cnn", (64,)),
                                               ("models/transformer_block.cat", "transformer", (10, 32))])
def test_the_bundled_models_fuse_and_keep_their_values(path, name, shape):
    d = catlearn.load(path)[name]
    x = np.random.default_rng(0).normal(size=(3, *shape))
    for mode in ("autograd", "rd"):
        module = compile_module(d, mode, dtype=torch.float64)
        want = evaluate(batched(d, ((3,),)), [x], values(module))[0]
        np.testing.assert_allclose(module(torch.as_tensor(x)).detach().numpy(), want, **TOL)
    from catlearn.backends.torch.fuse import fuse
    from catlearn.backends.torch.module import _Passes

    passes = _Passes(batched(d, ((32,),)), "optic")
    forward = [op.prim.name for op in passes.forward_diagram.ops]
    backward_ops = fuse(passes.backward_diagram).ops
    backward = [op.prim.name for op in backward_ops]
    if name == "cnn":
        assert forward.count("max_pool2d_with_indices") == forward.count("conv2d_bias") == 2
        assert not {"maxpool2d", "argmax_pool2d", "channel_bias", "conv2d"} & set(forward)
        assert backward.count("conv2d_backward") == 2 and "conv2d_transpose" not in backward
    else:
        assert forward.count("native_layer_norm") == backward.count("layer_norm_backward") == 2
        assert not {"layernorm", "layernorm_grad"} & set(forward + backward)
        assert "transpose" not in backward  # the key's cotangent is a product with its axes swapped
        norms = [op for op in passes.forward_diagram.ops if op.prim.name == "native_layer_norm"]
        assert all(len(op.inputs) == 3 for op in norms)  # with γ and β
        assert all(len(op.outputs) == 3 for op in backward_ops if op.prim.name == "layer_norm_backward")  # dx, dγ, dβ


def test_the_mlp_fuses_to_two_affine_boxes():
    from catlearn.backends.torch.fuse import fuse

    assert [op.prim.name for op in fuse(MLP).ops] == ["affine", "relu", "affine"]


@pytest.mark.parametrize("mode", ["autograd", "rd"])
def test_functional_call_and_parametrizations_replace_the_parameters(mode):
    m = compile_module(catlearn.load("models/digits_mlp.cat")["mlp"], mode, dtype=torch.float64)
    x = torch.randn(4, 64, dtype=torch.float64)
    swapped = {k: (torch.randn_like(v) * 0.1).requires_grad_() for k, v in m.state_dict().items()}
    out = torch.func.functional_call(m, swapped, (x,))
    h = torch.relu(x @ swapped["dense.W"].T + swapped["dense.b"])
    torch.testing.assert_close(out, h @ swapped["dense_1.W"].T + swapped["dense_1.b"])
    out.sum().backward()
    assert all(t.grad is not None and torch.any(t.grad) for t in swapped.values())
    torch.nn.utils.parametrize.register_parametrization(m.dense, "W", torch.nn.Tanh())  # W is now tanh(W₀)
    hidden = torch.relu(x @ torch.tanh(m.dense.parametrizations.W.original).T + m.dense.b)
    torch.testing.assert_close(m(x), hidden @ m.dense_1.W.T + m.dense_1.b)


def _both_paths(kernel, *args, **attrs) -> list:
    """A convolution kernel's code for these (small) shapes, run on torch's direct
    path and on its default path (oneDNN on the CPU)."""
    from types import SimpleNamespace

    names = [f"a{k}" for k in range(len(args))]
    code = kernel.torch_code(names, [TensorType("R", tuple(a.shape)) for a in args], **attrs)
    assert "_slow_conv2d_backward" in code or "thnn_conv2d" in code  # small enough for the direct path
    return [eval(code, {"T": torch, "cat": SimpleNamespace(direct=lambda x, on=on: on), **dict(zip(names, args))})
            for on in (True, False)]


def test_only_small_convolutions_on_the_cpu_take_the_direct_path():
    from catlearn.backends.torch.kernels import DIRECT_CONVOLUTION, KERNELS, direct, few_multiply_adds

    assert few_multiply_adds((32, 1, 8, 8), (8, 1, 3, 3), 1)  # the digits CNN's first layer at batch 32
    assert not few_multiply_adds((32, 8, 4, 4), (16, 8, 3, 3), 1)  # 32·16·4·4·8·9 = 589,824 multiply-adds
    assert few_multiply_adds((1, 1, 1, 1), (DIRECT_CONVOLUTION - 1, 1, 1, 1), 0)
    assert not few_multiply_adds((1, 1, 1, 1), (DIRECT_CONVOLUTION, 1, 1, 1), 0)
    big = KERNELS["conv2d_bias"].torch_code(["x", "K", "b"], [TensorType("R", (256, 8, 4, 4)),
                                                             TensorType("R", (16, 8, 3, 3)), TensorType("R", (16,))],
                                            pad=1)
    assert big == "T.nn.functional.conv2d(x, K, b, padding=1)"
    x = torch.zeros(2, 1, 4, 4)
    assert direct(x)
    assert not torch.func.vmap(lambda v: torch.tensor(direct(v)))(x[None]).item()  # no batching rule for it


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(3, 6), st.integers(1, 3), st.integers(0, 1),
       st.integers(0, 2 ** 16))
def test_the_backward_kernels_agree_with_the_boxes_they_replace(n, c, o, side, k, pad, seed):
    """Each fused kernel of the torch backend against the unfused boxes' own torch semantics
    (kernel gradients by unfolding, the adjoint by conv_transpose2d, layer norm by its formula)."""
    from catlearn.backends.torch.kernels import KERNELS
    from catlearn.core.primitives import REGISTRY

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, side, side, generator=g, dtype=torch.float64)
    kernel = torch.randn(o, c, k, k, generator=g, dtype=torch.float64)
    z = torch.randn(n, o, side + 2 * pad - k + 1, side + 2 * pad - k + 1, generator=g, dtype=torch.float64)
    by_box = REGISTRY["conv2d_kernel"].torch(torch, x, z, pad=pad).sum(0)
    by_bias = REGISTRY["einsum"].torch(torch, z, spec="achw->c")
    bias_vector = torch.randn(o, generator=g, dtype=torch.float64)
    for conv in (KERNELS["conv2d_bias"].torch(torch, x, kernel, bias_vector, pad=pad),
                 *_both_paths(KERNELS["conv2d_bias"], x, kernel, bias_vector, pad=pad)):
        torch.testing.assert_close(conv, REGISTRY["channel_bias"].torch(torch, REGISTRY["conv2d"].torch(
            torch, x, kernel, pad=pad), bias_vector))
    for bias in (False, True):
        weight_grads = [KERNELS["conv2d_weight_grad"].torch(torch, x, z, pad=pad, shape=(o, c, k, k), bias=bias),
                        *_both_paths(KERNELS["conv2d_weight_grad"], x, z, pad=pad, shape=(o, c, k, k), bias=bias)]
        for found in weight_grads:
            torch.testing.assert_close(found, (by_box, by_bias) if bias else by_box)
        for grads in (KERNELS["conv2d_backward"].torch(torch, x, z, kernel, pad=pad, bias=bias),
                      *_both_paths(KERNELS["conv2d_backward"], x, z, kernel, pad=pad, bias=bias)):
            assert len(grads) == 2 + bias
            torch.testing.assert_close(grads[0], REGISTRY["conv2d_transpose"].torch(torch, z, kernel, pad=pad))
            torch.testing.assert_close(grads[1], by_box)
            if bias:
                torch.testing.assert_close(grads[2], by_bias)
    rows, dy = x.reshape(-1, side), torch.randn(n * c * side, side, generator=g, dtype=torch.float64)
    gamma, beta = torch.randn(2, side, generator=g, dtype=torch.float64)
    y, mean, rstd = KERNELS["native_layer_norm"].torch(torch, rows, eps=1e-5)
    torch.testing.assert_close(y, REGISTRY["layernorm"].torch(torch, rows, eps=1e-5))
    torch.testing.assert_close(KERNELS["layer_norm_backward"].torch(torch, rows, dy, mean, rstd),
                               REGISTRY["layernorm_grad"].torch(torch, rows, dy))
    affine, *statistics = KERNELS["native_layer_norm"].torch(torch, rows, gamma, beta, eps=1e-5)
    torch.testing.assert_close(affine, y * gamma + beta)
    torch.testing.assert_close(statistics, [mean, rstd])
    torch.testing.assert_close(KERNELS["layer_norm_backward"].torch(torch, rows, dy, mean, rstd, gamma, beta),
                               (REGISTRY["layernorm_grad"].torch(torch, rows, dy * gamma), (dy * y).sum(0), dy.sum(0)))


@pytest.mark.parametrize("path, name, shape", [("models/digits_mlp.cat", "mlp", (64,)),
                                               ("models/digits_cnn.cat", "cnn", (64,)),
                                               ("models/transformer_block.cat", "transformer", (10, 32))])
@pytest.mark.filterwarnings("ignore:There is a performance drop")  # vmap of scatter_, torch's fallback
def test_torch_func_transforms_see_the_same_derivative_in_either_mode(path, name, shape):
    """torch.func's grad (through functional_call), per-example gradients (vmap of
    grad) and jacrev: rd mode, its own derivative under the transforms, gives
    autograd mode's figures."""
    d = catlearn.load(path)[name]
    x = torch.randn(3, *shape, dtype=torch.float64)
    found = []
    for mode in ("autograd", "rd"):
        m = compile_module(d, mode, dtype=torch.float64)
        params = {k: v.detach() for k, v in m.named_parameters()}
        loss = lambda p, x: torch.func.functional_call(m, p, (x,)).square().sum()  # noqa: E731
        grads, of_x = torch.func.grad(loss, argnums=(0, 1))(params, x)
        per_example = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(params, x)
        found.append([*grads.values(), of_x, *per_example.values(), torch.func.jacrev(m)(x[0])])
    for a, b in zip(*found):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4), max_size=3), st.integers(1, 24), st.booleans(), st.integers(0, 2 ** 16))
def test_softmax_over_a_short_axis_agrees_with_torchs_kernel_on_the_last_axis(lead, n, strided, seed):
    """Under SHORT_AXIS entries, softmax, log_softmax and softmax_grad run over the
    transposed rows: values and derivatives as torch's own kernels give them over the last axis."""
    from catlearn.core.primitives import REGISTRY

    g = torch.Generator().manual_seed(seed)
    shape = (*lead, n)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    if strided and x.dim() >= 2:  # a transposed view, as a matmul's cotangent can be
        x = torch.randn(*shape[:-2], n, shape[-2], generator=g, dtype=torch.float64).mT
    dy = torch.randn(shape, generator=g, dtype=torch.float64)
    x.requires_grad_()
    y = REGISTRY["softmax"].torch(torch, x)
    torch.testing.assert_close(y, torch.softmax(x, -1))
    torch.testing.assert_close(REGISTRY["log_softmax"].torch(torch, x), torch.log_softmax(x, -1))
    torch.testing.assert_close(REGISTRY["softmax_grad"].torch(torch, y, dy),
                               torch.ops.aten._softmax_backward_data(dy, y, -1, y.dtype))
    if x.numel():
        (found,) = torch.autograd.grad(y, x, dy)
        torch.testing.assert_close(found, torch.autograd.grad(torch.softmax(x, -1), x, dy)[0])


LAYER_NORMS = """use std.nn
def scaled(n) : R[n] -> R[n] =
  param g : R[n] ~ ones
  x => mul(layernorm(x), g)
def squashed(n) : R[n] -> R[n] =
  param g : R[n] ~ ones
  param b : R[n] ~ zeros
  x => tanh(add(mul(layernorm(x), g), b))
model scaled_only : R[4] -> R[4] = scaled(4)
model squashed_after : R[4] -> R[4] = squashed(4)
"""


@pytest.mark.parametrize("name, affine", [("scaled_only", False), ("squashed_after", True)])
def test_a_layer_norm_fuses_with_its_scale_and_shift_only_where_both_are_there(name, affine):
    """A norm scaled but not shifted (once a crash of the fusion) keeps its boxes; one
    shifted, then read by another box, fuses: either way rd gives autograd's gradients."""
    from catlearn.backends.torch.module import _Passes

    d = catlearn.loads(LAYER_NORMS)[name]
    norms = [op for op in _Passes(batched(d, ((3,),)), "optic").forward_diagram.ops
             if op.prim.name == "native_layer_norm"]
    assert [len(op.inputs) for op in norms] == [3 if affine else 1]
    x = torch.randn(3, 4, dtype=torch.float64)
    found = []
    for mode in ("autograd", "rd"):
        m = compile_module(d, mode, dtype=torch.float64)
        with torch.no_grad():
            for k, p in enumerate(m.parameters()):
                p.copy_(torch.linspace(-1.0, 2.0, 4, dtype=torch.float64) + k)
        m(x).square().sum().backward()
        found.append([p.grad for p in m.parameters()])
    for a, b in zip(*found):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)


def test_a_model_torch_cannot_run_is_refused_when_compiled():
    """Compiling is per batch layout, on first use; what torch cannot run is still refused at once, at its box."""
    d = catlearn.load("models/elman_rnn.cat")["elman_8_16"]
    with pytest.raises(CatError, match="a stateful box runs on sequences") as caught:
        compile_module(d)
    assert caught.value.span is not None
