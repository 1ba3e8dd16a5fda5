"""Recurrent networks: catlearn's scanned Elman and GRU cells against
torch.nn.RNN and torch.nn.GRU, and the memory of backpropagation through time
with checkpoints.

    python benchmarks/rnn.py [--repeat 7] [--lengths 100 1000 10000] [--memory-length 10000]
    python benchmarks/rnn.py --profile GRU rd 1000      # where catlearn's time goes (cProfile)

*Time*: one forward and backward pass (``y.sum().backward()``, gradients of the
input and every parameter) on a batch of 32 sequences of 64 features, hidden
size 64, float32, ONE torch thread, in one process; each repetition times
torch, then catlearn's two gradient modes, in turn (at T = 10,000, 3
repetitions). The outputs are checked against torch's first.

*Memory*: each configuration in a fresh process (Linux): the growth of its
resident set during one forward and backward pass of the GRU, i.e. its peak
(VmHWM, reset through /proc/self/clear_refs just before) less its size just
before (model built, input made). It holds what the pass allocates and the
allocator keeps: the states kept for BPTT, and what every configuration needs in
proportion to T (the output sequence, the input's gradient, the per-step lists
they are stacked from). Beside it, the bytes of the states a checkpointed pass
keeps at its peak, ``(⌈T/k⌉ + k)·batch·hidden·4`` (``T`` of them with all kept).
"""
from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import statistics
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

import catlearn
from catlearn.backends.torch import compile_module
from catlearn.semantics.stateful import with_checkpoints

MODELS = Path(__file__).parent.parent / "models"
BATCH, FEATURES, HIDDEN = 32, 64, 64
# each network's sequence model in .cat, torch's module, and torch's parameter of each of ours
NETWORKS = {
    "Elman": ("elman_rnn.cat", "scan(elman({d}, {h}))", lambda: torch.nn.RNN(FEATURES, HIDDEN, batch_first=True),
              {"elman.dense.W": "weight_ih_l0", "elman.dense.b": "bias_ih_l0",
               "elman.dense_1.W": "weight_hh_l0", "elman.dense_1.b": "bias_hh_l0"}),
    "GRU": ("gru.cat", "gru_seq({d}, {h})", lambda: torch.nn.GRU(FEATURES, HIDDEN, batch_first=True),
            {"gru_seq.gru.W_ih": "weight_ih_l0", "gru_seq.gru.b_ih": "bias_ih_l0",
             "gru_seq.gru.W_hh": "weight_hh_l0", "gru_seq.gru.b_hh": "bias_hh_l0"}),
}


def ours(network: str, steps: int, gradient: str, every: int, reference: torch.nn.Module):
    """catlearn's module on sequences of `steps`, with the weights of torch's `reference`."""
    path, body, _, names = NETWORKS[network]
    source = f'use "{path}"\nmodel m : R[{steps}, {FEATURES}] -> R[{steps}, {HIDDEN}] = ' \
             f'{body.format(d=FEATURES, h=HIDDEN)}\n'
    module = compile_module(with_checkpoints(catlearn.loads(source, search_path=[str(MODELS)])["m"], every), gradient)
    module.load_state_dict({key: getattr(reference, name).detach().clone() for key, name in names.items()})
    return module


def step(run, module, x) -> float:
    """Seconds of one forward and backward pass (gradients cleared first)."""
    module.zero_grad(set_to_none=True)
    x.grad = None
    start = time.perf_counter()
    run(x).sum().backward()
    return time.perf_counter() - start


def timings(repeat: int, lengths: list) -> None:
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread, batch {BATCH}, {FEATURES} features, "
          f"hidden {HIDDEN}, forward + backward, ms (min / median of the repetitions)")
    print(f"{'network':8} {'T':>6} {'reps':>4} {'torch':>17} {'autograd':>17} {'ratio':>5} {'rd':>17} {'ratio':>5}")
    for network in NETWORKS:
        for steps in lengths:
            reps = repeat if steps < 10_000 else 3
            torch.manual_seed(0)
            x = torch.randn(BATCH, steps, FEATURES, requires_grad=True)
            reference = NETWORKS[network][2]()
            runs = {"torch": (lambda v: reference(v)[0], reference)}
            for gradient in ("autograd", "rd"):
                module = ours(network, steps, gradient, 0, reference)
                with torch.no_grad():
                    error = (module(x) - reference(x)[0]).abs().max().item()
                assert error < 1e-4, f"{network} T={steps} {gradient}: outputs differ by {error}"
                runs[gradient] = (module, module)
            for run, module in runs.values():  # warm up: compile the layout, fault in the memory
                step(run, module, x)
            seconds: dict = {name: [] for name in runs}
            for _ in range(reps):
                for name, (run, module) in runs.items():
                    seconds[name].append(step(run, module, x))
            ms = {name: (1e3 * min(s), 1e3 * statistics.median(s)) for name, s in seconds.items()}
            cells = [f"{ms[name][0]:8.1f} /{ms[name][1]:7.1f}" for name in ("torch", "autograd", "rd")]
            ratio = [ms[name][0] / ms["torch"][0] for name in ("autograd", "rd")]
            print(f"{network:8} {steps:6} {reps:4} {cells[0]:>17} {cells[1]:>17} {ratio[0]:5.2f} {cells[2]:>17} "
                  f"{ratio[1]:5.2f}", flush=True)


def profile(network: str, gradient: str, steps: int) -> None:
    """cProfile of 3 forward and backward passes of catlearn's module (after one to compile it)."""
    torch.manual_seed(0)
    module = ours(network, steps, gradient, 0, NETWORKS[network][2]())
    x = torch.randn(BATCH, steps, FEATURES, requires_grad=True)
    step(module, module, x)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(3):
        step(module, module, x)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def _resident(field: str) -> int:
    """A /proc/self/status memory figure, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(what: str, gradient: str, steps: int, every: int) -> None:
    """(In a fresh process.) Print the peak growth of the resident set, in bytes,
    during one forward and backward pass of the GRU (`what`: catlearn, torch, or
    catlearn's forward alone without gradients)."""
    torch.set_num_threads(1)
    reference = NETWORKS["GRU"][2]()
    module = ours("GRU", steps, gradient, every, reference)
    x = torch.randn(BATCH, steps, FEATURES, requires_grad=what != "forward")
    warm = x[:1].detach().requires_grad_(what != "forward")  # one sequence first: lazy imports and code paths
    with torch.set_grad_enabled(what != "forward"):
        y = module(warm) if what != "torch" else reference(warm)[0]
        if what != "forward":
            y.sum().backward()
    del y
    before = _resident("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak
    if what == "forward":
        with torch.no_grad():
            module(x)
    else:
        (module(x) if what == "catlearn" else reference(x)[0]).sum().backward()
    print(_resident("VmHWM") - before)


# glibc's malloc returns a freed block of 128 KiB or more to the system at once (no dynamic threshold), so
# that the resident set follows what is live rather than what the heap's fragments hold
MEASURED_ALLOCATOR = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}


def memory(steps: int, checkpoints: list, repeat: int) -> None:
    def growth(*config) -> float:  # the least of `repeat` fresh processes: the allocator's noise only adds
        outs = [subprocess.run([sys.executable, __file__, "--measure", *map(str, config)], capture_output=True,
                               text=True, check=True, env=MEASURED_ALLOCATOR).stdout for _ in range(repeat)]
        return min(int(out.split()[-1]) for out in outs) / 2 ** 20

    print(f"\n# GRU, T = {steps}, batch {BATCH}, hidden {HIDDEN}: peak growth of the resident set (MiB) during one "
          f"forward + backward (least of {repeat} processes),\n# and what a pass keeps at its peak: every step's "
          f"residuals (k = 0), or ⌈T/k⌉ states and one segment's k steps of residuals")
    print(f"{'configuration':32} {'states':>6} {'residuals':>9} {'autograd MiB':>12} {'rd MiB':>8}")
    print(f"{'catlearn, forward only':32} {0:6} {0:9} {growth('forward', 'autograd', steps, 0):12.1f}")
    torch_mib = growth("torch", "autograd", steps, 0)
    print(f"{'torch.nn.GRU (its autograd graph)':32} {'':>6} {'':>9} {torch_mib:12.1f}")
    for every in checkpoints:
        states, residuals = (0, steps) if every == 0 else (math.ceil(steps / every), every)
        label = "catlearn, every step's residuals" if every == 0 else f"catlearn, with_checkpoints(k={every})"
        mib = [growth("catlearn", gradient, steps, every) for gradient in ("autograd", "rd")]
        print(f"{label:32} {states:6} {residuals:9} {mib[0]:12.1f} {mib[1]:8.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument("--memory-length", type=int, default=10_000)
    parser.add_argument("--memory-repeat", type=int, default=3)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[0, 10, 30, 100, 300, 1000, 3000])
    parser.add_argument("--profile", nargs=3, metavar=("NETWORK", "GRADIENT", "T"),
                        help="profile catlearn's module instead (Elman or GRU, autograd or rd, a length)")
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        what, gradient, steps, every = args.measure
        return measure(what, gradient, int(steps), int(every))
    torch.set_num_threads(1)  # one intra-op thread: the loops of both are sequential in time
    if args.profile:
        network, gradient, steps = args.profile
        return profile(network, gradient, int(steps))
    timings(args.repeat, args.lengths)
    memory(args.memory_length, args.checkpoints, args.memory_repeat)


if __name__ == "__main__":
    main()
