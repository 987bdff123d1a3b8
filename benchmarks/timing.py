"""Timing for the benchmarks: the contenders run in turns, so they share whatever load the
machine has, and each reports its median."""

from __future__ import annotations

import statistics
import time
from typing import Callable

__all__ = ["timed"]


def timed(*fns: Callable[[], object], repeat: int = 3) -> list[tuple[float, object]]:
    """Median seconds and last result of each function, over ``repeat`` turns."""
    times: list[list[float]] = [[] for _ in fns]
    results: list[object] = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            results[i] = fn()
            times[i].append(time.perf_counter() - t0)
    return [(statistics.median(t), r) for t, r in zip(times, results)]
