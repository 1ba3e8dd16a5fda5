"""Training-step time of compiled .cat models against the same models written by
hand with torch.nn layers and torch.optim (Adam), one process, float32, on the
CPU (one thread) or a CUDA device.

A step is forward, cross-entropy (or squared error for the transformer block),
backward and the optimiser's step.  Reports the best time per step of each and
the ratio catlearn / hand-written, for both gradient modes, at batch 32 and 256.

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


def models():
    mlp = catlearn.load("models/digits_mlp.cat")["mlp"]
    cnn = catlearn.load("models/digits_cnn.cat")["cnn"]
    block = catlearn.load("models/transformer_block.cat")["transformer"]
    return [
        ("MLP", mlp, lambda: nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 10)), (64,), "ce"),
        ("CNN", cnn, HandCNN, (64,), "ce"),
        ("transformer block", block, lambda: nn.TransformerEncoderLayer(32, 1, 64, dropout=0.0, batch_first=True),
         (10, 32), "se"),
    ]


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
    print(f"{'model':18} {'batch':>5} {'by hand ms':>10} {'autograd ms':>11} {'ratio':>6} {'rd ms':>7} {'ratio':>6}")
    for title, diagram, hand, shape, loss in models():
        for batch in (32, 256):
            steps = {"hand": stepper(hand(), shape, loss, batch, device)}
            for mode in ("autograd", "rd"):
                steps[mode] = stepper(compile_module(diagram, mode), shape, loss, batch, device)
            for step in steps.values():  # warm up (CUDA kernels, allocator)
                run(step)
            times = {k: float("inf") for k in steps}
            for _ in range(args.repeat):  # interleaved, so a slow moment hits every variant alike
                for k, step in steps.items():
                    times[k] = min(times[k], best(lambda step=step: run(step), 1))
            per = {k: 1000 * t / args.steps for k, t in times.items()}
            print(f"{title:18} {batch:5d} {per['hand']:10.3f} {per['autograd']:11.3f} "
                  f"{per['autograd'] / per['hand']:6.2f} {per['rd']:7.3f} {per['rd'] / per['hand']:6.2f}")


if __name__ == "__main__":
    main()
