"""Added per-prediction cost of the multivariate check (the reconstruction error, its histogram
and the sampled residuals) with 10 and 50 numeric features.

The same ``record_prediction`` on two monitors whose baselines differ only in the joint structure
(``variance=None`` builds none), interleaved in rounds so machine noise hits both alike; the added
cost is the difference of the medians and of the trimmed means (the slowest 1% of calls of each
left out: on a shared machine they are scheduler pauses of milliseconds, in both alike, and
dominate plain means). Features: a few latent factors plus noise, so
the components keep ~65% of the variance with several components, as in real data.

    .venv/bin/python benchmarks/bench_instrument_multivariate.py [--calls 40000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry

from mlmon_nb import Baseline, ModelMonitor

sys.path.insert(0, str(Path(__file__).resolve().parent))


def correlated(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of ``d`` features driven by d // 3 latent factors plus noise."""
    factors = rng.normal(size=(n, max(d // 3, 1)))
    loadings = rng.normal(size=(factors.shape[1], d))
    return factors @ loadings + rng.normal(scale=0.5, size=(n, d))


def measure(d: int, calls: int, rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(d)
    names = [f"f{i}" for i in range(d)]
    train = pd.DataFrame(correlated(20_000, d, rng), columns=names)
    with_joint = Baseline.from_frame(train, "bench")
    without = Baseline.from_frame(train, "bench", variance=None)
    rows = correlated(calls, d, rng)
    reqs = [dict(zip(names, map(float, row))) for row in rows]
    monitors = {"with": ModelMonitor("bench", baseline=with_joint, registry=CollectorRegistry()),
                "without": ModelMonitor("bench", baseline=without, registry=CollectorRegistry())}
    clock = time.perf_counter_ns
    times: dict[str, list[np.ndarray]] = {k: [] for k in monitors}
    chunk = calls // rounds
    for r in range(rounds):
        part = reqs[r * chunk:(r + 1) * chunk]
        for name, mon in monitors.items():
            gc.collect()
            out = np.empty(len(part), dtype=np.int64)
            record = mon.record_prediction
            for j, feats in enumerate(part):
                t0 = clock()
                record("positive", 0.9, features=feats)
                out[j] = clock() - t0
            times[name].append(out)
    us = {k: np.concatenate(v) / 1000.0 for k, v in times.items()}
    assert with_joint.multivariate is not None
    trimmed = {k: np.sort(v)[:int(len(v) * 0.99)].mean() for k, v in us.items()}
    return {"features": d, "components": len(with_joint.multivariate.components),
            "without mean": trimmed["without"], "with mean": trimmed["with"],
            "added mean": trimmed["with"] - trimmed["without"],
            "added p50": float(np.median(us["with"]) - np.median(us["without"])),
            "calls": len(us["with"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=40_000)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    print("record_prediction, microseconds per call (interleaved rounds; means without the "
          "slowest 1%)")
    print(f"{'features':>8} {'k':>3} {'without':>9} {'with':>9} {'added mean':>11} "
          f"{'added p50':>10} {'calls':>7}")
    for d in (10, 50):
        r = measure(d, args.calls, args.rounds)
        print(f"{r['features']:8d} {r['components']:3d} {r['without mean']:9.2f} "
              f"{r['with mean']:9.2f} {r['added mean']:11.2f} {r['added p50']:10.2f} "
              f"{r['calls']:7d}")


if __name__ == "__main__":
    main()
