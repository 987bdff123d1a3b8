"""Confidence-based performance estimation (CBPE): mlmon_nb's estimate against the truth, against
NannyML's CBPE, and how much earlier its alert fires than the labelled-accuracy alert.

Known truth by construction: a softmax classifier whose probabilities ARE the true conditional
class probabilities (labels are drawn from them), fed by a Gaussian mixture with one cluster per
class. Covariate shift contracts the inputs toward the mixture's centre, where the classes meet,
by ``shift`` (the cluster means move in, and their spread with them): inputs move to where the
model is less sure, P(label | input) does not change — the assumption CBPE rests on. Two scenarios: 3 classes on 4 features, and binary on 3 features.

1. Accuracy per window: a labelled validation set (the reference) fits mlmon_nb's reliability
   curve (:func:`mlmon_nb.calibration.fit_calibration`); each window of shifted traffic is
   reduced to its confidence-histogram bucket counts, the only signal Prometheus holds, and
   estimated from them. Printed per window: realized accuracy, the expected accuracy (the mean
   true top-class probability, what any CBPE can at best recover), mlmon_nb's estimate and
   |error|, and NannyML's CBPE (fitted on the same reference, run on the same windows) with its
   |error| and the |difference| to mlmon_nb. Goal: within 1 accuracy point of both.
2. Time: mlmon_nb's fit once + one estimate from counts per window, against NannyML's fit +
   estimate batch job over the same windows (median of a few runs, in turns).
3. Alert lead time: hours of synthetic history in the metric contract (the confidence histogram,
   10 % of predictions labelled, each label arriving 30–60 minutes late) while the shift grows;
   the project's generated rules for the demo configuration, with a baseline carrying the
   calibration, are evaluated by ``promtool test rules`` minute by minute, and the first minute
   each of ``EstimatedAccuracyDrop`` and ``LowModelAccuracy`` fires is read from its report.

NannyML is a benchmark-only extra (``pip install -e '.[bench]'``); without it its columns are
skipped with one line saying why.

    .venv/bin/python benchmarks/bench_cbpe.py
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import yaml

from mlmon_nb import metrics as m
from mlmon_nb.calibration import Calibration, bucket_counts, fit_calibration

N_REF, N_WINDOW, REPEAT = 20_000, 20_000, 3
SHIFTS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
GOAL = 0.01  # one accuracy point


# -- the synthetic classifier -------------------------------------------------------------------

@dataclass(frozen=True)
class Classifier:
    """A softmax classifier that is the Bayes posterior of its own reference mixture: cluster
    ``k`` is N(centers[k], I) with equal weights, so P(label=k | x) ∝ exp(c_k·x − |c_k|²/2)."""

    centers: np.ndarray  # (classes, features), centred on the origin

    @property
    def classes(self) -> int:
        return self.centers.shape[0]

    def proba(self, x: np.ndarray) -> np.ndarray:
        logits = x @ self.centers.T - 0.5 * np.sum(self.centers ** 2, axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


def make_classifier(classes: int, features: int, radius: float, seed: int = 0) -> Classifier:
    """Cluster centres at ``radius`` from their centroid, in random directions."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(classes, features))
    c -= c.mean(axis=0)
    c *= radius / np.linalg.norm(c, axis=1, keepdims=True)
    return Classifier(c)


@dataclass(frozen=True)
class Sample:
    """Predictions on ``n`` rows: class probabilities and the drawn true labels."""

    proba: np.ndarray
    label: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        return self.proba.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.proba.max(axis=1)

    @property
    def correct(self) -> np.ndarray:
        return self.predicted == self.label

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def expected_accuracy(self) -> float:
        """The accuracy a perfect CBPE would report: the mean true top-class probability."""
        return float(self.confidence.mean())


def sample(clf: Classifier, n: int, shift: float, rng: np.random.Generator) -> Sample:
    """``n`` rows contracted toward the mixture's centre by ``shift`` (0 = the reference, 1 =
    every row at the centre); labels drawn from the classifier's own probabilities (calibrated by
    construction, no concept shift)."""
    cluster = rng.integers(clf.classes, size=n)
    x = (clf.centers[cluster] + rng.normal(size=(n, clf.centers.shape[1]))) * (1.0 - shift)
    p = clf.proba(x)
    label = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return Sample(p, label)


# -- part 1: accuracy per window ---------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    name: str
    classes: int
    features: int
    radius: float


SCENARIOS = (Scenario("multiclass (3 classes, 4 features)", 3, 4, 2.3),
             Scenario("binary (3 features)", 2, 3, 1.3))


@dataclass
class WindowResult:
    shift: float
    n: int
    truth: float
    expected: float
    ours: float
    nannyml: float = float("nan")

    @property
    def error(self) -> float:
        return abs(self.ours - self.truth)

    @property
    def nannyml_error(self) -> float:
        return abs(self.nannyml - self.truth)

    @property
    def difference(self) -> float:
        return abs(self.ours - self.nannyml)


def workload(scenario: Scenario, n_ref: int = N_REF, n_window: int = N_WINDOW,
             shifts: tuple[float, ...] = SHIFTS, seed: int = 1) -> tuple[Sample, list[Sample]]:
    """The labelled validation set and one window per shift."""
    clf = make_classifier(scenario.classes, scenario.features, scenario.radius, seed)
    rng = np.random.default_rng(seed + 100)
    return sample(clf, n_ref, 0.0, rng), [sample(clf, n_window, s, rng) for s in shifts]


def ours_fit(reference: Sample) -> Calibration:
    return fit_calibration(reference.confidence, reference.correct)


def ours_estimates(cal: Calibration, counts: list[np.ndarray]) -> list[float]:
    """One estimate per window from its confidence-histogram bucket counts."""
    return [cal.estimate(c).accuracy for c in counts]


def estimate_windows(reference: Sample, windows: list[Sample],
                     shifts: tuple[float, ...] = SHIFTS) -> list[WindowResult]:
    """mlmon_nb's estimate for each window next to its truth (NannyML's filled in later)."""
    cal = ours_fit(reference)
    est = ours_estimates(cal, [bucket_counts(w.confidence) for w in windows])
    return [WindowResult(s, len(w.label), w.accuracy, w.expected_accuracy, e)
            for s, w, e in zip(shifts, windows, est)]


# -- part 2: NannyML ---------------------------------------------------------------------------

def nannyml_missing() -> str | None:
    """Why NannyML cannot run here, or None when it can."""
    try:
        import nannyml  # noqa: F401  (the optional benchmark extra)
    except Exception as exc:  # an ImportError, or a dependency failing at import
        return (f"NannyML columns skipped: nannyml does not import ({type(exc).__name__}: "
                f"{exc}); pip install -e '.[bench]'")
    return None


def _frame(s: Sample) -> pd.DataFrame:
    df = pd.DataFrame({f"p{k}": s.proba[:, k] for k in range(s.proba.shape[1])})
    df["y_pred"] = s.predicted
    df["y_true"] = s.label
    return df


def nannyml_estimates(reference: Sample, windows: list[Sample]) -> list[float]:
    """NannyML's CBPE accuracy: fitted on the reference, one chunk per window."""
    import nannyml as nml  # the optional extra, imported only where it is used

    classes = reference.proba.shape[1]
    if classes == 2:
        proba: str | dict[int, str] = "p1"
        problem = "classification_binary"
    else:
        proba, problem = {k: f"p{k}" for k in range(classes)}, "classification_multiclass"
    size = len(windows[0].label)
    analysis = pd.concat([_frame(w) for w in windows], ignore_index=True).drop(columns="y_true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = nml.CBPE(metrics=["accuracy"], y_pred_proba=proba, y_pred="y_pred", y_true="y_true",
                       problem_type=problem, chunk_size=size)
        est.fit(_frame(reference))
        out = est.estimate(analysis).to_df()
    rows = out[out[("chunk", "period")] == "analysis"]
    return [float(v) for v in rows[("accuracy", "value")]]


def timed(*fns: Callable[[], object], repeat: int = REPEAT) -> list[tuple[float, object]]:
    """Median time and last result of each function, run in turns so they share the load."""
    times: list[list[float]] = [[] for _ in fns]
    results: list[object] = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            results[i] = fn()
            times[i].append(time.perf_counter() - t0)
    return [(statistics.median(t), r) for t, r in zip(times, results)]


def print_windows(rows: list[WindowResult], with_nannyml: bool) -> None:
    head = f"{'shift':>5} {'n':>7} {'truth':>7} {'expect':>7} {'mlmon':>7} {'|err|':>6}"
    if with_nannyml:
        head += f" {'NannyML':>8} {'|err|':>6} {'|Δ|':>6}"
    print(head)
    for r in rows:
        line = (f"{r.shift:5.2f} {r.n:7,d} {r.truth:7.2%} {r.expected:7.2%} {r.ours:7.2%} "
                f"{r.error * 100:6.2f}")
        if with_nannyml:
            line += f" {r.nannyml:8.2%} {r.nannyml_error * 100:6.2f} {r.difference * 100:6.2f}"
        print(line)


def run_accuracy(scenario: Scenario, skip_reason: str | None) -> tuple[bool, float]:
    """Part 1 and 2 for one scenario; returns (goal met, worst |error| in points)."""
    reference, windows = workload(scenario)
    rows = estimate_windows(reference, windows)
    counts = [bucket_counts(w.confidence) for w in windows]
    print(f"\n-- {scenario.name}: validation {N_REF:,} rows (accuracy {reference.accuracy:.2%}), "
          f"{len(windows)} windows of {N_WINDOW:,} rows")
    with_nannyml = skip_reason is None
    worst = max(r.error for r in rows)
    ok = worst <= GOAL
    if with_nannyml:
        timings = timed(lambda: ours_estimates(ours_fit(reference), counts),
                        lambda: nannyml_estimates(reference, windows))
        (ours_t, _), (nml_t, nml) = timings
        for r, v in zip(rows, nml):  # type: ignore[call-overload]
            r.nannyml = v
        worst_d = max(r.difference for r in rows)
        worst_n = max(r.nannyml_error for r in rows)
        ok = ok and worst_d <= GOAL
    print_windows(rows, with_nannyml)
    print(f"mlmon_nb: max |error| vs truth {worst * 100:.2f} points, mean "
          f"{np.mean([r.error for r in rows]) * 100:.2f}; vs expected accuracy max "
          f"{max(abs(r.ours - r.expected) for r in rows) * 100:.2f}")
    cal = ours_fit(reference)
    (fit_t, _), (est_t, _), (cnt_t, _) = timed(
        lambda: ours_fit(reference), lambda: cal.estimate(counts[-1]),
        lambda: bucket_counts(windows[-1].confidence), repeat=7)
    print(f"mlmon_nb time: fit on the validation set {fit_t * 1e3:.2f} ms, one estimate from "
          f"counts {est_t * 1e6:.1f} µs (bucketing a window's {N_WINDOW:,} confidences, the "
          f"exporter's job: {cnt_t * 1e3:.2f} ms)")
    if with_nannyml:
        print(f"NannyML: max |error| vs truth {worst_n * 100:.2f} points; max |mlmon_nb − "
              f"NannyML| {worst_d * 100:.2f} points")
        print(f"time, fit + {len(windows)} window estimates (median of {REPEAT}, in turns): "
              f"mlmon_nb {ours_t * 1e3:.2f} ms, NannyML {nml_t * 1e3:.0f} ms, ratio "
              f"{nml_t / ours_t:,.0f}x; NannyML per window vs one mlmon_nb estimate from "
              f"counts: {nml_t / len(windows) / est_t:,.0f}x")
    print(f"goal (within {GOAL * 100:g} point of the truth"
          f"{' and of NannyML' if with_nannyml else ''}): {'met' if ok else 'NOT met'}")
    return ok, worst
