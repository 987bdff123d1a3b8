"""The PromQL of drift: the bucket queries the rerun reads and the recording rules' expressions.

Every selector, ``sum … (increase(…))`` and number literal is written with
:mod:`mlmon_nb.promql`, so label values are escaped and literals round-trip exactly: a rule's
value equals the Python rerun on the same counts (the suite checks it to 1e-9).

- :func:`feature_buckets_query`, :func:`confidence_buckets_query`,
  :func:`category_counts_query`: a window's counts per bin, summed across replicas;
- :func:`ks_rule_expr`, :func:`psi_rule_expr`, :func:`concept_psi_rule_expr`: one feature's (or
  the confidence histogram's) binned KS and PSI against the baseline's shares, written as
  literals;
- the record names (``level:metric:window``): :data:`KS_RECORD`, :data:`PSI_RECORD`,
  :data:`CONCEPT_PSI_RECORD` and the 1h rules the alert catalogue reads, :data:`KS_RULE`,
  :data:`PSI_RULE`, :data:`CONCEPT_PSI_RULE`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..baseline import Baseline
from ..errors import DriftError
from ..metrics import (
    CONFIDENCE,
    CONFIDENCE_BUCKETS,
    FEATURE_CATEGORY,
    FEATURE_VALUE,
    le_label,
    recording_name,
)
from ..promql import matcher, number, quote, selector, sum_increase
from ..queries import confidence_buckets
from .significance import DEFAULT_ALPHA, ks_coefficient, psi_chi2
from .stats import PSI_EPSILON

__all__ = [
    "FEATURE_LEVEL",
    "MODEL_LEVEL",
    "KS_RECORD",
    "PSI_RECORD",
    "CONCEPT_PSI_RECORD",
    "KS_RULE",
    "PSI_RULE",
    "CONCEPT_PSI_RULE",
    "feature_buckets_query",
    "confidence_buckets_query",
    "category_counts_query",
    "ks_rule_expr",
    "psi_rule_expr",
    "concept_psi_rule_expr",
    "N_RECORD",
    "KS_CRITICAL_RECORD",
    "PSI_CRITICAL_RECORD",
    "CONCEPT_N_RECORD",
    "CONCEPT_PSI_CRITICAL_RECORD",
    "N_RULE",
    "KS_CRITICAL_RULE",
    "CONCEPT_N_RULE",
    "CONCEPT_PSI_CRITICAL_RULE",
    "count_rule_expr",
    "concept_count_rule_expr",
    "ks_critical_expr",
    "psi_critical_expr",
    "concept_psi_critical_expr",
]

FEATURE_LEVEL = "model_name_feature"  # the level of per-feature rules (one series per feature)
MODEL_LEVEL = "model_name"
KS_RECORD = "ml_feature_drift_ks"
PSI_RECORD = "ml_feature_drift_psi"
CONCEPT_PSI_RECORD = "ml_concept_drift_psi"
# the 1h rules the alert catalogue reads (DataDriftDetected, ConceptDriftDetected)
KS_RULE = recording_name(FEATURE_LEVEL, KS_RECORD, "1h")
PSI_RULE = recording_name(FEATURE_LEVEL, PSI_RECORD, "1h")
CONCEPT_PSI_RULE = recording_name(MODEL_LEVEL, CONCEPT_PSI_RECORD, "1h")
# the evidence behind them: the window's count n, and the value chance alone gives for n
N_RECORD = "ml_feature_drift_n"
KS_CRITICAL_RECORD = "ml_feature_drift_ks_critical"
PSI_CRITICAL_RECORD = "ml_feature_drift_psi_critical"
CONCEPT_N_RECORD = "ml_concept_drift_n"
CONCEPT_PSI_CRITICAL_RECORD = "ml_concept_drift_psi_critical"
N_RULE = recording_name(FEATURE_LEVEL, N_RECORD, "1h")
KS_CRITICAL_RULE = recording_name(FEATURE_LEVEL, KS_CRITICAL_RECORD, "1h")
CONCEPT_N_RULE = recording_name(MODEL_LEVEL, CONCEPT_N_RECORD, "1h")
CONCEPT_PSI_CRITICAL_RULE = recording_name(MODEL_LEVEL, CONCEPT_PSI_CRITICAL_RECORD, "1h")

_FEATURE_BY = ("model_name", "feature")


def feature_buckets_query(model_name: str, window: str = "1h") -> str:
    """Each feature's bucket increases over ``window``, summed across replicas."""
    return sum_increase(selector(FEATURE_VALUE.series("_bucket"), model_name=model_name), window,
                        ("feature", "le"))


def confidence_buckets_query(model_name: str, window: str = "1h") -> str:
    """The confidence histogram's bucket increases over ``window``, summed across replicas."""
    return confidence_buckets(model_name, window)


def category_counts_query(model_name: str, window: str = "1h") -> str:
    """Each categorical feature's count per category over ``window``, summed across replicas."""
    return sum_increase(selector(FEATURE_CATEGORY.sample, model_name=model_name), window,
                        ("feature", "category"))


def _bucket_sum(metric: str, labels: Mapping[str, str], le: str, window: str,
                by: Sequence[str]) -> str:
    return sum_increase(selector(metric, **labels, le=le), window, by)


def _psi_terms(metric: str, labels: Mapping[str, str], edges: Sequence[float],
               ref_fractions: np.ndarray, window: str, by: Sequence[str]) -> str:
    """Σ (c'−r')·ln(c'/r') over the bins, with c_i = (S_i − S_{i−1}) / S_+Inf, clipped at ε."""
    sums = [_bucket_sum(metric, labels, le_label(e), window, by) for e in edges]
    total = _bucket_sum(metric, labels, "+Inf", window, by)
    uppers = sums + [total]
    terms = []
    for i, ref in enumerate(np.maximum(ref_fractions, PSI_EPSILON)):
        count = uppers[i] if i == 0 else f"({uppers[i]} - {uppers[i - 1]})"
        cur = f"clamp_min({count} / {total}, {number(PSI_EPSILON)})"
        terms.append(f"({cur} - {number(ref)}) * ln({cur} / {number(ref)})")
    return "\n+ ".join(terms)


def _numeric_spec(baseline: Baseline, feature: str):
    spec = baseline.numeric.get(feature)
    if spec is None:
        raise DriftError(f"feature {feature!r} is not a numeric feature of baseline "
                         f"{baseline.baseline_id}; it has {list(baseline.numeric)}")
    return spec


def ks_rule_expr(model_name: str, feature: str, baseline: Baseline, window: str = "1h") -> str:
    """Binned KS of one feature over ``window``: max over edges of |current − baseline| share."""
    spec = _numeric_spec(baseline, feature)
    metric = FEATURE_VALUE.series("_bucket")
    labels = {"model_name": model_name, "feature": feature}
    finite = selector(metric, matcher("le", "+Inf", "!="), **labels)  # every finite bucket
    total = _bucket_sum(metric, labels, "+Inf", window, _FEATURE_BY)
    reference = " or ".join(
        f'label_replace(vector({number(c)}), {quote("le")}, {quote(le_label(e))}, "", "")'
        for e, c in zip(spec.edges, spec.cumulative))
    return (f"max by (model_name, feature) (abs(\n"
            f"  ({sum_increase(finite, window, (*_FEATURE_BY, 'le'))}\n"
            f"   / ignoring(le) group_left {total})\n"
            f"  - on(le) group_left() ({reference})\n))")


def psi_rule_expr(model_name: str, feature: str, baseline: Baseline, window: str = "1h") -> str:
    """PSI of one feature over ``window`` on the baseline's bins (ε-clipped like ``stats.psi``)."""
    spec = _numeric_spec(baseline, feature)
    return _psi_terms(FEATURE_VALUE.series("_bucket"), {"model_name": model_name, "feature": feature},
                      spec.edges, spec.fractions, window, _FEATURE_BY)


def concept_psi_rule_expr(model_name: str, baseline: Baseline, window: str = "1h") -> str:
    """PSI of the confidence histogram over ``window`` against the baseline's confidences."""
    if baseline.confidence_fractions is None:
        raise DriftError(f"baseline {baseline.baseline_id} has no confidence distribution; "
                         f"rebuild it with --confidence COLUMN")
    return _psi_terms(CONFIDENCE.series("_bucket"), {"model_name": model_name},
                      CONFIDENCE_BUCKETS, baseline.confidence_fractions, window, ("model_name",))


# -- the evidence: counts and critical values ---------------------------------------------------

def count_rule_expr(model_name: str, feature: str, window: str = "1h") -> str:
    """How many values of one feature the ``window`` holds (n of its KS and PSI)."""
    return _bucket_sum(FEATURE_VALUE.series("_bucket"),
                       {"model_name": model_name, "feature": feature}, "+Inf", window,
                       _FEATURE_BY)


def concept_count_rule_expr(model_name: str, window: str = "1h") -> str:
    """How many confidences the ``window`` holds (n of the concept-drift PSI)."""
    return _bucket_sum(CONFIDENCE.series("_bucket"), {"model_name": model_name}, "+Inf", window,
                       ("model_name",))


def ks_critical_expr(model_name: str, feature: str, baseline: Baseline, window: str = "1h",
                     alpha: float = DEFAULT_ALPHA) -> str:
    """c(α)·sqrt((n+m)/(n·m)) from the recorded n of the window and the baseline's m values
    (``stats.ks_critical``): the KS chance alone exceeds with probability α; +Inf at n = 0."""
    m = number(_numeric_spec(baseline, feature).n)
    n = selector(recording_name(FEATURE_LEVEL, N_RECORD, window), model_name=model_name,
                 feature=feature)
    return f"{number(ks_coefficient(alpha))} * sqrt(({n} + {m}) / ({n} * {m}))"


def psi_critical_expr(model_name: str, feature: str, baseline: Baseline, window: str = "1h",
                      alpha: float = DEFAULT_ALPHA) -> str:
    """χ²₁₋α(bins−1)·(1/n + 1/m) of one feature (``stats.psi_critical``), the quantile computed
    here, at generation time."""
    spec = _numeric_spec(baseline, feature)
    n = selector(recording_name(FEATURE_LEVEL, N_RECORD, window), model_name=model_name,
                 feature=feature)
    chi2 = number(psi_chi2(len(spec.edges) + 1, alpha))
    return f"{chi2} * (1 / {n} + 1 / {number(spec.n)})"


def concept_psi_critical_expr(model_name: str, baseline: Baseline, window: str = "1h",
                              alpha: float = DEFAULT_ALPHA) -> str:
    """χ²₁₋α(bins−1)·(1/n + 1/m) of the confidence histogram, m the baseline's rows."""
    if baseline.confidence_fractions is None:
        raise DriftError(f"baseline {baseline.baseline_id} has no confidence distribution; "
                         f"rebuild it with --confidence COLUMN")
    n = selector(recording_name(MODEL_LEVEL, CONCEPT_N_RECORD, window), model_name=model_name)
    chi2 = number(psi_chi2(len(CONFIDENCE_BUCKETS) + 1, alpha))
    return f"{chi2} * (1 / {n} + 1 / {number(baseline.n_rows)})"
