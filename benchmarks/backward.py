"""The reverse-derivative pass on n-layer MLPs: the size of the simplified
backward diagram against the forward one, and the lens/optic trade-off in
time and memory, beside a hand-written NumPy backward pass.

    python benchmarks/backward.py [--width 256] [--batch 256] [--repeat 5]
"""
from __future__ import annotations

import argparse
import tracemalloc

import numpy as np

import catlearn
from catlearn.backends.numpy import evaluate, init_params
from catlearn.semantics.lens import compile_split
from catlearn.semantics.rdc import reverse
from timing import best


def mlp(layers: int, width: int, batch: int):
    body = " ; relu ; ".join([f"dense({width}, {width})"] * layers)
    return catlearn.loads(f"use std.nn\nmodel f : R[b: {batch}, {width}] -> R[b: {batch}, {width}] = {body}")["f"]


def by_hand(params: dict, x: np.ndarray, dy: np.ndarray, layers: int):
    """The backward pass a user would write: keep the activations, then walk back."""
    acts, pre = [x], []
    h = x
    for k in range(layers):
        tag = "dense" if k == 0 else f"dense_{k}"
        z = h @ params[f"{tag}.W"].T + params[f"{tag}.b"]
        pre.append(z)
        h = np.maximum(z, 0.0) if k < layers - 1 else z
        acts.append(h)
    grads = {}
    g = dy
    for k in reversed(range(layers)):
        tag = "dense" if k == 0 else f"dense_{k}"
        if k < layers - 1:
            g = g * (pre[k] > 0)
        grads[f"{tag}.W"] = g.T @ acts[k]
        grads[f"{tag}.b"] = g.sum(0)
        g = g @ params[f"{tag}.W"]
    return g, grads


def measure(fn, repeat: int) -> tuple[float, float]:
    """(best seconds, peak MiB allocated during one run)."""
    seconds = best(fn, repeat)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2 ** 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print("## backward diagram size (simplified R[f], parameters' cotangents included)")
    print(f"{'layers':>6} {'forward ops':>12} {'R[f] ops':>9} {'of which backward':>18} {'backward/forward':>17}")
    for layers in (1, 2, 4, 8, 16):
        f = mlp(layers, 8, 4)
        r = reverse(f)
        recomputed = sum(1 for op in r.ops if op.prim.name in ("matvec", "add", "relu"))
        backward = len(r.ops) - recomputed
        print(f"{layers:6d} {len(f.ops):12d} {len(r.ops):9d} {backward:18d} {backward / len(f.ops):17.2f}")

    layers = 8
    f = mlp(layers, args.width, args.batch)
    params = init_params(f, seed=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, args.width))
    dy = rng.normal(size=(args.batch, args.width))
    print(f"\n## one forward + backward pass, {layers}-layer MLP, width {args.width}, batch {args.batch}, "
          f"best of {args.repeat}")
    print(f"{'strategy':10} {'seconds':>8} {'peak MiB':>9} {'kept between passes MiB':>24} {'vs by hand (time)':>18}")
    hand_t, hand_m = measure(lambda: by_hand(params, x, dy, layers), args.repeat)
    rows = []
    for strategy in ("lens", "optic"):
        split = compile_split(f, strategy)

        def step(split=split):
            out = evaluate(split.forward, [x], params)
            return evaluate(split.backward, out[split.n_outputs:] + [dy], params)

        t, m = measure(step, args.repeat)
        kept = sum(t.size() for t in split.residuals) * 8 / 2 ** 20
        rows.append((strategy, t, m, kept))
    grads_hand = by_hand(params, x, dy, layers)[1]
    split = compile_split(f, "optic")
    out = evaluate(split.forward, [x], params)
    ours = evaluate(split.backward, out[split.n_outputs:] + [dy], params)
    names = [p.name for p in f.params]
    worst = max(np.max(np.abs(g - grads_hand[n])) for n, g in zip(names, ours[1:]))
    for strategy, t, m, kept in rows:
        print(f"{strategy:10} {t:8.4f} {m:9.1f} {kept:24.2f} {t / hand_t:18.2f}")
    print(f"{'by hand':10} {hand_t:8.4f} {hand_m:9.1f} {'':>24} {1.0:18.2f}")
    print(f"\nlargest difference between catlearn's and the hand-written parameter gradients: {worst:.1e}")


if __name__ == "__main__":
    main()
