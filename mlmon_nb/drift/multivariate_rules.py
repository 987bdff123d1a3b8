"""The multivariate check's recording rules, written once for every model.

Per window: each model's ``ml_reconstruction_error`` bucket counts summed across replicas, their
count n, the mean error, the binned KS against the reference buckets the service exports
(``ml_reconstruction_error_baseline_ratio``) and the critical value chance gives for n and the
reference's m at each model's drift alpha (the univariate drift rules' formulas,
:mod:`mlmon_nb.drift.expressions`, on one histogram per model), and the mean error chance
reaches: the baseline's mean + z₁₋α·σ·sqrt(1/n + 1/m) (:mod:`mlmon_nb.drift.multivariate`).
Nothing in them names a model or a bucket edge.
"""

from __future__ import annotations

from typing import Sequence

from ..metrics import (
    RECONSTRUCTION_BASELINE_MEAN,
    RECONSTRUCTION_BASELINE_RATIO,
    RECONSTRUCTION_BASELINE_STDDEV,
    RECONSTRUCTION_BASELINE_VALUES,
    RECONSTRUCTION_ERROR,
    recording_name,
)
from ..promql import number, ratio, selector
from ..promql.baselines import one_baseline, served_increase
from .expressions import MODEL_LEVEL, Alphas, _by_alpha
from .significance import DEFAULT_ALPHA, ks_coefficient, mean_coefficient

__all__ = ["MV_KS_RULE", "MV_N_RULE", "MV_MEAN_RULE", "MV_KS_CRITICAL_RULE", "MV_MEAN_CRITICAL_RULE",
           "reconstruction_buckets_record", "reconstruction_ks_expr", "reconstruction_n_expr",
           "multivariate_rules"]

KS_RECORD = "ml_reconstruction_error_ks"
N_RECORD = "ml_reconstruction_error_n"
MEAN_RECORD = "ml_reconstruction_error_mean"
KS_CRITICAL_RECORD = "ml_reconstruction_error_ks_critical"
MEAN_CRITICAL_RECORD = "ml_reconstruction_error_mean_critical"
# the 1h rules the alert catalogue reads (MultivariateDriftDetected)
MV_KS_RULE = recording_name(MODEL_LEVEL, KS_RECORD, "1h")
MV_N_RULE = recording_name(MODEL_LEVEL, N_RECORD, "1h")
MV_MEAN_RULE = recording_name(MODEL_LEVEL, MEAN_RECORD, "1h")
MV_KS_CRITICAL_RULE = recording_name(MODEL_LEVEL, KS_CRITICAL_RECORD, "1h")
MV_MEAN_CRITICAL_RULE = recording_name(MODEL_LEVEL, MEAN_CRITICAL_RECORD, "1h")


def reconstruction_buckets_record(window: str) -> str:
    """Each model's error bucket counts over ``window`` summed across replicas."""
    return recording_name("model_name_le", RECONSTRUCTION_ERROR.series("_bucket"),
                          f"increase{window}")


def reconstruction_n_expr(window: str, *matchers: str) -> str:
    """The predictions each model's KS of the reconstruction error rests on over ``window``,
    from the raw buckets: those of its versions serving a baseline now, as the rules count."""
    return served_increase(selector(RECONSTRUCTION_ERROR.series("_bucket"), 'le="+Inf"',
                                    *matchers), window, ("model_name",),
                           RECONSTRUCTION_BASELINE_VALUES, *matchers)


def reconstruction_ks_expr(window: str = "1h", *matchers: str, recorded: bool = True) -> str:
    """max over edges of |the window's cumulative share − the baseline's| per model, from the
    recorded counts and n; ``recorded=False`` from the raw buckets (a query over any window)."""
    if recorded:
        finite = selector(reconstruction_buckets_record(window), 'le!="+Inf"', *matchers)
        n = selector(recording_name(MODEL_LEVEL, N_RECORD, window), *matchers)
    else:
        bucket = RECONSTRUCTION_ERROR.series("_bucket")
        finite = served_increase(selector(bucket, 'le!="+Inf"', *matchers), window,
                                 ("model_name", "le"), RECONSTRUCTION_BASELINE_VALUES, *matchers)
        n = reconstruction_n_expr(window, *matchers)
    reference = (f"max by (model_name, le) "
                 f"({one_baseline(selector(RECONSTRUCTION_BASELINE_RATIO.name, *matchers))})")
    return (f"max by (model_name) (abs(\n"
            f"  ({finite} / ignoring (le) group_left () {n})\n"
            f"  - on (model_name, le) group_left () {reference}\n))")


def _critical(window: str, alphas: Alphas) -> str:
    """c(α)·sqrt((n+m)/(n·m)) (``significance.ks_critical``), m the reference's rows."""
    def one(alpha: float, matchers: Sequence[str]) -> str:
        n = selector(recording_name(MODEL_LEVEL, N_RECORD, window), *matchers)
        m = (f"on (model_name) group_left () max by (model_name) "
             f"({one_baseline(RECONSTRUCTION_BASELINE_VALUES.name)})")
        return f"{number(ks_coefficient(alpha))} * sqrt(({n} + {m}) / ({n} * {m}))"
    return _by_alpha(alphas, one)


def _mean_critical(window: str, alphas: Alphas) -> str:
    """mean + z₁₋α·σ·sqrt(1/n + 1/m) of the baseline's errors (``ReconstructionDrift``)."""
    def one(alpha: float, matchers: Sequence[str]) -> str:
        n = selector(recording_name(MODEL_LEVEL, N_RECORD, window), *matchers)
        m = (f"on (model_name) group_left () max by (model_name) "
             f"({one_baseline(RECONSTRUCTION_BASELINE_VALUES.name)})")
        mean, std = (f"on (model_name) group_left () max by (model_name) "
                     f"({one_baseline(spec.name)})"
                     for spec in (RECONSTRUCTION_BASELINE_MEAN, RECONSTRUCTION_BASELINE_STDDEV))
        return (f"(0 * {n} + {mean}) + {number(mean_coefficient(alpha))} * (0 * {n} + {std}) "
                f"* sqrt(1 / {n} + 1 / (0 * {n} + {m}))")
    return _by_alpha(alphas, one)


def multivariate_rules(windows: Sequence[str] = ("1h",), *,
                       alphas: Alphas = ((DEFAULT_ALPHA, ()),)) -> list[dict]:
    """The recording rules (``{"record", "expr", "labels"}``, in evaluation order) of every
    window: ``model_name_le:ml_reconstruction_error_bucket:increase<w>``, then
    ``model_name:ml_reconstruction_error_{n,mean,ks,ks_critical,mean_critical}:<w>``."""
    rules = []
    for w in windows:
        n = recording_name(MODEL_LEVEL, N_RECORD, w)
        everything = selector(reconstruction_buckets_record(w), 'le="+Inf"')
        rules += [
            {"record": reconstruction_buckets_record(w),
             "expr": served_increase(RECONSTRUCTION_ERROR.series("_bucket"), w,
                                     ("model_name", "le"), RECONSTRUCTION_BASELINE_VALUES)},
            {"record": n, "expr": f"sum by (model_name) ({everything})"},
            {"record": recording_name(MODEL_LEVEL, MEAN_RECORD, w),
             "expr": ratio(served_increase(RECONSTRUCTION_ERROR.series("_sum"), w,
                                           ("model_name",), RECONSTRUCTION_BASELINE_VALUES),
                           f"({n} > 0)", bad_may_be_absent=False)},
            {"record": recording_name(MODEL_LEVEL, KS_RECORD, w), "expr": reconstruction_ks_expr(w)},
            {"record": recording_name(MODEL_LEVEL, KS_CRITICAL_RECORD, w),
             "expr": _critical(w, alphas)},
            {"record": recording_name(MODEL_LEVEL, MEAN_CRITICAL_RECORD, w),
             "expr": _mean_critical(w, alphas)}]
    return [{**rule, "labels": {}} for rule in rules]
