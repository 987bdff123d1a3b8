"""Baseline build from parquet on disk: streamed (build_from_dataset) against the anchor,
pandas.read_parquet + Baseline.from_frame of the same data; then the same build on a 2-worker
Dask LocalCluster.

Workload: ROWS rows (default 10 million; MLMON_BENCH_ROWS to change) × 20 numeric features
(normal, lognormal, Poisson counts, 70 % zeros + lognormal, rounded normal), written once as 10
parquet files. Each build runs in its own fresh subprocess so its peak resident memory
(``ru_maxrss``) is its own; the ratio is printed. Goal: streaming peak memory at least 10× lower,
time no worse than 1.5×. Also printed: the size of a saved baseline with 100 numeric features.

    .venv/bin/python benchmarks/bench_baseline.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from figures import record

ROWS = int(os.environ.get("MLMON_BENCH_ROWS", "10000000"))
FEATURES, FILES = 20, 10


def columns(n: int, rng: np.random.Generator, features: int = FEATURES) -> dict[str, np.ndarray]:
    out = {}
    for i in range(features):
        kind = i % 5
        if kind == 0:
            v = rng.normal(i, 1 + i / 10, n)
        elif kind == 1:
            v = rng.lognormal(0, 1, n)
        elif kind == 2:
            v = rng.poisson(3 + i % 7, n).astype(float)
        elif kind == 3:
            v = np.where(rng.random(n) < 0.7, 0.0, rng.lognormal(0, 1, n))
        else:
            v = np.round(rng.normal(0, 1, n), 1)
        out[f"f{i:02d}"] = v
    return out


def write_data(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for i, rows in enumerate(np.diff(np.linspace(0, ROWS, FILES + 1).astype(int))):
        pd.DataFrame(columns(int(rows), rng)).to_parquet(folder / f"part-{i:02d}.parquet",
                                                         row_group_size=250_000)


def peak_rss() -> int:
    """This process's peak resident memory in bytes: VmHWM (reset by exec; ``ru_maxrss`` keeps
    the parent's size at fork), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def child(mode: str, folder: str) -> None:
    """One build in this (fresh) process; prints time, peak RSS and the baseline's id."""
    from mlmon_nb.baseline import Baseline
    from mlmon_nb.baseline.build import build_from_dataset
    start_rss = peak_rss()
    t0 = time.perf_counter()
    if mode == "stream":
        base = build_from_dataset(f"{folder}/*.parquet", "bench")
    else:
        base = Baseline.from_frame(pd.read_parquet(folder), "bench")
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "peak": peak_rss(), "start": start_rss,
                      "id": base.baseline_id, "precision": base.numeric["f00"].precision}))


def run_child(mode: str, folder: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(folder)], check=True,
                         capture_output=True, text=True, env={**os.environ})
    return json.loads(out.stdout.strip().splitlines()[-1])


def on_dask(folder: Path) -> dict:
    from dask.distributed import Client, LocalCluster

    from mlmon_nb.baseline.build import build_on_dask
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(lambda: __import__("mlmon_nb.baseline"))  # imports outside the timing
        t0 = time.perf_counter()
        base = build_on_dask(client, f"{folder}/*.parquet", "bench")
        seconds = time.perf_counter() - t0
        peaks = client.run(peak_rss)
    return {"seconds": seconds, "peaks": sorted(peaks.values()), "id": base.baseline_id,
            "client_peak": peak_rss()}


def file_size_100_features(folder: Path) -> tuple[int, int]:
    from mlmon_nb.baseline import Baseline
    frame = pd.DataFrame(columns(1_000_000, np.random.default_rng(1), 100))
    path = Baseline.from_frame(frame, "bench").save(folder / "b100.json")
    return path.stat().st_size, len(frame)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        folder = Path(tmp) / "data"
        folder.mkdir()
        t0 = time.perf_counter()
        write_data(folder)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"workload: {ROWS:,} rows × {FEATURES} features, {FILES} parquet files, "
              f"{size / 2**20:.0f} MiB on disk (written in {time.perf_counter() - t0:.0f} s)")
        frame = run_child("frame", folder)  # the anchor
        stream = run_child("stream", folder)
        mib = 2 ** 20
        print(f"anchor  read_parquet + from_frame : {frame['seconds']:7.1f} s, peak RSS "
              f"{frame['peak'] / mib:7.0f} MiB ({(frame['peak'] - frame['start']) / mib:.0f} "
              f"above imports)")
        print(f"mlmon_nb from_dataset (streamed) : {stream['seconds']:7.1f} s, peak RSS "
              f"{stream['peak'] / mib:7.0f} MiB ({(stream['peak'] - stream['start']) / mib:.0f} "
              f"above imports)")
        print(f"ratios: time {stream['seconds'] / frame['seconds']:.2f}x the anchor (goal <= 1.5), "
              f"peak memory {frame['peak'] / stream['peak']:.1f}x lower (goal >= 10; "
              f"{(frame['peak'] - frame['start']) / max(stream['peak'] - stream['start'], 1):.0f}x "
              f"above imports); same baseline_id: {stream['id'] == frame['id']} "
              f"({stream['precision']})")
        dask = on_dask(folder)
        print(f"dask LocalCluster 2 workers        : {dask['seconds']:7.1f} s "
              f"({dask['seconds'] / stream['seconds']:.2f}x streamed), peak RSS per worker "
              + ", ".join(f"{p / mib:.0f} MiB" for p in dask["peaks"])
              + f"; same baseline_id as streamed: {dask['id'] == stream['id']} "
                f"(merged sketches differ within their error)")
        nbytes, rows = file_size_100_features(Path(tmp))
        record("bench_baseline", stream_s=f"{stream['seconds']:.0f} s",
               stream_peak=f"{stream['peak'] / mib:,.0f} MiB", frame_s=f"{frame['seconds']:.0f} s",
               frame_peak=f"{frame['peak'] / 2**30:.1f} GiB", dask_s=f"{dask['seconds']:.0f} s",
               dask_peak=f"{max(dask['peaks']) / mib:,.0f} MiB",
               file_100=f"{nbytes / 2**20:.1f} MiB")
        print(f"baseline file, 100 numeric features from {rows:,} rows: {nbytes / 2**20:.2f} MiB "
              f"({nbytes / 100 / 1024:.0f} KiB per feature)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
