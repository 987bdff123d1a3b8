"""Drift rerun speed: mlmon_nb.drift.compare against a loop of scipy.stats.ks_2samp + numpy PSI.

Workload (issue 4): 20 numeric features, a 200,000-row baseline, a 50,000-row window, KS with
p-values plus PSI on the baseline's quantile bins. The baseline keeps its full sample
(``sample_cap=200_000``) so both sides compute the same exact KS against the same 200,000
values; half the features drift, so both p-value regimes are exercised. Both are timed in this
run, in turns so that they share the machine's load (median of 5); the ratio is printed, and
the peak memory of one run of each (tracemalloc). A last line repeats the comparison on the same
data rounded to one decimal (heavy ties, the hard case for the KS search's pruning).

    .venv/bin/python benchmarks/bench_drift.py
"""

from __future__ import annotations

import statistics
import time
import tracemalloc

import numpy as np
import pandas as pd
from scipy import stats

from mlmon_nb import drift
from mlmon_nb.baseline import Baseline

FEATURES, N_REF, N_CUR, REPEAT = 20, 200_000, 50_000, 5


def workload(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({f"f{i}": rng.normal(size=N_REF) for i in range(FEATURES)})
    cur = pd.DataFrame({f"f{i}": rng.normal(0.03 * (i % 2) * (1 + i // 4), 1.0, size=N_CUR)
                        for i in range(FEATURES)})
    return ref, cur


def anchor(ref: pd.DataFrame, cur: pd.DataFrame, baseline: Baseline) -> list[tuple[float, float, float]]:
    """The loop a user writes today: ks_2samp per feature, PSI with numpy on the same bins."""
    out = []
    for name in ref.columns:
        r, c = ref[name].to_numpy(), cur[name].to_numpy()
        res = stats.ks_2samp(r, c)
        edges = np.concatenate([[-np.inf], baseline.numeric[name].edges, [np.inf]])
        rf = np.histogram(r, edges)[0] / r.size
        cf = np.histogram(c, edges)[0] / c.size
        rf, cf = np.maximum(rf, 1e-4), np.maximum(cf, 1e-4)
        out.append((res.statistic, res.pvalue, float(np.sum((cf - rf) * np.log(cf / rf)))))
    return out


def timed(*fns) -> list[tuple[float, object]]:
    """Median time and last result of each function, run in turns so they share the load."""
    times: list[list[float]] = [[] for _ in fns]
    results: list[object] = [None] * len(fns)
    for _ in range(REPEAT):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            results[i] = fn()
            times[i].append(time.perf_counter() - t0)
    return [(statistics.median(t), r) for t, r in zip(times, results)]


def peak_memory(fn) -> int:
    """Peak bytes traced (numpy reports its buffers to tracemalloc) while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    ref, cur = workload()
    t0 = time.perf_counter()
    baseline = Baseline.from_frame(ref, "bench", sample_cap=N_REF)
    build = time.perf_counter() - t0
    capped = Baseline.from_frame(ref, "bench")  # the default 5,000-value sample
    (anchor_t, ref_rows), (ours_t, ours), (capped_t, _) = timed(
        lambda: anchor(ref, cur, baseline),
        lambda: drift.compare(baseline, cur, tests=["ks", "psi"]),
        lambda: drift.compare(capped, cur, tests=["ks", "psi"]))

    # same numbers: KS statistic and p-value, PSI (the baseline's bins are computed, not sampled)
    by = ours.set_index(["feature", "test"])
    worst_d = max(abs(by.loc[(f, "ks"), "statistic"] - r[0]) for f, r in zip(ref.columns, ref_rows))
    worst_p = max(abs(by.loc[(f, "ks"), "p_value"] - r[1]) for f, r in zip(ref.columns, ref_rows))
    worst_psi = max(abs(by.loc[(f, "psi"), "statistic"] - r[2]) for f, r in zip(ref.columns, ref_rows))

    peak = peak_memory(lambda: drift.compare(baseline, cur, tests=["ks", "psi"]))
    anchor_peak = peak_memory(lambda: anchor(ref, cur, baseline))

    # the KS search skips blocks by rank bounds, which ties loosen: the same workload rounded
    ref_t, cur_t = ref.round(1), cur.round(1)
    tied = Baseline.from_frame(ref_t, "bench", sample_cap=N_REF)
    (tied_anchor_t, tied_rows), (tied_t, tied_out) = timed(
        lambda: anchor(ref_t, cur_t, tied), lambda: drift.compare(tied, cur_t, tests=["ks", "psi"]))
    tied_by = tied_out.set_index(["feature", "test"])
    tied_d = max(abs(tied_by.loc[(f, "ks"), "statistic"] - r[0])
                 for f, r in zip(ref.columns, tied_rows))

    print(f"workload: {FEATURES} features, baseline {N_REF:,} rows, window {N_CUR:,} rows "
          f"(median of {REPEAT})")
    print(f"anchor  scipy ks_2samp loop + numpy PSI : {anchor_t * 1000:8.1f} ms")
    print(f"mlmon_nb drift.compare (full sample)    : {ours_t * 1000:8.1f} ms   "
          f"speed-up {anchor_t / ours_t:5.1f}x")
    print(f"mlmon_nb drift.compare (5,000 sample)   : {capped_t * 1000:8.1f} ms   "
          f"speed-up {anchor_t / capped_t:5.1f}x (default baseline; exact KS on the sample)")
    print(f"agreement: |ΔKS| {worst_d:.1e}, |Δp| {worst_p:.1e}, |ΔPSI| {worst_psi:.1e}")
    print(f"heavy ties (values rounded to 0.1): anchor {tied_anchor_t * 1000:.1f} ms, compare "
          f"{tied_t * 1000:.1f} ms, speed-up {tied_anchor_t / tied_t:.1f}x, |ΔKS| {tied_d:.1e}")
    print(f"peak memory (tracemalloc): compare {peak / 2**20:.1f} MiB, anchor loop "
          f"{anchor_peak / 2**20:.1f} MiB; baseline build once: {build:.2f} s")


if __name__ == "__main__":
    main()
