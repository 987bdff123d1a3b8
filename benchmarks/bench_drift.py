"""Drift rerun speed: mlmon_nb.drift.compare against a loop of scipy.stats.ks_2samp + numpy PSI.

Workload (issue 4): 20 numeric features, a 200,000-row baseline, a 50,000-row window, KS with
p-values plus PSI on the baseline's quantile bins. The anchor computes KS on the FULL 200,000
reference values; the baseline keeps a reference CDF (:mod:`mlmon_nb.sketch`), and
:func:`mlmon_nb.reference.compare_numeric` computes KS (p-value at the reference's real size)
and Wasserstein from it: the printed agreement is against scipy on the full data. Half the
features drift, so both p-value regimes are exercised. All are timed in this run, in turns so
that they share the machine's load (median of 5); the ratios are printed, and the peak memory of
one run of each (tracemalloc). A last line repeats the comparison on the same data rounded to one
decimal (heavy ties, atoms in the reference CDF).

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
from mlmon_nb.drift.reference import compare_numeric

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


def reference_rows(baseline: Baseline, cur: pd.DataFrame) -> list[tuple[float, float, int]]:
    """KS, p-value and reference size per feature from the baseline's reference CDF."""
    out = []
    for name, spec in baseline.numeric.items():
        got = compare_numeric(spec, np.sort(cur[name].to_numpy()))
        out.append((got.ks, got.p_value, got.n_reference))
    return out


def main() -> None:
    ref, cur = workload()
    t0 = time.perf_counter()
    baseline = Baseline.from_frame(ref, "bench")
    build = time.perf_counter() - t0
    (anchor_t, ref_rows), (ours_t, ours), (cdf_t, cdf_rows) = timed(
        lambda: anchor(ref, cur, baseline),
        lambda: drift.compare(baseline, cur, tests=["ks", "psi"]),
        lambda: reference_rows(baseline, cur))

    by = ours.set_index(["feature", "test"])
    worst_d = max(abs(by.loc[(f, "ks"), "statistic"] - r[0]) for f, r in zip(ref.columns, ref_rows))
    worst_psi = max(abs(by.loc[(f, "psi"), "statistic"] - r[2]) for f, r in zip(ref.columns, ref_rows))
    cdf_d = max(abs(c[0] - r[0]) for c, r in zip(cdf_rows, ref_rows))
    cdf_p = max(abs(c[1] - r[1]) for c, r in zip(cdf_rows, ref_rows))
    n_ref = {int(v) for v in by.xs("ks", level="test")["n_reference"]} | {c[2] for c in cdf_rows}

    peak = peak_memory(lambda: drift.compare(baseline, cur, tests=["ks", "psi"]))
    anchor_peak = peak_memory(lambda: anchor(ref, cur, baseline))

    ref_t, cur_t = ref.round(1), cur.round(1)
    tied = Baseline.from_frame(ref_t, "bench")
    (tied_anchor_t, tied_rows), (tied_t, tied_cdf) = timed(
        lambda: anchor(ref_t, cur_t, tied), lambda: reference_rows(tied, cur_t))
    tied_d = max(abs(c[0] - r[0]) for c, r in zip(tied_cdf, tied_rows))

    print(f"workload: {FEATURES} features, baseline {N_REF:,} rows, window {N_CUR:,} rows "
          f"(median of {REPEAT})")
    print(f"anchor  scipy ks_2samp loop (full reference) + numpy PSI : {anchor_t * 1000:8.1f} ms")
    print(f"mlmon_nb drift.compare (KS + PSI)                        : {ours_t * 1000:8.1f} ms   "
          f"speed-up {anchor_t / ours_t:5.1f}x; |ΔKS| vs full data {worst_d:.1e}, "
          f"|ΔPSI| {worst_psi:.1e}")
    print(f"mlmon_nb reference.compare_numeric (KS, p, Wasserstein)  : {cdf_t * 1000:8.1f} ms   "
          f"speed-up {anchor_t / cdf_t:5.1f}x; |ΔKS| vs full data {cdf_d:.1e}, |Δp| {cdf_p:.1e}")
    print(f"n_reference reported: {sorted(n_ref)} (the reference has {N_REF:,} rows)")
    print(f"heavy ties (values rounded to 0.1): anchor {tied_anchor_t * 1000:.1f} ms, "
          f"compare_numeric {tied_t * 1000:.1f} ms, speed-up {tied_anchor_t / tied_t:.1f}x, "
          f"|ΔKS| {tied_d:.1e}")
    print(f"peak memory (tracemalloc): compare {peak / 2**20:.1f} MiB, anchor loop "
          f"{anchor_peak / 2**20:.1f} MiB; baseline build once: {build:.2f} s")


if __name__ == "__main__":
    main()
