"""How fast, and in how much memory, bad input is refused: each class of
hostile `.cat` input must give a CatError and exit code 1 within a second.

For each case: the check in-process (best of R, and the peak of memory one
check allocates, by tracemalloc), then a whole `catlearn check FILE` process
(interpreter start-up included) with its exit code and peak resident memory
(the process's own VmHWM).

    python benchmarks/bad_input.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from catlearn.core.errors import CatError
from catlearn.grammar.module import check_bytes


def chain(levels: int, generic: bool = False) -> bytes:
    """n definitions, each using the one before twice: 2^n boxes if expanded."""
    size, typ = ("(n)", "R[n] -> R[n]") if generic else ("", "R -> R")
    lines = ["use std.nn", f"def d0{size} : {typ} = relu"]
    lines += [f"def d{i}{size} : {typ} = d{i - 1}{size} ; d{i - 1}{size}" for i in range(1, levels + 1)]
    lines.append(f"model m : R[3] -> R[3] = d{levels}(3)" if generic else f"model m : R -> R = d{levels}")
    return "\n".join(lines).encode()


def cases(tmp: Path) -> dict:
    """name -> (path of the file to check, files it needs)."""
    files = {
        "not UTF-8": b"use std.nn\nmodel f : R -> R = \xff\xfe relu\n",
        "5 MB file": b"-- " + b"x" * (5 * 2 ** 20) + b"\n",
        "10,000 nested parentheses": b"use std.nn\nmodel f : R -> R = " + b"(" * 10_000 + b"relu" + b")" * 10_000,
        "10,000 unary minus signs": b"use std.nn\nmodel f : R -> R = x => " + b"- " * 10_000 + b"x\n",
        "a shape of 10^12 elements": b"use std.nn\nmodel f : R[1000000, 1000000] -> R[1000000, 1000000] = relu\n",
        "a 5,000-digit size": b"use std.nn\nmodel f : R[" + b"9" * 5000 + b"] -> R = sum\n",
        "a 5,000-digit value": b"use std.nn\nmodel f : R -> R = x => x * " + b"9" * 5000 + b"\n",
        "1e999 (non-finite)": b"use std.nn\nmodel f : R -> R = x => x * 1e999\n",
        "990 terms 1+1+... in R[...]": b"model f : R[" + b"+".join([b"1"] * 990) + b"] -> R = sum\n",
        "990 terms 1*1*... in R[...]": b"model f : R[" + b"*".join([b"1"] * 990) + b"] -> R = sum\n",
        "a 300-character import name": b'use "' + b"a" * 300 + b'.cat"\n',
        "exponential chain, n = 30": chain(30),
        "exponential chain, n = 30, generic": chain(30, generic=True),
        "use of a 300 MiB file": b'use "big.cat"\n',
        'use "../secret.cat"': b'use "../secret.cat"\n',
        'use "/proc/self/environ"': b'use "/proc/self/environ"\n',
        "500 files, each using the next": b'use "m0.cat"\n',
    }
    with open(tmp / "big.cat", "wb") as f:
        f.truncate(300 * 2 ** 20)  # sparse
    (tmp.parent / "secret.cat").write_text("model secret : R -> R = nope\n")
    for i in range(500):
        (tmp / f"m{i}.cat").write_text(f'use "m{i + 1}.cat"\n' if i < 499 else "use std.nn\n")
    out = {}
    for name, data in files.items():
        path = tmp / f"case{len(out)}.cat"
        path.write_bytes(data)
        out[name] = path
    out["/dev/zero"] = Path("/dev/zero")
    return out


def in_process(path: Path, repeat: int) -> tuple[float, int, str]:
    """Best time of `repeat` checks, then the peak of memory one check allocates."""
    with open(path, "rb") as f:
        data = f.read(2 * 2 ** 20 + 1)
    best, message = float("inf"), "(no error)"
    for trace in [False] * repeat + [True]:  # tracemalloc slows allocation: time without it
        if trace:
            tracemalloc.start()
        start = time.perf_counter()
        try:
            check_bytes(data, str(path))
        except CatError as e:
            message = e.message
        if not trace:
            best = min(best, time.perf_counter() - start)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak, message


CHILD = """import re, sys
from catlearn.cli import main
code = main(sys.argv[1:])
print(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1), file=sys.stderr)
sys.exit(code)"""


def whole_process(path: Path) -> tuple[float, int, int]:
    """Seconds, exit code and peak resident memory (VmHWM) of `catlearn check path`."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, "check", str(path)], capture_output=True, text=True)
    return time.perf_counter() - start, proc.returncode, int(proc.stderr.split()[-1]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'case':38} {'in-process s':>12} {'peak MiB':>8} {'process s':>9} {'RSS MiB':>7} {'exit':>4}  error")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "models"
        root.mkdir()
        for name, path in cases(root).items():
            seconds, peak, message = in_process(path, args.repeat)
            whole, code, rss = whole_process(path)
            print(f"{name:38} {seconds:12.4f} {peak / 2 ** 20:8.1f} {whole:9.3f} {rss / 2 ** 20:7.0f} {code:4d}  "
                  f"{message[:60]}")


if __name__ == "__main__":
    main()
