"""The alert catalogue as data: one :class:`AlertSpec` per alert.

Rule generation (``mlmon_nb.rules``), the runbook notebooks' headers, the runbook registry, the
launcher and the README's alert table all read this one list. Adding an alert is one entry here
plus its runbook ``runbooks/<name>.ipynb``; a test fails when an alert lacks either, or its README
row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Severity", "AlertSpec", "CATALOGUE", "ALERT_NAMES", "get"]


class Severity(StrEnum):
    """Alert severities, most urgent first; routing and queueing order by them."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class AlertSpec:
    """One alert: its name, the severities it fires at, and what its runbook is about.

    ``title`` and ``meaning`` head the runbook and the README row; ``signals`` name the evidence
    the runbook shows first; ``needs_baseline`` alerts exist only for models with a baseline.
    """

    name: str
    title: str
    meaning: str
    severities: tuple[Severity, ...]
    signals: tuple[str, ...]
    needs_baseline: bool = False


_C, _W, _I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

CATALOGUE: tuple[AlertSpec, ...] = (
    AlertSpec("HighErrorRate", "High error rate",
              "More than the critical share of requests fail (error ratio above "
              "`error_ratio.critical`, 5% by default, for 5 minutes).",
              (_C,), ("error ratio", "errors by type", "request rate")),
    AlertSpec("ElevatedErrorRate", "Elevated error rate",
              "More than the warning share of requests fail (2% by default, for 10 minutes).",
              (_W,), ("error ratio", "errors by type", "request rate")),
    AlertSpec("HighLatencyP95", "High P95 latency",
              "The 95th percentile of request duration is above a multiple of the latency SLO "
              "threshold (critical 2×, warning 1.5×).",
              (_C, _W), ("p95 latency", "request rate", "in flight")),
    AlertSpec("MLServiceDown", "Model service down",
              "Prometheus cannot scrape the model service (`up == 0`).",
              (_C,), ("up", "request rate")),
    AlertSpec("DataDriftDetected", "Data drift",
              "An input feature's distribution moved away from the training baseline (binned KS "
              "above the configured threshold for 1 hour).",
              (_W, _C), ("feature drift", "invalid feature values"), needs_baseline=True),
    AlertSpec("ConceptDriftDetected", "Concept drift",
              "The model's confidence distribution moved away from the training baseline (PSI "
              "above the configured threshold for 1 hour).",
              (_W,), ("confidence drift", "class share"), needs_baseline=True),
    AlertSpec("LowModelAccuracy", "Low model accuracy",
              "The share of correct predictions on the ground-truth sample is below "
              "`accuracy_min` (0.70 by default) for 30 minutes.",
              (_C,), ("accuracy", "accuracy by segment", "ground-truth count")),
    AlertSpec("HighLowConfidencePredictions", "Many low-confidence predictions",
              "More than `low_confidence_share` (20% by default) of predictions are under the "
              "low-confidence threshold for 1 hour.",
              (_I,), ("low-confidence share", "confidence distribution")),
    AlertSpec("ModelMetricsAbsent", "Model metrics absent",
              "Prometheus has no series of the model's request counter: the service stopped "
              "exporting, or its scrape or name changed.",
              (_W,), ("request-counter series", "up")),
    AlertSpec("SLOErrorBudgetBurn", "SLO error budget burn",
              "An SLO spends its error budget too fast over both a long and a short window "
              "(multi-window, multi-burn-rate: page at 14.4× and 6×, ticket at 3× and 1×).",
              (_C, _W), ("SLO bad-event ratio", "burn rates", "error budget remaining")),
    AlertSpec("LowThroughput", "Low throughput",
              "The model serves fewer requests per second than `throughput.min_rps`.",
              (_W,), ("request rate", "error ratio")),
)

ALERT_NAMES: tuple[str, ...] = tuple(spec.name for spec in CATALOGUE)
_BY_NAME = {spec.name: spec for spec in CATALOGUE}


def get(name: str) -> AlertSpec:
    """The spec of an alert; KeyError naming the known alerts otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no alert {name!r} in the catalogue; known: {', '.join(ALERT_NAMES)}") \
            from None
