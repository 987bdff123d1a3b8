"""The estimated-accuracy recording rules: what the accuracy of live traffic should be, from its
confidences alone, through each model's reliability curve (confidence-based performance
estimation). Written once for every model: the curve is joined from the series the service
exports (``ml_confidence_calibration_offset`` and ``_slope``), so a model without a calibration
gets no estimate.

For a window, with ``S`` the confidences' sum (the histogram's ``_sum``; for a curve that scales
the class scores by a temperature, ``ml_confidence_calibration_scaling``, the sum of the scaled
top scores, ``ml_prediction_scaled_confidence_total``), ``c_b`` the count of
bucket ``b`` (both summed across replicas), ``β`` the curve's common within-bucket slope
(``ml_confidence_calibration_slope``) and ``o_b`` its offset in bucket ``b`` (calibration gap +
(1 − β) × mean confidence − γ × mean purity, ``ml_confidence_calibration_offset``; see
:mod:`mlmon_nb.estimated.calibration`), and for a curve fitted with the class scores ``γ`` its
slope on their purity (``ml_confidence_calibration_purity_slope``) and ``Z`` the window's purity
sum (``ml_prediction_purity_total``)::

    (β S + γ Z + Σ_b o_b c_b) / Σ_b c_b

(``γ Z`` is 0 for a curve without a purity slope; a curve with one and a window without the
purity counter, a service older than the baseline, gets no estimate rather than a wrong one)

clamped to [0, 1], which equals :meth:`Calibration.estimate` on the same counts and sum (the
suite checks it to 1e-9); an empty window gives no series rather than NaN. The buckets ``b`` are
the calibration's: the live histogram is differenced at the edges its series carry (``le`` and
the edge below, ``lower``), so for a baseline saved with the earlier 0.1-wide buckets the finer
edges near 1 are left out, not counted twice, and a service exporting only the 0.1-wide buckets
gives the same value. Its 95 % half-width,
from the gaps' standard errors ``se_b`` (``ml_confidence_calibration_gap_stderr``) and the
window's noise, equals :attr:`AccuracyEstimate.margin`::

    1.96 · sqrt((Σ_b se_b c_b / Σ_b c_b)² + a (1 − a) / Σ_b c_b)
 The bucket counts are
recorded here per window (:func:`mlmon_nb.promql.histograms.confidence_buckets_record`), the 1h ones for the
concept-drift rules too, and so are their counts per bucket of the curve
(:func:`calibration_bins_record`), which the estimate, its half-width and the thin share weigh.

Per window ``w`` of :data:`~mlmon_nb.promql.names.ESTIMATED_ACCURACY_WINDOWS`:
``model_name:ml_estimated_accuracy:<w>``, its half-width
``model_name:ml_estimated_accuracy_margin:<w>`` (for a curve fitted with the class scores, from
the window's distances to the reference rows recorded beside it,
``model_name:ml_estimated_accuracy_{confidence,purity}_distance:<w>``, read three times by the
half-width), the share of the window's predictions on thin
parts of the curve (buckets with fewer than :data:`THIN_ROWS` labelled rows,
``ml_confidence_calibration_rows``; over :data:`THIN_SHARE` the estimate is uncertain)
``model_name:ml_estimated_accuracy_thin_share:<w>``, and the prediction count it rests on
(``model_name:ml_predictions:increase<w>``; the 30m one is the recording stage's).

For the models running more than one version now, :func:`version_estimated_accuracy_rules`
records the same per version over :data:`VERSION_WINDOWS` (the alert's 30m) under
``model_name_model_version…`` names (:data:`VERSION_SCOPE`): each version's bucket counts through
the model's one curve (read without the versions' ``model_version``, for the models whose versions
run one baseline), so a canary is judged on its own predictions; a model running one version gets
no series more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .. import promql
from ..metrics import (
    CALIBRATION_GAP_STDERR,
    CALIBRATION_MEAN,
    CALIBRATION_MEAN_PURITY,
    CALIBRATION_OFFSET,
    CALIBRATION_PURITY_SLOPE,
    CALIBRATION_ROWS,
    CALIBRATION_SCALING,
    CALIBRATION_SLOPE,
    CALIBRATION_SLOPE_COVARIANCE,
    CONFIDENCE,
    PREDICTIONS,
    PURITY,
    SCALED_CONFIDENCE,
    SLOPE_COVARIANCE_TERMS,
    recording_name,
)
from ..promql.baselines import one_baseline
from ..promql.evidence import EVIDENCE
from ..promql.histograms import bins, confidence_buckets_record, confidence_buckets_rule_expr
from ..promql.names import (
    ESTIMATED_ACCURACY_ALERT_WINDOW,
    ESTIMATED_ACCURACY_WINDOWS,
    estimated_accuracy,
    estimated_accuracy_margin,
    prediction_count,
    versioned,
)
from ..promql.rule import RecordingRule
from .reliability import Z_95

__all__ = ["estimated_accuracy_expr", "estimated_accuracy_margin_expr",
           "estimated_accuracy_rules", "thin_share", "thin_share_expr", "RECORDED_COUNT_WINDOWS",
           "THIN_ROWS", "THIN_SHARE", "Scope", "MODEL_SCOPE", "VERSION_SCOPE", "VERSION_WINDOWS",
           "version_estimated_accuracy_rules", "calibration_bins_record", "slope_distance",
           "slope_distance_expr", "SLOPE_COVARIATES"]

# prediction counts the recording stage already records (``generate._recording``)
RECORDED_COUNT_WINDOWS: tuple[str, ...] = ("30m",)
# a confidence bucket with fewer labelled reference rows than this is a thin part of the curve
THIN_ROWS = 30
# the share of a window's predictions on thin parts of the curve beyond which the estimate is
# uncertain (its band rests on the curve's prior there)
THIN_SHARE = 0.2


def thin_share(window: str) -> str:
    """The share of a model's predictions over ``window`` in confidence buckets where its curve
    rests on fewer than :data:`THIN_ROWS` labelled rows:
    ``model_name:ml_estimated_accuracy_thin_share:<w>``."""
    return recording_name("model_name", "ml_estimated_accuracy_thin_share", window)


@dataclass(frozen=True)
class Scope:
    """Whose predictions an estimate judges: each model's (all its versions), or each version's
    of a model running several (``by`` also ``model_version``: a canary on its own traffic,
    through the model's one reliability curve). ``versioned`` scopes record under
    ``model_name_model_version…`` names (:func:`~mlmon_nb.promql.names.versioned`)."""

    by: tuple[str, ...] = ("model_name",)
    versioned: bool = False

    def name(self, record: str) -> str:
        """The scope's name of a model-level record."""
        return versioned(record) if self.versioned else record

    @property
    def curve_join(self) -> str:
        """The matching that applies a model's curve series (by ``model_name``) to the scope's
        series: one to one per model, many to one per version."""
        return "on (model_name)" if self.by == ("model_name",) else "on (model_name) group_left ()"


MODEL_SCOPE = Scope()
VERSION_SCOPE = Scope(("model_name", "model_version"), versioned=True)


def _curve_series(name: str, matchers: Sequence[str], *extra: str) -> str:
    """A curve's series (``ml_confidence_calibration_…``) of the scope's models: the model's,
    for all its versions (a ``model_version`` matcher is not applied to it), where its live
    versions run one baseline (:func:`~mlmon_nb.promql.baselines.one_baseline`)."""
    model = [m for m in matchers if not m.startswith("model_version")]
    return one_baseline(promql.selector(name, *model, *extra))


def estimated_accuracy_expr(window: str, *matchers: str, recorded: bool = True,
                            scope: Scope = MODEL_SCOPE) -> str:
    """The PromQL of every calibrated model's estimated accuracy over ``window``: (slope × Σ
    confidence + purity slope × Σ purity + Σ bucket count × bucket offset) / Σ count over the
    live confidence histogram (the purity term 0 for a curve fitted without class scores).
    ``matchers``
    narrow it (one model); ``recorded=False`` reads the raw buckets, for a query over any
    window instead of the recorded counts; ``scope`` says whose predictions (each model's, or
    each version's)."""
    confidences = _confidences(window, matchers, scope)
    slope = f"max by (model_name) ({_curve_series(CALIBRATION_SLOPE.name, matchers)})"
    corrected = (f"{confidences} * {scope.curve_join} {slope}\n"
                 f"  + {_purity_term(confidences, window, matchers, scope)}\n"
                 f"  + {_weighted(CALIBRATION_OFFSET.name, window, matchers, recorded, scope=scope)}")
    ratio = promql.ratio(corrected, _total(window, matchers, recorded, scope),
                         bad_may_be_absent=False, drop_zero_total=True)
    return f"clamp(\n  {ratio},\n  0, 1)"


def _confidences(window: str, matchers: Sequence[str], scope: Scope) -> str:
    """The window's sum of the confidences as each model's curve weighs them: of the scaled top
    scores (``ml_prediction_scaled_confidence_total``) for a curve that scales the class scores
    by a temperature (it exports ``ml_confidence_calibration_scaling``; none where its service
    does not count them), the histogram's ``_sum`` for the others."""
    scaling = f"max by (model_name) ({_curve_series(CALIBRATION_SCALING.name, matchers)})"
    scaled = promql.sum_increase(promql.selector(SCALED_CONFIDENCE.sample, *matchers), window,
                                 scope.by)
    raw = promql.sum_increase(promql.selector(CONFIDENCE.series("_sum"), *matchers), window,
                              scope.by)
    return (f"({scaled} and on (model_name) {scaling}\n"
            f"    or {raw} unless on (model_name) {scaling})")


def _purity_term(confidences: str, window: str, matchers: Sequence[str], scope: Scope) -> str:
    """purity slope × Σ purity for a curve fitted with class scores, 0 for one without (it
    exports no purity slope); no value where a curve has the slope but the window no purity."""
    slope = f"max by (model_name) ({_curve_series(CALIBRATION_PURITY_SLOPE.name, matchers)})"
    purities = promql.sum_increase(promql.selector(PURITY.sample, *matchers), window, scope.by)
    return _or_zero(f"{purities} * {scope.curve_join} {slope}", confidences, slope)


def _or_zero(scored: str, like: str, marker: str) -> str:
    """``scored`` for the models whose curve exports ``marker`` (fitted with the class scores),
    0 with the labels of ``like`` for the others."""
    return f"({scored}\n    or 0 * {like} unless on (model_name) {marker})"


def _counts(window: str, matchers: Sequence[str], recorded: bool, *extra: str,
            scope: Scope = MODEL_SCOPE) -> str:
    """The window's cumulative confidence bucket counts by the scope's labels and ``le``."""
    if recorded:
        return promql.selector(scope.name(confidence_buckets_record(window)), *extra, *matchers)
    return promql.sum_increase(promql.selector(CONFIDENCE.series("_bucket"), *extra, *matchers),
                               window, (*scope.by, "le"))


def _total(window: str, matchers: Sequence[str], recorded: bool,
           scope: Scope = MODEL_SCOPE) -> str:
    counts = _counts(window, matchers, recorded, promql.matcher("le", "+Inf"), scope=scope)
    return f'sum by ({", ".join(scope.by)}) ({counts})'


def calibration_bins_record(window: str) -> str:
    """The window's confidence counts per bucket of the curve (``le``, its edge below differenced
    off), recorded once per window: the estimate, its margin and the thin share all weigh them."""
    return recording_name("model_name_le", CONFIDENCE.series("_bucket"), f"bin_increase{window}")


def _bins(window: str, matchers: Sequence[str], recorded: bool,
          scope: Scope = MODEL_SCOPE) -> str:
    """The window's count per bucket of the curve by the scope's labels: the recorded one, or
    differenced at the edges the curve's offsets carry (its gap's standard errors and rows carry
    the same)."""
    if recorded:
        return promql.selector(scope.name(calibration_bins_record(window)), *matchers)
    return _bins_expr(window, matchers, recorded, scope)


def _bins_expr(window: str, matchers: Sequence[str], recorded: bool,
               scope: Scope = MODEL_SCOPE) -> str:
    values = (f"max by (model_name, le, lower) "
              f"({_curve_series(CALIBRATION_OFFSET.name, matchers)})")
    cumulative = _counts(window, matchers, recorded, scope=scope)
    # each bucket's lower edge for the scope's series: the model's own mapping, or the model's
    # given to each of its versions' buckets (one mapping series per version and bucket)
    mapping = (values if scope.by == ("model_name",) else
               f"({cumulative} * on (model_name, le) group_left (lower) (0 * {values}))")
    return bins(cumulative, mapping, scope.by)


def _weighted(series: str, window: str, matchers: Sequence[str], recorded: bool,
              condition: str = "", scope: Scope = MODEL_SCOPE) -> str:
    """Σ_b count_b × value_b of a per-bucket baseline series (``le``, ``lower``) per model, or
    per version (the model's curve applied to each version's counts) (``condition``, e.g.
    ``< bool 30``, applied to the series first)."""
    curve = _curve_series(series, matchers)
    values = f"max by (model_name, le) ({f'({curve}){condition}' if condition else curve})"
    return (f"sum by ({', '.join(scope.by)}) ({_bins(window, matchers, recorded, scope)} "
            f"* on (model_name, le) group_left () {values})")


def estimated_accuracy_margin_expr(window: str, *matchers: str, recorded: bool = True,
                                   scope: Scope = MODEL_SCOPE) -> str:
    """The PromQL of the estimate's 95 % half-width over ``window``: the curve's standard error
    where the window's confidences fall (Σ count × gap stderr / Σ count) and the window's
    binomial noise (a (1 − a) / Σ count), combined. ``recorded=True`` reads the recorded
    estimate and bucket counts; ``False`` the raw buckets."""
    estimate = (promql.selector(scope.name(estimated_accuracy(window)), *matchers) if recorded
                else f"({estimated_accuracy_expr(window, *matchers, recorded=False, scope=scope)})")
    total = f"({_total(window, matchers, recorded, scope)} > 0)"
    stderr = _weighted(CALIBRATION_GAP_STDERR.name, window, matchers, recorded, scope=scope)
    curve = f"({stderr} / {total})"
    noise = f"{estimate} * (1 - {estimate}) / {total}"
    slopes = _slopes_variance(window, matchers, recorded, scope, total)
    return f"{promql.number(Z_95)} * sqrt(\n  {curve} ^ 2\n  + {slopes}\n  + {noise})"


# per covariate of the slopes: the reference rows' per-bucket mean
_DISTANCES = {"confidence": CALIBRATION_MEAN.name, "purity": CALIBRATION_MEAN_PURITY.name}
SLOPE_COVARIATES: tuple[str, ...] = tuple(_DISTANCES)


def slope_distance(window: str, covariate: str) -> str:
    """How far a window's mean ``covariate`` (``confidence`` or ``purity``) sits from the
    reference rows' in the same buckets, for a curve fitted with the class scores (the only ones
    exporting those means): ``model_name:ml_estimated_accuracy_<covariate>_distance:<w>``,
    recorded once so the half-width reads it three times without recomputing it."""
    return recording_name("model_name", f"ml_estimated_accuracy_{covariate}_distance", window)


def slope_distance_expr(window: str, covariate: str, *matchers: str, recorded: bool = True,
                        scope: Scope = MODEL_SCOPE) -> str:
    """The PromQL of :func:`slope_distance`: (the window's sum − Σ bucket count × the reference
    rows' mean) / Σ count."""
    window_sum = (_confidences(window, matchers, scope) if covariate == "confidence" else
                  promql.sum_increase(promql.selector(PURITY.sample, *matchers), window, scope.by))
    weighted = _weighted(_DISTANCES[covariate], window, matchers, recorded, scope=scope)
    return f"(({window_sum} - {weighted}) / ({_total(window, matchers, recorded, scope)} > 0))"


def _slopes_variance(window: str, matchers: Sequence[str], recorded: bool, scope: Scope,
                     total: str) -> str:
    """The slopes' share of the estimate's variance for a curve fitted with the class scores
    (``Calibration._slopes_variance``): their covariance weighed by how far the window's mean
    confidence (dx) and purity (dz) sit from the reference rows' in the same buckets (recorded,
    or computed where ``recorded`` is False); 0 for a curve without it."""
    join = scope.curve_join

    def term(name: str) -> str:
        cov = _curve_series(CALIBRATION_SLOPE_COVARIANCE.name, matchers,
                            promql.matcher("term", name))
        return f"max by (model_name) ({cov})"

    def distance(covariate: str) -> str:
        if recorded:
            return promql.selector(scope.name(slope_distance(window, covariate)), *matchers)
        return slope_distance_expr(window, covariate, *matchers, recorded=False, scope=scope)
    dx, dz = (distance(c) for c in SLOPE_COVARIATES)
    xx, xz, zz = (term(t) for t in SLOPE_COVARIANCE_TERMS)
    return _or_zero(f"{dx} ^ 2 * {join} {xx}\n"
                    f"    + 2 * {dx} * {dz} * {join} {xz}\n"
                    f"    + {dz} ^ 2 * {join} {zz}", total, zz)


def thin_share_expr(window: str, *matchers: str, recorded: bool = True,
                    scope: Scope = MODEL_SCOPE) -> str:
    """The PromQL of the share of the window's predictions on thin parts of the curve: Σ count
    of the buckets with fewer than :data:`THIN_ROWS` labelled rows / Σ count."""
    thin = _weighted(CALIBRATION_ROWS.name, window, matchers, recorded,
                     f" < bool {promql.number(THIN_ROWS)}", scope=scope)
    return promql.ratio(thin, _total(window, matchers, recorded, scope), bad_may_be_absent=False,
                        drop_zero_total=True)


def estimated_accuracy_rules(windows: Sequence[str] = ESTIMATED_ACCURACY_WINDOWS
                             ) -> list[RecordingRule]:
    """Per window: the confidence buckets (where the drift rules do not record them), the
    estimated accuracy, its half-width and the share on a thin curve, and the prediction count
    behind it (where the recording stage does not record it), every model at once."""
    rules = []
    for w in windows:
        rules.append(RecordingRule(confidence_buckets_record(w), confidence_buckets_rule_expr(w)))
        rules.append(RecordingRule(calibration_bins_record(w), _bins_expr(w, (), True)))
        rules.append(RecordingRule(estimated_accuracy(w), estimated_accuracy_expr(w)))
        rules += [RecordingRule(slope_distance(w, c), slope_distance_expr(w, c))
                  for c in SLOPE_COVARIATES]
        rules.append(RecordingRule(estimated_accuracy_margin(w), estimated_accuracy_margin_expr(w)))
        rules.append(RecordingRule(thin_share(w), thin_share_expr(w)))
        if w not in RECORDED_COUNT_WINDOWS:
            rules.append(RecordingRule(prediction_count(w),
                                       promql.sum_increase(PREDICTIONS.sample, w)))
    return rules


# the windows a version's estimate is recorded over: the alert's own (a canary is judged on it)
VERSION_WINDOWS: tuple[str, ...] = (ESTIMATED_ACCURACY_ALERT_WINDOW,)


def version_estimated_accuracy_rules(only: str, windows: Sequence[str] = VERSION_WINDOWS
                                     ) -> list[RecordingRule]:
    """Per window, for the models that run more than one version now (``only``: the clause
    that keeps them, ``and on (model_name) (<versions> > 1)``, the generator's): each version's
    confidence buckets and its counts per bucket of the curve, its estimated accuracy through
    the model's curve, the estimate's half-width, the share on a thin curve, and its prediction
    count (where the recording stage does not record it), under ``model_name_model_version…``
    names. A model running one version gets none: its version's estimate is the model's."""
    counted = EVIDENCE["low_confidence_version"].windows  # the recording stage's version counts
    scope = VERSION_SCOPE
    rules = []
    for w in windows:
        buckets = _counts(w, (), False, scope=scope)
        rules += [RecordingRule(scope.name(confidence_buckets_record(w)), f"{buckets} {only}"),
                  RecordingRule(scope.name(calibration_bins_record(w)),
                                _bins_expr(w, (), True, scope)),
                  RecordingRule(scope.name(estimated_accuracy(w)),
                                estimated_accuracy_expr(w, scope=scope)),
                  *(RecordingRule(scope.name(slope_distance(w, c)),
                                  slope_distance_expr(w, c, scope=scope)) for c in SLOPE_COVARIATES),
                  RecordingRule(scope.name(estimated_accuracy_margin(w)),
                                estimated_accuracy_margin_expr(w, scope=scope)),
                  RecordingRule(scope.name(thin_share(w)), thin_share_expr(w, scope=scope))]
        if w not in counted:
            count = promql.sum_increase(PREDICTIONS.sample, w, scope.by)
            rules.append(RecordingRule(scope.name(prediction_count(w)), f"{count} {only}"))
    return rules
