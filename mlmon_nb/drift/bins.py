"""Binned drift from histogram counts, pure on tidy frames (what Prometheus queries return).

The ``ml_feature_value`` histogram's buckets are the baseline's quantile edges, so a window's
increase per bucket gives binned KS (a lower bound of the exact KS: the supremum is taken only
at the edges) and PSI on the same bins, summed across replicas; the confidence histogram gives
concept drift and the category counters categorical drift. :func:`bin_counts` turns the tidy
frames into :class:`BinCounts`; :func:`counts_drift` applies the registry's binned tests with
the same arithmetic as the recording rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..baseline import Baseline
from ..config import Thresholds
from ..errors import DriftError
from ..metrics import le_label
from .compare import judge, thresholds_for
from .methods import CONCEPT_FEATURE, MIN_SAMPLES, FeatureKind, get_method
from .significance import DEFAULT_ALPHA, ks_critical, psi_critical

__all__ = [
    "BinCounts",
    "bin_counts",
    "binned_statistic",
    "binned_drift",
    "counts_drift",
    "DRIFT_COLUMNS",
]

DRIFT_COLUMNS = ["timestamp", "feature", "kind", "test", "statistic", "n", "insufficient",
                 "severity", "critical"]


@dataclass(frozen=True)
class BinCounts:
    """One feature's window counts on the baseline's bins (rows: timestamps)."""

    feature: str
    kind: FeatureKind
    labels: tuple[str, ...]  # upper edge per bin ("+Inf" last) or category
    reference: np.ndarray  # the baseline's share per bin
    timestamps: np.ndarray
    counts: np.ndarray  # T × bins
    totals: np.ndarray  # T: the window's count (the +Inf bucket as read)
    cumulative: np.ndarray | None = None  # T × edges, as read (for binned KS); None for categories
    reference_n: float = 0.0  # the baseline's count behind ``reference`` (0: unknown)

    def statistic(self, test: str, reference: np.ndarray | None = None) -> np.ndarray:
        """A binned test per timestamp against the baseline (or another ``reference``)."""
        return binned_statistic(test, self.reference if reference is None else reference,
                                self.counts, self.totals, self.cumulative)

    @property
    def shares(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.counts / self.totals[:, None]


def binned_statistic(test: str, reference: np.ndarray, counts: np.ndarray, totals: np.ndarray,
                     cumulative: np.ndarray | None = None) -> np.ndarray:
    """A binned test (one the registry can compute from bins) per row of ``counts`` against
    ``reference`` shares.

    With ``cumulative`` (counts at each finite edge, as read from Prometheus) KS is computed
    exactly as the recording rule does; otherwise from the cumulated bin counts.
    """
    from_bins = get_method(test, binned=True).from_bins
    assert from_bins is not None  # get_method(binned=True) raised otherwise
    return from_bins(np.asarray(reference, float),
                            np.atleast_2d(np.asarray(counts, float)),
                            np.atleast_1d(np.asarray(totals, float)), cumulative)


def _cumulative_at(frame: pd.DataFrame, edges: np.ndarray, what: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps, cumulative counts at ``edges`` (T × k), totals (T)) from tidy bucket rows."""
    les = frame["le"].astype(str).map(lambda s: float(s.replace("Inf", "inf")))
    # dropna=False keeps the NaT timestamp of an instant frame read without one
    table = frame.assign(_le=les.to_numpy()).pivot_table(index="timestamp", columns="_le",
                                                          values="value", aggfunc="sum",
                                                          dropna=False)
    wanted = list(edges) + [float("inf")]
    missing = [e for e in wanted if e not in table.columns]
    if missing:
        raise DriftError(f"the {what} histogram has no buckets at {missing[:5]} of the baseline's "
                         f"edges: the service exports another baseline's buckets; compare with "
                         f"the baseline named by ml_model_info's baseline_id")
    values = table[wanted].to_numpy(dtype=float)
    return table.index.to_numpy(), values[:, :-1], values[:, -1]


def _from_cumulative(feature: str, kind: FeatureKind, edges: Sequence[float] | np.ndarray,
                     reference: np.ndarray, frame: pd.DataFrame,
                     reference_n: float = 0.0) -> BinCounts:
    ts, cum, totals = _cumulative_at(frame, np.asarray(edges, float), f"{kind} {feature!r}")
    # bin counts as (S_i − S_{i−1}), the last as T − S_k: the recording rules' arithmetic
    counts = np.diff(np.concatenate([np.zeros((len(totals), 1)), cum, totals[:, None]], axis=1),
                     axis=1)
    labels = tuple(le_label(e) for e in edges) + ("+Inf",)
    return BinCounts(feature, kind, labels, np.asarray(reference, float), ts, counts, totals, cum,
                     float(reference_n))


def _stamped(frame: pd.DataFrame) -> pd.DataFrame:
    if "timestamp" in frame.columns:
        return frame
    return frame.assign(timestamp=pd.Series(pd.NaT, index=frame.index))


def bin_counts(baseline: Baseline, buckets: pd.DataFrame | None = None, *,
               confidence: pd.DataFrame | None = None,
               categories: pd.DataFrame | None = None) -> dict[str, BinCounts]:
    """Tidy Prometheus frames → :class:`BinCounts` per feature (pure).

    ``buckets``: ``feature``, ``le``, ``value`` (cumulative counts, e.g. a window's increase),
    optionally ``timestamp``; ``confidence``: ``le``, ``value`` of the confidence histogram
    (concept drift, as feature ``CONCEPT_FEATURE``); ``categories``: ``feature``,
    ``category``, ``value``. Buckets that do not match the baseline's edges are a DriftError.
    """
    out: dict[str, BinCounts] = {}
    if buckets is not None and not buckets.empty:
        buckets = _stamped(buckets)
        for feature, spec in baseline.numeric.items():
            part = buckets[buckets["feature"].astype(str) == feature]
            if not part.empty:
                out[feature] = _from_cumulative(feature, FeatureKind.NUMERIC, spec.edges,
                                                spec.fractions, part, spec.n)
    if confidence is not None and not confidence.empty and baseline.confidence_fractions is not None:
        out[CONCEPT_FEATURE] = _from_cumulative(CONCEPT_FEATURE, FeatureKind.CONCEPT,
                                                baseline.confidence_edges,
                                                baseline.confidence_fractions,
                                                _stamped(confidence), baseline.n_rows)
    if categories is not None and not categories.empty:
        categories = _stamped(categories)
        for feature, cat in baseline.categorical.items():
            part = categories[categories["feature"].astype(str) == feature]
            if part.empty:
                continue
            table = part.pivot_table(index="timestamp", columns="category", values="value",
                                     aggfunc="sum", dropna=False)
            table = table.reindex(columns=list(cat.labels), fill_value=0).fillna(0)
            counts = table.to_numpy(dtype=float)
            out[feature] = BinCounts(feature, FeatureKind.CATEGORICAL, cat.labels,
                                     cat.fractions, table.index.to_numpy(), counts,
                                     counts.sum(axis=1), reference_n=float(cat.n))
    return out


def counts_drift(counts: Mapping[str, BinCounts], *, tests: Sequence[str] = ("ks", "psi"),
                 thresholds: Mapping[str, Thresholds] | None = None,
                 min_samples: int = MIN_SAMPLES, alpha: float = DEFAULT_ALPHA) -> pd.DataFrame:
    """Binned drift of :class:`BinCounts` against their baseline (the rows of
    :func:`binned_drift`); each test only where its kinds include the feature's.

    ``critical`` is the value chance alone exceeds with probability ``alpha`` for the window's
    ``n`` and the baseline's count (KS and PSI; NaN for other tests or an unknown baseline
    count), as the drift alerts' recording rules compute it."""
    methods = [get_method(t, binned=True) for t in tests]
    limits = thresholds_for(None, thresholds)
    rows: list[dict] = []
    for bins in counts.values():
        for method in (m for m in methods if m.applies_to(bins.kind)):
            stat = bins.statistic(method.name)
            for t, v, n in zip(bins.timestamps, stat, bins.totals):
                short = not n >= min_samples
                rows.append({"timestamp": t, "feature": bins.feature, "kind": str(bins.kind),
                             "test": method.name, "statistic": float(v), "n": float(n),
                             "insufficient": short,
                             "severity": judge(limits, method.name, v, short),
                             "critical": _critical(method.name, n, bins, alpha)})
    return pd.DataFrame(rows, columns=DRIFT_COLUMNS)


def _critical(test: str, n: float, bins: BinCounts, alpha: float) -> float:
    """What chance alone gives for ``test`` on ``n`` values against the baseline's count."""
    if bins.reference_n <= 0 or test not in ("ks", "psi"):
        return float("nan")
    if test == "ks":
        return float(ks_critical(n, bins.reference_n, alpha))
    return float(psi_critical(n, bins.reference_n, len(bins.labels), alpha))


def binned_drift(baseline: Baseline, buckets: pd.DataFrame | None, *,
                 confidence: pd.DataFrame | None = None, categories: pd.DataFrame | None = None,
                 tests: Sequence[str] = ("ks", "psi"),
                 thresholds: Mapping[str, Thresholds] | None = None,
                 min_samples: int = MIN_SAMPLES) -> pd.DataFrame:
    """Binned drift per timestamp and feature from tidy bucket frames (pure; see
    :func:`bin_counts`).

    Returns ``timestamp``, ``feature``, ``kind``, ``test``, ``statistic``, ``n`` (the window's
    count behind it), ``insufficient``, ``severity``, ``critical`` (see :func:`counts_drift`).
    KS applies to binned numeric features only.
    """
    return counts_drift(bin_counts(baseline, buckets, confidence=confidence, categories=categories),
                        tests=tests, thresholds=thresholds, min_samples=min_samples)
