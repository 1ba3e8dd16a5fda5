"""Training-step time with one intra-op thread against torch's default, by model size.

Each model's step (forward, loss, backward and its learner's optimiser step, on
random examples at its batch) runs with ``torch.set_num_threads(1)`` and with
torch's default number of threads, alternating, in one process.  Reports the
median time per step of each and the ratio default / one thread (above 1: one
thread is faster), beside the weights × batch the rule of ``catlearn train``
goes by (:func:`catlearn.training.threads_for`).  ``--busy K`` keeps K other
processes spinning meanwhile, as on a machine shared with other work.

    python benchmarks/threads.py [--steps 20] [--repeat 7] [--busy 0]
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time

import torch

import catlearn
from catlearn.backends.torch import compile_module
from catlearn.training import _loss, _optimizer, threads_for, weights

BUNDLED = [("iris_logistic", "iris"), ("digits_cnn", "digits_cnn"), ("residual_mlp", "digits_resmlp"),
           ("digits_mlp", "digits")]
MLPS = [(64, 1024, 10, 32), (64, 2048, 10, 32), (64, 4096, 10, 32), (64, 512, 10, 256), (64, 2048, 10, 256),
        (256, 4096, 10, 256)]  # n → h → m at a batch


def learners():
    for path, name in BUNDLED:
        yield path, catlearn.load(f"models/{path}.cat").learners[name]
    for n, h, m, batch in MLPS:
        source = (f"use std.nn\nmodel mlp : R[{n}] -> R[{m}] = dense({n}, {h}) ; relu ; dense({h}, {m})\n"
                  f"learner l = train mlp\n  loss cross_entropy\n  optimizer adam(lr=1e-3)\n  batch {batch}\n")
        yield f"mlp {n}-{h}-{m}", catlearn.loads(source).learners["l"]


def stepper(learner):
    module = compile_module(learner.diagram)
    optimizer = _optimizer(learner.optimizer, module.parameters())
    batch = learner.settings["batch"]
    (inputs,), (outputs,) = learner.diagram.dom, learner.diagram.cod
    x = torch.randn(batch, *inputs.shape)
    y = torch.randint(0, outputs.shape[-1], (batch,))

    def step():
        optimizer.zero_grad()
        _loss(learner.loss[0], module(x), y).backward()
        optimizer.step()
    return step


def spin() -> None:
    while True:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timing")
    parser.add_argument("--repeat", type=int, default=7, help="timings per thread count")
    parser.add_argument("--busy", type=int, default=0, metavar="K", help="other processes spinning meanwhile")
    args = parser.parse_args()
    default = torch.get_num_threads()
    busy = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
    for p in busy:
        p.start()
    print(f"# torch {torch.__version__}, default {default} threads, {args.busy} busy processes, "
          f"{args.steps} steps per timing, median of {args.repeat}")
    print(f"{'model':20} {'batch':>5} {'weights':>10} {'× batch':>12} {'1 thread ms':>11} "
          f"{f'{default} threads ms':>12} {'ratio':>6}  rule")
    try:
        for title, learner in learners():
            step = stepper(learner)
            times = {1: [], default: []}
            for _ in range(args.repeat):
                for threads in times:
                    torch.set_num_threads(threads)
                    for _ in range(3):  # warm up the thread pool after the switch
                        step()
                    start = time.perf_counter()
                    for _ in range(args.steps):
                        step()
                    times[threads].append(1000 * (time.perf_counter() - start) / args.steps)
            one, many = (statistics.median(times[t]) for t in (1, default))
            batch, size = learner.settings["batch"], weights(learner.diagram)
            chosen = threads_for(learner.diagram, batch)
            print(f"{title:20} {batch:5d} {size:10,d} {size * batch:12,d} {one:11.3f} {many:12.3f} "
                  f"{many / one:6.2f}  {chosen if chosen else 'default'}")
    finally:
        for p in busy:
            p.terminate()


if __name__ == "__main__":
    main()
