"""The alert catalogue as data: one :class:`AlertSpec` per alert.

Rule generation (``mlmon_nb.rules``), the runbook notebooks' headers, the runbook registry, the
launcher and the alert table of docs/alerts.md all read this one list. Adding an alert is one entry here
(its builder says how it fires: expression, ``for``, labels, summary and description) plus its
runbook ``runbooks/<name>.ipynb``; a test fails when an alert lacks either, or its row in that table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Iterable

from .. import promql
from ..config import Config, parse_duration
from ..estimated.rules import THIN_ROWS, THIN_SHARE, thin_share
from ..metrics import MODEL_INFO, REQUESTS
from ..promql import number
from ..promql.evidence import EVIDENCE, RatioEvidence
from ..promql.fleet import (
    CONFIGURED_MODELS,
    Setting,
    compare,
    model_series,
    query_text,
    setting,
    setting_text,
)
from ..promql.names import (
    ESTIMATED_ACCURACY_ALERT_WINDOW,
    HISTORY_AGE,
    HISTORY_COVERAGE,
    SLO_OBJECTIVE,
    SLOS,
    bound,
    estimated_accuracy,
    estimated_accuracy_margin,
    latency_quantile,
    prediction_count,
    request_rate,
    slo_error_ratio,
    slo_event_count,
    spike_window,
)
from ..promql.rule import AlertingRule
from ..slo.rules import BURN_WINDOWS

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
    settings series, :mod:`mlmon_nb.promql.fleet`); ``series_labels`` are the labels its firing
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
    return query_text(model_series(selector), "%.0f")


def _rule(alert: str, expr: str, for_: str | None, severity: Severity,
          summary: str, description: str, **labels: str) -> AlertingRule:
    return AlertingRule(alert, expr, for_, {"severity": str(severity), **labels},
                        {"summary": summary, "description": description})


def _pct(key: str, **labels: str) -> str:
    return setting_text(key, "humanizePercentage", **labels)


def _num(key: str, **labels: str) -> str:
    return setting_text(key, **labels)


def _evidence(evidence: RatioEvidence, key: str, least: str) -> str:
    """The alert's evidence: in one of its windows the ratio's bound is past ``key`` with at
    least ``least`` events (``alerts.min_events``, the floor under the statistic), unless the
    alert's own window has events and its ratio is on the healthy side (a longer window's
    evidence of what has passed does not keep an alert firing; a window without events neither
    confirms nor resets)."""
    op, healthy = (">", "<=") if evidence.side == "lower" else ("<", ">=")
    parts = []
    for w in evidence.windows:
        b = promql.selector(bound(evidence.ratio(w), evidence.side), **evidence.labels)
        n = promql.selector(evidence.count(w), **evidence.labels)
        parts.append(f"({compare(b, op, key)} and {compare(n, '>=', least)})")
    own = promql.selector(evidence.ratio(evidence.windows[0]), **evidence.labels)
    return (f"(({' or '.join(parts)}) unless on ({', '.join(evidence.by)}) "
            f"{compare(own, healthy, key)})")


def _series_of(evidence: RatioEvidence, name: str) -> str:
    """A Go template expression: the PromQL of ``name`` for the firing series (its ``by``
    labels from ``$labels``, the evidence's static ones written out)."""
    if evidence.by == ("model_name",):
        return model_series(name, **evidence.labels)
    matchers = ",".join(f"{k}=%q" for k in evidence.by)
    return f"printf `{name}{{{matchers}}}` " + " ".join(f"$labels.{k}" for k in evidence.by)


def _window_text(evidence: RatioEvidence, window: str, events: str) -> str:
    """"the ratio of the n events over the window, at least (most) the bound with C% confidence",
    for the firing model."""
    word = "at least" if evidence.side == "lower" else "at most"
    ratio = query_text(_series_of(evidence, evidence.ratio(window)), "humanizePercentage")
    n = query_text(_series_of(evidence, evidence.count(window)), "%.0f")
    b = query_text(_series_of(evidence, bound(evidence.ratio(window), evidence.side)),
                     "humanizePercentage")
    return f"{ratio} of {n} {events} over {window}, {word} {b} with {_pct('alert_confidence')} confidence"


def _evidence_text(evidence: RatioEvidence, events: str) -> str:
    return "; ".join(_window_text(evidence, w, events) for w in evidence.windows)


def _by_version(summary: str, model_text: str, version_text: str) -> tuple[str, str]:
    """The summary and description of an alert that judges each model on all its traffic and
    each version of a model running several on its own: the firing series says which."""
    return (f"{summary}{{{{ if $labels.model_version }}}} (version {{{{ $labels.model_version }}}})"
            f"{{{{ end }}}}",
            f"{{{{ if $labels.model_version }}}}{version_text}{{{{ else }}}}{model_text}"
            f"{{{{ end }}}}")


_OF_VERSION = f"version {{{{ $labels.model_version }}}} of {_MODEL}"


def _error_ratio(severity: Severity, for_: str, key: str) -> AlertBuilder:
    def build(alert: str, config: Config) -> list[AlertingRule]:
        short = spike_window(config.stack.scrape_interval_seconds)

        def condition(evidence: RatioEvidence) -> str:
            # "above the threshold for 5m" holds through minutes without traffic: only a short
            # window whose own requests show the ratio under the threshold resets the `for`
            on = ", ".join(evidence.by)
            healthy = compare(bound(evidence.ratio(short), "upper"), "<", key)
            return (f"{evidence.ratio('5m')} and on ({on}) "
                    f"{_evidence(evidence, key, 'min_requests')} unless on ({on}) {healthy}")

        def text(evidence: RatioEvidence, whose: str) -> str:
            n = query_text(_series_of(evidence, evidence.count("5m")), "%.0f")
            return (f"{{{{ $value | humanizePercentage }}}} of {whose} {n} requests failed over "
                    f"the last 5m. Chance alone does not explain it: "
                    f"{_evidence_text(evidence, 'requests')} (threshold {_pct(key)} for {for_}, "
                    f"the bound past it over 5m or 30m; a {short} window resets it only when its "
                    f"own requests show the ratio under {_pct(key)}; at least "
                    f"{_num('min_requests')} requests).")
        model, version = EVIDENCE["errors"], EVIDENCE["errors_version"]
        # each model on all its requests, and each version of a model running several alone
        summary, description = _by_version(f"{_MODEL}: error ratio above {_pct(key)}",
                                           text(model, f"{_MODEL}'s"),
                                           text(version, f"{_OF_VERSION}'s"))
        return [_rule(alert, f"({condition(model)}) or ({condition(version)})", for_, severity,
                      summary, description)]
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
            f"{query_text(model_series(slo_event_count('5m'), slo='latency'), '%.0f')} "
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
            "psi_critical": drift.CONCEPT_PSI_CRITICAL_RULE,
            "version_ks": drift.VERSION_KS_RULE, "version_n": drift.VERSION_N_RULE,
            "version_ks_critical": drift.VERSION_KS_CRITICAL_RULE}


def _feature_series(name: str, version: bool = False) -> str:
    if version:
        return (f"printf `{name}{{model_name=%q,model_version=%q,feature=%q}}` "
                f"$labels.model_name $labels.model_version $labels.feature")
    return f"printf `{name}{{model_name=%q,feature=%q}}` $labels.model_name $labels.feature"


def _data_drift(alert: str, config: Config) -> list[AlertingRule]:
    names = _drift_rule_names()

    def condition(ks: str, critical: str, n: str, key: str) -> str:
        # an effect above the threshold, beyond what chance gives for the window's n values
        return (f"{compare(ks, '>', key)} and {ks} > {critical} "
                f"and {compare(n, '>=', 'min_feature_values')}")

    def text(ks: str, critical: str, n: str, key: str, version: bool) -> str:
        whose = "version {{ $labels.model_version }}'s" if version else "the last 1h's"
        return (f"Binned KS of feature {{{{ $labels.feature }}}} against the training baseline "
                f"is {{{{ $value | printf \"%.3f\" }}}} over {whose} "
                f"{query_text(_feature_series(n, version), '%.0f')} values"
                f"{' of the last 1h' if version else ''} (threshold {_num(key)}, and above "
                f"{query_text(_feature_series(critical, version), '%.3f')}, what chance gives "
                f"for as many values at alpha {_num('drift_alpha')}; at least "
                f"{_num('min_feature_values')} values; for 1h).")
    rules = []
    for severity, key in ((Severity.WARNING, "ks_warning"), (Severity.CRITICAL, "ks_critical")):
        model = (names["ks"], names["ks_critical"], names["n"])
        version = (names["version_ks"], names["version_ks_critical"], names["version_n"])
        # each model on all its traffic, and each version of a model running several on its own
        expr = f"({condition(*model, key)}) or ({condition(*version, key)})"
        rules.append(_rule(
            alert, expr, "1h", severity,
            f"{_MODEL}: input drift on {{{{ $labels.feature }}}}"
            f"{{{{ if $labels.model_version }}}} (version {{{{ $labels.model_version }}}})"
            f"{{{{ end }}}}",
            f"{{{{ if $labels.model_version }}}}{text(*version, key, True)}{{{{ else }}}}"
            f"{text(*model, key, False)}{{{{ end }}}}"))
    return rules


def _past_chance(alert: str, statistic: str, critical: str, n: str, key: str, least: str,
                 summary: str, what: str, events: str, extra: str = "",
                 otherwise: str = "") -> list[AlertingRule]:
    """A model-level drift alert (warning, for 1h): ``statistic`` past the ``key`` threshold and
    past what chance gives for the window's ``n`` (``critical``), with at least ``least``
    events; or, past chance and with as many events, where ``otherwise`` holds instead of the
    threshold. ``what`` names the statistic and ``extra`` follows the count in its text."""
    evidence = f"{statistic} > {critical} and {compare(n, '>=', least)}"
    expr = f"{compare(statistic, '>', key)} and {evidence}"
    if otherwise:
        expr = f"({expr}) or ({evidence} and {otherwise})"
    unit = "values" if least == "min_feature_values" else events
    return [_rule(alert, expr, "1h", Severity.WARNING, f"{_MODEL}: {summary}",
                  f"{what} against the training baseline is "
                  f"{{{{ $value | printf \"%.3f\" }}}} over the last 1h's {_count(n)} "
                  f"{events}{extra} (threshold {_num(key)}, and above "
                  f"{query_text(model_series(critical), '%.3f')}, what chance gives for as "
                  f"many {events} at alpha {_num('drift_alpha')}; at least "
                  f"{_num(least)} {unit}; for 1h).")]


def _multivariate_drift(alert: str, config: Config) -> list[AlertingRule]:
    # drift pulls numpy and scipy; the catalogue is read on light paths (launcher, runbooks)
    from .. import drift  # noqa: PLC0415
    # the univariate drift alerts' rules: the warning threshold, past chance, enough values;
    # or, past chance, the mean error past what chance gives (a new segment of far-off inputs)
    mean, mean_critical = drift.MV_MEAN_RULE, drift.MV_MEAN_CRITICAL_RULE
    return _past_chance(
        alert, drift.MV_KS_RULE, drift.MV_KS_CRITICAL_RULE, drift.MV_N_RULE, "ks_warning",
        "min_feature_values", "the features' joint distribution drifted",
        "Binned KS of the reconstruction error (the distance of each input from the baseline's "
        "principal components)", "predictions",
        f", mean error {query_text(model_series(mean), '%.3f')} (chance gives up to "
        f"{query_text(model_series(mean_critical), '%.3f')})",
        f"{mean} > {mean_critical}")


def _concept_drift(alert: str, config: Config) -> list[AlertingRule]:
    names = _drift_rule_names()
    return _past_chance(alert, names["psi"], names["psi_critical"], names["concept_n"],
                        "psi_warning", "min_predictions", "prediction confidence drifted",
                        "PSI of the prediction confidence", "predictions")


def _model_or_version(alert: str, key: str, window: str, threshold: str, least: str, for_: str,
                      severity: Severity, summary: str,
                      text: Callable[[RatioEvidence, str], str]) -> list[AlertingRule]:
    """An alert on the ratio ``EVIDENCE[key]`` over ``window`` past ``threshold`` with its
    evidence (at least ``least`` events), for each model on all its traffic and for each version
    of a model running several on its own (``EVIDENCE[key + "_version"]``)."""
    def condition(evidence: RatioEvidence) -> str:
        return (f"{evidence.ratio(window)} and on ({', '.join(evidence.by)}) "
                f"{_evidence(evidence, threshold, least)}")
    model, version = EVIDENCE[key], EVIDENCE[f"{key}_version"]
    summary, description = _by_version(summary, text(model, _MODEL), text(version, _OF_VERSION))
    return [_rule(alert, f"({condition(model)}) or ({condition(version)})", for_, severity,
                  summary, description)]


def _low_accuracy(alert: str, config: Config) -> list[AlertingRule]:
    def text(evidence: RatioEvidence, whose: str) -> str:
        n = query_text(_series_of(evidence, evidence.count("1h")), "%.0f")
        return (f"Accuracy of {whose} on the {n} ground-truth outcomes of the last 1h is "
                f"{{{{ $value | humanizePercentage }}}}. Chance alone does not explain it: "
                f"{_evidence_text(evidence, 'outcomes')} (threshold {_pct('accuracy_min')} for "
                f"30m, the bound under it over 1h or 6h; at least {_num('min_ground_truth')} "
                f"outcomes).")
    return _model_or_version(alert, "accuracy", "1h", "accuracy_min", "min_ground_truth", "30m",
                             Severity.CRITICAL,
                             f"{_MODEL}: accuracy below {_pct('accuracy_min')}", text)


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
                  f"floor, for 15m; at least {_num('min_predictions')} predictions). "
                  f"{query_text(model_series(thin_share(window)), 'humanizePercentage')} of them "
                  f"fell where the curve rests on fewer than {THIN_ROWS} labelled rows (over "
                  f"{THIN_SHARE:.0%}: the estimate is uncertain). No label is "
                  f"needed; the estimate assumes P(correct | confidence) is what it was on the "
                  f"baseline's labelled data.")]


def _low_confidence(alert: str, config: Config) -> list[AlertingRule]:
    def text(evidence: RatioEvidence, whose: str) -> str:
        n = query_text(_series_of(evidence, evidence.count("30m")), "%.0f")
        return (f"{{{{ $value | humanizePercentage }}}} of {whose}'s {n} predictions over the "
                f"last 30m had confidence under {_num('low_confidence_threshold')}: "
                f"{_evidence_text(evidence, 'predictions')} (threshold "
                f"{_pct('low_confidence_share')} for 1h, the bound past it over 30m or 2h; at "
                f"least {_num('min_predictions')} predictions).")
    return _model_or_version(alert, "low_confidence", "30m", "low_confidence_share",
                             "min_predictions", "1h", Severity.INFO,
                             f"{_MODEL}: many low-confidence predictions", text)


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
            lower = promql.selector(bound(slo_error_ratio(window.long), "lower"), slo=slo)
            expr = (f"{compare(long_sel, '>', 'slo_burn', on, **burn)} "
                    f"and {compare(short_sel, '>', 'slo_burn', on, **burn)} "
                    f"and {compare(lower, '>', 'slo_burn', on, **burn)} "
                    f"and {compare(count, '>=', least)} "
                    f"and on (model_name) {HISTORY_AGE} >= {number(history)}")
            factor = _num("slo_burn_factor", long_window=window.long)
            objective = query_text(model_series(SLO_OBJECTIVE, slo=slo), "humanizePercentage")
            rules.append(_rule(
                alert, expr, None, Severity(window.severity),
                f"{_MODEL}: {slo} SLO burns its error budget {factor}x too fast ({kind})",
                f"The {slo} error ratio of {_MODEL} is {{{{ $value | humanizePercentage }}}} of "
                f"{query_text(model_series(slo_event_count(window.long), slo=slo), '%.0f')} "
                f"events over {window.long} and above the threshold over {window.short} too "
                f"(threshold {_pct('slo_burn', **burn)} = {factor} x the "
                f"{_pct('slo_budget', slo=slo)} error budget of the {objective} "
                f"objective; {_window_text(EVIDENCE[f'slo_{slo}'], window.long, 'events')}; "
                f"at least {_num(least)} events and "
                f"{HISTORY_COVERAGE * 100:g}% of {window.long} of history).",
                slo=slo, long_window=window.long, short_window=window.short))
    return rules


def _same_moment(ago: str) -> str:
    """Requests per second in the 10 minutes around this moment ``ago`` (``1w``, ``1d``)."""
    seconds = parse_duration(ago) - 300
    return promql.sum_rate(REQUESTS.sample, "10m", offset=promql.duration(seconds))


def throughput_reference() -> str:
    """What a model's traffic is compared with: the quietest of the same moment over the last
    four weeks that have history, or in its first week of the last six days."""
    def quietest(agos: list[str]) -> str:
        alternatives = " or ".join(
            f'label_replace({_same_moment(a)}, "ago", "{a}", "", "")' for a in agos)
        return f"min by (model_name) ({alternatives})"
    return (f"({quietest([f'{w}w' for w in range(1, 5)])} "
            f"or on (model_name) {quietest([f'{d}d' for d in range(1, 7)])})")


def _low_throughput(alert: str, config: Config) -> list[AlertingRule]:
    now = request_rate("5m")
    reference = throughput_reference()
    share = setting("throughput_min_share")
    expr = (f"({compare(now, '<', 'throughput_min_rps')} and on (model_name) {now} < "
            f"{share} * on (model_name) group_right () {reference}) "
            f"or ({compare(now, '<', 'throughput_min_rps')} unless on (model_name) {reference})")
    return [_rule(alert, expr, "15m", Severity.WARNING,
                  f"{_MODEL}: throughput below {_num('throughput_min_rps')} requests/s",
                  f"{_MODEL} served {{{{ $value | humanize }}}} requests/s over the last 5m "
                  f"(threshold {_num('throughput_min_rps')} requests/s and, where there is "
                  f"history, {_pct('throughput_min_share')} of the quietest same moment of the "
                  f"last four weeks, or of the last six days in its first week; for 15m).")]


# -- the catalogue ------------------------------------------------------------------------------

_C, _W, _I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

CATALOGUE: tuple[AlertSpec, ...] = (
    AlertSpec("HighErrorRate", "High error rate",
              "More than the critical share of requests fail (error ratio above "
              "`error_ratio.critical`, 5% by default, for 5 minutes).",
              (_C,), ("error ratio", "errors by type", "request rate"),
              build=_error_ratio(_C, "5m", "error_ratio_critical"),
              series_labels=("model_name", "model_version"),
              inhibits=("ElevatedErrorRate",)),
    AlertSpec("ElevatedErrorRate", "Elevated error rate",
              "More than the warning share of requests fail (2% by default, for 10 minutes).",
              (_W,), ("error ratio", "errors by type", "request rate"),
              build=_error_ratio(_W, "10m", "error_ratio_warning"),
              series_labels=("model_name", "model_version")),
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
              build=_data_drift, series_labels=("model_name", "feature", "model_version")),
    AlertSpec("ConceptDriftDetected", "Concept drift",
              "The model's confidence distribution moved away from the training baseline (PSI "
              "above the configured threshold for 1 hour).",
              (_W,), ("confidence drift", "class share"), needs_baseline=True,
              build=_concept_drift),
    AlertSpec("MultivariateDriftDetected", "Multivariate drift",
              "The inputs' joint distribution moved away from the training baseline while each "
              "feature alone may look as usual: the reconstruction error by the baseline's "
              "principal components (binned KS above the data-drift warning threshold and past "
              "chance, for 1 hour).",
              (_W,), ("reconstruction error", "feature residuals", "feature drift"),
              needs_baseline=True, build=_multivariate_drift),
    AlertSpec("LowModelAccuracy", "Low model accuracy",
              "The share of correct predictions on the ground-truth sample is below "
              "`accuracy_min` (0.70 by default) for 30 minutes.",
              (_C,), ("accuracy", "accuracy by segment", "ground-truth count"),
              build=_low_accuracy, series_labels=("model_name", "model_version"),
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
              (_I,), ("low-confidence share", "confidence distribution"), build=_low_confidence,
              series_labels=("model_name", "model_version")),
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
