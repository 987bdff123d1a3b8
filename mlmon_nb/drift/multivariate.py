"""The multivariate check's statistics over a window: pure, counts in, numbers out.

A window's ``ml_reconstruction_error`` bucket counts (summed across replicas) against the
baseline's reference buckets (:class:`mlmon_nb.baseline.joint.JointModel`): the binned KS, its
critical value for the window's n and the reference's m at α (the univariate drift alerts'
rule), and the window's mean error. The recording rules
(:mod:`mlmon_nb.drift.multivariate_rules`) write the same formulas in PromQL; the suite checks
that both agree on the same counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import DriftError
from .significance import DEFAULT_ALPHA, ks_critical, mean_coefficient

Numbers = Sequence[float] | np.ndarray

__all__ = ["ReconstructionDrift", "reconstruction_drift", "residual_shares", "pair_changes"]


@dataclass(frozen=True)
class ReconstructionDrift:
    """One window's multivariate drift: KS of the error against the reference, what chance
    gives (``critical``) for ``n`` errors and the reference's ``m`` rows at ``alpha``, and the
    window's mean error (NaN without errors) with the reference's and the mean chance reaches
    (``mean_critical``: the reference mean + z₁₋α·σ·sqrt(1/n + 1/m))."""

    ks: float
    critical: float
    n: float  # Prometheus' increase: extrapolated to the window's edges, not whole
    m: int
    mean: float
    reference_mean: float
    mean_critical: float
    alpha: float

    @property
    def significant(self) -> bool:
        """Whether chance alone is implausible for the KS (at ``alpha``)."""
        return self.ks > self.critical

    def drifted(self, threshold: float, min_values: float) -> bool:
        """The alert's condition, on ≥ ``min_values`` errors with a KS past chance: the KS past
        ``threshold`` too (the distribution moved), or the mean past chance (a few far-off
        inputs, a new segment, raise the mean before they move many quantiles)."""
        return (self.n >= min_values and self.significant
                and (self.ks > threshold or self.mean > self.mean_critical))


def reconstruction_drift(cumulative: Numbers, n: float, reference: Numbers,
                         m: int, *, total: float | None = None, reference_mean: float = np.nan,
                         reference_std: float = np.nan,
                         alpha: float = DEFAULT_ALPHA) -> ReconstructionDrift:
    """The statistics of a window whose errors have ``cumulative`` counts at the reference's
    finite edges (``le`` buckets, as Prometheus sums them), ``n`` in all (the ``+Inf`` bucket)
    and ``total`` their sum; ``reference`` is the baseline's cumulative share at each edge."""
    cum, ref = np.asarray(cumulative, dtype=float), np.asarray(reference, dtype=float)
    if cum.shape != ref.shape:
        raise DriftError(f"the window has counts at {cum.size} edges but the baseline "
                         f"{ref.size}: the service exports another baseline's buckets; "
                         f"rerun with the baseline whose id ml_model_info shows")
    ks = float(np.max(np.abs(cum / n - ref))) if n > 0 and cum.size else float("nan")
    mean = float(total) / n if total is not None and n > 0 else float("nan")
    spread = math.sqrt(1 / n + 1 / m) if n > 0 and m > 0 else math.inf
    mean_critical = reference_mean + mean_coefficient(alpha) * reference_std * spread
    return ReconstructionDrift(ks, float(ks_critical(n, m, alpha)), float(n), int(m), mean,
                               float(reference_mean), float(mean_critical), alpha)


def residual_shares(live: Numbers, samples: float, baseline: Numbers) -> np.ndarray:
    """Each feature's mean squared residual in a window (``live``: the sums over ``samples``
    sampled predictions) minus the baseline's: what each feature adds to the error beyond
    what it added on the baseline (NaN without samples)."""
    live_arr = np.asarray(live, dtype=float)
    if samples <= 0:
        return np.full(live_arr.shape, np.nan)
    return live_arr / samples - np.asarray(baseline, dtype=float)


def pair_changes(components: np.ndarray, correlation: np.ndarray, excess: Numbers,
                 min_correlation: float = 0.3) -> list[dict]:
    """The correlation change of each baseline-correlated pair that best explains the residuals'
    ``excess`` (:func:`residual_shares`), were it the only change.

    A residual is ``r = P z`` with ``P = I − VᵀV``, so its mean square per feature is the
    diagonal of ``P C P`` for the live correlation ``C``; a change δ of the one pair (a, b)
    adds ``2δ·P_ja·P_jb`` to feature j's. δ is fitted by least squares; ``fit`` is the share of
    the excess it explains. Pairs whose baseline |correlation| is under ``min_correlation``
    are left out (a broken correlation needs one to break). Sorted, best fit first."""
    d = correlation.shape[0]
    proj = np.eye(d) - components.T @ components
    y = np.nan_to_num(np.asarray(excess, dtype=float))
    total = float(y @ y)
    out = []
    for a in range(d):
        for b in range(a + 1, d):
            rho = float(correlation[a, b])
            w = 2 * proj[:, a] * proj[:, b]
            if abs(rho) < min_correlation or not np.any(np.abs(w) > 1e-12):
                continue
            delta = float(w @ y / (w @ w))
            left = y - delta * w
            fit = 1 - float(left @ left) / total if total > 0 else 0.0
            out.append({"a": a, "b": b, "baseline": rho,
                        "implied": float(np.clip(rho + delta, -1, 1)), "fit": fit})
    return sorted(out, key=lambda row: -row["fit"])
