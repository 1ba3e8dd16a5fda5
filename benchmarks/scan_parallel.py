"""The parallel prefix scan of an affine recurrence against the sequential loop.

Linear attention (models/linear_attention.cat) and its gated variant on
sequences of T steps, forward and backward, one torch thread, in one process:
catlearn's compiled scan with its parallel form (the default for an affine
recurrence) and with `sequential(d)` (the loop over compiled steps).

    python benchmarks/scan_parallel.py [--lengths 1000 10000] [--batch 8] [--repeat 3]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import catlearn
from catlearn.backends.torch import compile_module
from catlearn.semantics.stateful import sequence, sequential

MODELS = Path(__file__).resolve().parent.parent / "models"


def seconds(module, inputs, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        xs = [x.detach().clone().requires_grad_() for x in inputs]
        start = time.perf_counter()
        module(*xs).sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    file = catlearn.load(MODELS / "linear_attention.cat")
    steps = {"linear attention": (file["linear_attention_4"], 3), "gated": (file["gla_16"].ops[0].body, 4)}
    print(f"forward + backward, batch {args.batch}, d = 4, 1 torch thread, best of {args.repeat}")
    print(f"{'model':18} {'T':>6} {'loop (s)':>10} {'parallel (s)':>13} {'speed-up':>9}")
    for name, (step, n) in steps.items():
        for length in args.lengths:
            d = sequence(step, length)
            inputs = [torch.randn(args.batch, length, 4) for _ in range(n)]
            parallel, loop = compile_module(d), compile_module(sequential(d))
            seconds(parallel, inputs, 1), seconds(loop, inputs, 1)  # compile both for this layout first
            t_loop, t_par = seconds(loop, inputs, args.repeat), seconds(parallel, inputs, args.repeat)
            print(f"{name:18} {length:6d} {t_loop:10.3f} {t_par:13.4f} {t_loop / t_par:8.1f}×")


if __name__ == "__main__":
    main()
