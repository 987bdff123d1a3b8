"""The alert catalogue as data: one :class:`AlertSpec` per alert.

Rule generation (``mlmon_nb.rules``), the runbooks' conditions, the runbook notebooks' headers,
the runbook registry, the launcher and the alert table of docs/alerts.md all read this one list.
Each alert's facts — per severity its ``for``, the setting its threshold compares with, the window
of the value it reports and the setting of the fewest events it needs — are its
:class:`Firing` rows, which its builder reads (the expression, labels, summary and description
are the builder's) and :func:`fires_when` puts in words for the headers and that table
(:mod:`mlmon_nb.runbooks.headers` writes them). Adding an alert is one entry here plus its
runbook ``runbooks/<name>.ipynb``; a test fails when an alert lacks either.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Callable, Iterable, Mapping

from .. import promql
from ..config import Config, ModelConfig, parse_duration
from ..errors import ConfigError
from ..estimated.rules import MODEL_SCOPE, THIN_ROWS, THIN_SHARE, VERSION_SCOPE, Scope, thin_share
from ..metrics import MODEL_INFO, REQUESTS
from ..promql import number
from ..promql.baselines import VERSION_BASELINES
from ..promql.evidence import EVIDENCE, RatioEvidence, poisson_upper
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
    LONG_INTERVAL,
    SLO_OBJECTIVE,
    SLOS,
    bound,
    estimated_accuracy,
    estimated_accuracy_margin,
    is_chained,
    latency_quantile,
    prediction_count,
    request_count,
    request_rate,
    slo_chain_coverage,
    slo_error_ratio,
    slo_event_count,
    spike_window,
)
from ..promql.rule import AlertingRule
from ..slo.rules import BURN_WINDOWS

__all__ = ["Severity", "Firing", "AlertSpec", "AlertBuilder", "ALERT_SETTINGS", "CATALOGUE",
           "ALERT_NAMES", "get", "for_overrides", "fires_when", "GROUP_INTERVALS", "SLO_LEAST"]

# the group of the alerts on drift: their statistics change once per drift evaluation (5m) and
# they fire after an hour, so they are judged every minute instead of every evaluation
DRIFT_ALERTS = "drift-alerts"
# the alert groups with an interval of their own (the others run at the global interval)
GROUP_INTERVALS: Mapping[str, str] = {DRIFT_ALERTS: LONG_INTERVAL}


class Severity(StrEnum):
    """Alert severities, most urgent first; routing and queueing order by them."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Firing:
    """One severity of an alert, as its rule states it: how long the condition holds before the
    alert fires (``for_``; None: at the first evaluation that finds it), the setting key its
    value is compared with (``threshold``, a key of :data:`ALERT_SETTINGS` or of the SLO
    settings), the window of the value it reports, and the setting key of the fewest events
    its window must hold (``least``, from ``alerts.min_events``). The rule builders, the runbooks'
    conditions (:mod:`mlmon_nb.investigate.rule_condition`) and the "fires when" text of the
    runbook headers and docs/alerts.md all read these."""

    severity: Severity
    for_: str | None
    threshold: str | None = None
    window: str | None = None
    least: str | None = None


# (the alert, configuration) -> the alert's rules, for every model at once
AlertBuilder = Callable[["AlertSpec", Config], Iterable[AlertingRule]]


@dataclass(frozen=True)
class AlertSpec:
    """One alert: its name, the firing rows of its severities, and what its runbook is about.

    ``title`` and ``meaning`` head the runbook and the docs row (``meaning`` says what the alert
    means; the facts of each severity are its ``firings``, rendered by :func:`fires_when`);
    ``reports`` names the value its rule compares (``the 5m <reports> above …``) and ``side``
    how (``above``, ``below``), or, for an alert without a threshold, is its whole condition;
    ``signals`` name the evidence the runbook shows first; ``needs_baseline`` alerts fire only
    for models whose service exports a baseline, ``needs_calibration`` ones only where the
    baseline has a calibration. ``build`` writes its alerting rules from its firing rows, once
    for every model (thresholds are joined from the settings series,
    :mod:`mlmon_nb.promql.fleet`); ``series_labels`` are the labels its firing series carry
    (templated into the runbook link; static ones are written out); ``group`` is the rule group
    it goes in (``mlmon:<group>``); ``inhibits`` are the alerts it silences for the same model
    while it fires; ``evidence`` is the key in :data:`~mlmon_nb.promql.evidence.EVIDENCE` of the
    ratio whose bound it judges over its own window and its look-back (a canary's: the key's
    ``_version`` ratio), for the alerts that judge one; ``otherwise`` is a second condition that
    fires it as well, in the words of :func:`fires_when`.
    """

    name: str
    title: str
    meaning: str
    firings: tuple[Firing, ...]
    signals: tuple[str, ...]
    needs_baseline: bool = False
    needs_calibration: bool = False
    build: AlertBuilder = field(kw_only=True, repr=False, compare=False)
    reports: str = field(kw_only=True)
    side: str = field(default="above", kw_only=True)
    series_labels: tuple[str, ...] = field(default=("model_name",), kw_only=True)
    group: str = field(default="alerts", kw_only=True)
    inhibits: tuple[str, ...] = field(default=(), kw_only=True)
    evidence: str | None = field(default=None, kw_only=True)
    otherwise: str = field(default="", kw_only=True)

    @property
    def severities(self) -> tuple[Severity, ...]:
        """The severities it fires at, in the order of its rows."""
        return tuple(f.severity for f in self.firings)

    def firings_for(self, config: Config) -> tuple[Firing, ...]:
        """Its firing rows under ``config``: ``alerts.for`` may set the ``for`` of every row."""
        override = for_overrides(config).get(self.name)
        if override is None:
            return self.firings
        return tuple(replace(f, for_=override) for f in self.firings)

    def firing(self, severity: Severity | str, config: Config) -> Firing:
        """The row of ``severity`` under ``config``; KeyError when it does not fire at it."""
        for row in self.firings_for(config):
            if row.severity == severity:
                return row
        raise KeyError(f"{self.name} does not fire at {severity!r}; it fires at "
                       f"{', '.join(self.severities)}")

    def rules(self, config: Config) -> tuple[AlertingRule, ...]:
        """This alert's rules (without the runbook link, which rules adds)."""
        return tuple(self.build(self, config))


def for_overrides(config: Config) -> Mapping[str, str]:
    """``alerts.for`` of the configuration: alert name → its ``for``; a ConfigError naming the
    known alerts for a name the catalogue does not have."""
    unknown = sorted(set(config.alert_for) - set(_BY_NAME))
    if unknown:
        raise ConfigError(f"alerts.for names no alert of the catalogue: {', '.join(unknown)}; "
                          f"known: {', '.join(ALERT_NAMES)}",
                          str(config.path) if config.path else None)
    return config.alert_for


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
    alert's own window shows the ratio on the healthy side beyond chance (its other bound there:
    a longer window's evidence of what has passed does not keep an alert firing, and a window
    without events, or with too few to tell, neither confirms nor resets)."""
    op, healthy = (">", "<=") if evidence.side == "lower" else ("<", ">=")
    parts = []
    for w in evidence.windows:
        b = promql.selector(bound(evidence.ratio(w), evidence.side), **evidence.labels)
        n = promql.selector(evidence.count(w), **evidence.labels)
        parts.append(f"({compare(b, op, key)} and {compare(n, '>=', least)})")
    own = promql.selector(bound(evidence.ratio(evidence.windows[0]), evidence.healthy_side),
                          **evidence.labels)
    return (f"(({' or '.join(parts)}) unless on ({', '.join(evidence.by)}) "
            f"{compare(own, healthy, key)})")


def _series_of(evidence: RatioEvidence, name: str) -> str:
    """A Go template expression: the PromQL of ``name`` for the firing series (its ``by``
    labels from ``$labels``, the evidence's static ones written out)."""
    return _series_by(name, evidence.by, **evidence.labels)


def _series_by(name: str, by: tuple[str, ...], **labels: str) -> str:
    """A Go template expression: the PromQL of ``name`` for the firing series' ``by`` labels
    (``labels`` written out where ``by`` is the model alone)."""
    if by == ("model_name",):
        return model_series(name, **labels)
    matchers = ",".join(f"{k}=%q" for k in by)
    return f"printf `{name}{{{matchers}}}` " + " ".join(f"$labels.{k}" for k in by)


def _window_text(evidence: RatioEvidence, window: str, events: str) -> str:
    """"the ratio of the n events over the window, at least (most) the bound with C% confidence",
    for the firing model."""
    word = "at least" if evidence.side == "lower" else "at most"
    ratio = query_text(_series_of(evidence, evidence.ratio(window)), "humanizePercentage")
    n = query_text(_series_of(evidence, evidence.count(window)), "%.0f")
    b = query_text(_series_of(evidence, bound(evidence.ratio(window), evidence.side)),
                     "humanizePercentage")
    return f"{ratio} of {n} {events} over {window}, {word} {b} with {_pct('alert_confidence')} confidence"


def _window_or_none(evidence: RatioEvidence, window: str, events: str) -> str:
    """:func:`_window_text`, or "no <events> over <window>" where the window counted none (its
    ratio is 0/0: labels arrive in bursts, and the alert fires on its look-back)."""
    n = _series_of(evidence, evidence.count(window))
    none = f"no {events} over {window}"
    return (f"{{{{ with {n} | query }}}}{{{{ if gt (. | first | value) 0.0 }}}}"
            f"{_window_text(evidence, window, events)}{{{{ else }}}}{none}{{{{ end }}}}"
            f"{{{{ else }}}}{none}{{{{ end }}}}")


def _evidence_text(evidence: RatioEvidence, events: str) -> str:
    """Each window's evidence in words (a window without events says so)."""
    return "; ".join(_window_or_none(evidence, w, events) for w in evidence.windows)


def _own_or_lookback(counted: str, none: str, evidence: RatioEvidence, end: str = ".") -> str:
    """``counted`` (the alert's own window, with its ratio) and ``end`` where that window has a
    value, else ``none`` and the look-back the alert fires on: a window without events has a
    ratio of 0/0 (bursts of traffic or labels) while the alert fires on a longer window's."""
    lookback = " or ".join(evidence.windows[1:])
    return (f"{{{{ if eq $value $value }}}}{counted}{end}{{{{ else }}}}{none}; it fires on its "
            f"{lookback} look-back.{{{{ end }}}}")


def _by_version(summary: str, model_text: str, version_text: str) -> tuple[str, str]:
    """The summary and description of an alert that judges each model on all its traffic and
    each version of a model running several on its own: the firing series says which."""
    return (f"{summary}{{{{ if $labels.model_version }}}} (version {{{{ $labels.model_version }}}})"
            f"{{{{ end }}}}",
            f"{{{{ if $labels.model_version }}}}{version_text}{{{{ else }}}}{model_text}"
            f"{{{{ end }}}}")


_OF_VERSION = f"version {{{{ $labels.model_version }}}} of {_MODEL}"


def _facts(row: Firing) -> tuple[str, str | None, str, str]:
    """A row's threshold key, ``for``, window and least key (the alert's builder needs them)."""
    if row.threshold is None or row.window is None or row.least is None:
        raise ValueError(f"{row} lacks a threshold, window or least its builder needs")
    return row.threshold, row.for_, row.window, row.least


def _error_ratio(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    row = spec.firings_for(config)[0]
    key, for_, window, least = _facts(row)
    short = spike_window(config.stack.scrape_interval_seconds)

    def condition(evidence: RatioEvidence) -> str:
        # "above the threshold for 5m" holds through minutes without traffic: only a short
        # window whose own requests show the ratio under the threshold resets the `for`
        on = ", ".join(evidence.by)
        healthy = compare(bound(evidence.ratio(short), "upper"), "<", key)
        return (f"{evidence.ratio(window)} and on ({on}) "
                f"{_evidence(evidence, key, least)} unless on ({on}) {healthy}")

    def text(evidence: RatioEvidence, whose: str) -> str:
        n = query_text(_series_of(evidence, evidence.count(window)), "%.0f")
        windows = " or ".join(evidence.windows)
        own = _own_or_lookback(f"{{{{ $value | humanizePercentage }}}} of {whose} {n} requests "
                               f"failed over the last {window}",
                               f"{whose} last {window} had no requests", evidence)
        return (f"{own} Chance alone does not explain it: "
                f"{_evidence_text(evidence, 'requests')} (threshold {_pct(key)} for "
                f"{for_}, "
                f"the bound past it over {windows}; a {short} window resets it only when its "
                f"own requests show the ratio under {_pct(key)}; at least "
                f"{_num(least)} requests).")
    model, version = _evidence_of(spec)
    # each model on all its requests, and each version of a model running several alone
    summary, description = _by_version(f"{_MODEL}: error ratio above {_pct(key)}",
                                       text(model, f"{_MODEL}'s"),
                                       text(version, f"{_OF_VERSION}'s"))
    return [_rule(spec.name, f"({condition(model)}) or ({condition(version)})", for_,
                  row.severity, summary, description)]


def _high_latency(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    rules = []
    for row in spec.firings_for(config):
        key, for_, window, least = _facts(row)
        count = promql.selector(slo_event_count(window), slo="latency")
        expr = (f"{compare(latency_quantile(0.95, window), '>', key)} "
                f"and on (model_name) {compare(count, '>=', least)}")
        factor_key = key.replace("latency_p95_", "latency_p95_factor_")
        rules.append(_rule(
            spec.name, expr, for_, row.severity,
            f"{_MODEL}: P95 latency above {_num(factor_key)}x the SLO",
            f"P95 latency of {_MODEL} is {{{{ $value | humanizeDuration }}}} over the last "
            f"{window}'s {query_text(model_series(slo_event_count(window), slo='latency'), '%.0f')} "
            f"requests (threshold {_num(key)}s = {_num(factor_key)} x the "
            f"{_num('latency_slo_seconds')}s latency SLO, for {for_}; at least "
            f"{_num(least)} requests)."))
    return rules


def _service_down(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    # the targets serving a model: labelled so in the scrape configuration (a `model_name`
    # target label), or having exported its ml_model_info within the last day; any job
    labelled = promql.selector("up", promql.matcher("model_name", "", "!="))
    unlabelled = promql.selector("up", model_name="")
    expr = (f"({labelled} == 0) or on (job, instance) ({unlabelled} == 0) * on (job, instance) "
            f"group_left (model_name) max by (job, instance, model_name) "
            f"(last_over_time({MODEL_INFO.name}[1d]))")
    row = spec.firings_for(config)[0]
    return [_rule(spec.name, expr, row.for_, row.severity,
                  f"{_MODEL}: the model service is down",
                  f"Prometheus cannot scrape {{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) "
                  f"serving {_MODEL}: up is {{{{ $value }}}} (threshold: up == 0, for {row.for_}).")]


def _drift_rule_names() -> dict[str, str]:
    # drift pulls numpy and scipy; the catalogue is read on light paths (launcher, runbooks)
    from ..drift import expressions as e  # noqa: PLC0415
    return {"ks": e.KS_RULE, "n": e.N_RULE, "ks_critical": e.KS_CRITICAL_RULE,
            "psi": e.CONCEPT_PSI_RULE, "concept_n": e.CONCEPT_N_RULE,
            "psi_critical": e.CONCEPT_PSI_CRITICAL_RULE,
            "version_ks": e.VERSION_KS_RULE, "version_n": e.VERSION_N_RULE,
            "version_ks_critical": e.VERSION_KS_CRITICAL_RULE}


def _feature_series(name: str, version: bool = False) -> str:
    if version:
        return (f"printf `{name}{{model_name=%q,model_version=%q,feature=%q}}` "
                f"$labels.model_name $labels.model_version $labels.feature")
    return f"printf `{name}{{model_name=%q,feature=%q}}` $labels.model_name $labels.feature"


def _drift_condition(ks: str, critical: str, n: str, key: str, least: str) -> str:
    """An effect above the threshold, beyond what chance gives for the window's n values."""
    return f"{compare(ks, '>', key)} and {ks} > {critical} and {compare(n, '>=', least)}"


def _drift_text(ks: str, critical: str, n: str, row: Firing, version: bool) -> str:
    key, for_, window, least = _facts(row)
    whose = "version {{ $labels.model_version }}'s" if version else f"the last {window}'s"
    return (f"Binned KS of feature {{{{ $labels.feature }}}} against the training "
            f"baseline is {{{{ $value | printf \"%.3f\" }}}} over {whose} "
            f"{query_text(_feature_series(n, version), '%.0f')} values"
            f"{f' of the last {window}' if version else ''} (threshold {_num(key)}, and "
            f"above {query_text(_feature_series(critical, version), '%.3f')}, what chance "
            f"gives for as many values at alpha {_num('drift_alpha')}; at least "
            f"{_num(least)} values; for {for_}).")


def _data_drift(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    names = _drift_rule_names()
    model = (names["ks"], names["ks_critical"], names["n"])
    version = (names["version_ks"], names["version_ks_critical"], names["version_n"])
    rules = []
    for row in spec.firings_for(config):
        key, for_, _, least = _facts(row)
        # each model on all its traffic, and each version of a model running several on its own
        expr = (f"({_drift_condition(*model, key, least)}) "
                f"or ({_drift_condition(*version, key, least)})")
        rules.append(_rule(
            spec.name, expr, for_, row.severity,
            f"{_MODEL}: input drift on {{{{ $labels.feature }}}}"
            f"{{{{ if $labels.model_version }}}} (version {{{{ $labels.model_version }}}})"
            f"{{{{ end }}}}",
            f"{{{{ if $labels.model_version }}}}{_drift_text(*version, row, True)}"
            f"{{{{ else }}}}{_drift_text(*model, row, False)}{{{{ end }}}}"))
    return rules


def _past_chance(spec: AlertSpec, config: Config, statistic: str, critical: str, n: str,
                 summary: str, what: str, events: str, extra: str = "",
                 otherwise: str = "") -> list[AlertingRule]:
    """A model-level drift alert of one row: ``statistic`` past its threshold and past what
    chance gives for the window's ``n`` (``critical``), with at least the row's least events;
    or, past chance and with as many events, where ``otherwise`` holds instead of the
    threshold. ``what`` names the statistic and ``extra`` follows the count in its text."""
    row = spec.firings_for(config)[0]
    key, for_, window, least = _facts(row)
    evidence = f"{statistic} > {critical} and {compare(n, '>=', least)}"
    expr = f"{compare(statistic, '>', key)} and {evidence}"
    if otherwise:
        expr = f"({expr}) or ({evidence} and {otherwise})"
    unit = "values" if least == "min_feature_values" else events
    return [_rule(spec.name, expr, for_, row.severity, f"{_MODEL}: {summary}",
                  f"{what} against the training baseline is "
                  f"{{{{ $value | printf \"%.3f\" }}}} over the last {window}'s {_count(n)} "
                  f"{events}{extra} (threshold {_num(key)}, and above "
                  f"{query_text(model_series(critical), '%.3f')}, what chance gives for as "
                  f"many {events} at alpha {_num('drift_alpha')}; at least "
                  f"{_num(least)} {unit}; for {for_}).")]


def _multivariate_drift(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    # drift pulls numpy and scipy; the catalogue is read on light paths (launcher, runbooks)
    from ..drift import multivariate_rules as mv  # noqa: PLC0415
    # the univariate drift alerts' rules: the warning threshold, past chance, enough values;
    # or, past chance, the mean error past what chance gives (a new segment of far-off inputs)
    mean, mean_critical = mv.MV_MEAN_RULE, mv.MV_MEAN_CRITICAL_RULE
    return _past_chance(
        spec, config, mv.MV_KS_RULE, mv.MV_KS_CRITICAL_RULE, mv.MV_N_RULE,
        "the features' joint distribution drifted",
        "Binned KS of the reconstruction error (the distance of each input from the baseline's "
        "principal components)", "predictions",
        f", mean error {query_text(model_series(mean), '%.3f')} (chance gives up to "
        f"{query_text(model_series(mean_critical), '%.3f')})",
        f"{mean} > {mean_critical}")


def _concept_drift(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    names = _drift_rule_names()
    return _past_chance(spec, config, names["psi"], names["psi_critical"], names["concept_n"],
                        "prediction confidence drifted",
                        "PSI of the prediction confidence", "predictions")


def _evidence_of(spec: AlertSpec) -> tuple[RatioEvidence, RatioEvidence]:
    """The ratio ``spec`` judges (``EVIDENCE[spec.evidence]``) and each version's of it."""
    if spec.evidence is None:
        raise ValueError(f"{spec.name} names no evidence ratio")
    return EVIDENCE[spec.evidence], EVIDENCE[f"{spec.evidence}_version"]


def _model_or_version(spec: AlertSpec, config: Config, summary: str,
                      text: Callable[[RatioEvidence, str], str]) -> list[AlertingRule]:
    """An alert on its ratio (:func:`_evidence_of`) over its row's window past its threshold
    with its evidence (at least its least events), for each model on all its traffic and for
    each version of a model running several on its own."""
    row = spec.firings_for(config)[0]
    threshold, for_, window, least = _facts(row)

    def condition(evidence: RatioEvidence) -> str:
        return (f"{evidence.ratio(window)} and on ({', '.join(evidence.by)}) "
                f"{_evidence(evidence, threshold, least)}")
    model, version = _evidence_of(spec)
    summary, description = _by_version(summary, text(model, _MODEL), text(version, _OF_VERSION))
    return [_rule(spec.name, f"({condition(model)}) or ({condition(version)})", for_,
                  row.severity, summary, description)]


def _evidence_terms(evidence: RatioEvidence, events: str, key: str, for_: str | None,
                    least: str, where: str) -> str:
    """The evidence of a ratio alert in words, then its terms: threshold, ``for``, the windows
    whose bound is ``where`` (past, under) it, and the fewest events."""
    return (f"{_evidence_text(evidence, events)} (threshold {_pct(key)} for "
            f"{for_}, the bound {where} it over {' or '.join(evidence.windows)}; at least "
            f"{_num(least)} {events}).")


def _low_accuracy(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    key, for_, window, least = _facts(spec.firings_for(config)[0])

    def text(evidence: RatioEvidence, whose: str) -> str:
        n = query_text(_series_of(evidence, evidence.count(window)), "%.0f")
        # between bursts of labels the own window has none (its accuracy 0/0, NaN) while the
        # alert fires on its look-back: the words name the window that has them
        own = _own_or_lookback(f"Accuracy of {whose} on the {n} ground-truth outcomes of the "
                               f"last {window} is {{{{ $value | humanizePercentage }}}}",
                               f"No ground-truth outcome of {whose} arrived over the last "
                               f"{window}", evidence)
        return (f"{own} Chance alone does not explain it: "
                f"{_evidence_terms(evidence, 'outcomes', key, for_, least, 'under')}")
    return _model_or_version(spec, config,
                             f"{_MODEL}: accuracy below {_pct(key)}", text)


def _estimated_accuracy_drop(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    # the LowModelAccuracy threshold: the estimate says the labels, when they come, will fire it
    row = spec.firings_for(config)[0]
    key, for_, window, least = _facts(row)

    def condition(scope: Scope) -> str:
        # the band's upper edge under it: the estimate's own uncertainty cannot explain the drop
        upper = (f"({scope.name(estimated_accuracy(window))} + "
                 f"{scope.name(estimated_accuracy_margin(window))})")
        return (f"{compare(upper, '<', key)} "
                f"and {compare(scope.name(prediction_count(window)), '>=', least)}")

    def text(scope: Scope, whose: str) -> str:
        count = query_text(_series_by(scope.name(prediction_count(window)), scope.by), "%.0f")
        thin = query_text(_series_by(scope.name(thin_share(window)), scope.by),
                          "humanizePercentage")
        return (f"From the confidences of {whose} {count} predictions over the last "
                f"{window}, its accuracy is estimated at most {{{{ $value | humanizePercentage }}}} "
                f"(the 95% band's upper edge; threshold {_pct(key)}, "
                f"alerts.accuracy_min, LowModelAccuracy's "
                f"floor, for {for_}; at least {_num(least)} predictions). "
                f"{thin} of them "
                f"fell where the curve rests on fewer than {THIN_ROWS} labelled rows (over "
                f"{THIN_SHARE:.0%}: the estimate is uncertain). No label is "
                f"needed; the estimate assumes P(correct | confidence) is what it was on the "
                f"baseline's labelled data.")
    # each model on all its predictions, and each version of a model running several on its own
    # (through the model's curve)
    summary, description = _by_version(f"{_MODEL}: estimated accuracy below {_pct(key)}",
                                       text(MODEL_SCOPE, f"{_MODEL}'s"),
                                       text(VERSION_SCOPE, f"{_OF_VERSION}'s"))
    return [_rule(spec.name, f"({condition(MODEL_SCOPE)}) or ({condition(VERSION_SCOPE)})",
                  for_, row.severity, summary, description)]


def _low_confidence(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    key, for_, window, least = _facts(spec.firings_for(config)[0])

    def text(evidence: RatioEvidence, whose: str) -> str:
        n = query_text(_series_of(evidence, evidence.count(window)), "%.0f")
        own = _own_or_lookback(f"{{{{ $value | humanizePercentage }}}} of {whose}'s {n} "
                               f"predictions over the last {window} had confidence under "
                               f"{_num('low_confidence_threshold')}",
                               f"{whose}'s last {window} had no predictions", evidence, ":")
        return f"{own} " + _evidence_terms(evidence, "predictions", key, for_, least, "past")
    return _model_or_version(spec, config,
                             f"{_MODEL}: many low-confidence predictions", text)


def _metrics_absent(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    # ml_model_info is what a running service always exports, from its start and with no
    # traffic; its counters may have no series until the first request
    row = spec.firings_for(config)[0]
    expr = f"{CONFIGURED_MODELS} unless on (model_name) {MODEL_INFO.name}"
    return [_rule(spec.name, expr, row.for_, row.severity,
                  f"{_MODEL}: model metrics are absent",
                  f"Prometheus has no {MODEL_INFO.name} for {_MODEL} (value {{{{ $value }}}}, "
                  f"threshold: absent for {row.for_}); the service or its instrumentation is not "
                  f"being scraped.")]


def _baseline_conflict(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    # the model-wide statistics compare with no baseline while its versions run two
    # (promql.baselines.one_baseline): a canary retrained on other data is judged version by
    # version, but replicas of one version disagreeing leave nothing to judge
    row = spec.firings_for(config)[0]
    version = ("{{ if $labels.model_version }}version {{ $labels.model_version }}"
               "{{ else }}the unversioned service{{ end }}")
    return [_rule(spec.name, f"{VERSION_BASELINES} > 1", row.for_, row.severity,
                  f"{_MODEL}: replicas of one version serve different baselines",
                  f"The live replicas of {version} of {_MODEL} serve {{{{ $value }}}} "
                  f"different baselines ({MODEL_INFO.name}'s baseline_id; threshold: more "
                  f"than one for {row.for_}): "
                  f"the model's drift, estimated accuracy and multivariate check have no one "
                  f"baseline to compare with and are withheld until every replica of the "
                  f"version serves the same one.")]


# the SLOs whose events are not requests: their evidence floor (the row's is the requests')
SLO_LEAST = {"accuracy": "min_ground_truth"}


def _budget_burn(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    rules = []
    for slo in SLOS:
        for window in BURN_WINDOWS:
            row = spec.firing(window.severity, config)
            kind = "page" if window.severity == Severity.CRITICAL else "ticket"
            if row.threshold is None or row.least is None:
                raise ValueError(f"{row} lacks the threshold or least the burn rules need")
            key, least = row.threshold, SLO_LEAST.get(slo, row.least)
            history = round(HISTORY_COVERAGE * parse_duration(window.long))
            on = ("model_name", "slo")
            burn = {"slo": slo, "long_window": window.long}
            long_sel = promql.selector(slo_error_ratio(window.long), slo=slo)
            # only a short window whose own events show the ratio under the threshold (its
            # upper bound) resolves the burn: one without events, or too few, neither confirms
            # nor resets it
            short_upper = promql.selector(bound(slo_error_ratio(window.short), "upper"), slo=slo)
            count = promql.selector(slo_event_count(window.long), slo=slo)
            # evidence: enough events in the long window, and history covering most of it (a
            # fresh stack's 1d ratio is the ratio of its first minutes)
            lower = promql.selector(bound(slo_error_ratio(window.long), "lower"), slo=slo)
            expr = (f"{compare(long_sel, '>', key, on, **burn)} "
                    f"unless on ({', '.join(on)}) {compare(short_upper, '<=', key, on, **burn)} "
                    f"and {compare(lower, '>', key, on, **burn)} "
                    f"and {compare(count, '>=', least)} "
                    f"and on (model_name) {HISTORY_AGE} >= {number(history)}")
            if is_chained(window.long):  # and the chained counts, not only the history
                covered = promql.selector(slo_chain_coverage(window.long), slo=slo)
                expr += f" and on ({', '.join(on)}) {covered} >= {number(HISTORY_COVERAGE)}"
            factor = _num("slo_burn_factor", long_window=window.long)
            objective = query_text(model_series(SLO_OBJECTIVE, slo=slo), "humanizePercentage")
            rules.append(_rule(
                spec.name, expr, row.for_, row.severity,
                f"{_MODEL}: {slo} SLO burns its error budget {factor}x too fast ({kind})",
                f"The {slo} error ratio of {_MODEL} is {{{{ $value | humanizePercentage }}}} of "
                f"{query_text(model_series(slo_event_count(window.long), slo=slo), '%.0f')} "
                f"events over {window.long}, and not shown under the threshold over "
                f"{window.short} (a {window.short} window resets it only when its own events "
                f"show the ratio under the threshold) "
                f"(threshold {_pct(key, **burn)} = {factor} x the "
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


def _low_throughput(spec: AlertSpec, config: Config) -> list[AlertingRule]:
    row = spec.firings_for(config)[0]
    if row.threshold is None or row.window is None:
        raise ValueError(f"{row} lacks the threshold or window the throughput rule needs")
    key, window = row.threshold, row.window
    now = request_rate(window)
    # evidence: the most requests/s the window's count is consistent with is under the
    # threshold too (no page for 0 requests where chance gives 0 anyway)
    most = f"({poisson_upper(promql.selector(request_count(window)))} / {number(parse_duration(window))})"
    reference = throughput_reference()
    share = setting("throughput_min_share")
    low = f"{compare(now, '<', key)} and on (model_name) {compare(most, '<', key)}"
    # the count the bound was computed on, and the bound, for the firing model
    count = query_text(model_series(request_count(window)), "%.0f")
    scoped = (f"({poisson_upper(f'{request_count(window)}{{model_name=%q}}')} / "
              f"{number(parse_duration(window))})")
    upper = query_text(f"printf `{scoped}` " + " ".join(
        ["$labels.model_name"] * scoped.count("%q")), "humanize")
    expr = (f"({low} and on (model_name) {most} < "
            f"{share} * on (model_name) group_right () {reference}) "
            f"or ({low} unless on (model_name) {reference})")
    return [_rule(spec.name, expr, row.for_, row.severity,
                  f"{_MODEL}: throughput below {_num(key)} requests/s",
                  f"{_MODEL} served {{{{ $value | humanize }}}} requests/s over the last {window}: "
                  f"{count} requests, at most {upper} requests/s with "
                  f"{_pct('alert_confidence')} confidence (threshold {_num(key)} requests/s and, "
                  f"where there is history, {_pct('throughput_min_share')} of the quietest same "
                  f"moment of the last four weeks, or of the last six days in its first week; "
                  f"for {row.for_}; beyond chance: that upper bound, of the {window} count, "
                  f"under both).")]


# -- the catalogue ------------------------------------------------------------------------------

_C, _W, _I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

CATALOGUE: tuple[AlertSpec, ...] = (
    AlertSpec("HighErrorRate", "High error rate",
              "More than the critical share of requests fail, beyond chance: the Wilson lower "
              "bound of the error ratio at `alerts.alpha` is above the threshold over its window, "
              "or over 30m where that is too thin; it stops when the 5m window's upper bound "
              "is under the threshold, and a 1m window (4 scrape intervals when scrapes are "
              "slower) resets it only when its own requests show the ratio under the "
              "threshold: a thin window neither confirms nor resets.",
              (Firing(_C, "5m", "error_ratio_critical", "5m", "min_requests"),),
              ("error ratio", "errors by type", "request rate"),
              build=_error_ratio, reports="error ratio", evidence="errors",
              series_labels=("model_name", "model_version"),
              inhibits=("ElevatedErrorRate",)),
    AlertSpec("ElevatedErrorRate", "Elevated error rate",
              "More than the warning share of requests fail, beyond chance: the same evidence as "
              "HighErrorRate at the warning threshold.",
              (Firing(_W, "10m", "error_ratio_warning", "5m", "min_requests"),),
              ("error ratio", "errors by type", "request rate"),
              build=_error_ratio, reports="error ratio", evidence="errors",
              series_labels=("model_name", "model_version")),
    AlertSpec("HighLatencyP95", "High P95 latency",
              "The 95th percentile of request duration is above a multiple of the latency SLO "
              "threshold.",
              (Firing(_C, "10m", "latency_p95_critical", "5m", "min_requests"),
               Firing(_W, "15m", "latency_p95_warning", "5m", "min_requests")),
              ("p95 latency", "request rate", "in flight"), build=_high_latency,
              reports="P95 latency"),
    AlertSpec("MLServiceDown", "Model service down",
              "Prometheus cannot scrape a target serving the model (the target's `model_name` "
              "label or the `ml_model_info` it exported within the last day says which model it "
              "serves; any job; labels `job`, `instance`).",
              (Firing(_C, "1m"),), ("up", "request rate"), build=_service_down,
              reports="`up == 0` for a target serving the model",
              inhibits=("ModelMetricsAbsent", "LowThroughput")),
    AlertSpec("DataDriftDetected", "Data drift",
              "An input feature's distribution moved away from the training baseline: its binned "
              "KS is above the threshold and above what chance gives for the window's count at "
              "`drift.alpha` (label `feature`).",
              (Firing(_W, "1h", "ks_warning", "1h", "min_feature_values"),
               Firing(_C, "1h", "ks_critical", "1h", "min_feature_values")),
              ("feature drift", "invalid feature values"), needs_baseline=True,
              build=_data_drift, reports="binned KS of a feature",
              series_labels=("model_name", "feature", "model_version"), group=DRIFT_ALERTS),
    AlertSpec("ConceptDriftDetected", "Concept drift",
              "The model's confidence distribution moved away from the training baseline: the "
              "PSI of the confidence histogram is above the threshold and above what chance gives "
              "for the window's count at `drift.alpha`.",
              (Firing(_W, "1h", "psi_warning", "1h", "min_predictions"),),
              ("confidence drift", "class share"), needs_baseline=True,
              build=_concept_drift, reports="PSI of the confidence", group=DRIFT_ALERTS),
    AlertSpec("MultivariateDriftDetected", "Multivariate drift",
              "The inputs' joint distribution moved away from the training baseline while each "
              "feature alone may look as usual: the binned KS of the reconstruction error by the "
              "baseline's principal components is above the data-drift warning threshold and "
              "past chance, or its mean past what chance gives; models whose baseline has a "
              "joint structure.",
              (Firing(_W, "1h", "ks_warning", "1h", "min_feature_values"),),
              ("reconstruction error", "feature residuals", "feature drift"),
              needs_baseline=True, build=_multivariate_drift,
              reports="binned KS of the reconstruction error", group=DRIFT_ALERTS,
              otherwise="the 1h mean reconstruction error above what chance gives for its "
                        "count at `drift.alpha`"),
    AlertSpec("LowModelAccuracy", "Low model accuracy",
              "The share of correct predictions on the ground-truth sample is below the floor, "
              "beyond chance: the Wilson upper bound at `alerts.alpha` is under it over its "
              "window, or over 6h, until the 1h window's lower bound is back at the floor; also "
              "each version alone of a model running several (label `model_version`).",
              (Firing(_C, "30m", "accuracy_min", "1h", "min_ground_truth"),),
              ("accuracy", "accuracy by segment", "ground-truth count"),
              build=_low_accuracy, reports="accuracy", side="below", evidence="accuracy",
              series_labels=("model_name", "model_version"),
              # the labels said it: the estimate that foresaw it adds nothing while it fires
              inhibits=("EstimatedAccuracyDrop",)),
    AlertSpec("EstimatedAccuracyDrop", "Estimated accuracy drop",
              "The accuracy estimated from the live confidences through the baseline's "
              "reliability curve is below LowModelAccuracy's floor, its whole 95% band included: "
              "before the labels say so; models whose baseline has a calibration; also each "
              "version alone of a model running several, through the model's curve (label "
              "`model_version`).",
              (Firing(_W, "15m", "accuracy_min", ESTIMATED_ACCURACY_ALERT_WINDOW,
                      "min_predictions"),),
              ("estimated accuracy", "realized accuracy", "confidence distribution",
               "drifted features"),
              needs_baseline=True, needs_calibration=True, build=_estimated_accuracy_drop,
              reports="estimated accuracy (the upper edge of its band)", side="below",
              series_labels=("model_name", "model_version")),
    AlertSpec("HighLowConfidencePredictions", "Many low-confidence predictions",
              "More predictions than the threshold's share are under the low-confidence "
              "threshold, beyond chance (the lower bound over the window or over 2h, until the "
              "30m window's upper bound is back under it); also each version alone (label "
              "`model_version`).",
              (Firing(_I, "1h", "low_confidence_share", "30m", "min_predictions"),),
              ("low-confidence share", "confidence distribution"), build=_low_confidence,
              evidence="low_confidence",
              reports="low-confidence share", series_labels=("model_name", "model_version")),
    AlertSpec("ModelMetricsAbsent", "Model metrics absent",
              "Prometheus has no `ml_model_info` of the model, which a running service exports "
              "from its start: the service stopped exporting, or its scrape or name changed.",
              (Firing(_W, "10m"),), ("request-counter series", "up"), build=_metrics_absent,
              reports="no `ml_model_info` for the model"),
    AlertSpec("BaselineConflict", "Baseline conflict",
              "The live replicas of one version of the model serve different training "
              "baselines (`ml_model_info`'s `baseline_id`: one left with an old baseline file, "
              "one started without it): the model's drift, concept drift, estimated accuracy "
              "and multivariate check have no one baseline to compare with, so they are "
              "withheld instead of blending two; label `model_version`. Versions serving a "
              "baseline each (a retrained canary) are no conflict.",
              (Firing(_W, "15m"),), ("baselines served", "deploys and baselines"),
              build=_baseline_conflict, reports="more than one `baseline_id` for one version",
              series_labels=("model_name", "model_version")),
    AlertSpec("SLOErrorBudgetBurn", "SLO error budget burn",
              "An SLO spends its error budget too fast over a long window and not slower over "
              "a short one (the short window resets it only when its own events show the ratio "
              "under the threshold, its upper bound at `alerts.alpha`: a thin one neither "
              "confirms nor resets; "
              "multi-window, multi-burn-rate: page at 14.4× and 6×, ticket at 3× and 1×), the "
              "long window's lower bound above the burn threshold too, and history covering 90% "
              "of it (the accuracy SLO's evidence floor is `alerts.min_events.ground_truth`); "
              "labels `slo`, `long_window`, `short_window`.",
              (Firing(_C, None, "slo_burn", None, "min_requests"),
               Firing(_W, None, "slo_burn", None, "min_requests")),
              ("SLO bad-event ratio", "burn rates", "error budget remaining"),
              build=_budget_burn, reports="burn rate of its long and short window",
              group="slo-burn"),
    AlertSpec("LowThroughput", "Low throughput",
              "The model serves fewer requests per second than the floor and than the share "
              "`slos.throughput.min_share_of_last_week` of the quietest same moment (±5 min) of "
              "the last four weeks — in a first week, of the last six days; the floor alone on a "
              "first day. Beyond chance: the upper bound of the window's request count (Poisson, "
              "at `alerts.alpha`) is under both too, so a few missing requests on a quiet night "
              "are no evidence.",
              (Firing(_W, "15m", "throughput_min_rps", "5m"),),
              ("request rate", "error ratio"), build=_low_throughput,
              reports="request rate", side="below"),
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


# -- the facts in words: "fires when", from the rows and the configuration's defaults ----------

# a setting key -> where the configuration sets it (per model) and how its value reads
_WRITTEN: dict[str, tuple[str, str]] = {
    "error_ratio_critical": ("`alerts.error_ratio.critical`", "%"),
    "error_ratio_warning": ("`alerts.error_ratio.warning`", "%"),
    "latency_p95_critical": ("`alerts.latency_p95_factor.critical` × "
                             "`slos.latency.threshold_seconds`", "s"),
    "latency_p95_warning": ("`alerts.latency_p95_factor.warning` × "
                            "`slos.latency.threshold_seconds`", "s"),
    "accuracy_min": ("`alerts.accuracy_min`", "%"),
    "low_confidence_share": ("`alerts.low_confidence_share`", "%"),
    "ks_warning": ("`drift.ks.warning`", ""),
    "ks_critical": ("`drift.ks.critical`", ""),
    "psi_warning": ("`drift.psi.warning`", ""),
    "throughput_min_rps": ("`slos.throughput.min_rps`", " requests/s"),
    "slo_burn": ("the window's burn factor × the SLO's error budget", "none"),
    "min_requests": ("`alerts.min_events.requests`", " requests"),
    "min_predictions": ("`alerts.min_events.predictions`", " predictions"),
    "min_ground_truth": ("`alerts.min_events.ground_truth`", " ground-truth outcomes"),
    "min_feature_values": ("`alerts.min_events.feature_values`", " values"),
}


def _setting_words(key: str, model: ModelConfig) -> str:
    """"`alerts.error_ratio.critical` (5%)": where ``key`` is set and its value for ``model``."""
    where, unit = _WRITTEN[key]
    found = next((s for s in ALERT_SETTINGS if s.key == key), None)
    value = None if found is None or unit == "none" else found.of(model)
    if value is None:
        return where
    shown = f"{value * 100:g}%" if unit == "%" else f"{value:g}{unit}"
    return f"{where} ({shown})"


def fires_when(spec: AlertSpec, config: Config | None = None) -> str:
    """Each row of ``spec`` in words, with the values of ``config``'s first model (default: the
    configuration's defaults), e.g. "critical: the 5m error ratio above
    `alerts.error_ratio.critical` (5%) for 5m, with at least `alerts.min_events.requests` (10)
    requests"; the severities' texts joined by "; "."""
    model = config.models[0] if config is not None else ModelConfig("defaults")
    rows = spec.firings if config is None else spec.firings_for(config)
    out = []
    for row in rows:
        if row.threshold is None:
            text = spec.reports
        else:
            value = f"the {row.window} {spec.reports}" if row.window else f"the {spec.reports}"
            text = f"{value} {spec.side} {_setting_words(row.threshold, model)}"
        text += f", or {spec.otherwise}," if spec.otherwise else ""
        text += f" for {row.for_}" if row.for_ else " (no `for`)"
        if row.least is not None:
            text += f", with at least {_setting_words(row.least, model)}"
        out.append(f"{row.severity}: {text}")
    return "; ".join(out)
