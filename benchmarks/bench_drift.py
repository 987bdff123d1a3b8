"""Drift rerun speed: mlmon_nb.drift.compare against a loop of scipy.stats.ks_2samp + numpy PSI.

The same work on both sides (issue 4's workload): 20 numeric features, a 200,000-row training
set, a 50,000-row window, KS with p-values plus PSI on the baseline's quantile bins.

- the anchor: per feature ``scipy.stats.ks_2samp`` on the FULL 200,000 training values and the
  window, and PSI with numpy on the same bins;
- ``compare``: the baseline as stored (saved and loaded back), whose per-feature reference CDF
  (:mod:`mlmon_nb.baseline.sketch`) stands for the full training data; KS against it, the p-values of all
  features in one vectorized call at the reference's real size (200,000), PSI on the stored
  shares.

Half the features drift, so both p-value regimes are exercised. Both are timed in this run, in
turns so that they share the machine's load (median of 5); printed: the time ratio, the largest
|ΔKS| and |Δp| against scipy on the full data (KS must be within 0.002), the peak memory of one
run of each (tracemalloc), and the load average. A last line repeats the comparison on the same
data rounded to one decimal (heavy ties: atoms in the reference CDF).

    .venv/bin/python benchmarks/bench_drift.py
"""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from figures import record
from scipy import stats
from timing import timed

from mlmon_nb import drift
from mlmon_nb.baseline import Baseline

FEATURES, N_REF, N_CUR, REPEAT = 20, 200_000, 50_000, 5
KS_TOLERANCE = 0.002


def workload(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({f"f{i}": rng.normal(size=N_REF) for i in range(FEATURES)})
    cur = pd.DataFrame({f"f{i}": rng.normal(0.03 * (i % 2) * (1 + i // 4), 1.0, size=N_CUR)
                        for i in range(FEATURES)})
    return ref, cur


def stored(baseline: Baseline) -> Baseline:
    """The baseline as a monitoring job reads it: saved to its JSON file and loaded back."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "baseline.json"
        baseline.save(path)
        return Baseline.load(path)


def anchor(ref: pd.DataFrame, cur: pd.DataFrame, baseline: Baseline
           ) -> dict[str, tuple[float, float, float]]:
    """The loop a user writes today: ks_2samp per feature on the full training data, PSI with
    numpy on the baseline's bins."""
    out = {}
    for name in ref.columns:
        r, c = ref[name].to_numpy(), cur[name].to_numpy()
        res = stats.ks_2samp(r, c)
        edges = np.concatenate([[-np.inf], baseline.numeric[name].edges, [np.inf]])
        rf = np.histogram(r, edges)[0] / r.size
        cf = np.histogram(c, edges)[0] / c.size
        rf, cf = np.maximum(rf, 1e-4), np.maximum(cf, 1e-4)
        out[name] = (res.statistic, res.pvalue, float(np.sum((cf - rf) * np.log(cf / rf))))
    return out


def ours(baseline: Baseline, cur: pd.DataFrame) -> pd.DataFrame:
    return drift.compare(baseline, cur, tests=["ks", "psi"])


def peak_memory(fn) -> int:
    """Peak bytes traced (numpy reports its buffers to tracemalloc) while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def deltas(out: pd.DataFrame, want: dict[str, tuple[float, float, float]]
           ) -> tuple[float, float, float]:
    """Largest |ΔKS|, |Δp| and |ΔPSI| of compare's rows against the anchor's."""
    by = out.set_index(["feature", "test"])
    d = [(abs(by.loc[(f, "ks"), "statistic"] - w[0]), abs(by.loc[(f, "ks"), "p_value"] - w[1]),
          abs(by.loc[(f, "psi"), "statistic"] - w[2])) for f, w in want.items()]
    return tuple(max(col) for col in zip(*d))


def main() -> None:
    ref, cur = workload()
    t0 = time.perf_counter()
    baseline = stored(Baseline.from_frame(ref, "bench"))
    build = time.perf_counter() - t0
    load_before = os.getloadavg()[0]
    (anchor_t, want), (ours_t, out) = timed(lambda: anchor(ref, cur, baseline),
                                            lambda: ours(baseline, cur), repeat=REPEAT)
    d_ks, d_p, d_psi = deltas(out, want)
    ks_rows = out[out["test"] == "ks"]
    sizes = sorted({int(n) for n in ks_rows["n_reference"]})
    precision = sorted(set(ks_rows["reference_precision"]))
    peak = peak_memory(lambda: ours(baseline, cur))
    anchor_peak = peak_memory(lambda: anchor(ref, cur, baseline))

    ref_t, cur_t = ref.round(1), cur.round(1)
    tied = stored(Baseline.from_frame(ref_t, "bench"))
    (tied_anchor_t, tied_want), (tied_t, tied_out) = timed(
        lambda: anchor(ref_t, cur_t, tied), lambda: ours(tied, cur_t), repeat=REPEAT)
    tied_ks, tied_p, _ = deltas(tied_out, tied_want)
    load_after = os.getloadavg()[0]

    print(f"workload: {FEATURES} features, training {N_REF:,} rows, window {N_CUR:,} rows; "
          f"KS with p-values + PSI (median of {REPEAT}, in turns)")
    print(f"anchor  scipy ks_2samp loop (full training data) + numpy PSI : "
          f"{anchor_t * 1000:8.1f} ms")
    print(f"mlmon_nb drift.compare (stored reference CDF)                : "
          f"{ours_t * 1000:8.1f} ms   speed-up {anchor_t / ours_t:5.1f}x")
    print(f"agreement with scipy on the full data: max |ΔKS| {d_ks:.1e} "
          f"({'within' if d_ks <= KS_TOLERANCE else 'NOT within'} {KS_TOLERANCE}), "
          f"max |Δp| {d_p:.1e}, max |ΔPSI| {d_psi:.1e}")
    print(f"KS rows: n_reference {sizes}, reference_precision {precision}")
    print(f"heavy ties (values rounded to 0.1): anchor {tied_anchor_t * 1000:.1f} ms, compare "
          f"{tied_t * 1000:.1f} ms, speed-up {tied_anchor_t / tied_t:.1f}x, max |ΔKS| "
          f"{tied_ks:.1e}, max |Δp| {tied_p:.1e}")
    print(f"peak memory (tracemalloc): compare {peak / 2**20:.1f} MiB, anchor loop "
          f"{anchor_peak / 2**20:.1f} MiB; baseline build + save + load once: {build:.2f} s")
    print(f"load average (1 min) on {os.cpu_count()} cores: {load_before:.1f} before, "
          f"{load_after:.1f} after")
    record("bench_drift", anchor_ms=f"{anchor_t * 1000:,.0f} ms", compare_ms=f"{ours_t * 1000:,.0f} ms",
           speedup=f"{anchor_t / ours_t:.1f}×", ties_speedup=f"{tied_anchor_t / tied_t:.1f}×",
           ties_anchor_ms=f"{tied_anchor_t * 1000:,.0f} ms", ties_compare_ms=f"{tied_t * 1000:,.0f} ms",
           ks_delta=f"{d_ks:.1e}", ks_delta_ties=f"{tied_ks:.1e}", p_delta=f"{d_p:.1e}",
           psi_delta=f"{d_psi:.1e}", peak_mib=f"{peak / 2**20:.1f} MiB",
           anchor_peak_mib=f"{anchor_peak / 2**20:.1f} MiB",
           load=f"{min(load_before, load_after):.1f}–{max(load_before, load_after):.1f}"
           if load_after != load_before
           else f"{load_before:.1f}")
    if d_ks > KS_TOLERANCE or tied_ks > KS_TOLERANCE:
        raise SystemExit(f"KS differs from scipy on the full data by more than {KS_TOLERANCE}")


if __name__ == "__main__":
    main()
