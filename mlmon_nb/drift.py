"""Drift statistics, pure and vectorized: from samples, from histogram buckets, from Prometheus.

Tests (the registry :data:`TESTS`; the valid names are its keys):

- ``ks``: two-sample Kolmogorov–Smirnov statistic and p-value against the baseline's sorted
  sample. Exact p-value when both samples have at most 10,000 values, else asymptotic, like
  ``scipy.stats.ks_2samp(method="auto")``. The asymptotic branch follows scipy's ``kstwo``
  except that the Durbin-matrix region is evaluated with the Pelz–Good expansion (absolute error
  below 1e-6, hundreds of times cheaper) and the tail's Smirnov sum in log space over its
  significant terms only (relative error ~1e-11, ~30× cheaper at n = 40,000). Default for numeric features: sensitive to any change
  of shape, with a p-value for the multiple-testing correction.
- ``psi``: population stability index on the baseline's quantile bins, ``Σ (c−r)·ln(c/r)``.
  Empty bins would make it infinite: both shares are clipped below at :data:`PSI_EPSILON`
  (1e-4) before the sum, without renormalising (the recording rules do the same in PromQL).
  Default for every feature: the industry's effect size, comparable across features.
- ``wasserstein``: earth mover's distance divided by the reference standard deviation, so it
  reads "how many standard deviations the distribution moved".
- ``js``: Jensen–Shannon distance (natural log, as ``scipy.spatial.distance.jensenshannon``) of
  the binned distributions; bounded by sqrt(ln 2).
- ``chi2``: chi-square goodness of fit of the current category counts against the baseline's
  category shares. Default for categorical features. Its severity is judged on Cohen's effect
  size ``w = sqrt(chi2 / n)`` (0.1 small, 0.3 medium, 0.5 large), never on the statistic alone,
  which grows with n.

Severity (none/info/warning/critical) comes from the thresholds (the config's KS and PSI ones,
:data:`DEFAULT_THRESHOLDS` otherwise). A test with a p-value only counts as drift when its
corrected p-value (Benjamini–Hochberg by default, over every test of the comparison) is below
``alpha``: with 20 features and two tests, some would cross a threshold by chance alone.

Honest small samples: NaN and inf are dropped and the missing share is its own signal (test
``missing``); categories the baseline did not list fall into its ``__other__`` bin and their
share is reported; fewer than ``min_samples`` values flag the row ``insufficient`` (severity
none) instead of raising. Every row carries the sample sizes behind it.

From Prometheus: the ``ml_feature_value`` histogram's buckets are the baseline's quantile edges,
so a window's increase per bucket gives binned KS (a lower bound of the exact KS: the supremum
is taken only at the edges) and PSI on the same bins, summed across replicas.
:func:`drift_recording_rules` generates the same computation as recording rules.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from .baseline import Baseline
from .config import Thresholds
from .errors import DriftError
from .metrics import CONFIDENCE, CONFIDENCE_BUCKETS, FEATURE_VALUE, LEGACY_CONCEPT_DRIFT, \
    LEGACY_DATA_DRIFT, le_label, recording_name

__all__ = [
    "TESTS",
    "TestSpec",
    "DEFAULT_TESTS",
    "DEFAULT_THRESHOLDS",
    "PSI_EPSILON",
    "MIN_SAMPLES",
    "CONCEPT_FEATURE",
    "KSResult",
    "ks",
    "ks_many",
    "ks_pvalue",
    "psi",
    "binned_ks",
    "wasserstein",
    "jensen_shannon",
    "chi_square",
    "correct_pvalues",
    "thresholds_for",
    "judge",
    "compare",
    "category_fractions",
    "feature_buckets_query",
    "confidence_buckets_query",
    "binned_drift",
    "BinCounts",
    "bin_counts",
    "binned_statistic",
    "BINNED_TESTS",
    "window_counts",
    "counts_drift",
    "KS_RULE",
    "PSI_RULE",
    "CONCEPT_PSI_RULE",
    "window_drift",
    "drift_series",
    "ks_rule_expr",
    "psi_rule_expr",
    "concept_psi_rule_expr",
    "drift_recording_rules",
    "KS_RECORD",
    "PSI_RECORD",
    "CONCEPT_PSI_RECORD",
]

PSI_EPSILON = 1e-4
MIN_SAMPLES = 30
EXACT_KS_MAX_N = 10_000  # like scipy's ks_2samp(method="auto")
CONCEPT_FEATURE = "confidence"
KS_RECORD = "ml_feature_drift_ks"
PSI_RECORD = "ml_feature_drift_psi"
CONCEPT_PSI_RECORD = "ml_concept_drift_psi"
# the 1h rules the alert catalogue reads (DataDriftDetected, ConceptDriftDetected)
KS_RULE = recording_name("model_name_feature", KS_RECORD, "1h")
PSI_RULE = recording_name("model_name_feature", PSI_RECORD, "1h")
CONCEPT_PSI_RULE = recording_name("model_name", CONCEPT_PSI_RECORD, "1h")

DEFAULT_THRESHOLDS: dict[str, Thresholds] = {
    "ks": Thresholds(0.10, 0.15, 0.25),
    "psi": Thresholds(0.10, 0.20, 0.25),
    "wasserstein": Thresholds(0.10, 0.20, 0.30),
    "js": Thresholds(0.05, 0.10, 0.20),
    "chi2": Thresholds(0.10, 0.30, 0.50),  # on Cohen's w, see the module docstring
    "missing": Thresholds(0.01, 0.05, 0.10),  # rise of the missing share over the baseline's
}


# -- the statistics (pure) -----------------------------------------------------------------------

@dataclass(frozen=True)
class KSResult:
    """Two-sample KS: the statistic, its p-value, and how the p-value was computed."""

    statistic: float
    p_value: float
    method: str  # exact | asymp


def _sorted_finite(values: Any) -> np.ndarray:
    """The finite values, sorted: one sort (NaN last, ±inf at the ends), then a slice."""
    arr = np.sort(np.asarray(values, dtype=float).ravel())
    return arr[np.searchsorted(arr, -np.inf, side="right"):np.searchsorted(arr, np.inf)]


def _numeric_column(column: pd.Series) -> np.ndarray:
    """A column as floats (non-numbers NaN), without a copy when it already holds floats."""
    if column.dtype.kind not in "fiub":
        column = pd.to_numeric(column, errors="coerce")
    return column.to_numpy(dtype=float, na_value=np.nan)


KS_BLOCK = 24  # current values per block of the pruned KS search (see _ks_statistic_sorted)


def _ranks(ref: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many reference values are < and <= each key: one binary search, a second for ties."""
    left = np.searchsorted(ref, keys, side="left")
    right = left.copy()
    tie = left < ref.size
    tie[tie] = ref[left[tie]] == keys[tie]
    if tie.any():
        right[tie] = np.searchsorted(ref, keys[tie], side="right")
    return left, right


def _ks_scaled_extreme(ref: np.ndarray, cur: np.ndarray, idx: np.ndarray, first: np.ndarray,
                       last: np.ndarray) -> int:
    """max |F_ref − F_cur|·n·m over the current values at ``idx`` (exact integer arithmetic).

    Between consecutive current values F_cur is constant and F_ref monotone, so the supremum is
    at the current values themselves (right limits, at the last of a run of ties) or just before
    them (left limits, at the first of a run).
    """
    n, m = ref.size, cur.size
    left, right = _ranks(ref, cur[idx])
    at = (right * m - (idx + 1) * n)[last[idx]]
    before = (left * m - idx * n)[first[idx]]
    return max(int(np.abs(at).max(initial=0)), int(np.abs(before).max(initial=0)))


def _ks_statistic_sorted(ref: np.ndarray, cur: np.ndarray, block: int = KS_BLOCK) -> float:
    """sup |F_ref − F_cur| of two sorted samples: ranks of the current values in the reference,
    searched only where the supremum can be.

    The current values are cut into blocks of ``block``; the ranks at the block boundaries bound
    |F_ref − F_cur| inside each block (F_cur is known there, F_ref lies between the boundaries'
    ranks). The exact extreme is searched only in blocks whose bound beats the best value seen
    at a boundary, and only at the ends of runs of ties: on the benchmark's 50,000-value windows
    about 6 % of a full pass's binary searches, with the same exact integer result.
    """
    n, m = ref.size, cur.size
    last = np.empty(m, dtype=bool)
    last[:-1] = cur[1:] != cur[:-1]
    last[-1] = True
    first = np.empty(m, dtype=bool)
    first[0] = True
    first[1:] = last[:-1]
    if m <= 8 * block:
        d = _ks_scaled_extreme(ref, cur, np.flatnonzero(first | last), first, last)
        return d / n / m if d else 0.0
    p = np.arange(0, m, block, dtype=np.int64)
    if p[-1] != m - 1:
        p = np.append(p, m - 1)
    lo, hi = _ranks(ref, cur[p])
    # a lower bound: the exact values at the boundaries where they are attained
    seen = max(int(np.abs(hi * m - (p + 1) * n)[last[p]].max(initial=0)),
               int(np.abs(lo * m - p * n)[first[p]].max(initial=0)))
    # block k spans p[k]..p[k+1]: F_ref·n lies in [lo[k], hi[k+1]], F_cur·m in [p[k], p[k+1]+1]
    bound = np.maximum(hi[1:] * m - p[:-1] * n, (p[1:] + 1) * n - lo[:-1] * m)
    open_ = np.flatnonzero(bound > seen)
    d = seen
    if open_.size:
        idx = (p[open_][:, None] + np.arange(1, block, dtype=np.int64)).ravel()
        idx = idx[idx < m]
        d = max(d, _ks_scaled_extreme(ref, cur, idx[first[idx] | last[idx]], first, last))
    return d / n / m if d else 0.0


def ks_pvalue(statistic: Any, n_reference: Any, n_current: Any, method: str = "auto") -> np.ndarray:
    """Two-sided p-values of KS statistics for the sample sizes (vectorized).

    ``method``: ``auto`` (exact up to 10,000 values per sample, like scipy), ``exact`` or
    ``asymp``. A failed exact computation falls back to the asymptotic one, as scipy does.
    """
    d, n1, n2 = np.broadcast_arrays(np.asarray(statistic, float), np.asarray(n_reference, float),
                                    np.asarray(n_current, float))
    d, n1, n2 = d.ravel(), n1.ravel(), n2.ravel()
    out = np.full(d.shape, np.nan)
    ok = (n1 >= 1) & (n2 >= 1) & np.isfinite(d)
    exact = ok & ((np.maximum(n1, n2) <= EXACT_KS_MAX_N) if method == "auto"
                  else np.full(d.shape, method == "exact"))
    for i in np.flatnonzero(exact):
        p = _exact_pvalue(float(d[i]), int(n1[i]), int(n2[i]))
        if p is None:
            exact[i] = False
        else:
            out[i] = p
    asymp = ok & ~exact
    if asymp.any():
        big, small = np.maximum(n1[asymp], n2[asymp]), np.minimum(n1[asymp], n2[asymp])
        out[asymp] = _kstwo_sf(d[asymp], np.round(big * small / (big + small)))
    return np.clip(out, 0.0, 1.0).reshape(np.shape(statistic) if np.ndim(statistic) else ())


def _exact_pvalue(d: float, n1: int, n2: int) -> float | None:
    """scipy's exact two-sample p-value, or None where scipy would fall back to asymptotic."""
    g = math.gcd(n1, n2)
    if n1 // g >= np.iinfo(np.int32).max / (n2 // g):
        return None
    try:
        from scipy.stats._stats_py import _attempt_exact_2kssamp
    except ImportError:  # pragma: no cover - scipy moved it; the asymptotic value is close
        return None
    success, _, prob = _attempt_exact_2kssamp(n1, n2, g, d, "two-sided")
    return float(prob) if success else None


def _kstwo_sf(d: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``scipy.stats.kstwo.sf(d, n)``, vectorized where scipy loops in Python (see module doc)."""
    out = np.empty(d.shape)
    nx2 = n * d * d
    tail = (n > 140) & (nx2 >= 2.2) & (d < 0.5)
    for i in np.flatnonzero(tail):
        out[i] = 0.0 if nx2[i] >= 370.0 else 2 * _smirnov_sf(float(n[i]), float(d[i]))
    middle = (n > 140) & ~tail & (d > 1.0 / n) & (d < 0.5)
    if middle.any():
        out[middle] = _pelz_good_sf(n[middle], d[middle])
    rest = ~tail & ~middle
    if rest.any():
        out[rest] = stats.kstwo.sf(d[rest], n[rest])
    return out


def _smirnov_sf(n: float, x: float) -> float:
    """One-sided P(D+_n >= x) (``scipy.special.smirnov``) by its exact sum, in log space.

    Smirnov–Birnbaum–Tingey: x Σ_j C(n,j) (1−x−j/n)^(n−j) (x+j/n)^(j−1). Only the terms within
    e^-50 of the largest matter, so a coarse pass finds them; relative error ~1e-11, and for
    n = 40,000 about 30× faster than scipy's, which sums every term in extended precision.
    """
    if n <= 1000:
        return float(special.smirnov(int(n), x))
    top = int(np.floor(n * (1 - x)))
    table = _log_factorials(int(n)) if n <= LOG_FACTORIAL_MAX_N else None

    def logs(j: np.ndarray) -> np.ndarray:
        if table is None:
            log_binom = (special.gammaln(n + 1) - special.gammaln(j + 1)
                         - special.gammaln(n - j + 1))
        else:
            k = j.astype(np.int64)
            log_binom = table[-1] - table[k] - table[int(n) - k]
        with np.errstate(divide="ignore", invalid="ignore"):
            return log_binom + (n - j) * np.log1p(-x - j / n) + (j - 1) * np.log(x + j / n)

    stride = max(1, top // 512)
    coarse_j = np.arange(0, top + 1, stride, dtype=float)
    coarse = logs(coarse_j)
    keep = coarse_j[coarse >= np.max(coarse) - 50]
    lo, hi = max(0, int(keep.min()) - stride), min(top, int(keep.max()) + stride)
    terms = logs(np.arange(lo, hi + 1, dtype=float))
    peak = np.max(terms)  # logsumexp without scipy's per-call overhead
    return float(x * np.exp(peak + np.log(np.sum(np.exp(terms - peak)))))


LOG_FACTORIAL_MAX_N = 500_000  # above this no table is kept (8 bytes per n, 4 tables at most)


@functools.lru_cache(maxsize=4)
def _log_factorials(n: int) -> np.ndarray:
    """ln k! for k = 0..n (``gammaln(k + 1)``): the features of one comparison share their n."""
    table = special.gammaln(np.arange(n + 1, dtype=float) + 1)
    table.setflags(write=False)
    return table


def _pelz_good_sf(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Pelz–Good (1976) approximation of P(D_n > x), vectorized (after scipy's ``_ksstats``)."""
    z = np.sqrt(n) * x
    z2, z3, z4, z6 = z ** 2, z ** 3, z ** 4, z ** 6
    pi2, pi4, pi6 = np.pi ** 2, np.pi ** 4, np.pi ** 6
    q = np.exp(-pi2 / 8 / z2)
    maxk = int(np.ceil(16 * z.max() / np.pi))
    k = np.arange(1, maxk + 1)[:, None]
    m = 2 * k - 1
    qk = q[None, :] ** (m ** 2)  # q^(m^2) = q * q^(8 * k(k-1)/2 ...) summed over odd m
    k0 = np.sum(qk, axis=0)
    k1 = np.sum((-z2 + pi2 / 4 * m ** 2) * qk, axis=0)
    k2 = np.sum((6 * z6 + 2 * z4 + (2 * z4 - 5 * z2) * pi2 / 4 * m ** 2
                 + pi4 * (1 - 2 * z2) / 16 * m ** 4) * qk, axis=0)
    k3 = np.sum((-30 * z6 - 90 * z ** 8 + pi2 * (135 * z4 - 96 * z6) / 4 * m ** 2
                 + pi4 * (-60 * z2 + 212 * z4) / 16 * m ** 4
                 + pi6 * (5 - 30 * z2) / 64 * m ** 6) * qk, axis=0)
    root = np.sqrt(2 * np.pi)
    k0, k1 = k0 * root / z, k1 * root / (6 * z4)
    k2, k3 = k2 * root / (72 * z ** 7), k3 * root / (6480 * z ** 10)
    q2 = np.exp(-pi2 / 2 / z2)
    kk = np.arange(1, maxk + 1)[:, None].astype(float)
    qp = q2[None, :] ** (kk ** 2)
    k2 = k2 + np.sum(kk ** 2 * qp, axis=0) * pi2 * root / (-36 * z3)
    k3 = k3 + np.sum((np.sqrt(3) * z + np.pi * kk) * (np.sqrt(3) * z - np.pi * kk) * kk ** 2 * qp,
                     axis=0) * pi2 * root / (216 * z6)
    cdf = k0 + k1 / np.sqrt(n) + k2 / n + k3 / n ** 1.5
    return np.clip(1.0 - cdf, 0.0, 1.0)


def ks(reference: Any, current: Any, method: str = "auto") -> KSResult:
    """Two-sample KS of two samples (NaN dropped); matches ``scipy.stats.ks_2samp``."""
    ref, cur = _sorted_finite(reference), _sorted_finite(current)
    if ref.size == 0 or cur.size == 0:
        return KSResult(float("nan"), float("nan"), "none")
    d = _ks_statistic_sorted(ref, cur)
    used = method if method != "auto" else ("exact" if max(ref.size, cur.size) <= EXACT_KS_MAX_N
                                            else "asymp")
    return KSResult(d, float(ks_pvalue(d, ref.size, cur.size, method)), used)


def ks_many(references: Sequence[np.ndarray], current: np.ndarray | Sequence[np.ndarray],
            method: str = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """KS for many features at once: ``(statistics, p_values, n_reference, n_current)``.

    ``references`` are sorted finite samples (a baseline's ``sample``); ``current`` is a 2-D
    array (rows × features, NaN allowed) or one array per feature. Each feature is sorted once;
    the p-values are computed in one vectorized call.
    """
    if isinstance(current, np.ndarray) and current.ndim == 2:
        current = current.T
    currents = [_sorted_finite(c) for c in current]
    d = np.full(len(references), np.nan)
    n1 = np.array([r.size for r in references], dtype=float)
    n2 = np.array([c.size for c in currents], dtype=float)
    for i, (ref, cur) in enumerate(zip(references, currents)):
        if ref.size and cur.size:
            d[i] = _ks_statistic_sorted(ref, cur)
    return d, ks_pvalue(d, n1, n2, method), n1, n2


def psi(reference: Any, current: Any, epsilon: float = PSI_EPSILON) -> np.ndarray | float:
    """PSI of bin shares along the last axis; shares are clipped below at ``epsilon``."""
    r = np.maximum(np.asarray(reference, float), epsilon)
    c = np.maximum(np.asarray(current, float), epsilon)
    out = np.sum((c - r) * np.log(c / r), axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def binned_ks(reference: Any, current: Any) -> np.ndarray | float:
    """KS on binned shares: max |cumulative difference| (a lower bound of the exact KS)."""
    diff = np.abs(np.cumsum(np.asarray(current, float), axis=-1)
                  - np.cumsum(np.asarray(reference, float), axis=-1))
    out = diff.max(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def wasserstein(reference: Any, current: Any, scale: float | None = None) -> float:
    """Wasserstein-1 distance divided by ``scale`` (default the reference's standard deviation)."""
    ref, cur = _sorted_finite(reference), _sorted_finite(current)
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    allv = np.sort(np.concatenate([ref, cur]))
    deltas = np.diff(allv)
    cdf_r = np.searchsorted(ref, allv[:-1], side="right") / ref.size
    cdf_c = np.searchsorted(cur, allv[:-1], side="right") / cur.size
    distance = float(np.sum(np.abs(cdf_r - cdf_c) * deltas))
    scale = float(ref.std()) if scale is None else float(scale)
    return distance / scale if scale > 0 else (0.0 if distance == 0 else float("inf"))


def jensen_shannon(reference: Any, current: Any) -> np.ndarray | float:
    """Jensen–Shannon distance (natural log) of distributions along the last axis."""
    p = np.asarray(reference, float)
    q = np.asarray(current, float)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2
    js = (special.rel_entr(p, m).sum(axis=-1) + special.rel_entr(q, m).sum(axis=-1)) / 2
    out = np.sqrt(np.maximum(js, 0.0))
    return float(out) if np.ndim(out) == 0 else out


def chi_square(reference_fractions: Any, current_counts: Any,
               epsilon: float = PSI_EPSILON) -> tuple[float, float]:
    """Chi-square goodness of fit of counts against reference shares: ``(statistic, p_value)``.

    Reference shares are clipped below at ``epsilon`` and renormalised, so a category the
    baseline never saw gives a large (finite) statistic instead of infinity.
    """
    ref = np.maximum(np.asarray(reference_fractions, float), epsilon)
    obs = np.asarray(current_counts, float)
    n = obs.sum()
    if n <= 0:
        return float("nan"), float("nan")
    expected = ref / ref.sum() * n
    statistic = float(np.sum((obs - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, obs.size - 1))


def correct_pvalues(p_values: Any, method: str | None = "bh") -> np.ndarray:
    """Multiple-testing correction over the non-NaN p-values: ``bh``, ``bonferroni`` or None."""
    p = np.asarray(p_values, float)
    out = p.copy()
    ok = np.isfinite(p)
    if method is None or method == "none" or not ok.any():
        return out
    if method == "bh":
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    elif method == "bonferroni":
        out[ok] = np.minimum(p[ok] * ok.sum(), 1.0)
    else:
        raise DriftError(f"unknown correction {method!r}; use 'bh', 'bonferroni' or None")
    return out


# -- the registry of tests -----------------------------------------------------------------------

@dataclass(frozen=True)
class TestSpec:
    """A drift test: which column kinds it applies to and whether it gives a p-value."""

    name: str
    kinds: tuple[str, ...]
    has_p_value: bool
    description: str


TESTS: dict[str, TestSpec] = {t.name: t for t in (
    TestSpec("ks", ("numeric",), True, "Kolmogorov–Smirnov statistic on the baseline sample"),
    TestSpec("psi", ("numeric", "categorical"), False, "population stability index on the bins"),
    TestSpec("wasserstein", ("numeric",), False, "earth mover's distance / reference std"),
    TestSpec("js", ("numeric", "categorical"), False, "Jensen–Shannon distance of the bins"),
    TestSpec("chi2", ("categorical",), True, "chi-square goodness of fit of category counts"),
)}
DEFAULT_TESTS: dict[str, tuple[str, ...]] = {"numeric": ("ks", "psi"),
                                             "categorical": ("chi2", "psi")}


def thresholds_for(model: Any = None, overrides: Mapping[str, Thresholds] | None = None
                   ) -> dict[str, Thresholds]:
    """Severity thresholds: defaults, then a ModelConfig's ``ks``/``psi``, then ``overrides``."""
    out = dict(DEFAULT_THRESHOLDS)
    if model is not None:
        out.update(ks=model.ks, psi=model.psi)
    out.update(overrides or {})
    return out


def _tests_for(tests: Iterable[str] | Mapping[str, Iterable[str]] | None) -> dict[str, tuple[str, ...]]:
    if tests is None:
        return dict(DEFAULT_TESTS)
    if isinstance(tests, Mapping):
        chosen = {kind: tuple(names) for kind, names in tests.items()}
    else:
        names = (tests,) if isinstance(tests, str) else tuple(tests)
        chosen = {kind: tuple(n for n in names if n in TESTS and kind in TESTS[n].kinds)
                  for kind in ("numeric", "categorical")}
        unknown = [n for n in names if n not in TESTS]
        if unknown:
            raise DriftError(f"unknown drift test(s) {unknown}; choose from {sorted(TESTS)}")
    for kind, names in chosen.items():
        bad = [n for n in names if n not in TESTS or kind not in TESTS[n].kinds]
        if bad:
            raise DriftError(f"test(s) {bad} do not apply to {kind} features; choose from "
                             f"{sorted(n for n, t in TESTS.items() if kind in t.kinds)}")
    return chosen


def category_fractions(values: pd.Series, labels: Sequence[str]) -> tuple[np.ndarray, int, int]:
    """Counts of ``values`` per baseline label (unknown ones in the last, ``__other__``, bin).

    Returns ``(counts, n, unseen)``: ``unseen`` is how many values were not a listed category.
    """
    known = list(labels[:-1])
    clean = values.dropna().astype(str)
    codes = pd.Index(known).get_indexer(clean)
    counts = np.bincount(np.where(codes < 0, len(known), codes), minlength=len(known) + 1)
    return counts.astype(float), int(clean.size), int((codes < 0).sum())


def compare(baseline: Baseline, frame: pd.DataFrame, *,
            tests: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
            correction: str | None = "bh", thresholds: Mapping[str, Thresholds] | None = None,
            features: Iterable[str] | None = None, alpha: float = 0.05,
            min_samples: int = MIN_SAMPLES) -> pd.DataFrame:
    """Drift of ``frame`` against ``baseline``: one row per feature and test.

    Columns: ``feature``, ``kind``, ``test``, ``statistic``, ``p_value``, ``p_value_corrected``,
    ``n_reference``, ``n_current``, ``missing_share``, ``reference_missing_share``,
    ``unseen_share`` (categorical), ``insufficient``, ``severity``, ``note``. ``tests`` is a list
    of test names (each applied where it fits) or ``{kind: names}``; default
    :data:`DEFAULT_TESTS`. ``thresholds`` maps test → :class:`Thresholds` (see
    :func:`thresholds_for`). A feature missing from ``frame`` gives rows flagged insufficient.
    """
    chosen = _tests_for(tests)
    limits = thresholds_for(None, thresholds)
    wanted = list(features) if features is not None else list(baseline.features)
    unknown = [f for f in wanted if f not in baseline.numeric and f not in baseline.categorical]
    if unknown:
        raise DriftError(f"feature(s) {unknown} are not in baseline {baseline.baseline_id}; it "
                         f"has {list(baseline.features)}")
    rows: list[dict] = []
    numeric = [f for f in wanted if f in baseline.numeric]
    if numeric:
        rows += _numeric_rows(baseline, frame, numeric, chosen.get("numeric", ()), min_samples)
    for f in (f for f in wanted if f in baseline.categorical):
        rows += _categorical_rows(baseline, frame, f, chosen.get("categorical", ()), min_samples)
    out = pd.DataFrame(rows, columns=["feature", "kind", "test", "statistic", "p_value",
                                      "n_reference", "n_current", "missing_share",
                                      "reference_missing_share", "unseen_share", "insufficient",
                                      "note", "effect"])
    out["p_value"] = out["p_value"].astype(float)
    usable = out["p_value"].where(~out["insufficient"].astype(bool))
    out.insert(5, "p_value_corrected", correct_pvalues(usable.to_numpy(), correction))
    out["severity"] = [_severity(r, limits, alpha) for r in out.itertuples()]
    return out.drop(columns="effect")


def judge(limits: Mapping[str, Thresholds], test: str, statistic: float,
          insufficient: bool = False) -> str:
    """The severity of one test's statistic: "none" when too few samples or no thresholds."""
    if insufficient or test not in limits:
        return "none"
    return limits[test].severity(float(statistic))


def _severity(row, limits: Mapping[str, Thresholds], alpha: float) -> str:
    if TESTS.get(row.test) and TESTS[row.test].has_p_value and not row.p_value_corrected < alpha:
        return "none"
    return judge(limits, row.test, row.effect, row.insufficient)


def _base_row(feature: str, kind: str, n_ref: int, n_cur: int, missing: float, ref_missing: float,
              min_samples: int, note: str = "") -> dict:
    short = n_cur < min_samples
    return {"feature": feature, "kind": kind, "n_reference": n_ref, "n_current": n_cur,
            "missing_share": missing, "reference_missing_share": ref_missing,
            "unseen_share": float("nan"), "insufficient": bool(short),
            "note": note or (f"only {n_cur} values (< {min_samples})" if short else "")}


def _missing_row(base: dict, frame_rows: int) -> dict:
    rise = base["missing_share"] - base["reference_missing_share"]
    return {**base, "test": "missing", "statistic": rise, "p_value": float("nan"),
            "effect": rise, "insufficient": frame_rows == 0}


def _numeric_rows(baseline: Baseline, frame: pd.DataFrame, names: list[str],
                  tests: Sequence[str], min_samples: int) -> list[dict]:
    rows: list[dict] = []
    ks_at: list[tuple[int, int, int]] = []  # (row, reference sample size, current size)
    total = len(frame)
    for f in names:
        spec = baseline.numeric[f]
        present = f in frame.columns
        # one feature's sorted values at a time: the peak memory is a column, not the frame
        cur = _sorted_finite(_numeric_column(frame[f])) if present else np.empty(0)
        missing = 1 - cur.size / total if total and present else (1.0 if total else 0.0)
        base = _base_row(f, "numeric", spec.n, int(cur.size), missing, spec.missing_share,
                         min_samples, "" if present else "column not in the data")
        if not present:
            base["insufficient"] = True
        cur_fr = (np.diff(np.searchsorted(cur, spec.edges, side="right"), prepend=0,
                          append=cur.size) / cur.size) if cur.size else None
        for test in tests:
            stat, pval = float("nan"), float("nan")
            if cur.size:
                if test == "ks":
                    if spec.sample.size:
                        stat = _ks_statistic_sorted(spec.sample, cur)
                    ks_at.append((len(rows), spec.sample.size, cur.size))
                elif test == "psi":
                    stat = psi(spec.fractions, cur_fr)
                elif test == "js":
                    stat = jensen_shannon(spec.fractions, cur_fr)
                elif test == "wasserstein":
                    stat = wasserstein(spec.sample, cur, spec.summary.get("std"))
            rows.append({**base, "test": test, "statistic": stat, "p_value": pval, "effect": stat})
        rows.append(_missing_row(base, total))
    if ks_at:  # the p-values in one vectorized call
        at, n_ref, n_cur = (np.array(v) for v in zip(*ks_at))
        for i, p in zip(at, ks_pvalue(np.array([rows[i]["statistic"] for i in at]), n_ref, n_cur)):
            rows[i]["p_value"] = float(p)
    return rows


def _categorical_rows(baseline: Baseline, frame: pd.DataFrame, f: str, tests: Sequence[str],
                      min_samples: int) -> list[dict]:
    spec = baseline.categorical[f]
    total = len(frame)
    if f in frame.columns:
        counts, n, unseen = category_fractions(frame[f], spec.labels)
        base = _base_row(f, "categorical", spec.n, n, 1 - n / total if total else 0.0,
                         spec.missing_share, min_samples)
        base["unseen_share"] = unseen / n if n else float("nan")
    else:
        counts, n = np.zeros(len(spec.labels)), 0
        base = {**_base_row(f, "categorical", spec.n, 0, 1.0 if total else 0.0,
                            spec.missing_share, min_samples, "column not in the data"),
                "insufficient": True}
    rows = []
    for test in tests:
        stat = pval = effect = float("nan")
        if n:
            if test == "chi2":
                stat, pval = chi_square(spec.fractions, counts)
                effect = math.sqrt(stat / n)
            elif test == "psi":
                stat = effect = psi(spec.fractions, counts / n)
            elif test == "js":
                stat = effect = jensen_shannon(spec.fractions, counts / n)
        rows.append({**base, "test": test, "statistic": stat, "p_value": pval, "effect": effect})
    rows.append(_missing_row(base, total))
    return rows


# -- from histogram buckets (Prometheus) ---------------------------------------------------------

def _num(value: float) -> str:
    """A float literal for PromQL that round-trips exactly (so rules equal the Python rerun)."""
    return repr(float(value))


def feature_buckets_query(model_name: str, window: str = "1h") -> str:
    """Each feature's bucket increases over ``window``, summed across replicas."""
    from .queries import selector
    sel = selector(FEATURE_VALUE.series("_bucket"), model_name=model_name)
    return f"sum by (feature, le) (increase({sel}[{window}]))"


def confidence_buckets_query(model_name: str, window: str = "1h") -> str:
    """The confidence histogram's bucket increases over ``window``, summed across replicas."""
    from .queries import confidence_buckets
    return confidence_buckets(model_name, window)


def category_counts_query(model_name: str, window: str = "1h") -> str:
    """Each categorical feature's count per category over ``window``, summed across replicas."""
    from .metrics import FEATURE_CATEGORY
    from .queries import selector
    sel = selector(FEATURE_CATEGORY.sample, model_name=model_name)
    return f"sum by (feature, category) (increase({sel}[{window}]))"


def _cumulative_at(frame: pd.DataFrame, edges: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps, cumulative counts at ``edges`` (T × k), totals (T)) from tidy bucket rows."""
    les = frame["le"].astype(str).map(lambda s: float(s.replace("Inf", "inf")))
    table = frame.assign(_le=les.to_numpy()).pivot_table(index="timestamp", columns="_le",
                                                          values="value", aggfunc="sum")
    wanted = list(edges) + [float("inf")]
    missing = [e for e in wanted if e not in table.columns]
    if missing:
        raise DriftError(f"the {what} histogram has no buckets at {missing[:5]} of the baseline's "
                         f"edges: the service exports another baseline's buckets; compare with "
                         f"the baseline named by ml_model_info's baseline_id")
    values = table[wanted].to_numpy(dtype=float)
    return table.index.to_numpy(), values[:, :-1], values[:, -1]


@dataclass(frozen=True)
class BinCounts:
    """One feature's window counts on the baseline's bins (rows: timestamps)."""

    feature: str
    kind: str  # numeric | categorical | concept
    labels: tuple[str, ...]  # upper edge per bin ("+Inf" last) or category
    reference: np.ndarray  # the baseline's share per bin
    timestamps: np.ndarray
    counts: np.ndarray  # T × bins
    totals: np.ndarray  # T: the window's count (the +Inf bucket as read)
    cumulative: np.ndarray | None = None  # T × edges, as read (for binned KS); None for categories

    def statistic(self, test: str, reference: np.ndarray | None = None) -> np.ndarray:
        """A binned test per timestamp against the baseline (or another ``reference``)."""
        return binned_statistic(test, self.reference if reference is None else reference,
                                self.counts, self.totals, self.cumulative)

    @property
    def shares(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.counts / self.totals[:, None]


def _from_cumulative(feature: str, kind: str, edges: Sequence[float], reference: np.ndarray,
                     frame: pd.DataFrame) -> BinCounts:
    ts, cum, totals = _cumulative_at(frame, np.asarray(edges, float), f"{kind} {feature!r}")
    # bin counts as (S_i − S_{i−1}), the last as T − S_k: the recording rules' arithmetic
    counts = np.diff(np.concatenate([np.zeros((len(totals), 1)), cum, totals[:, None]], axis=1),
                     axis=1)
    labels = tuple(le_label(e) for e in edges) + ("+Inf",)
    return BinCounts(feature, kind, labels, np.asarray(reference, float), ts, counts, totals, cum)


def bin_counts(baseline: Baseline, buckets: pd.DataFrame | None = None, *,
               confidence: pd.DataFrame | None = None,
               categories: pd.DataFrame | None = None) -> dict[str, BinCounts]:
    """Tidy Prometheus frames → :class:`BinCounts` per feature (pure).

    ``buckets``: ``feature``, ``le``, ``value`` (cumulative counts, e.g. a window's increase),
    optionally ``timestamp``; ``confidence``: ``le``, ``value`` of the confidence histogram
    (concept drift, as feature :data:`CONCEPT_FEATURE`); ``categories``: ``feature``,
    ``category``, ``value``. Buckets that do not match the baseline's edges are a DriftError.
    """
    def stamped(frame: pd.DataFrame) -> pd.DataFrame:
        return frame if "timestamp" in frame.columns else frame.assign(timestamp=pd.NaT)

    out: dict[str, BinCounts] = {}
    if buckets is not None and not buckets.empty:
        buckets = stamped(buckets)
        for feature, spec in baseline.numeric.items():
            part = buckets[buckets["feature"].astype(str) == feature]
            if not part.empty:
                out[feature] = _from_cumulative(feature, "numeric", spec.edges, spec.fractions,
                                                part)
    if confidence is not None and not confidence.empty and baseline.confidence_fractions is not None:
        out[CONCEPT_FEATURE] = _from_cumulative(CONCEPT_FEATURE, "concept", CONFIDENCE_BUCKETS,
                                                baseline.confidence_fractions, stamped(confidence))
    if categories is not None and not categories.empty:
        categories = stamped(categories)
        for feature, spec in baseline.categorical.items():
            part = categories[categories["feature"].astype(str) == feature]
            if part.empty:
                continue
            table = part.pivot_table(index="timestamp", columns="category", values="value",
                                     aggfunc="sum", dropna=False)
            table = table.reindex(columns=list(spec.labels), fill_value=0).fillna(0)
            counts = table.to_numpy(dtype=float)
            out[feature] = BinCounts(feature, "categorical", spec.labels, spec.fractions,
                                     table.index.to_numpy(), counts, counts.sum(axis=1))
    return out


def binned_statistic(test: str, reference: np.ndarray, counts: np.ndarray, totals: np.ndarray,
                     cumulative: np.ndarray | None = None) -> np.ndarray:
    """A binned test per row of ``counts`` against ``reference`` shares (``ks``, ``psi``, ``js``).

    With ``cumulative`` (counts at each finite edge, as read from Prometheus) KS is computed
    exactly as the recording rule does; otherwise from the cumulated bin counts.
    """
    counts = np.atleast_2d(np.asarray(counts, float))
    totals = np.atleast_1d(np.asarray(totals, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = counts / totals[:, None]
        if test == "ks":
            cum = (np.atleast_2d(cumulative) if cumulative is not None
                   else np.cumsum(counts, axis=1)[:, :-1])
            return np.max(np.abs(cum / totals[:, None] - np.cumsum(reference)[:-1]), axis=1)
        if test == "psi":
            return np.atleast_1d(psi(reference, shares))
        if test == "js":
            return np.atleast_1d(jensen_shannon(reference, np.maximum(shares, 0)))
    raise DriftError(f"binned test {test!r} is not available; choose ks, psi or js")


BINNED_TESTS = ("ks", "psi", "js")


def binned_drift(baseline: Baseline, buckets: pd.DataFrame | None, *,
                 confidence: pd.DataFrame | None = None, categories: pd.DataFrame | None = None,
                 tests: Sequence[str] = ("ks", "psi"),
                 thresholds: Mapping[str, Thresholds] | None = None,
                 min_samples: int = MIN_SAMPLES) -> pd.DataFrame:
    """Binned drift per timestamp and feature from tidy bucket frames (pure; see :func:`bin_counts`).

    Returns ``timestamp``, ``feature``, ``kind``, ``test``, ``statistic``, ``n`` (the window's
    count behind it), ``insufficient``, ``severity``. KS applies to binned numeric features only.
    """
    return counts_drift(bin_counts(baseline, buckets, confidence=confidence, categories=categories),
                        tests=tests, thresholds=thresholds, min_samples=min_samples)


def counts_drift(counts: Mapping[str, BinCounts], *, tests: Sequence[str] = ("ks", "psi"),
                 thresholds: Mapping[str, Thresholds] | None = None,
                 min_samples: int = MIN_SAMPLES) -> pd.DataFrame:
    """Binned drift of :class:`BinCounts` against their baseline (the rows of :func:`binned_drift`)."""
    limits = thresholds_for(None, thresholds)
    rows: list[dict] = []
    for bins in counts.values():
        for test in tests:
            if test == "ks" and bins.kind != "numeric":
                continue
            stat = bins.statistic(test)
            for t, v, n in zip(bins.timestamps, stat, bins.totals):
                short = not n >= min_samples
                rows.append({"timestamp": t, "feature": bins.feature, "kind": bins.kind,
                             "test": test, "statistic": float(v), "n": float(n),
                             "insufficient": short, "severity": judge(limits, test, v, short)})
    return pd.DataFrame(rows, columns=["timestamp", "feature", "kind", "test", "statistic", "n",
                                       "insufficient", "severity"])


def window_counts(prom: Any, baseline: Baseline, *, time: Any = None, window: str = "1h",
                  model_name: str | None = None) -> dict[str, BinCounts]:
    """Every feature's counts on the baseline's bins over the ``window`` ending at ``time``."""
    model = model_name or baseline.model_name
    return bin_counts(baseline, prom.query(feature_buckets_query(model, window), time=time),
                      confidence=prom.query(confidence_buckets_query(model, window), time=time),
                      categories=prom.query(category_counts_query(model, window), time=time))


def window_drift(prom: Any, baseline: Baseline, *, time: Any = None, window: str = "1h",
                 model_name: str | None = None, tests: Sequence[str] = ("ks", "psi"),
                 thresholds: Mapping[str, Thresholds] | None = None,
                 min_samples: int = MIN_SAMPLES) -> pd.DataFrame:
    """Binned drift of the ``window`` ending at ``time`` (default now), from Prometheus.

    ``prom`` is a :class:`mlmon_nb.prom.Prometheus`. Equals the recording rules'
    value at ``time`` (see :func:`drift_recording_rules`).
    """
    counts = window_counts(prom, baseline, time=time, window=window, model_name=model_name)
    return counts_drift(counts, tests=tests, thresholds=thresholds, min_samples=min_samples)


def drift_series(prom: Any, baseline: Baseline, start: Any, end: Any, step: str = "1h", *,
                 window: str | None = None, model_name: str | None = None,
                 tests: Sequence[str] = ("ks", "psi"),
                 thresholds: Mapping[str, Thresholds] | None = None,
                 min_samples: int = MIN_SAMPLES) -> pd.DataFrame:
    """Binned drift as a series: one value per ``step`` (e.g. ``1h`` or ``1d``) over the range.

    Each point covers the ``window`` (default ``step``) ending at its timestamp.
    """
    model = model_name or baseline.model_name
    window = window or step
    return binned_drift(
        baseline, prom.range(feature_buckets_query(model, window), start, end, step),
        confidence=prom.range(confidence_buckets_query(model, window), start, end, step),
        categories=prom.range(category_counts_query(model, window), start, end, step),
        tests=tests, thresholds=thresholds, min_samples=min_samples)


# -- recording rules -----------------------------------------------------------------------------

def _bucket_sum(metric: str, labels: Mapping[str, str], le: str, window: str, by: str) -> str:
    from .queries import selector
    return f"sum by ({by}) (increase({selector(metric, **labels, le=le)}[{window}]))"


def _psi_terms(metric: str, labels: Mapping[str, str], edges: Sequence[float],
               ref_fractions: np.ndarray, window: str, by: str) -> str:
    """Σ (c'−r')·ln(c'/r') over the bins, with c_i = (S_i − S_{i−1}) / S_+Inf, clipped at ε."""
    sums = [_bucket_sum(metric, labels, le_label(e), window, by) for e in edges]
    total = _bucket_sum(metric, labels, "+Inf", window, by)
    uppers = sums + [total]
    terms = []
    for i, ref in enumerate(np.maximum(ref_fractions, PSI_EPSILON)):
        count = uppers[i] if i == 0 else f"({uppers[i]} - {uppers[i - 1]})"
        cur = f"clamp_min({count} / {total}, {_num(PSI_EPSILON)})"
        terms.append(f"({cur} - {_num(ref)}) * ln({cur} / {_num(ref)})")
    return "\n+ ".join(terms)


def ks_rule_expr(model_name: str, feature: str, baseline: Baseline, window: str = "1h") -> str:
    """Binned KS of one feature over ``window``: max over edges of |current − baseline| share."""
    from .queries import selector
    spec = baseline.numeric[feature]
    metric = FEATURE_VALUE.series("_bucket")
    labels = {"model_name": model_name, "feature": feature}
    buckets = selector(metric, **labels)[:-1] + ',le!="+Inf"}'  # every finite bucket
    total = _bucket_sum(metric, labels, "+Inf", window, "model_name, feature")
    reference = " or ".join(f'label_replace(vector({_num(c)}), "le", "{le_label(e)}", "", "")'
                            for e, c in zip(spec.edges, spec.cumulative))
    return (f"max by (model_name, feature) (abs(\n"
            f"  (sum by (model_name, feature, le) (increase({buckets}[{window}]))\n"
            f"   / ignoring(le) group_left {total})\n"
            f"  - on(le) group_left() ({reference})\n))")


def psi_rule_expr(model_name: str, feature: str, baseline: Baseline, window: str = "1h") -> str:
    """PSI of one feature over ``window`` on the baseline's bins (ε-clipped like :func:`psi`)."""
    spec = baseline.numeric[feature]
    return _psi_terms(FEATURE_VALUE.series("_bucket"), {"model_name": model_name, "feature": feature},
                      spec.edges, spec.fractions, window, "model_name, feature")


def concept_psi_rule_expr(model_name: str, baseline: Baseline, window: str = "1h") -> str:
    """PSI of the confidence histogram over ``window`` against the baseline's confidences."""
    if baseline.confidence_fractions is None:
        raise DriftError(f"baseline {baseline.baseline_id} has no confidence distribution; "
                         f"rebuild it with --confidence COLUMN")
    return _psi_terms(CONFIDENCE.series("_bucket"), {"model_name": model_name},
                      CONFIDENCE_BUCKETS, baseline.confidence_fractions, window, "model_name")


def drift_recording_rules(model_name: str, baseline: Baseline,
                          windows: Sequence[str] = ("1h",)) -> list[dict]:
    """Recording rules for KS and PSI per feature and concept-drift PSI, per window.

    Names: ``model_name_feature:ml_feature_drift_ks:<w>``, ``…:ml_feature_drift_psi:<w>`` and
    ``model_name:ml_concept_drift_psi:<w>``; the seed's ``ml_data_drift_score`` (KS per feature)
    and ``ml_concept_drift_psi`` follow the first window. Sums across replicas; the baseline's
    shares are literals, so the rules depend only on the bucket counters and must be regenerated
    with the baseline (the committed rule files are checked for staleness). Each rule is a dict
    ``{"record", "expr"}``; per-feature rules also carry ``"labels": {"feature": name}`` (they
    share a name, and the static label tells them apart).
    """
    rules: list[dict] = []
    for w in windows:
        for feature in baseline.numeric:
            rules.append({"record": recording_name("model_name_feature", KS_RECORD, w),
                          "expr": ks_rule_expr(model_name, feature, baseline, w),
                          "labels": {"feature": feature}})
            rules.append({"record": recording_name("model_name_feature", PSI_RECORD, w),
                          "expr": psi_rule_expr(model_name, feature, baseline, w),
                          "labels": {"feature": feature}})
        if baseline.confidence_fractions is not None:
            rules.append({"record": recording_name("model_name", CONCEPT_PSI_RECORD, w),
                          "expr": concept_psi_rule_expr(model_name, baseline, w)})
    if windows:
        from .queries import selector
        first = windows[0]
        if baseline.numeric:
            rules.append({"record": LEGACY_DATA_DRIFT, "expr": selector(
                recording_name("model_name_feature", KS_RECORD, first), model_name=model_name)})
        if baseline.confidence_fractions is not None:
            rules.append({"record": LEGACY_CONCEPT_DRIFT, "expr": selector(
                recording_name("model_name", CONCEPT_PSI_RECORD, first), model_name=model_name)})
    return rules
