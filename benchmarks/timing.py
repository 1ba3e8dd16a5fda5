"""Shared by the benchmark scripts: the best of several timings."""
from __future__ import annotations

import time


def best(fn, repeat: int) -> float:
    """The shortest of `repeat` wall-clock timings of ``fn()``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
