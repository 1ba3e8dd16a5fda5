"""The torch backend on a CUDA device (skipped where torch sees none): random
diagrams and their gradients on the GPU equal the CPU's in both gradient modes,
the bundled models agree across devices, and `catlearn train --device cuda`
trains as the CPU does."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import catlearn
from catlearn.backends.torch import compile_module
from catlearn.cli import main
from catlearn.testing import diagrams
from catlearn.training import CHECKPOINT

from .test_derivatives import SMOOTH, point
from .test_train_cli import DIGITS, history

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA device")


def outputs_and_gradients(module, inputs, cotangents):
    inputs = [x.clone().requires_grad_(True) for x in inputs]
    outs = module(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    total = sum((o * dy).sum() for o, dy in zip(outs, cotangents))
    if torch.is_tensor(total) and total.requires_grad:
        total.backward()
    grads = [x.grad for x in inputs] + [p.grad for p in module.parameters()]
    return [o.detach().cpu() for o in outs] + [g.cpu() if g is not None else None for g in grads]


@settings(max_examples=40)
@given(diagrams(primitives=SMOOTH, max_ops=6), st.integers(0, 2 ** 16), st.sampled_from(["autograd", "rd"]))
def test_the_gpu_computes_what_the_cpu_does_on_random_diagrams(d, seed, mode):
    assume(d.dom or d.params)
    rng = np.random.default_rng(seed)
    xs = [torch.as_tensor(point(rng, t)) for t in d.dom]
    dys = [torch.as_tensor(rng.normal(size=tuple(t.shape))) for t in d.cod]
    cpu = compile_module(d, mode, dtype=torch.float64, seed=seed)
    gpu = compile_module(d, mode, dtype=torch.float64, seed=seed).cuda()
    on_cpu = outputs_and_gradients(cpu, xs, dys)
    on_gpu = outputs_and_gradients(gpu, [x.cuda() for x in xs], [dy.cuda() for dy in dys])
    for a, b in zip(on_cpu, on_gpu):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("path, name, shape", [("models/digits_mlp.cat", "mlp", (64,)),
                                               ("models/digits_cnn.cat", "cnn", (64,)),
                                               ("models/transformer_block.cat", "transformer", (10, 32))])
@pytest.mark.parametrize("mode", ["autograd", "rd"])
def test_bundled_models_agree_across_devices(path, name, shape, mode):
    d = catlearn.load(path)[name]
    x = torch.randn(16, *shape, dtype=torch.float64)
    dy = torch.randn_like(compile_module(d, dtype=torch.float64)(x))
    cpu = compile_module(d, mode, dtype=torch.float64)
    gpu = compile_module(d, mode, dtype=torch.float64).cuda()
    for a, b in zip(outputs_and_gradients(cpu, [x], [dy]), outputs_and_gradients(gpu, [x.cuda()], [dy.cuda()])):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)
    fast = torch.compile(compile_module(d, mode).cuda())  # and under torch.compile, in float32
    plain = compile_module(d, mode).cuda()
    x32 = x.float().cuda()
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # cuDNN's TF32 convolutions round to 1e-3; compare full float32
    try:
        torch.testing.assert_close(fast(x32), plain(x32), rtol=1e-4, atol=1e-5)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32


def test_training_on_the_gpu_follows_the_cpu(tmp_path, capsys):
    args = [DIGITS, "--epochs", "3", "--no-progress"]
    assert main(["train", *args, "--device", "cuda", "--out", str(tmp_path / "gpu")]) == 0
    assert "on cuda:0" in capsys.readouterr().out
    assert main(["train", *args, "--device", "cpu", "--out", str(tmp_path / "cpu")]) == 0
    gpu, cpu = history(tmp_path / "gpu" / CHECKPOINT), history(tmp_path / "cpu" / CHECKPOINT)
    np.testing.assert_allclose(gpu["loss"], cpu["loss"], rtol=1e-3)
    assert abs(gpu["accuracy"][-1] - cpu["accuracy"][-1]) <= 0.01
    assert main(["eval", DIGITS, "--checkpoint", str(tmp_path / "gpu" / CHECKPOINT)]) == 0  # read on the CPU
