"""Training-step time of compiled .cat models against the same models written by
hand with torch.nn layers and torch.optim (Adam), one process, float32, on the
CPU (one thread) or a CUDA device.

A step is forward, cross-entropy (or squared error for the transformer block),
backward and the optimiser's step.  Reports the best time per step of each and
the ratio catlearn / hand-written, for both gradient modes, at batch 32 and 256.

Beside them, for the MLP and the CNN, the floor of the ``rd`` mode: the same
model as a ``torch.autograd.Function`` whose backward is written by hand in
Python with torch's default kernels (oneDNN convolutions).  A backward pass
written in Python (catlearn's ``rd`` mode, or a user's own Function) pays the interpreter
for every call that torch's own backward makes in C++.

    python benchmarks/torch_step.py [--steps 30] [--repeat 5] [--device cuda]
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

import catlearn
from catlearn.backends.torch import compile_module
from timing import best


class HandCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        h = nn.functional.max_pool2d(torch.relu(self.c1(x.reshape(-1, 1, 8, 8))), 2)
        h = nn.functional.max_pool2d(torch.relu(self.c2(h)), 2)
        return self.fc(h.reshape(len(x), -1))


class _MLPFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w1, b1, w2, b2, x):
        h = torch.relu(nn.functional.linear(x, w1, b1))
        ctx.save_for_backward(w2, h, x)
        return nn.functional.linear(h, w2, b2)

    @staticmethod
    def backward(ctx, dy):
        w2, h, x = ctx.saved_tensors
        g = torch.ops.aten.threshold_backward(dy @ w2, h, 0)
        return g.mT @ x, g.sum(0), dy.mT @ h, dy.sum(0), None


class _CNNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, k1, b1, k2, b2, w, b, x):
        x = x.reshape(-1, 1, 8, 8)
        a1 = torch.relu(nn.functional.conv2d(x, k1, b1, padding=1))
        h1, i1 = nn.functional.max_pool2d(a1, 2, return_indices=True)
        a2 = torch.relu(nn.functional.conv2d(h1, k2, b2, padding=1))
        h2, i2 = nn.functional.max_pool2d(a2, 2, return_indices=True)
        h2 = h2.reshape(len(x), 64)
        ctx.save_for_backward(k1, k2, w, x, a1, i1, h1, a2, i2, h2)
        return nn.functional.linear(h2, w, b)

    @staticmethod
    def backward(ctx, dy):
        k1, k2, w, x, a1, i1, h1, a2, i2, h2 = ctx.saved_tensors
        n, backward, relu_grad = len(x), torch.ops.aten.convolution_backward, torch.ops.aten.threshold_backward

        def unpool(g, idx, c, side):
            flat = g.reshape(n, c, -1)
            return flat.new_zeros(n, c, side * side).scatter_(-1, idx.reshape(n, c, -1), flat).reshape(n, c, side, side)
        g = relu_grad(unpool(dy @ w, i2, 16, 4), a2, 0)
        dh1, dk2, db2 = backward(g, h1, k2, [16], (1, 1), (1, 1), (1, 1), False, (0, 0), 1, (True, True, True))
        g = relu_grad(unpool(dh1, i1, 8, 8), a1, 0)
        dk1 = backward(g, x, k1, None, (1, 1), (1, 1), (1, 1), False, (0, 0), 1, (False, True, False))[1]
        return dk1, g.sum((0, 2, 3)), dk2, db2, dy.mT @ h2, dy.sum(0), None


class _Function(nn.Module):
    """A hand-written model's parameters, through a Function with a hand-written backward."""

    def __init__(self, function, model: nn.Module):
        super().__init__()
        self.function = function
        self.weights = nn.ParameterList([nn.Parameter(p.detach().clone()) for p in model.parameters()])

    def forward(self, x):
        return self.function.apply(*self.weights, x)


def models():
    mlp = catlearn.load("models/digits_mlp.cat")["mlp"]
    cnn = catlearn.load("models/digits_cnn.cat")["cnn"]
    block = catlearn.load("models/transformer_block.cat")["transformer"]
    return [  # (title, diagram, hand-written model, its Function with a hand-written backward, input, loss)
        ("MLP", mlp, lambda: nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 10)), _MLPFunction, (64,),
         "ce"),
        ("CNN", cnn, HandCNN, _CNNFunction, (64,), "ce"),
        ("transformer block", block, lambda: nn.TransformerEncoderLayer(32, 1, 64, dropout=0.0, batch_first=True),
         None, (10, 32), "se"),
    ]


def checked(function, model: nn.Module, shape, device) -> nn.Module:
    """`model` through `function`, its gradients first checked against torch's own."""
    mirror = _Function(function, model).to(device)
    x = torch.randn(4, *shape, device=device)
    model.zero_grad()
    torch.autograd.backward([model(x).square().sum(), mirror(x).square().sum()])
    for a, b in zip(model.parameters(), mirror.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-5)
    model.zero_grad()
    return mirror


def stepper(module, shape, loss, batch, device):
    module = module.to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    x = torch.randn(batch, *shape, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)

    def step():
        optimizer.zero_grad()
        out = module(x)
        value = nn.functional.cross_entropy(out, labels) if loss == "ce" else out.square().mean()
        value.backward()
        optimizer.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu (one thread) or cuda")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
        where = "1 CPU thread"
    else:
        where = torch.cuda.get_device_name(device)

    def run(step):
        for _ in range(args.steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    print(f"# torch {torch.__version__}, {where}, {args.steps} steps per timing, best of {args.repeat}")
    print(f"{'model':18} {'batch':>5} {'by hand ms':>10} {'autograd ms':>11} {'ratio':>6} {'rd ms':>7} {'ratio':>6} "
          f"{'Function ms':>11} {'ratio':>6}")
    for title, diagram, hand, function, shape, loss in models():
        for batch in (32, 256):
            model = hand().to(device)
            steps = {"hand": stepper(model, shape, loss, batch, device)}
            for mode in ("autograd", "rd"):
                steps[mode] = stepper(compile_module(diagram, mode), shape, loss, batch, device)
            if function is not None:
                steps["function"] = stepper(checked(function, model, shape, device), shape, loss, batch, device)
            for step in steps.values():  # warm up (CUDA kernels, allocator)
                run(step)
            times = {k: float("inf") for k in steps}
            for _ in range(args.repeat):  # interleaved, so a slow moment hits every variant alike
                for k, step in steps.items():
                    times[k] = min(times[k], best(lambda step=step: run(step), 1))
            per = {k: 1000 * t / args.steps for k, t in times.items()}
            floor = f"{per['function']:11.3f} {per['function'] / per['hand']:6.2f}" if function else f"{'—':>11} {'':6}"
            print(f"{title:18} {batch:5d} {per['hand']:10.3f} {per['autograd']:11.3f} "
                  f"{per['autograd'] / per['hand']:6.2f} {per['rd']:7.3f} {per['rd'] / per['hand']:6.2f} {floor}")


if __name__ == "__main__":
    main()
