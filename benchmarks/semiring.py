"""The blocked semiring kernels (catlearn.backends.torch.semiring) against the naive
broadcast-then-reduce torch code, on one thread: log- and max-plus products of
512 × 512 @ 512 × 512 and of a batch 64 × 128 × 128 @ 64 × 128 × 128 (forward,
and forward + backward for log).  Over the reals the kernels call torch's own
(`matmul`, `conv2d`), so there is nothing to compare there.

Each variant runs in a fresh spawned process: its time is the best of
`--repeat` runs, its memory the growth of the process's peak RSS
(``ru_maxrss``) over the run, beside the output's own size.

    python benchmarks/semiring.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource

import torch

from catlearn.backends.torch.semiring import semiring_matmul
from timing import best

SHAPES = {"512²": ((512, 512), (512, 512)), "64×128²": ((64, 128, 128), (64, 128, 128))}
NAIVE = {
    "log": lambda a, b: torch.logsumexp(a[..., :, :, None] + b[..., None, :, :], -2),
    "maxplus": lambda a, b: (a[..., :, :, None] + b[..., None, :, :]).amax(-2),
}


def _call(kind: str, name: str, shape: str, backward: bool):
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(s, generator=g, requires_grad=backward) for s in SHAPES[shape])
    f = NAIVE[name] if kind == "naive" else (lambda p, q: semiring_matmul(p, q, name))

    def run():
        c = f(a, b)
        if backward:
            c.backward(torch.ones_like(c))
        return c
    return run


def _child(args, repeat, queue):
    torch.set_num_threads(1)
    fn = _call(*args)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = best(fn, repeat)
    queue.put((t, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024))


def measure(args, repeat: int) -> tuple[float, float]:
    """(best time in s, peak RSS growth in MiB) of one variant, in a fresh process."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(args, repeat, q))
    p.start()
    result = q.get()
    p.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    cases = [(n, s, bw) for s in SHAPES for n, bw in (("log", False), ("log", True), ("maxplus", False))]
    print(f"# torch {torch.__version__}, one thread, best of {repeat}; memory: peak RSS growth, MiB")
    print(f"{'product':>8} {'shape':>22} {'pass':>8} {'naive s':>8} {'ours s':>8} {'speed-up':>8} "
          f"{'naive MiB':>9} {'ours MiB':>8} {'output MiB':>10}")
    for name, shape, backward in cases:
        tn, mn = measure(("naive", name, shape, backward), repeat)
        to, mo = measure(("ours", name, shape, backward), repeat)
        (sa, sb) = SHAPES[shape]
        out = torch.Size(sa[:-2] + (sa[-2], sb[-1])).numel() * 4 / 2 ** 20
        print(f"{name:>8} {shape:>22} {'fwd+bwd' if backward else 'fwd':>8} {tn:8.3f} {to:8.3f} {tn / to:7.1f}× "
              f"{mn:9.0f} {mo:8.0f} {out:10.1f}")


if __name__ == "__main__":
    main()
