"""The shapes where catlearn's torch backend calls another kernel than torch's
default, on the CPU, and what each choice costs on either side of its threshold:

* a 2-d convolution (3 × 3 kernel, padding 1): oneDNN (torch's default, through
  ``F.conv2d`` and ``convolution_backward``) against torch's direct kernel
  (``thnn_conv2d``, ``_slow_conv2d_backward``), forward and kernel gradient,
  by multiply-adds (catlearn takes the direct kernel under 2¹⁸);
* the bias gradient beside a kernel gradient: oneDNN's against a separate sum;
* softmax and its derivative over the last axis against over the transposed
  rows, by the axis's length (catlearn transposes under 16 entries).

Each figure is the best of several timings of one call, in µs, in one process.

    python benchmarks/kernel_choice.py [--threads 1]
"""
from __future__ import annotations

import argparse

import torch
from torch.nn import functional as F

from catlearn.backends.torch.kernels import DIRECT_CONVOLUTION, few_multiply_adds
from catlearn.stdlib.nn import SHORT_AXIS
from timing import best

A = torch.ops.aten


def us(fn, calls: int = 50, repeat: int = 7) -> float:
    fn()
    return 1e6 * best(lambda: [fn() for _ in range(calls)], repeat) / calls


def convolutions() -> None:
    print(f"## convolution, 3 × 3, padding 1: oneDNN / direct (µs); catlearn takes the direct kernel under "
          f"{DIRECT_CONVOLUTION:,} multiply-adds")
    print(f"{'batch':>5} {'c':>3} {'o':>3} {'side':>4} {'mult-adds':>10} {'forward':>17} {'kernel gradient':>17} "
          f"{'bias: oneDNN':>13} {'sum':>6}  catlearn")
    for c, o, side in ((1, 8, 8), (8, 16, 4), (16, 32, 16)):
        for batch in (8, 32, 256):
            x, k = torch.randn(batch, c, side, side), torch.randn(o, c, 3, 3)
            b, z = torch.randn(o), torch.randn(batch, o, side, side)

            def grads(bias):
                return A.convolution_backward(z, x, k, [o] if bias else None, (1, 1), (1, 1), (1, 1), False, (0, 0), 1,
                                              (False, True, bias))
            forward = (us(lambda: F.conv2d(x, k, b, padding=1)),
                       us(lambda: torch._C._nn.thnn_conv2d(x, k, (3, 3), b, 1, 1)))
            kernel = us(lambda: grads(False)), us(lambda: A._slow_conv2d_backward.output_mask(
                z, x, k, (3, 3), (1, 1), (1, 1), (False, True, False)))
            with_bias = us(lambda: grads(True)) - kernel[0]
            small = few_multiply_adds((batch, c, side, side), (o, c, 3, 3), 1)
            print(f"{batch:5d} {c:3d} {o:3d} {side:4d} {batch * o * side * side * c * 9:10,d} "
                  f"{forward[0]:8.1f}/{forward[1]:8.1f} {kernel[0]:8.1f}/{kernel[1]:8.1f} {with_bias:13.1f} "
                  f"{us(lambda: z.sum((0, 2, 3))):6.1f}  {'direct' if small else 'oneDNN'}")


def softmaxes() -> None:
    print(f"\n## softmax over 25,600 entries: over the last axis / over the transposed rows (µs); catlearn transposes "
          f"under {SHORT_AXIS} entries")
    print(f"{'axis':>5} {'forward':>17} {'derivative':>17}  catlearn")
    for n in (4, 10, 15, 16, 32, 128):
        x = torch.randn(25600 // n, n)
        y, dy = torch.softmax(x, -1), torch.randn(25600 // n, n)
        forward = us(lambda: torch.softmax(x, -1)), us(lambda: torch.softmax(x.mT, 0).mT)
        derivative = (us(lambda: A._softmax_backward_data(dy, y, -1, y.dtype)),
                      us(lambda: A._softmax_backward_data(dy.mT, y.mT, 0, y.dtype).mT))
        print(f"{n:5d} {forward[0]:8.1f}/{forward[1]:8.1f} {derivative[0]:8.1f}/{derivative[1]:8.1f}  "
              f"{'transposed' if n < SHORT_AXIS else 'last axis'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    torch.set_num_threads(parser.parse_args().threads)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), "
          f"{torch.backends.cpu.get_cpu_capability()}")
    convolutions()
    softmaxes()


if __name__ == "__main__":
    main()
