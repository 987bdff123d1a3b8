"""The alert catalogue as data: one :class:`AlertSpec` per alert.

Rule generation (``mlmon_nb.rules``), the runbook notebooks' headers, the runbook registry, the
launcher and the README's alert table all read this one list. Adding an alert is one entry here
(its builder says how it fires: expression, ``for``, labels, summary and description) plus its
runbook ``runbooks/<name>.ipynb``; a test fails when an alert lacks either, or its README row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Iterable

from .. import promql
from ..config import SERVICE_JOB, AlertThresholds, Config, ModelConfig, parse_duration
from ..metrics import MODEL_INFO, REQUESTS
from ..promql import number
from .model import AlertingRule
from .names import (
    ESTIMATED_ACCURACY_ALERT_WINDOW,
    HISTORY_AGE,
    HISTORY_COVERAGE,
    SLOS,
    accuracy,
    error_ratio,
    estimated_accuracy,
    ground_truth_count,
    latency_quantile,
    low_confidence_ratio,
    prediction_count,
    request_count,
    request_rate,
    slo_error_ratio,
    slo_event_count,
    spike_window,
)
from .slo import burn_windows, slo_objective

__all__ = ["Severity", "AlertSpec", "AlertBuilder", "CATALOGUE", "ALERT_NAMES", "get"]


class Severity(StrEnum):
    """Alert severities, most urgent first; routing and queueing order by them."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


# (alert name, configuration, model) -> the alert's rules for that model
AlertBuilder = Callable[[str, Config, ModelConfig], Iterable[AlertingRule]]


@dataclass(frozen=True)
class AlertSpec:
    """One alert: its name, the severities it fires at, and what its runbook is about.

    ``title`` and ``meaning`` head the runbook and the README row; ``signals`` name the evidence
    the runbook shows first; ``needs_baseline`` alerts exist only for models with a baseline,
    ``needs_calibration`` ones only for those whose baseline has a calibration.
    ``build`` writes its alerting rules for one model; ``series_labels`` are the labels its
    firing series carry (templated into the runbook link; static ones are written out);
    ``group`` is the rule group it goes in (``mlmon:<model>:<group>``); ``inhibits`` are the
    alerts it silences for the same model while it fires.
    """

    name: str
    title: str
    meaning: str
    severities: tuple[Severity, ...]
    signals: tuple[str, ...]
    needs_baseline: bool = False
    needs_calibration: bool = False
    build: AlertBuilder = field(kw_only=True, repr=False, compare=False)
    series_labels: tuple[str, ...] = field(default=("model_name",), kw_only=True)
    group: str = field(default="alerts", kw_only=True)
    inhibits: tuple[str, ...] = field(default=(), kw_only=True)

    def rules(self, config: Config, model: ModelConfig) -> tuple[AlertingRule, ...]:
        """This alert's rules for ``model`` (without the runbook link, which rules adds)."""
        return tuple(self.build(self.name, config, model))


# -- builders: how each alert fires -------------------------------------------------------------

_MODEL = "{{ $labels.model_name }}"


def _pct(value: float) -> str:
    return f"{value * 100:g}%"


def _select(metric: str, model: ModelConfig, **labels: str) -> str:
    return promql.selector(metric, model_name=model.name, **labels)


def _count(selector: str) -> str:
    """An annotation template printing the value of a count series (an alert's evidence)."""
    return (f"{{{{ with query `{selector}` }}}}{{{{ . | first | value | printf \"%.0f\" }}}}"
            f"{{{{ end }}}}")


def _rule(alert: str, expr: str, for_: str | None, severity: Severity, model: ModelConfig,
          summary: str, description: str, **labels: str) -> AlertingRule:
    return AlertingRule(alert, expr, for_,
                        {"severity": str(severity), "model_name": model.name, **labels},
                        {"summary": summary, "description": description})


def _error_ratio(severity: Severity, for_: str,
                 threshold: Callable[[AlertThresholds], float]) -> AlertBuilder:
    def build(alert: str, config: Config, model: ModelConfig) -> list[AlertingRule]:
        limit = threshold(model.alerts)
        least = model.alerts.min_events.requests
        short = spike_window(config.stack.scrape_interval_seconds)
        count = _select(request_count("5m"), model)
        # the short-window ratio too, at every evaluation of the `for`: a spike shorter than
        # `for` keeps the 5m ratio up for 5 minutes, but not the short one
        expr = (f"{_select(error_ratio('5m'), model)} > {number(limit)} "
                f"and {_select(error_ratio(short), model)} > {number(limit)} "
                f"and {count} >= {number(least)}")
        return [_rule(alert, expr, for_, severity, model,
                      f"{_MODEL}: error ratio above {_pct(limit)}",
                      f"{{{{ $value | humanizePercentage }}}} of {_MODEL}'s {_count(count)} "
                      f"requests failed over the last 5m, and over {_pct(limit)} over the last "
                      f"{short} too (threshold {_pct(limit)} over both, for {for_}; at least "
                      f"{number(least)} requests).")]
    return build


def _high_latency(alert: str, config: Config, model: ModelConfig) -> list[AlertingRule]:
    a, slo_threshold = model.alerts, model.slo.latency_threshold_seconds
    rules = []
    for severity, factor, for_ in ((Severity.CRITICAL, a.latency_p95_factor_critical, "10m"),
                                   (Severity.WARNING, a.latency_p95_factor_warning, "15m")):
        limit = round(factor * slo_threshold, 9)
        count = _select(slo_event_count("5m"), model, slo="latency")
        least = a.min_events.requests
        expr = (f"{_select(latency_quantile(0.95, '5m'), model)} > {number(limit)} "
                f"and on (model_name) {count} >= {number(least)}")
        rules.append(_rule(
            alert, expr, for_, severity, model,
            f"{_MODEL}: P95 latency above {number(factor)}x the SLO",
            f"P95 latency of {_MODEL} is {{{{ $value | humanizeDuration }}}} over the last 5m's "
            f"{_count(count)} requests (threshold {number(limit)}s = {number(factor)} x the "
            f"{number(slo_threshold)}s latency SLO, for {for_}; at least {number(least)} "
            f"requests)."))
    return rules


def _service_down(alert: str, config: Config, model: ModelConfig) -> list[AlertingRule]:
    m = model.name
    # the targets serving this model: labelled so in the scrape configuration (a `model_name`
    # target label), or having exported its ml_model_info within the last day
    labelled = promql.selector("up", job=SERVICE_JOB, model_name=m)
    unlabelled = promql.selector("up", job=SERVICE_JOB, model_name="")
    info = promql.selector(MODEL_INFO.name, model_name=m)
    expr = (f"({labelled} == 0) or on (job, instance) ({unlabelled} == 0) * on (job, instance) "
            f"group_left (model_name) max by (job, instance, model_name) "
            f"(last_over_time({info}[1d]))")
    return [_rule(alert, expr, "1m", Severity.CRITICAL,
                  model, f"{m}: the model service is down",
                  f"Prometheus cannot scrape {{{{ $labels.instance }}}} (job {SERVICE_JOB}) "
                  f"serving {m}: up is {{{{ $value }}}} (threshold: up == 0, for 1m).")]


def _drift_rule_names() -> dict[str, str]:
    # drift pulls numpy and scipy; the catalogue is read on light paths (launcher, runbooks)
    from .. import drift  # noqa: PLC0415
    return {"ks": drift.KS_RULE, "n": drift.N_RULE, "ks_critical": drift.KS_CRITICAL_RULE,
            "psi": drift.CONCEPT_PSI_RULE, "concept_n": drift.CONCEPT_N_RULE,
            "psi_critical": drift.CONCEPT_PSI_CRITICAL_RULE}


def _query_value(template_selector: str, fmt: str) -> str:
    """An annotation template printing one series' value; ``template_selector`` is a Go
    template expression yielding the PromQL (e.g. a ``printf`` with ``$labels``)."""
    return (f"{{{{ with {template_selector} | query }}}}{{{{ . | first | value | printf "
            f"\"{fmt}\" }}}}{{{{ end }}}}")


def _feature_series(name: str) -> str:
    return f"printf `{name}{{model_name=%q,feature=%q}}` $labels.model_name $labels.feature"


def _data_drift(alert: str, config: Config, model: ModelConfig) -> list[AlertingRule]:
    names = _drift_rule_names()
    least = model.alerts.min_events.feature_values
    alpha = model.drift_alpha
    ks, critical, n = (_select(names[k], model) for k in ("ks", "ks_critical", "n"))
    count = _query_value(_feature_series(names["n"]), "%.0f")
    chance = _query_value(_feature_series(names["ks_critical"]), "%.3f")
    rules = []
    for severity, limit in ((Severity.WARNING, model.ks.warning),
                            (Severity.CRITICAL, model.ks.critical)):
        # an effect above the threshold, beyond what chance gives for the window's n values
        expr = f"{ks} > {number(limit)} and {ks} > {critical} and {n} >= {number(least)}"
        rules.append(_rule(
            alert, expr, "1h", severity, model,
            f"{_MODEL}: input drift on {{{{ $labels.feature }}}}",
            f"Binned KS of feature {{{{ $labels.feature }}}} against the training baseline is "
            f"{{{{ $value | printf \"%.3f\" }}}} over the last 1h's {count} values (threshold "
            f"{number(limit)}, and above {chance}, what chance gives for as many values at "
            f"alpha {number(alpha)}; at least {number(least)} values; for 1h)."))
    return rules


def _concept_drift(alert: str, config: Config, model: ModelConfig) -> list[AlertingRule]:
    names = _drift_rule_names()
    limit = model.psi.warning
    least = model.alerts.min_events.predictions
    alpha = model.drift_alpha
    psi, critical, n = (_select(names[k], model) for k in ("psi", "psi_critical", "concept_n"))
    expr = f"{psi} > {number(limit)} and {psi} > {critical} and {n} >= {number(least)}"
    return [_rule(alert, expr, "1h", Severity.WARNING, model,
                  f"{_MODEL}: prediction confidence drifted",
                  f"PSI of the prediction confidence against the training baseline is "
                  f"{{{{ $value | printf \"%.3f\" }}}} over the last 1h's {_count(n)} "
                  f"predictions (threshold {number(limit)}, and above "
                  f"{_query_value(f'`{critical}`', '%.3f')}, what chance gives for as many "
                  f"predictions at alpha {number(alpha)}; at "
                  f"least {number(least)} predictions; for 1h).")]


def _low_accuracy(alert: str, config: Config, model: ModelConfig) -> list[AlertingRule]:
    limit = model.alerts.accuracy_min
    least = model.alerts.min_events.ground_truth
    count = _select(ground_truth_count("1h"), model)
    expr = f"{_select(accuracy('1h'), model)} < {number(limit)} and {count} >= {number(least)}"
    return [_rule(alert, expr, "30m", Severity.CRITICAL, model,
                  f"{_MODEL}: accuracy below {_pct(limit)}",
                  f"Accuracy of {_MODEL} on the {_count(count)} ground-truth outcomes of the last "
                  f"1h is {{{{ $value | humanizePercentage }}}} (threshold {_pct(limit)}, for 30m; "
                  f"at least {number(least)} outcomes).")]


def _estimated_accuracy_drop(alert: str, config: Config,
                             model: ModelConfig) -> list[AlertingRule]:
    # the LowModelAccuracy threshold: the estimate says the labels, when they come, will fire it
    limit = model.alerts.accuracy_min
    least = model.alerts.min_events.predictions
    window = ESTIMATED_ACCURACY_ALERT_WINDOW
    count = _select(prediction_count(window), model)
    expr = (f"{_select(estimated_accuracy(window), model)} < {number(limit)} "
            f"and {count} >= {number(least)}")
    return [_rule(alert, expr, "15m", Severity.WARNING, model,
                  f"{_MODEL}: estimated accuracy below {_pct(limit)}",
                  f"From the confidences of {_MODEL}'s {_count(count)} predictions over the last "
                  f"{window}, its accuracy is estimated at {{{{ $value | humanizePercentage }}}} "
                  f"(threshold {_pct(limit)}, alerts.accuracy_min, LowModelAccuracy's floor, for 15m; at "
                  f"least {number(least)} predictions). No label is needed; the estimate assumes "
                  f"P(correct | confidence) is what it was on the baseline's labelled data.")]


def _low_confidence(alert: str, config: Config, model: ModelConfig) -> list[AlertingRule]:
    limit = model.alerts.low_confidence_share
    least = model.alerts.min_events.predictions
    count = _select(prediction_count("30m"), model)
    expr = (f"{_select(low_confidence_ratio('30m'), model)} > {number(limit)} "
            f"and {count} >= {number(least)}")
    return [_rule(alert, expr, "1h",
                  Severity.INFO, model, f"{_MODEL}: many low-confidence predictions",
                  f"{{{{ $value | humanizePercentage }}}} of {_MODEL}'s {_count(count)} "
                  f"predictions over the last 30m had confidence under "
                  f"{number(model.low_confidence_threshold)} (threshold {_pct(limit)}, for 1h; at "
                  f"least {number(least)} predictions).")]


def _metrics_absent(alert: str, config: Config, model: ModelConfig) -> list[AlertingRule]:
    # ml_model_info is what a running service always exports, from its start and with no
    # traffic; its counters may have no series until the first request
    m = model.name
    expr = f"absent({_select(MODEL_INFO.name, model)})"
    return [_rule(alert, expr, "10m", Severity.WARNING, model,
                  f"{m}: model metrics are absent",
                  f"Prometheus has no {MODEL_INFO.name} for {m} (value {{{{ $value }}}}, "
                  f"threshold: absent for 10m); the service or its instrumentation is not being "
                  f"scraped.")]


def _budget_burn(alert: str, config: Config, model: ModelConfig) -> list[AlertingRule]:
    period_seconds = model.slo.period_seconds
    rules = []
    for slo in SLOS:
        objective = slo_objective(model, slo)
        for window, threshold in burn_windows(objective, period_seconds):
            factor = window.factor(period_seconds)
            long_sel = _select(slo_error_ratio(window.long), model, slo=slo)
            short_sel = _select(slo_error_ratio(window.short), model, slo=slo)
            count = _select(slo_event_count(window.long), model, slo=slo)
            least = (model.alerts.min_events.ground_truth if slo == "accuracy"
                     else model.alerts.min_events.requests)
            history = round(HISTORY_COVERAGE * parse_duration(window.long))
            kind = "page" if window.severity == Severity.CRITICAL else "ticket"
            # evidence: enough events in the long window, and history covering most of it (a
            # fresh stack's 1d ratio is the ratio of its first minutes)
            expr = (f"{long_sel} > {number(threshold)} and {short_sel} > {number(threshold)} "
                    f"and {count} >= {number(least)} "
                    f"and on (model_name) {_select(HISTORY_AGE, model)} >= {number(history)}")
            rules.append(_rule(
                alert, expr, None, Severity(window.severity), model,
                f"{_MODEL}: {slo} SLO burns its error budget {number(factor)}x too fast ({kind})",
                f"The {slo} error ratio of {_MODEL} is {{{{ $value | humanizePercentage }}}} of "
                f"{_count(count)} events over {window.long} and above the threshold over "
                f"{window.short} too (threshold {_pct(threshold)} = {number(factor)} x the "
                f"{_pct(round(1 - objective, 9))} error budget of the {_pct(objective)} "
                f"objective; at least {number(least)} events and "
                f"{_pct(HISTORY_COVERAGE)} of {window.long} of history).",
                slo=slo, long_window=window.long, short_window=window.short))
    return rules


def _low_throughput(alert: str, config: Config, model: ModelConfig) -> list[AlertingRule]:
    limit = model.slo.throughput_min_rps
    share = model.slo.throughput_min_share_of_last_week
    now = _select(request_rate("5m"), model)
    # the hour around this time last week, from the raw counter (backfilled history counts)
    last_week = promql.sum_rate(_select(REQUESTS.sample, model), "1h", offset="6d23h30m")
    expr = (f"({now} < {number(limit)} and on (model_name) {now} < {number(share)} * "
            f"{last_week}) or ({now} < {number(limit)} unless on (model_name) {last_week})")
    return [_rule(alert, expr, "15m",
                  Severity.WARNING, model, f"{_MODEL}: throughput below {number(limit)} requests/s",
                  f"{_MODEL} served {{{{ $value | humanize }}}} requests/s over the last 5m "
                  f"(threshold {number(limit)} requests/s and, where there is history, "
                  f"{_pct(share)} of the same hour last week, for 15m).")]


# -- the catalogue ------------------------------------------------------------------------------

_C, _W, _I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

CATALOGUE: tuple[AlertSpec, ...] = (
    AlertSpec("HighErrorRate", "High error rate",
              "More than the critical share of requests fail (error ratio above "
              "`error_ratio.critical`, 5% by default, for 5 minutes).",
              (_C,), ("error ratio", "errors by type", "request rate"),
              build=_error_ratio(_C, "5m", lambda a: a.error_ratio_critical),
              inhibits=("ElevatedErrorRate",)),
    AlertSpec("ElevatedErrorRate", "Elevated error rate",
              "More than the warning share of requests fail (2% by default, for 10 minutes).",
              (_W,), ("error ratio", "errors by type", "request rate"),
              build=_error_ratio(_W, "10m", lambda a: a.error_ratio_warning)),
    AlertSpec("HighLatencyP95", "High P95 latency",
              "The 95th percentile of request duration is above a multiple of the latency SLO "
              "threshold (critical 2×, warning 1.5×).",
              (_C, _W), ("p95 latency", "request rate", "in flight"), build=_high_latency),
    AlertSpec("MLServiceDown", "Model service down",
              "Prometheus cannot scrape a target serving the model (`up == 0`; the target's "
              "`model_name` label or its last `ml_model_info` says which model it serves).",
              (_C,), ("up", "request rate"), build=_service_down, series_labels=(),
              inhibits=("ModelMetricsAbsent", "LowThroughput")),
    AlertSpec("DataDriftDetected", "Data drift",
              "An input feature's distribution moved away from the training baseline (binned KS "
              "above the configured threshold for 1 hour).",
              (_W, _C), ("feature drift", "invalid feature values"), needs_baseline=True,
              build=_data_drift, series_labels=("model_name", "feature")),
    AlertSpec("ConceptDriftDetected", "Concept drift",
              "The model's confidence distribution moved away from the training baseline (PSI "
              "above the configured threshold for 1 hour).",
              (_W,), ("confidence drift", "class share"), needs_baseline=True,
              build=_concept_drift),
    AlertSpec("LowModelAccuracy", "Low model accuracy",
              "The share of correct predictions on the ground-truth sample is below "
              "`accuracy_min` (0.70 by default) for 30 minutes.",
              (_C,), ("accuracy", "accuracy by segment", "ground-truth count"),
              build=_low_accuracy,
              # the labels said it: the estimate that foresaw it adds nothing while it fires
              inhibits=("EstimatedAccuracyDrop",)),
    AlertSpec("EstimatedAccuracyDrop", "Estimated accuracy drop",
              "The accuracy estimated from the live confidences through the baseline's "
              "reliability curve is below `accuracy_min` (0.70 by default) over 30 minutes, for "
              "15 minutes: before the labels say so.",
              (_W,), ("estimated accuracy", "realized accuracy", "confidence distribution",
                      "drifted features"),
              needs_baseline=True, needs_calibration=True, build=_estimated_accuracy_drop),
    AlertSpec("HighLowConfidencePredictions", "Many low-confidence predictions",
              "More than `low_confidence_share` (20% by default) of predictions are under the "
              "low-confidence threshold for 1 hour.",
              (_I,), ("low-confidence share", "confidence distribution"), build=_low_confidence),
    AlertSpec("ModelMetricsAbsent", "Model metrics absent",
              "Prometheus has no `ml_model_info` of the model, which a running service exports "
              "from its start: the service stopped exporting, or its scrape or name changed.",
              (_W,), ("request-counter series", "up"), build=_metrics_absent, series_labels=()),
    AlertSpec("SLOErrorBudgetBurn", "SLO error budget burn",
              "An SLO spends its error budget too fast over both a long and a short window "
              "(multi-window, multi-burn-rate: page at 14.4× and 6×, ticket at 3× and 1×).",
              (_C, _W), ("SLO bad-event ratio", "burn rates", "error budget remaining"),
              build=_budget_burn, group="slo-burn"),
    AlertSpec("LowThroughput", "Low throughput",
              "The model serves fewer requests per second than `throughput.min_rps` and than half "
              "the same hour last week (the floor alone where there is no such history).",
              (_W,), ("request rate", "error ratio"), build=_low_throughput),
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
