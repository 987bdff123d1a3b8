"""Cost of the feedback join's pending store: in one process's memory, and shared by workers.

In multiprocess mode every prediction with a request id is written to the SQLite store all
workers share (``SharedPendingStore``), and every feedback pops one. This measures both
operations against the in-memory ``PendingStore`` in the same run, alone and with a second
process writing to the same file at the same time.

    .venv/bin/python benchmarks/bench_pending.py [--ops 20000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

import numpy as np

from mlmon_nb.instrument import PendingStore, SharedPendingStore

CAPACITY = 10_000


def _times(op, ids) -> np.ndarray:
    out = np.empty(len(ids))
    clock = time.perf_counter
    for i, rid in enumerate(ids):
        t = clock()
        op(rid)
        out[i] = clock() - t
    return out * 1e6


def measure(store, ops: int) -> dict[str, np.ndarray]:
    """put below capacity, put at capacity (each evicts one), pop of the newest ``ops``."""
    below = _times(lambda r: store.put(r, "positive", "web"), [f"a{i}" for i in range(CAPACITY)])
    full = _times(lambda r: store.put(r, "positive", "web"), [f"b{i}" for i in range(ops)])
    pops = _times(store.pop, [f"b{i}" for i in range(max(0, ops - CAPACITY), ops)])
    return {"put": below, "put at capacity": full, "pop": pops}


def _writer(path: str, stop) -> None:
    store = SharedPendingStore(path, "other", CAPACITY)
    i = 0
    while not stop.is_set():
        store.put(f"w{i}", "positive", "web")
        store.pop(f"w{i - 50}")
        i += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"in-process": measure(PendingStore(CAPACITY), args.ops),
                "shared": measure(SharedPendingStore(Path(tmp) / "a.sqlite", "m", CAPACITY),
                                  args.ops)}
        stop = multiprocessing.Event()
        other = multiprocessing.Process(target=_writer, args=(str(Path(tmp) / "b.sqlite"), stop))
        other.start()
        time.sleep(0.5)
        try:
            runs["shared, 2nd writer"] = measure(
                SharedPendingStore(Path(tmp) / "b.sqlite", "m", CAPACITY), args.ops)
        finally:
            stop.set()
            other.join()
    print(f"microseconds per operation; capacity {CAPACITY}, {args.ops} operations at capacity")
    print(f"{'':20s}{'op':>17s}{'mean':>9s}{'p50':>9s}{'p99':>9s}{'p99.9':>9s}")
    for name, ops in runs.items():
        for op, t in ops.items():
            p50, p99, p999 = np.percentile(t, [50, 99, 99.9])
            print(f"{name:20s}{op:>17s}{t.mean():9.1f}{p50:9.1f}{p99:9.1f}{p999:9.1f}")
    for op in runs["shared"]:
        ratio = runs["shared"][op].mean() / runs["in-process"][op].mean()
        contended = runs["shared, 2nd writer"][op].mean() / runs["shared"][op].mean()
        print(f"mean ratio {op}: shared / in-process {ratio:.0f}x; with a 2nd writer / alone "
              f"{contended:.2f}x")


if __name__ == "__main__":
    main()
