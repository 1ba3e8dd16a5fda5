"""Parse + elaborate + type-check time of generated models of 1k/3k/10k boxes.

Two shapes of model:
* flat     – one pointful model, a `let` chain of N primitive applications;
* modular  – N/10 definitions of 10 boxes each, chained point-free by a model
             (so every definition is checked once and spliced in once).

Beside each, for scale, CPython's own `compile()` of Python source with the
same number of statements (`v1 = relu(v0)` …), in the same process.  Reports
the best of R repetitions, the least-squares slope (µs per box), and
t(10k)/t(1k) (10.0 is perfectly linear).

    python benchmarks/check_scaling.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import platform

import numpy as np

from catlearn.grammar.module import check_bytes
from timing import best

OPS = ["relu", "tanh", "sigmoid", "neg", "square", "exp"]


def flat(n: int) -> str:
    lines = []
    for i in range(n):
        if i % 3 == 2:
            lines.append(f"v{i + 1} = add(v{i}, v{i - 1})")
        else:
            lines.append(f"v{i + 1} = {OPS[i % len(OPS)]}(v{i})")
    body = ",\n           ".join(lines)
    return f"use std.nn\n\nmodel net : R[b: 32, 16] -> R[b: 32, 16] =\n  v0 => let {body}\n       in v{n}\n"


def modular(n: int) -> str:
    blocks = n // 10
    out = ["use std.nn", ""]
    for k in range(blocks):
        out.append(f"def block{k}(d) : R[d] -> R[d] =\n"
                   f"  x => let a = relu(x), b = add(a, x), c = tanh(b), e = mul(c, a), f = sigmoid(e),\n"
                   f"           g = sub(f, b), h = square(g), i = neg(h), j = add(i, x)\n"
                   f"       in exp(j)")
    out.append("model net : R[b: 32, 16] -> R[b: 32, 16] =\n  " + " ; ".join(f"block{k}(16)" for k in range(blocks)))
    return "\n".join(out) + "\n"


def python_equivalent(n: int) -> str:
    return "\n".join(f"v{i + 1} = {OPS[i % len(OPS)]}(v{i})" for i in range(n)) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000])
    args = parser.parse_args()
    print(f"# {platform.python_implementation()} {platform.python_version()} on {platform.machine()}, "
          f"best of {args.repeat}")
    for make in (flat, modular):  # warm up: grammar tables, std modules, caches
        for n in args.sizes:
            check_bytes(make(n).encode(), "warmup.cat")
    print(f"{'shape':8} {'boxes':>6} {'bytes':>9} {'catlearn s':>11} {'compile() s':>12} {'ratio':>7}")
    for name, make in (("flat", flat), ("modular", modular)):
        xs, ys = [], []
        for n in args.sizes:
            data = make(n).encode()
            module = check_bytes(data, f"{name}.cat")
            boxes = len(module["net"].ops)
            t = best(lambda data=data, name=name: check_bytes(data, f"{name}.cat"), args.repeat)
            src = python_equivalent(boxes)
            c = best(lambda src=src: compile(src, "<bench>", "exec"), args.repeat)
            xs.append(boxes)
            ys.append(t)
            print(f"{name:8} {boxes:6d} {len(data):9,d} {t:11.3f} {c:12.4f} {t / c:7.1f}")
        slope, intercept = np.polyfit(xs, ys, 1)
        print(f"{name:8} slope {slope * 1e6:.1f} µs/box, intercept {intercept * 1e3:.1f} ms, "
              f"t({xs[-1]})/t({xs[0]}) = {ys[-1] / ys[0]:.1f} for {xs[-1] / xs[0]:.0f}× the boxes")


if __name__ == "__main__":
    main()
