"""Per-prediction overhead of full tracking, against the seed's reference in the same run.

Full tracking = ``monitor.track`` + ``record_prediction`` with 10 numeric features and 1
categorical one, on a baseline of the same shape. Anchors, measured interleaved in this run:
the seed's ``monitor_ml_endpoint`` + ``DataDriftDetector`` (1000-sample window, ks_2samp inline;
see seed_reference.py) and a bare ``Counter.inc`` + ``Histogram.observe``. Prints per-call
latency percentiles and ratios. Targets (issue 3): mean <= 15 us; p99.9 >= 10x lower than the seed.

    .venv/bin/python benchmarks/bench_instrument.py [--calls 100000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Histogram

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_reference import DataDriftDetector, GroundTruthSampler, SeedMetrics, monitor_ml_endpoint  # noqa: E402

from mlmon_nb import Baseline, ModelMonitor  # noqa: E402

N_NUMERIC = 10
CHANNELS = ("web", "mobile", "api", "email")


def training(n: int, rng: np.random.Generator) -> pd.DataFrame:
    cols = {f"f{i}": rng.normal(i, 1 + i / 5, n) for i in range(N_NUMERIC)}
    cols["channel"] = rng.choice(CHANNELS, n, p=(0.45, 0.35, 0.15, 0.05))
    cols["prediction"] = rng.choice(("negative", "neutral", "positive"), n)
    cols["confidence"] = rng.uniform(0.4, 1.0, n)
    return pd.DataFrame(cols)


def requests_(n: int, rng: np.random.Generator) -> list[tuple[str, float, dict]]:
    numeric = rng.normal(np.arange(N_NUMERIC), 1 + np.arange(N_NUMERIC) / 5, (n, N_NUMERIC))
    channels = rng.choice(CHANNELS, n)
    labels = rng.choice(("negative", "neutral", "positive"), n)
    conf = rng.uniform(0.4, 1.0, n)
    return [(str(labels[j]), float(conf[j]),
             {**{f"f{i}": float(numeric[j, i]) for i in range(N_NUMERIC)}, "channel": str(channels[j])})
            for j in range(n)]


def time_calls(fn, reqs) -> np.ndarray:
    clock = time.perf_counter_ns
    out = np.empty(len(reqs), dtype=np.int64)
    for j, req in enumerate(reqs):
        t0 = clock()
        fn(j, req)
        out[j] = clock() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds per implementation")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    train = training(20_000, rng)
    baseline = Baseline.from_frame(train, "bench", categorical=["channel"], prediction="prediction",
                                   confidence="confidence")
    reqs = requests_(args.calls, rng)

    monitor = ModelMonitor("bench", model_version="1", baseline=baseline,
                           registry=CollectorRegistry())

    def ours(j, req):
        label, conf, feats = req
        with monitor.track("predict"):
            monitor.record_prediction(label, conf, features=feats, segment=feats["channel"])

    seed_metrics = SeedMetrics()
    detector = DataDriftDetector(seed_metrics, "bench", train.drop(columns=["confidence"]),
                                 window_size=1000)
    sampler = GroundTruthSampler(0.0)

    @monitor_ml_endpoint(seed_metrics, "bench", "1", "predict")
    def seed_predict(j, label, conf, feats):
        seed_metrics.predictions.labels(model_name="bench", predicted_class=label).inc()
        seed_metrics.confidence.labels(model_name="bench").observe(conf)
        detector.add_sample(feats)
        sampler.maybe_sample(str(j), feats, label)

    def seed(j, req):
        seed_predict(j, *req)

    reg = CollectorRegistry()
    counter = Counter("bare", "bare", registry=reg)
    hist = Histogram("bare_seconds", "bare", registry=reg)

    def bare(j, req):
        counter.inc()
        hist.observe(req[1])

    results = {"mlmon_nb": [], "seed": [], "bare": []}
    chunk = args.calls // args.rounds
    for r in range(args.rounds):  # interleave so machine noise hits all alike
        part = reqs[r * chunk:(r + 1) * chunk]
        for name, fn in (("mlmon_nb", ours), ("seed", seed), ("bare", bare)):
            gc.collect()
            results[name].append(time_calls(fn, part))
    us = {k: np.concatenate(v) / 1000.0 for k, v in results.items()}

    def pct(a, q):
        return float(np.percentile(a, q))

    print(f"per-call latency over {len(us['seed'])} calls each (microseconds); "
          f"seed ks runs: {len(us['seed']) // 1000} windows x {N_NUMERIC} features")
    print(f"{'':10} {'mean':>9} {'p50':>9} {'p99':>9} {'p99.9':>10} {'p99.99':>10} {'max':>10}")
    for name, a in us.items():
        print(f"{name:10} {a.mean():9.2f} {pct(a, 50):9.2f} {pct(a, 99):9.2f} {pct(a, 99.9):10.2f} "
              f"{pct(a, 99.99):10.2f} {a.max():10.1f}")
    ours_, seed_, bare_ = us["mlmon_nb"], us["seed"], us["bare"]
    slow = np.sort(seed_)[-len(seed_) // 1000:]
    print(f"\nmlmon_nb mean: {ours_.mean():.2f} us (target <= 15 us: "
          f"{'met' if ours_.mean() <= 15 else 'NOT met'})")
    print(f"ratio seed / mlmon_nb  p99.9: {pct(seed_, 99.9) / pct(ours_, 99.9):.1f}x   "
          f"p99.99: {pct(seed_, 99.99) / pct(ours_, 99.99):.1f}x   "
          f"max: {seed_.max() / ours_.max():.1f}x   mean: {seed_.mean() / ours_.mean():.2f}x")
    print(f"  (the seed's slowest 0.1% of calls, the ones that run ks_2samp: "
          f"mean {slow.mean():.0f} us; at exactly 0.1% of calls they sit on the p99.9 boundary)")
    print(f"ratio mlmon_nb / bare Counter.inc+Histogram.observe  mean: "
          f"{ours_.mean() / bare_.mean():.1f}x   p99.9: {pct(ours_, 99.9) / pct(bare_, 99.9):.1f}x")


if __name__ == "__main__":
    main()
