"""How fast bad input is rejected: each case must give a CatError and exit
code 1 within a second.  Times the check in-process (best of R) and a whole
`catlearn check` process (interpreter start-up included).

    python benchmarks/bad_input.py
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from catlearn.core.errors import CatError
from catlearn.grammar.module import check_bytes

CASES = {
    "not UTF-8": b"use std.nn\nmodel f : R -> R = \xff\xfe relu\n",
    "5 MB file": b"-- " + b"x" * (5 * 2 ** 20) + b"\n",
    "5 MB of model text": (b"use std.nn\nmodel f : R -> R = relu" + b" ; relu" * 700_000 + b"\n")[:5 * 2 ** 20],
    "10,000 nested parentheses": b"use std.nn\nmodel f : R -> R = " + b"(" * 10_000 + b"relu" + b")" * 10_000 + b"\n",
    "10,000 unary minus signs": b"use std.nn\nmodel f : R -> R = x => " + b"- " * 10_000 + b"x\n",
    "a shape of 10^12 elements": b"use std.nn\nmodel f : R[1000000, 1000000] -> R[1000000, 1000000] = relu\n",
}


def main() -> None:
    print(f"{'case':28} {'in-process s':>12} {'process s':>10} {'exit':>5}  error")
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in CASES.items():
            best = float("inf")
            message = ""
            for _ in range(3):
                start = time.perf_counter()
                try:
                    check_bytes(data, "bad.cat")
                    message = "(no error)"
                except CatError as e:
                    message = e.message
                best = min(best, time.perf_counter() - start)
            path = Path(tmp) / "bad.cat"
            path.write_bytes(data)
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "catlearn", "check", str(path)], capture_output=True)
            whole = time.perf_counter() - start
            print(f"{name:28} {best:12.4f} {whole:10.3f} {proc.returncode:5d}  {message}")


if __name__ == "__main__":
    main()
