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
from ..config import Config, parse_duration
from ..metrics import MODEL_INFO, REQUESTS
from ..promql import number
from .fleet import CONFIGURED_MODELS, Setting, compare, setting, setting_text
from .model import AlertingRule
from .names import (
    ESTIMATED_ACCURACY_ALERT_WINDOW,
    HISTORY_AGE,
    HISTORY_COVERAGE,
    SLO_OBJECTIVE,
    SLOS,
    accuracy,
    error_ratio,
    estimated_accuracy,
    estimated_accuracy_margin,
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
from .slo import BURN_WINDOWS

__all__ = ["Severity", "AlertSpec", "AlertBuilder", "ALERT_SETTINGS", "CATALOGUE", "ALERT_NAMES",
           "get"]


class Severity(StrEnum):
    """Alert severities, most urgent first; routing and queueing order by them."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


# (alert name, configuration) -> the alert's rules, for every model at once
AlertBuilder = Callable[[str, Config], Iterable[AlertingRule]]


@dataclass(frozen=True)
class AlertSpec:
    """One alert: its name, the severities it fires at, and what its runbook is about.

    ``title`` and ``meaning`` head the runbook and the README row; ``signals`` name the evidence
    the runbook shows first; ``needs_baseline`` alerts fire only for models whose service exports
    a baseline, ``needs_calibration`` ones only where the baseline has a calibration.
    ``build`` writes its alerting rules, once for every model (thresholds are joined from the
    settings series, :mod:`mlmon_nb.rules.fleet`); ``series_labels`` are the labels its firing
    series carry (templated into the runbook link; static ones are written out); ``group`` is
    the rule group it goes in (``mlmon:<group>``); ``inhibits`` are the alerts it silences for
    the same model while it fires.
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

    def rules(self, config: Config) -> tuple[AlertingRule, ...]:
        """This alert's rules (without the runbook link, which rules adds)."""
        return tuple(self.build(self.name, config))


# -- the per-model numbers the alerts read (series of the settings stage) -----------------------

ALERT_SETTINGS: tuple[Setting, ...] = (
    Setting("error_ratio_critical", lambda m: m.alerts.error_ratio_critical),
    Setting("error_ratio_warning", lambda m: m.alerts.error_ratio_warning),
    Setting("latency_p95_critical", lambda m: round(
        m.alerts.latency_p95_factor_critical * m.slo.latency_threshold_seconds, 9)),
    Setting("latency_p95_warning", lambda m: round(
        m.alerts.latency_p95_factor_warning * m.slo.latency_threshold_seconds, 9)),
    Setting("latency_p95_factor_critical", lambda m: m.alerts.latency_p95_factor_critical),
    Setting("latency_p95_factor_warning", lambda m: m.alerts.latency_p95_factor_warning),
    Setting("latency_slo_seconds", lambda m: m.slo.latency_threshold_seconds),
    Setting("accuracy_min", lambda m: m.alerts.accuracy_min),
    Setting("low_confidence_share", lambda m: m.alerts.low_confidence_share),
    Setting("low_confidence_threshold", lambda m: m.low_confidence_threshold),
    Setting("min_requests", lambda m: m.alerts.min_events.requests),
    Setting("min_predictions", lambda m: m.alerts.min_events.predictions),
    Setting("min_ground_truth", lambda m: m.alerts.min_events.ground_truth),
    Setting("min_feature_values", lambda m: m.alerts.min_events.feature_values),
    Setting("ks_warning", lambda m: m.ks.warning),
    Setting("ks_critical", lambda m: m.ks.critical),
    Setting("psi_warning", lambda m: m.psi.warning),
    Setting("drift_alpha", lambda m: m.drift_alpha),
    Setting("throughput_min_rps", lambda m: m.slo.throughput_min_rps),
    Setting("throughput_min_share", lambda m: m.slo.throughput_min_share_of_last_week),
)


# -- builders: how each alert fires -------------------------------------------------------------

_MODEL = "{{ $labels.model_name }}"


def _count(selector: str) -> str:
    """An annotation template printing the firing model's value of a count series (an alert's
    evidence)."""
    return _query_value(_model_series(selector), "%.0f")


def _model_series(name: str, **labels: str) -> str:
    """A Go template expression: the PromQL of ``name`` for the firing model (and ``labels``)."""
    extra = "".join(f",{k}=%q" for k in labels)
    args = " ".join(f'"{v}"' for v in labels.values())
    return f"printf `{name}{{model_name=%q{extra}}}` $labels.model_name {args}".rstrip()


def _rule(alert: str, expr: str, for_: str | None, severity: Severity,
          summary: str, description: str, **labels: str) -> AlertingRule:
    return AlertingRule(alert, expr, for_, {"severity": str(severity), **labels},
                        {"summary": summary, "description": description})


def _pct(key: str, **labels: str) -> str:
    return setting_text(key, "humanizePercentage", **labels)


def _num(key: str, **labels: str) -> str:
    return setting_text(key, **labels)


def _error_ratio(severity: Severity, for_: str, key: str) -> AlertBuilder:
    def build(alert: str, config: Config) -> list[AlertingRule]:
        short = spike_window(config.stack.scrape_interval_seconds)
        # the short-window ratio too, at every evaluation of the `for`: a spike shorter than
        # `for` keeps the 5m ratio up for 5 minutes, but not the short one
        expr = (f"{compare(error_ratio('5m'), '>', key)} "
                f"and {compare(error_ratio(short), '>', key)} "
                f"and {compare(request_count('5m'), '>=', 'min_requests')}")
        return [_rule(alert, expr, for_, severity,
                      f"{_MODEL}: error ratio above {_pct(key)}",
                      f"{{{{ $value | humanizePercentage }}}} of {_MODEL}'s "
                      f"{_count(request_count('5m'))} requests failed over the last 5m, and over "
                      f"{_pct(key)} over the last {short} too (threshold {_pct(key)} over both, "
                      f"for {for_}; at least {_num('min_requests')} requests).")]
    return build


def _high_latency(alert: str, config: Config) -> list[AlertingRule]:
    rules = []
    for severity, key, factor, for_ in (
            (Severity.CRITICAL, "latency_p95_critical", "critical", "10m"),
            (Severity.WARNING, "latency_p95_warning", "warning", "15m")):
        count = promql.selector(slo_event_count("5m"), slo="latency")
        expr = (f"{compare(latency_quantile(0.95, '5m'), '>', key)} "
                f"and on (model_name) {compare(count, '>=', 'min_requests')}")
        factor_key = f"latency_p95_factor_{factor}"
        rules.append(_rule(
            alert, expr, for_, severity,
            f"{_MODEL}: P95 latency above {_num(factor_key)}x the SLO",
            f"P95 latency of {_MODEL} is {{{{ $value | humanizeDuration }}}} over the last 5m's "
            f"{_query_value(_model_series(slo_event_count('5m'), slo='latency'), '%.0f')} "
            f"requests (threshold {_num(key)}s = {_num(factor_key)} x the "
            f"{_num('latency_slo_seconds')}s latency SLO, for {for_}; at least "
            f"{_num('min_requests')} requests)."))
    return rules


def _service_down(alert: str, config: Config) -> list[AlertingRule]:
    # the targets serving a model: labelled so in the scrape configuration (a `model_name`
    # target label), or having exported its ml_model_info within the last day; any job
    labelled = promql.selector("up", promql.matcher("model_name", "", "!="))
    unlabelled = promql.selector("up", model_name="")
    expr = (f"({labelled} == 0) or on (job, instance) ({unlabelled} == 0) * on (job, instance) "
            f"group_left (model_name) max by (job, instance, model_name) "
            f"(last_over_time({MODEL_INFO.name}[1d]))")
    return [_rule(alert, expr, "1m", Severity.CRITICAL,
                  f"{_MODEL}: the model service is down",
                  f"Prometheus cannot scrape {{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) "
                  f"serving {_MODEL}: up is {{{{ $value }}}} (threshold: up == 0, for 1m).")]


def _drift_rule_names() -> dict[str, str]:
    # drift pulls numpy and scipy; the catalogue is read on light paths (launcher, runbooks)
    from .. import drift  # noqa: PLC0415
    return {"ks": drift.KS_RULE, "n": drift.N_RULE, "ks_critical": drift.KS_CRITICAL_RULE,
            "psi": drift.CONCEPT_PSI_RULE, "concept_n": drift.CONCEPT_N_RULE,
            "psi_critical": drift.CONCEPT_PSI_CRITICAL_RULE}


def _query_value(template_selector: str, fmt: str) -> str:
    """An annotation template printing one series' value; ``template_selector`` is a Go
    template expression yielding the PromQL (e.g. a ``printf`` with ``$labels``); ``fmt`` a
    printf format or a template function (``humanizePercentage``)."""
    value = f'printf "{fmt}"' if fmt.startswith("%") else fmt
    return f"{{{{ with {template_selector} | query }}}}{{{{ . | first | value | {value} }}}}{{{{ end }}}}"


def _feature_series(name: str) -> str:
    return f"printf `{name}{{model_name=%q,feature=%q}}` $labels.model_name $labels.feature"


def _data_drift(alert: str, config: Config) -> list[AlertingRule]:
    names = _drift_rule_names()
    ks, critical, n = names["ks"], names["ks_critical"], names["n"]
    count = _query_value(_feature_series(n), "%.0f")
    chance = _query_value(_feature_series(critical), "%.3f")
    rules = []
    for severity, key in ((Severity.WARNING, "ks_warning"), (Severity.CRITICAL, "ks_critical")):
        # an effect above the threshold, beyond what chance gives for the window's n values
        expr = (f"{compare(ks, '>', key)} and {ks} > {critical} "
                f"and {compare(n, '>=', 'min_feature_values')}")
        rules.append(_rule(
            alert, expr, "1h", severity,
            f"{_MODEL}: input drift on {{{{ $labels.feature }}}}",
            f"Binned KS of feature {{{{ $labels.feature }}}} against the training baseline is "
            f"{{{{ $value | printf \"%.3f\" }}}} over the last 1h's {count} values (threshold "
            f"{_num(key)}, and above {chance}, what chance gives for as many values at "
            f"alpha {_num('drift_alpha')}; at least {_num('min_feature_values')} values; "
            f"for 1h)."))
    return rules


def _concept_drift(alert: str, config: Config) -> list[AlertingRule]:
    names = _drift_rule_names()
    psi, critical, n = names["psi"], names["psi_critical"], names["concept_n"]
    expr = (f"{compare(psi, '>', 'psi_warning')} and {psi} > {critical} "
            f"and {compare(n, '>=', 'min_predictions')}")
    return [_rule(alert, expr, "1h", Severity.WARNING,
                  f"{_MODEL}: prediction confidence drifted",
                  f"PSI of the prediction confidence against the training baseline is "
                  f"{{{{ $value | printf \"%.3f\" }}}} over the last 1h's {_count(n)} "
                  f"predictions (threshold {_num('psi_warning')}, and above "
                  f"{_query_value(_model_series(critical), '%.3f')}, what chance gives for as "
                  f"many predictions at alpha {_num('drift_alpha')}; at least "
                  f"{_num('min_predictions')} predictions; for 1h).")]


def _low_accuracy(alert: str, config: Config) -> list[AlertingRule]:
    expr = (f"{compare(accuracy('1h'), '<', 'accuracy_min')} "
            f"and {compare(ground_truth_count('1h'), '>=', 'min_ground_truth')}")
    return [_rule(alert, expr, "30m", Severity.CRITICAL,
                  f"{_MODEL}: accuracy below {_pct('accuracy_min')}",
                  f"Accuracy of {_MODEL} on the {_count(ground_truth_count('1h'))} ground-truth "
                  f"outcomes of the last 1h is {{{{ $value | humanizePercentage }}}} (threshold "
                  f"{_pct('accuracy_min')}, for 30m; at least {_num('min_ground_truth')} "
                  f"outcomes).")]


def _estimated_accuracy_drop(alert: str, config: Config) -> list[AlertingRule]:
    # the LowModelAccuracy threshold: the estimate says the labels, when they come, will fire it
    window = ESTIMATED_ACCURACY_ALERT_WINDOW
    count = prediction_count(window)
    # the band's upper edge under it: the estimate's own uncertainty cannot explain the drop
    upper = f"({estimated_accuracy(window)} + {estimated_accuracy_margin(window)})"
    expr = (f"{compare(upper, '<', 'accuracy_min')} "
            f"and {compare(count, '>=', 'min_predictions')}")
    return [_rule(alert, expr, "15m", Severity.WARNING,
                  f"{_MODEL}: estimated accuracy below {_pct('accuracy_min')}",
                  f"From the confidences of {_MODEL}'s {_count(count)} predictions over the last "
                  f"{window}, its accuracy is estimated at most {{{{ $value | humanizePercentage }}}} "
                  f"(the 95% band's upper edge; threshold {_pct('accuracy_min')}, "
                  f"alerts.accuracy_min, LowModelAccuracy's "
                  f"floor, for 15m; at least {_num('min_predictions')} predictions). No label is "
                  f"needed; the estimate assumes P(correct | confidence) is what it was on the "
                  f"baseline's labelled data.")]


def _low_confidence(alert: str, config: Config) -> list[AlertingRule]:
    count = prediction_count("30m")
    expr = (f"{compare(low_confidence_ratio('30m'), '>', 'low_confidence_share')} "
            f"and {compare(count, '>=', 'min_predictions')}")
    return [_rule(alert, expr, "1h", Severity.INFO,
                  f"{_MODEL}: many low-confidence predictions",
                  f"{{{{ $value | humanizePercentage }}}} of {_MODEL}'s {_count(count)} "
                  f"predictions over the last 30m had confidence under "
                  f"{_num('low_confidence_threshold')} (threshold {_pct('low_confidence_share')}, "
                  f"for 1h; at least {_num('min_predictions')} predictions).")]


def _metrics_absent(alert: str, config: Config) -> list[AlertingRule]:
    # ml_model_info is what a running service always exports, from its start and with no
    # traffic; its counters may have no series until the first request
    expr = f"{CONFIGURED_MODELS} unless on (model_name) {MODEL_INFO.name}"
    return [_rule(alert, expr, "10m", Severity.WARNING,
                  f"{_MODEL}: model metrics are absent",
                  f"Prometheus has no {MODEL_INFO.name} for {_MODEL} (value {{{{ $value }}}}, "
                  f"threshold: absent for 10m); the service or its instrumentation is not being "
                  f"scraped.")]


def _budget_burn(alert: str, config: Config) -> list[AlertingRule]:
    rules = []
    for slo in SLOS:
        for window in BURN_WINDOWS:
            kind = "page" if window.severity == Severity.CRITICAL else "ticket"
            least = "min_ground_truth" if slo == "accuracy" else "min_requests"
            history = round(HISTORY_COVERAGE * parse_duration(window.long))
            on = ("model_name", "slo")
            burn = {"slo": slo, "long_window": window.long}
            long_sel = promql.selector(slo_error_ratio(window.long), slo=slo)
            short_sel = promql.selector(slo_error_ratio(window.short), slo=slo)
            count = promql.selector(slo_event_count(window.long), slo=slo)
            # evidence: enough events in the long window, and history covering most of it (a
            # fresh stack's 1d ratio is the ratio of its first minutes)
            expr = (f"{compare(long_sel, '>', 'slo_burn', on, **burn)} "
                    f"and {compare(short_sel, '>', 'slo_burn', on, **burn)} "
                    f"and {compare(count, '>=', least)} "
                    f"and on (model_name) {HISTORY_AGE} >= {number(history)}")
            factor = _num("slo_burn_factor", long_window=window.long)
            objective = _query_value(_model_series(SLO_OBJECTIVE, slo=slo), "humanizePercentage")
            rules.append(_rule(
                alert, expr, None, Severity(window.severity),
                f"{_MODEL}: {slo} SLO burns its error budget {factor}x too fast ({kind})",
                f"The {slo} error ratio of {_MODEL} is {{{{ $value | humanizePercentage }}}} of "
                f"{_query_value(_model_series(slo_event_count(window.long), slo=slo), '%.0f')} "
                f"events over {window.long} and above the threshold over {window.short} too "
                f"(threshold {_pct('slo_burn', **burn)} = {factor} x the "
                f"{_pct('slo_budget', slo=slo)} error budget of the {objective} "
                f"objective; at least {_num(least)} events and "
                f"{HISTORY_COVERAGE * 100:g}% of {window.long} of history).",
                slo=slo, long_window=window.long, short_window=window.short))
    return rules


def _low_throughput(alert: str, config: Config) -> list[AlertingRule]:
    now = request_rate("5m")
    # the hour around this time last week, from the raw counter (backfilled history counts)
    last_week = promql.sum_rate(REQUESTS.sample, "1h", offset="6d23h30m")
    share = setting("throughput_min_share")
    expr = (f"({compare(now, '<', 'throughput_min_rps')} and on (model_name) {now} < "
            f"{share} * on (model_name) group_right () {last_week}) "
            f"or ({compare(now, '<', 'throughput_min_rps')} unless on (model_name) {last_week})")
    return [_rule(alert, expr, "15m", Severity.WARNING,
                  f"{_MODEL}: throughput below {_num('throughput_min_rps')} requests/s",
                  f"{_MODEL} served {{{{ $value | humanize }}}} requests/s over the last 5m "
                  f"(threshold {_num('throughput_min_rps')} requests/s and, where there is "
                  f"history, {_pct('throughput_min_share')} of the same hour last week, for "
                  f"15m).")]


# -- the catalogue ------------------------------------------------------------------------------

_C, _W, _I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

CATALOGUE: tuple[AlertSpec, ...] = (
    AlertSpec("HighErrorRate", "High error rate",
              "More than the critical share of requests fail (error ratio above "
              "`error_ratio.critical`, 5% by default, for 5 minutes).",
              (_C,), ("error ratio", "errors by type", "request rate"),
              build=_error_ratio(_C, "5m", "error_ratio_critical"),
              inhibits=("ElevatedErrorRate",)),
    AlertSpec("ElevatedErrorRate", "Elevated error rate",
              "More than the warning share of requests fail (2% by default, for 10 minutes).",
              (_W,), ("error ratio", "errors by type", "request rate"),
              build=_error_ratio(_W, "10m", "error_ratio_warning")),
    AlertSpec("HighLatencyP95", "High P95 latency",
              "The 95th percentile of request duration is above a multiple of the latency SLO "
              "threshold (critical 2×, warning 1.5×).",
              (_C, _W), ("p95 latency", "request rate", "in flight"), build=_high_latency),
    AlertSpec("MLServiceDown", "Model service down",
              "Prometheus cannot scrape a target serving the model (`up == 0`; the target's "
              "`model_name` label or its last `ml_model_info` says which model it serves).",
              (_C,), ("up", "request rate"), build=_service_down,
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
              "reliability curve is below `accuracy_min` (0.70 by default) over 30 minutes, its "
              "whole 95% band included, for 15 minutes: before the labels say so.",
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
              (_W,), ("request-counter series", "up"), build=_metrics_absent),
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
