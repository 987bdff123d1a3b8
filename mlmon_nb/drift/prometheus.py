"""Drift from Prometheus: a window's (or a range's) bucket counts, read and judged.

The only module of :mod:`mlmon_nb.drift` that performs I/O, through a :class:`QuerySource`
(a :class:`mlmon_nb.prom.Prometheus`, or anything with its ``query``/``range`` methods). The
value for a window equals the recording rules' value at its end (see
:func:`mlmon_nb.drift.drift_recording_rules`).
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import pandas as pd

from ..baseline import Baseline
from ..config import Thresholds
from ..errors import DriftError
from ..metrics import RECONSTRUCTION_BASELINE_VALUES, RECONSTRUCTION_ERROR, le_label
from ..promql import matcher, selector
from ..promql.baselines import served_increase
from .bins import BinCounts, bin_counts, binned_drift, counts_drift
from .expressions import category_counts_query, confidence_buckets_query, feature_buckets_query
from .methods import MIN_SAMPLES
from .multivariate import ReconstructionDrift, reconstruction_drift
from .significance import DEFAULT_ALPHA

__all__ = [
    "QuerySource",
    "window_counts",
    "window_drift",
    "drift_series",
    "reconstruction_query",
    "window_reconstruction",
]


@runtime_checkable
class QuerySource(Protocol):
    """What drift reads Prometheus through: instant and range queries returning tidy frames
    (one row per series and point, label columns plus ``value`` and, for ranges,
    ``timestamp``)."""

    def query(self, promql: str, time: Any = None) -> pd.DataFrame: ...

    def range(self, promql: str, start: Any, end: Any, step: Any) -> pd.DataFrame: ...


def window_counts(prom: QuerySource, baseline: Baseline, *, time: Any = None, window: str = "1h",
                  model_name: str | None = None) -> dict[str, BinCounts]:
    """Every feature's counts on the baseline's bins over the ``window`` ending at ``time``."""
    model = model_name or baseline.model_name
    return bin_counts(baseline, prom.query(feature_buckets_query(model, window), time=time),
                      confidence=prom.query(confidence_buckets_query(model, window), time=time),
                      categories=prom.query(category_counts_query(model, window), time=time))


def window_drift(prom: QuerySource, baseline: Baseline, *, time: Any = None, window: str = "1h",
                 model_name: str | None = None, tests: Sequence[str] = ("ks", "psi"),
                 thresholds: Mapping[str, Thresholds] | None = None,
                 min_samples: int = MIN_SAMPLES, alpha: float = DEFAULT_ALPHA) -> pd.DataFrame:
    """Binned drift of the ``window`` ending at ``time`` (default now), from Prometheus;
    ``critical`` is what chance reaches at ``alpha`` (the config's ``drift.alpha``).

    Equals the recording rules' value at ``time`` (see ``drift_recording_rules``).
    """
    counts = window_counts(prom, baseline, time=time, window=window, model_name=model_name)
    return counts_drift(counts, tests=tests, thresholds=thresholds, min_samples=min_samples,
                        alpha=alpha)


def drift_series(prom: QuerySource, baseline: Baseline, start: Any, end: Any, step: str = "1h",
                 *, window: str | None = None, model_name: str | None = None,
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


def reconstruction_query(model_name: str, window: str = "1h", suffix: str = "_bucket") -> str:
    """The reconstruction error's bucket increases (or ``_sum``) over ``window``, summed across
    replicas, of the versions serving a baseline now, as the rules sum them."""
    by = ("le",) if suffix == "_bucket" else ()
    own = matcher("model_name", model_name)
    return served_increase(selector(RECONSTRUCTION_ERROR.series(suffix), own), window, by,
                           RECONSTRUCTION_BASELINE_VALUES, own)


def window_reconstruction(prom: QuerySource, baseline: Baseline, *, time: Any = None,
                          window: str = "1h", model_name: str | None = None,
                          alpha: float = DEFAULT_ALPHA) -> ReconstructionDrift:
    """The multivariate check of the ``window`` ending at ``time``, from the raw buckets and the
    baseline file: equals the recording rules' value at ``time``
    (:func:`mlmon_nb.drift.multivariate_rules`)."""
    joint = baseline.multivariate
    if joint is None:
        raise DriftError("this baseline has no joint structure (built before the multivariate "
                         "check, or with fewer than two numeric features); rebuild it with "
                         "`mlmon-nb baseline build`")
    model = model_name or baseline.model_name
    frame = prom.query(reconstruction_query(model, window), time=time)
    counts = {str(le): float(v) for le, v in zip(frame.get("le", []), frame.get("value", []))}
    total = prom.query(reconstruction_query(model, window, "_sum"), time=time)
    finite_les = [le_label(e) for e in joint.edges]
    foreign = sorted(set(counts) - {*finite_les, "+Inf"})
    if foreign:
        raise DriftError(f"the service's reconstruction-error buckets ({', '.join(foreign[:3])}, "
                         f"…) are another baseline's; rerun with the baseline whose id "
                         f"ml_model_info shows")
    finite = [counts.get(le, 0.0) for le in finite_les]
    return reconstruction_drift(finite, counts.get("+Inf", 0.0), joint.cumulative, joint.n,
                                total=float(total["value"].iloc[0]) if len(total) else None,
                                reference_mean=joint.reference_mean,
                                reference_std=joint.reference_std, alpha=alpha)
