"""The metric contract: every metric, label and bucket set in one place.

The exporter (`mlmon_nb.instrument`), the history synthesis (`mlmon_nb.stack.demo.history`), the
generated rules (`mlmon_nb.rules`) and the queries (`mlmon_nb.queries`) all take their names from
here, so they cannot drift apart. Prometheus conventions: base units, `_total` counters, no type
in names, bounded labels. Ratios are counters, never gauges, so PromQL can compute them over any
window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from prometheus_client.utils import floatToGoString

__all__ = [
    "MetricSpec",
    "CONTRACT",
    "REQUESTS",
    "ERRORS",
    "REQUEST_DURATION",
    "IN_PROGRESS",
    "PREDICTIONS",
    "CONFIDENCE",
    "LOW_CONFIDENCE",
    "FEATURE_VALUE",
    "FEATURE_BASELINE_RATIO",
    "FEATURE_BASELINE_VALUES",
    "CONFIDENCE_BASELINE_RATIO",
    "CONFIDENCE_BASELINE_VALUES",
    "CALIBRATION_GAP",
    "CALIBRATION_GAP_STDERR",
    "CALIBRATION_OFFSET",
    "CALIBRATION_SLOPE",
    "CALIBRATION_PURITY_SLOPE",
    "CALIBRATION_MEAN",
    "CALIBRATION_MEAN_PURITY",
    "CALIBRATION_SLOPE_COVARIANCE",
    "SLOPE_COVARIANCE_TERMS",
    "SCORED_CALIBRATION_SERIES",
    "PURITY",
    "SCALED_CONFIDENCE",
    "CALIBRATION_SCALING",
    "CALIBRATION_ROWS",
    "BASELINE_SERIES",
    "RECONSTRUCTION_ERROR",
    "RECONSTRUCTION_BASELINE_RATIO",
    "RECONSTRUCTION_BASELINE_VALUES",
    "RECONSTRUCTION_BASELINE_MEAN",
    "RECONSTRUCTION_BASELINE_STDDEV",
    "FEATURE_RESIDUAL",
    "FEATURE_RESIDUAL_BASELINE",
    "RESIDUAL_SAMPLES",
    "FEATURE_CATEGORY",
    "FEATURE_INVALID",
    "GROUND_TRUTH",
    "MODEL_INFO",
    "LABEL_OVERFLOW",
    "FEEDBACK_UNMATCHED",
    "PENDING_EVICTED",
    "REVIEW_SAMPLES",
    "METRIC_FILES_UNREADABLE",
    "INSTRUMENT_HEALTH",
    "DEFAULT_LATENCY_BUCKETS",
    "CONFIDENCE_BUCKETS",
    "LEGACY_CONFIDENCE_BUCKETS",
    "confidence_edges",
    "DEFAULT_FEATURE_BUCKETS",
    "CONCEPT_FEATURE",
    "OTHER_CATEGORY",
    "RESERVED_FEATURES",
    "OVERFLOW_VALUE",
    "UNMATCHED_ENDPOINT",
    "LEGACY_DATA_DRIFT",
    "LEGACY_CONCEPT_DRIFT",
    "latency_buckets_with",
    "le_label",
    "MODEL_NAME_PATTERN",
    "model_name_problem",
    "recording_name",
]


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the contract: its exposed name, type and label names.

    ``name`` is the family name as passed to prometheus-client; counters are exposed with a
    ``_total`` suffix (see ``sample``).
    """

    name: str
    type: str  # counter | gauge | histogram
    labels: tuple[str, ...]
    help: str

    @property
    def sample(self) -> str:
        """The name of the series a query reads (``_total`` for counters)."""
        return f"{self.name}_total" if self.type == "counter" else self.name

    def series(self, suffix: str = "") -> str:
        """A histogram's ``_bucket``/``_sum``/``_count`` series, or the sample name."""
        return f"{self.name}{suffix}" if suffix else self.sample


REQUESTS = MetricSpec("ml_requests", "counter", ("model_name", "model_version", "endpoint"),
                      "Requests served by the model endpoint.")
ERRORS = MetricSpec("ml_errors", "counter", ("model_name", "model_version", "endpoint", "error_type"),
                    "Requests that failed, by error type.")
REQUEST_DURATION = MetricSpec("ml_request_duration_seconds", "histogram", ("model_name", "endpoint"),
                              "Request duration in seconds.")
IN_PROGRESS = MetricSpec("ml_requests_in_progress", "gauge", ("model_name",),
                         "Requests being served right now.")
PREDICTIONS = MetricSpec("ml_predictions", "counter", ("model_name", "model_version", "predicted_class"),
                         "Predictions made, by predicted class.")
CONFIDENCE = MetricSpec("ml_prediction_confidence", "histogram", ("model_name", "model_version"),
                        "Confidence of the predicted class.")
# Σ_k p_k² of each prediction's class scores (c² + (1 − c)² when only the confidence c is given):
# with the confidence histogram's _sum, what a multiclass model's estimated accuracy weighs
PURITY = MetricSpec("ml_prediction_purity", "counter", ("model_name", "model_version"),
                    "Sum over the predictions of their class scores' purity (sum of squared "
                    "scores).")
# each prediction's top class score after the baseline curve's temperature scaling
# (mlmon_nb.estimated.scaling), counted only under a curve with one: what its estimate weighs
# instead of the confidence histogram's _sum
SCALED_CONFIDENCE = MetricSpec("ml_prediction_scaled_confidence", "counter",
                               ("model_name", "model_version"),
                               "Sum over the predictions of their top class score after the "
                               "reliability curve's temperature scaling.")
LOW_CONFIDENCE = MetricSpec("ml_low_confidence_predictions", "counter", ("model_name", "model_version"),
                            "Predictions whose confidence was under the low-confidence threshold.")
# model_version (here and on the quality families above): a canary's inputs and quality are
# judged on its own traffic (one value per model that runs one version, so no more series)
FEATURE_VALUE = MetricSpec("ml_feature_value", "histogram", ("model_name", "model_version", "feature"),
                           "Input feature values; buckets are the baseline's quantile edges.")
# ``lower`` is the ``le`` of the bucket below (``-Inf`` for the first): with it, rules written
# once for every model difference cumulative buckets into bins without knowing the edges. Every
# baseline series carries the ``model_version`` the service serves: a canary retrained on other
# data exports its own baseline, and is judged against it (mlmon_nb.promql.baselines).
FEATURE_BASELINE_RATIO = MetricSpec("ml_feature_baseline_ratio", "gauge",
                                    ("model_name", "model_version", "feature", "le", "lower"),
                                    "Training baseline's cumulative fraction at each bucket edge.")
# The rest of the baseline, exported so one set of rules serves every model (no literals per
# model or bucket).
FEATURE_BASELINE_VALUES = MetricSpec("ml_feature_baseline_values", "gauge",
                                     ("model_name", "model_version", "feature"),
                                     "Values of the feature the training baseline counted.")
CONFIDENCE_BASELINE_RATIO = MetricSpec("ml_confidence_baseline_ratio", "gauge",
                                       ("model_name", "model_version", "le", "lower"),
                                       "Training baseline's cumulative fraction of confidences at "
                                       "each bucket edge.")
CONFIDENCE_BASELINE_VALUES = MetricSpec("ml_confidence_baseline_values", "gauge",
                                        ("model_name", "model_version"),
                                        "Rows the training baseline's confidences came from.")
CALIBRATION_GAP = MetricSpec("ml_confidence_calibration_gap", "gauge",
                             ("model_name", "model_version", "le", "lower"),
                             "Reliability curve: accuracy minus mean confidence in each confidence "
                             "bucket (lower, le].")
CALIBRATION_GAP_STDERR = MetricSpec("ml_confidence_calibration_gap_stderr", "gauge",
                                    ("model_name", "model_version", "le", "lower"),
                                    "Standard error of the reliability curve's gap in each "
                                    "confidence bucket (lower, le]: large where the curve is thin.")
CALIBRATION_OFFSET = MetricSpec("ml_confidence_calibration_offset", "gauge",
                                ("model_name", "model_version", "le", "lower"),
                                "Reliability curve: the intercept of accuracy in each confidence "
                                "bucket (lower, le], accuracy = slope x confidence + offset.")
CALIBRATION_SLOPE = MetricSpec("ml_confidence_calibration_slope", "gauge", ("model_name", "model_version"),
                               "Reliability curve: the slope of accuracy on confidence within "
                               "its buckets (1 on a calibrated model).")
CALIBRATION_PURITY_SLOPE = MetricSpec("ml_confidence_calibration_purity_slope", "gauge",
                                      ("model_name", "model_version"),
                                      "Reliability curve: the slope of accuracy on the class "
                                      "scores' purity within its confidence buckets (a curve "
                                      "fitted with the class scores).")
CALIBRATION_SCALING = MetricSpec("ml_confidence_calibration_scaling", "gauge",
                                 ("model_name", "model_version"),
                                 "Reliability curve: the temperature its class scores are "
                                 "scaled by before it (a curve with one; its estimate weighs "
                                 "ml_prediction_scaled_confidence_total).")
# a curve fitted with the class scores: where its reference rows sat in each bucket, and how
# uncertain its slopes are, so a window's band widens as it moves away from them within buckets
CALIBRATION_MEAN = MetricSpec("ml_confidence_calibration_mean", "gauge",
                              ("model_name", "model_version", "le", "lower"),
                              "Reliability curve: the labelled reference rows' mean confidence "
                              "in each confidence bucket (lower, le].")
CALIBRATION_MEAN_PURITY = MetricSpec("ml_confidence_calibration_mean_purity", "gauge",
                                     ("model_name", "model_version", "le", "lower"),
                                     "Reliability curve: the labelled reference rows' mean class "
                                     "score purity in each confidence bucket (lower, le].")
CALIBRATION_SLOPE_COVARIANCE = MetricSpec("ml_confidence_calibration_slope_covariance", "gauge",
                                          ("model_name", "model_version", "term"),
                                          "Reliability curve: the sampling covariance of its "
                                          "slopes on confidence and on purity (term).")
# the ``term`` values of CALIBRATION_SLOPE_COVARIANCE: (slope, slope), (slope, purity slope),
# (purity slope, purity slope)
SLOPE_COVARIANCE_TERMS = ("confidence", "confidence_purity", "purity")
# what only a service under a curve fitted with the class scores exports (the last two only
# where the curve scales them by a temperature)
SCORED_CALIBRATION_SERIES: tuple[MetricSpec, ...] = (
    CALIBRATION_PURITY_SLOPE, CALIBRATION_MEAN, CALIBRATION_MEAN_PURITY,
    CALIBRATION_SLOPE_COVARIANCE, CALIBRATION_SCALING, SCALED_CONFIDENCE)
CALIBRATION_ROWS = MetricSpec("ml_confidence_calibration_rows", "gauge",
                              ("model_name", "model_version", "le", "lower"),
                              "Reliability curve: the labelled reference rows in each confidence "
                              "bucket (lower, le] (few: a thin part of the curve).")
# The multivariate check (a baseline with a joint structure, ``mlmon_nb.baseline.joint``): each
# prediction's distance from the baseline's principal subspace, with the baseline's quantile
# edges of that distance as buckets, and the baseline's shares at them.
RECONSTRUCTION_ERROR = MetricSpec("ml_reconstruction_error", "histogram",
                                  ("model_name", "model_version"),
                                  "Reconstruction error of each prediction's standardized numeric "
                                  "features by the baseline's principal components; buckets are "
                                  "the baseline's quantile edges of it.")
RECONSTRUCTION_BASELINE_RATIO = MetricSpec("ml_reconstruction_error_baseline_ratio", "gauge",
                                           ("model_name", "model_version", "le", "lower"),
                                           "Training baseline's cumulative fraction of "
                                           "reconstruction errors at each bucket edge.")
RECONSTRUCTION_BASELINE_VALUES = MetricSpec("ml_reconstruction_error_baseline_values", "gauge",
                                            ("model_name", "model_version"),
                                            "Rows the training baseline's reconstruction errors "
                                            "came from.")
RECONSTRUCTION_BASELINE_MEAN = MetricSpec("ml_reconstruction_error_baseline_mean", "gauge",
                                          ("model_name", "model_version"),
                                          "Training baseline's mean reconstruction error.")
RECONSTRUCTION_BASELINE_STDDEV = MetricSpec("ml_reconstruction_error_baseline_stddev", "gauge",
                                            ("model_name", "model_version"),
                                            "Standard deviation of the training baseline's "
                                            "reconstruction errors.")
# what each feature adds to the error (squared standardized residual), on one prediction in
# ``instrument.RESIDUAL_STRIDE``: the runbook's ranking of the features behind the error
FEATURE_RESIDUAL = MetricSpec("ml_feature_reconstruction_residual", "counter",
                              ("model_name", "feature"),
                              "Sum of the feature's squared standardized reconstruction residual "
                              "over the sampled predictions.")
RESIDUAL_SAMPLES = MetricSpec("ml_reconstruction_residual_samples", "counter", ("model_name",),
                              "Predictions whose reconstruction residuals were summed.")
FEATURE_RESIDUAL_BASELINE = MetricSpec("ml_feature_reconstruction_residual_baseline", "gauge",
                                       ("model_name", "model_version", "feature"),
                                       "Training baseline's mean squared standardized "
                                       "reconstruction residual of the feature.")
# everything a service exports from its baseline (static, the same in every worker)
BASELINE_SERIES: tuple[MetricSpec, ...] = (FEATURE_BASELINE_RATIO, FEATURE_BASELINE_VALUES,
                                           CONFIDENCE_BASELINE_RATIO, CONFIDENCE_BASELINE_VALUES,
                                           CALIBRATION_GAP, CALIBRATION_GAP_STDERR,
                                           CALIBRATION_OFFSET, CALIBRATION_SLOPE,
                                           CALIBRATION_PURITY_SLOPE, CALIBRATION_MEAN,
                                           CALIBRATION_MEAN_PURITY,
                                           CALIBRATION_SLOPE_COVARIANCE, CALIBRATION_SCALING,
                                           CALIBRATION_ROWS, RECONSTRUCTION_BASELINE_RATIO,
                                           RECONSTRUCTION_BASELINE_VALUES,
                                           RECONSTRUCTION_BASELINE_MEAN,
                                           RECONSTRUCTION_BASELINE_STDDEV,
                                           FEATURE_RESIDUAL_BASELINE)
FEATURE_CATEGORY = MetricSpec("ml_feature_category", "counter", ("model_name", "feature", "category"),
                              "Categorical feature values: the baseline's top-k categories, then __other__.")
FEATURE_INVALID = MetricSpec("ml_feature_invalid", "counter", ("model_name", "feature", "reason"),
                             "Feature values rejected: NaN, inf, missing, wrong type, unknown feature.")
GROUND_TRUTH = MetricSpec("ml_ground_truth", "counter", ("model_name", "model_version", "segment", "outcome"),
                          "Predictions joined with their true label: outcome correct or incorrect.")
MODEL_INFO = MetricSpec("ml_model_info", "gauge", ("model_name", "model_version", "baseline_id"),
                        "Always 1: the live model version and the baseline it is compared with.")

CONTRACT: tuple[MetricSpec, ...] = (
    REQUESTS, ERRORS, REQUEST_DURATION, IN_PROGRESS, PREDICTIONS, CONFIDENCE, PURITY,
    SCALED_CONFIDENCE, LOW_CONFIDENCE,
    FEATURE_VALUE, FEATURE_BASELINE_RATIO, FEATURE_BASELINE_VALUES, CONFIDENCE_BASELINE_RATIO,
    CONFIDENCE_BASELINE_VALUES, CALIBRATION_GAP, CALIBRATION_GAP_STDERR, CALIBRATION_OFFSET,
    CALIBRATION_SLOPE, CALIBRATION_PURITY_SLOPE, CALIBRATION_MEAN, CALIBRATION_MEAN_PURITY,
    CALIBRATION_SLOPE_COVARIANCE, CALIBRATION_SCALING, CALIBRATION_ROWS, FEATURE_CATEGORY,
    FEATURE_INVALID, GROUND_TRUTH, MODEL_INFO, RECONSTRUCTION_ERROR,
    RECONSTRUCTION_BASELINE_RATIO, RECONSTRUCTION_BASELINE_VALUES, RECONSTRUCTION_BASELINE_MEAN,
    RECONSTRUCTION_BASELINE_STDDEV, FEATURE_RESIDUAL,
    RESIDUAL_SAMPLES, FEATURE_RESIDUAL_BASELINE,
)

# The instrumentation's own health (not part of the contract above; no rule depends on them).
LABEL_OVERFLOW = MetricSpec("ml_label_overflow", "counter", ("model_name", "label"),
                            "Label values folded into __overflow__ by the cardinality cap.")
FEEDBACK_UNMATCHED = MetricSpec("ml_feedback_unmatched", "counter", ("model_name", "reason"),
                                "Feedback whose request id was unknown or expired.")
PENDING_EVICTED = MetricSpec("ml_pending_predictions_evicted", "counter", ("model_name", "reason"),
                             "Pending predictions dropped before feedback came: size or age.")
REVIEW_SAMPLES = MetricSpec("ml_review_samples", "counter", ("model_name", "outcome"),
                            "Predictions handed to the ground-truth review sink: sent or failed.")
METRIC_FILES_UNREADABLE = MetricSpec("ml_metric_files_unreadable", "gauge", (),
                                     "Worker metric files this scrape left out because they could "
                                     "not be read (multiprocess mode; the service log names them).")
INSTRUMENT_HEALTH: tuple[MetricSpec, ...] = (LABEL_OVERFLOW, FEEDBACK_UNMATCHED, PENDING_EVICTED,
                                             REVIEW_SAMPLES, METRIC_FILES_UNREADABLE)

# Latency buckets: dense around typical model latencies. Every latency SLO threshold must be a
# bucket edge (rule generation checks it); latency_buckets_with() adds missing ones.
DEFAULT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)
# Confidence buckets: 0.1 wide, then finer near 1, where a confident model's predictions crowd
# and its calibration changes fastest (the estimated accuracy's reliability curve is binned on
# them; docs/estimated-accuracy.md has what the finer edges measured).
CONFIDENCE_BUCKETS: tuple[float, ...] = (
    *(round(0.1 * i, 1) for i in range(1, 10)), 0.95, 0.99, 0.999, 1.0,
)
# The edges before the finer ones near 1, a subset of CONFIDENCE_BUCKETS: a baseline saved with
# them keeps them (its confidence shares and calibration cannot be split into the finer buckets);
# its series carry its own edges, so the rules difference the live histogram at those alone.
LEGACY_CONFIDENCE_BUCKETS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 11))
# Used for numeric features when no baseline is known.
DEFAULT_FEATURE_BUCKETS: tuple[float, ...] = (
    -1000.0, -100.0, -10.0, -1.0, -0.1, 0.0, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0,
)

# the feature name concept drift (the confidence histogram against the baseline) is reported under
CONCEPT_FEATURE = "confidence"
OTHER_CATEGORY = "__other__"
# the names the service counts its own invalid inputs under (``ml_feature_invalid_total``'s
# ``feature``): the confidence, the class scores, a ``features`` that is no mapping, a record
# that failed; no model feature may take one
CONFIDENCE_FEATURE = "__confidence__"
SCORES_FEATURE = "__scores__"
FEATURES_FEATURE = "__features__"
RECORD_FEATURE = "__record__"
RESERVED_FEATURES = (CONFIDENCE_FEATURE, SCORES_FEATURE, FEATURES_FEATURE, RECORD_FEATURE)
OVERFLOW_VALUE = "__overflow__"
# the endpoint of a request no route of the service matched (a 404 for /favicon.ico, a scanner's
# probe): one value, so unknown paths neither become labels nor read as what changed
UNMATCHED_ENDPOINT = "__unmatched__"

# Seed names kept for dashboards and alerts written against them (recording rules provide them).
LEGACY_DATA_DRIFT = "ml_data_drift_score"
LEGACY_CONCEPT_DRIFT = "ml_concept_drift_psi"


def latency_buckets_with(thresholds: tuple[float, ...] | list[float],
                         base: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS) -> tuple[float, ...]:
    """Latency buckets that contain every SLO threshold as an edge."""
    return tuple(sorted(set(base) | {float(t) for t in thresholds}))


def confidence_edges(edges: Iterable[float]) -> tuple[float, ...]:
    """A baseline's confidence bucket edges as stored, checked: the current
    :data:`CONFIDENCE_BUCKETS` or the :data:`LEGACY_CONFIDENCE_BUCKETS` (both edges of the live
    histogram); anything else is a ValueError."""
    stored = tuple(float(e) for e in edges)
    if stored not in (CONFIDENCE_BUCKETS, LEGACY_CONFIDENCE_BUCKETS):
        raise ValueError(f"confidence buckets {stored} are neither the exporter's "
                         f"{CONFIDENCE_BUCKETS} nor the earlier {LEGACY_CONFIDENCE_BUCKETS}")
    return stored


# The model_name label's values every part accepts: the configuration, `init`, the exporter,
# the baseline, the rules and the runbooks' parameters (it reaches file names, URLs and rules).
MODEL_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_\-]{0,127}"


def model_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a model's name (the ``model_name`` label), or None when it can."""
    if isinstance(name, str) and re.fullmatch(MODEL_NAME_PATTERN, name):
        return None
    return (f"{str(name)[:80]!r} is not a model name: letters, digits, _ or -, starting with "
            f"a letter or _, at most 128 characters")


def recording_name(level: str, metric: str, operations: str) -> str:
    """A recording-rule name in the ``level:metric:operations`` convention."""
    return f"{level}:{metric}:{operations}"


def le_label(edge: float) -> str:
    """An ``le`` label value exactly as prometheus-client formats histogram buckets, so the live
    service, the backfilled history, the rules and the drift queries all join on it."""
    return floatToGoString(edge)
