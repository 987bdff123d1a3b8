"""Recording-rule names, windows and SLO labels: one place for the rules, queries and notebooks.

Names follow Prometheus' ``level:metric:operations`` convention (``metrics.recording_name``):
``model_name:ml_requests:rate5m`` is the request rate aggregated to ``model_name`` over 5m.
Importing this module is light (no generation machinery), so dashboards and notebooks can use it.
"""

from __future__ import annotations

import math
import re

from .. import promql
from ..config import parse_duration
from ..metrics import (
    ERRORS,
    GROUND_TRUTH,
    LOW_CONFIDENCE,
    PREDICTIONS,
    REQUEST_DURATION,
    REQUESTS,
    recording_name,
)

__all__ = [
    "WINDOWS",
    "LATENCY_WINDOWS",
    "LATENCY_QUANTILES",
    "ACCURACY_WINDOWS",
    "LOW_CONFIDENCE_WINDOWS",
    "ESTIMATED_ACCURACY_WINDOWS",
    "ESTIMATED_ACCURACY_ALERT_WINDOW",
    "DRIFT_WINDOWS",
    "estimated_accuracy",
    "estimated_accuracy_margin",
    "SLOS",
    "request_rate",
    "error_ratio",
    "latency_quantile",
    "accuracy",
    "segment_accuracy",
    "low_confidence_ratio",
    "slo_error_ratio",
    "request_count",
    "prediction_count",
    "ground_truth_count",
    "slo_event_count",
    "bound",
    "versioned",
    "spike_window",
    "HISTORY_AGE",
    "HISTORY_COVERAGE",
    "SLO_OBJECTIVE",
    "ERROR_BUDGET_REMAINING",
    "COST_PER_1K",
    "group_name",
    "latency_buckets",
    "LONG_WINDOW_SECONDS",
    "UNREAD_WINDOW_SECONDS",
    "LONG_INTERVAL",
    "record_window",
    "error_count",
    "slo_bad_count",
    "CHAIN_STEP",
    "CHAINED_WINDOW_SECONDS",
    "is_chained",
    "chained",
    "chain_record",
    "chain_coverage",
    "slo_chain_coverage",
]

# Rate windows of the recording rules (the SLO period is added per model).
WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
LATENCY_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h")
LATENCY_QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)
ACCURACY_WINDOWS: tuple[str, ...] = ("1h", "6h", "1d")
LOW_CONFIDENCE_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h")
# Windows of the estimated accuracy (from the confidence histogram and the baseline's curve):
# the short ones to see a shift early, the accuracy rules' (1h, 1d) to set it against the labels;
# EstimatedAccuracyDrop reads the 30m one, whose prediction count the recording stage records.
ESTIMATED_ACCURACY_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "1d")
ESTIMATED_ACCURACY_ALERT_WINDOW = "30m"
# Windows of the drift recording rules (the drift alerts read the 1h ones).
DRIFT_WINDOWS: tuple[str, ...] = ("1h",)
# The SLOs of every model: the values of the ``slo`` label.
SLOS: tuple[str, ...] = ("latency", "availability", "accuracy")


def request_rate(window: str) -> str:
    """Requests per second of a model over ``window``."""
    return recording_name("model_name", REQUESTS.name, f"rate{window}")


def error_ratio(window: str) -> str:
    """Share of a model's requests that failed over ``window``."""
    return recording_name("model_name", f"{ERRORS.name}_per_{REQUESTS.name}", f"ratio_rate{window}")


def latency_quantile(quantile: float, window: str) -> str:
    """A latency quantile (0.95 → ``p95``) of a model over ``window``, in seconds."""
    return recording_name("model_name", REQUEST_DURATION.name,
                          f"p{round(quantile * 100):d}_rate{window}")


def latency_buckets(window: str) -> str:
    """A model's latency histogram buckets per second over ``window`` (every quantile's input,
    computed once)."""
    return recording_name("model_name_le", REQUEST_DURATION.series("_bucket"), f"rate{window}")


def accuracy(window: str) -> str:
    """Share of ground-truth outcomes that were correct over ``window``."""
    return recording_name("model_name", "ml_accuracy", f"ratio_rate{window}")


def estimated_accuracy(window: str) -> str:
    """Accuracy expected from the confidences of a model's predictions over ``window``, through
    its baseline's reliability curve (before any label arrives): ``model_name:ml_estimated_accuracy:<w>``."""
    return recording_name("model_name", "ml_estimated_accuracy", window)


def estimated_accuracy_margin(window: str) -> str:
    """The 95 % half-width of the estimated accuracy over ``window`` (the curve's uncertainty and
    the window's noise): ``model_name:ml_estimated_accuracy_margin:<w>``."""
    return recording_name("model_name", "ml_estimated_accuracy_margin", window)


def segment_accuracy(window: str) -> str:
    """Accuracy per ground-truth segment over ``window``."""
    return recording_name("model_name_segment", "ml_accuracy", f"ratio_rate{window}")


def low_confidence_ratio(window: str) -> str:
    """Share of predictions under the low-confidence threshold over ``window``."""
    return recording_name("model_name", f"{LOW_CONFIDENCE.name}_per_{PREDICTIONS.name}",
                          f"ratio_rate{window}")


def slo_error_ratio(window: str) -> str:
    """Share of bad events of an SLO (label ``slo``) over ``window``: its SLI's complement."""
    return recording_name("model_name_slo", "ml_slo_errors_per_events", f"ratio_rate{window}")


def request_count(window: str) -> str:
    """Requests a model served over ``window`` (the evidence behind its error ratio)."""
    return recording_name("model_name", REQUESTS.name, f"increase{window}")


def error_count(window: str) -> str:
    """Failed requests of a model over ``window`` (what chained error ratios sum)."""
    return recording_name("model_name", ERRORS.name, f"increase{window}")


def prediction_count(window: str) -> str:
    """Predictions a model made over ``window`` (the evidence behind its low-confidence share)."""
    return recording_name("model_name", PREDICTIONS.name, f"increase{window}")


def ground_truth_count(window: str) -> str:
    """Ground-truth outcomes of a model over ``window`` (the evidence behind its accuracy)."""
    return recording_name("model_name", GROUND_TRUTH.name, f"increase{window}")


def versioned(record: str) -> str:
    """The same record per model version (``model_name_model_version:…``), for the models that
    run more than one version at once (a canary judged on its own traffic)."""
    level, rest = record.split(":", 1)
    return f"{level.replace('model_name', 'model_name_model_version', 1)}:{rest}"


def bound(record: str, side: str) -> str:
    """The Wilson score bound (``lower`` or ``upper``) of a recorded ratio at the model's
    ``alerts.alpha``: ``<ratio record>_lower``."""
    return f"{record}_{side}"


def slo_event_count(window: str) -> str:
    """Events of an SLO (label ``slo``) over ``window``: requests, or ground-truth outcomes."""
    return recording_name("model_name_slo", "ml_slo_events", f"increase{window}")


def slo_bad_count(window: str) -> str:
    """Bad events of an SLO (label ``slo``) over ``window`` (what chained SLO ratios sum)."""
    return recording_name("model_name_slo", "ml_slo_bad_events", f"increase{window}")


def spike_window(scrape_interval_seconds: float) -> str:
    """The short window a ratio alert also holds on throughout its ``for``: 1m, or 4 scrapes.

    A ratio over 5m stays above its threshold for minutes after a one-minute spike; requiring the
    short-window ratio too means a spike shorter than ``for`` cannot fire the alert.
    """
    return promql.duration(max(60, math.ceil(4 * scrape_interval_seconds)))


# How long a model has been exported, up to the longest burn-rate window (3d), in seconds; a
# burn-rate window counts only when this covers HISTORY_COVERAGE of it.
HISTORY_AGE = recording_name("model_name", "ml_model_info", "age_seconds")
HISTORY_COVERAGE = 0.9
SLO_OBJECTIVE = recording_name("model_name_slo", "ml_slo_objective", "ratio")
ERROR_BUDGET_REMAINING = recording_name("model_name_slo", "ml_slo_error_budget_remaining", "ratio")
COST_PER_1K = recording_name("model_name", "ml_cost_per_1k_requests", "rate1h")


def group_name(stage: str) -> str:
    """The rule group of a stage, for every model at once: ``mlmon:<stage>``."""
    return f"mlmon:{stage}"


# Rules over windows of an hour or more move little in 15 s: each stage evaluates them in its own
# "-long" group every LONG_INTERVAL (short enough that the 5m lookback always finds the last one).
LONG_WINDOW_SECONDS = 3600
LONG_INTERVAL = "1m"
# A record over 30m or more that no other rule reads (a dashboard's or a notebook's) moves to the
# "-long" group too: a minute is a thirtieth of its window, and on a fleet the 30m latency
# buckets' rates were the costliest rule evaluated every 15 s (:func:`.rule.unhurried`).
UNREAD_WINDOW_SECONDS = 1800
_WINDOW = re.compile(r"(\d+[smhdwy])(?:_lower|_upper)?$")


def record_window(record: str) -> str | None:
    """The window a record name ends with (``…:ratio_rate1h_lower`` → ``1h``), if any."""
    match = _WINDOW.search(record.rsplit(":", 1)[-1])
    return match.group(1) if match else None


# Windows of a day or more are chained, as Sloth and kube-prometheus do: summed from counts of
# CHAIN_STEP recorded every CHAIN_STEP (:func:`chain_record`) instead of re-read from days of raw
# samples at every evaluation.
CHAIN_STEP = "5m"
CHAINED_WINDOW_SECONDS = 86400


def is_chained(window: str) -> bool:
    """Whether rules over ``window`` sum recorded CHAIN_STEP counts (a day or more)."""
    return parse_duration(window) >= CHAINED_WINDOW_SECONDS


def chain_record(record: str) -> str:
    """The CHAIN_STEP count ``record`` recorded every CHAIN_STEP, in its stage's ``-chain``
    group: one sample per step, what chained windows sum."""
    return f"{record}_chain"


def slo_chain_coverage(window: str) -> str:
    """The record of :func:`chain_coverage` of each SLO's chained event counts over ``window``:
    what a burn-rate alert over a chained window needs, besides the model's history."""
    return f"{chain_record(slo_event_count(CHAIN_STEP))}_coverage{window}"


def _chain_range(window: str) -> str:
    """The subquery range that reads ``window``'s CHAIN_STEP-aligned instants, one second short
    of ``window`` (Prometheus' ranges include their start)."""
    return f"[{promql.duration(int(parse_duration(window)) - 1)}:{CHAIN_STEP}]"


def chain_coverage(record: str, window: str) -> str:
    """The share of ``window``'s CHAIN_STEP instants at which the chain ``record`` holds a
    count: the share of ``window`` that :func:`chained` sums. A chain covers only the time it
    has been recorded, so on a rule set deployed an hour ago over weeks of raw history a day's
    chained ratio is the ratio of that hour; a burn-rate alert over a chained window needs this
    share, not only the model's history, to cover HISTORY_COVERAGE of it."""
    steps = int(parse_duration(window)) // int(parse_duration(CHAIN_STEP))
    return f"count_over_time({record}{_chain_range(window)}) / {steps}"


def chained(record: str, window: str, *matchers: str) -> str:
    """``window``'s total of a CHAIN_STEP count recorded every CHAIN_STEP (``record``, a
    :func:`chain_record`): its samples at the ``window`` / CHAIN_STEP most recent
    CHAIN_STEP-aligned instants, summed (the subquery's range is one second short of
    ``window``, as Prometheus' ranges include their start). Each sample counts the CHAIN_STEP
    before it, so the samples tile ``window`` (shifted by the group's phase, at most one step).
    Each count is Prometheus's extrapolated ``increase`` over its 5 minutes, so the sum is the
    window's count up to each count's extrapolation: exact on Prometheus 2 where the counter's
    samples fall on the steps (its ranges include their start; Prometheus 3's do not, so there
    each count extrapolates its slot from the samples after the start, as any count does
    whose samples fall between the steps). It covers only the time the count has been
    recorded."""
    return f"sum_over_time({promql.selector(record, *matchers)}{_chain_range(window)})"
