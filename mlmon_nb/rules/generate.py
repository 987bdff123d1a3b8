"""Rule generation in stages, each a pure function of the configuration (like Sloth):

1. :func:`validate` — every latency SLO threshold is a bucket edge of the latency histogram, the
   SLO period is whole seconds and covers the longest burn-rate window;
2. :func:`recording_groups` — RED, latency quantiles, accuracy and low-confidence share per model,
   over 5m, 30m, 1h, 2h, 6h, 1d, 3d and the SLO period (requests and errors over the alerts'
   short spike window too), the event counts the alerts need as evidence, and the model's
   history age (the burn-rate windows count only once it covers 90% of them);
3. :func:`~mlmon_nb.rules.slo.slo_groups` — per SLO the error ratio over every window, its
   event count over the burn windows, the objective and the error budget remaining;
4. :func:`alert_groups` — every alert of the catalogue (``mlmon_nb.rules.catalogue``), with its
   runbook link;
5. :func:`drift_groups` — the drift engine's recording rules, for the models with a baseline;
6. :func:`estimated_accuracy_groups` — the accuracy estimated from the live confidences
   (:mod:`mlmon_nb.rules.estimated`), for the models whose baseline has a calibration.

Baselines are passed in (``model name → Baseline``); reading them from their files is
:func:`mlmon_nb.rules.files.load_baselines`' job.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping
from urllib.parse import quote

from .. import drift, promql
from ..baseline import Baseline
from ..config import Config, ModelConfig, parse_duration
from ..errors import RulesError
from ..metrics import (
    DEFAULT_LATENCY_BUCKETS,
    ERRORS,
    GROUND_TRUTH,
    LOW_CONFIDENCE,
    MODEL_INFO,
    PREDICTIONS,
    REQUEST_DURATION,
    REQUESTS,
)
from .catalogue import CATALOGUE
from .estimated import estimated_accuracy_rules
from .model import AlertingRule, RecordingRule, RuleGroup
from .names import (
    ACCURACY_WINDOWS,
    COST_PER_1K,
    HISTORY_AGE,
    LATENCY_QUANTILES,
    LATENCY_WINDOWS,
    LOW_CONFIDENCE_WINDOWS,
    accuracy,
    error_ratio,
    ground_truth_count,
    group_name,
    latency_quantile,
    low_confidence_ratio,
    prediction_count,
    request_count,
    request_rate,
    segment_accuracy,
    spike_window,
)
from .slo import BURN_WINDOWS, model_windows, period

__all__ = [
    "validate",
    "recording_groups",
    "alert_groups",
    "drift_groups",
    "estimated_accuracy_groups",
    "runbook_url",
    "DRIFT_WINDOWS",
]

# Windows of the drift recording rules (the drift alerts read the 1h ones).
DRIFT_WINDOWS: tuple[str, ...] = ("1h",)
# Query-string order of a runbook link's labels.
_LINK_LABELS = ("model_name", "severity", "feature", "slo", "long_window", "short_window")


# -- stage 1: validate --------------------------------------------------------------------------

def validate(config: Config, latency_buckets: Iterable[float] = DEFAULT_LATENCY_BUCKETS) -> None:
    """Raise :class:`RulesError` when rules for ``config`` would be wrong.

    A latency SLO counts requests under its threshold from the histogram bucket ``le=threshold``;
    a threshold between bucket edges has no such bucket, so it is refused rather than guessed.
    """
    edges = sorted(float(b) for b in latency_buckets)
    longest = max((w.long for w in BURN_WINDOWS), key=parse_duration)
    for model in config.models:
        threshold = model.slo.latency_threshold_seconds
        if not any(math.isclose(threshold, e, rel_tol=0, abs_tol=1e-12) for e in edges):
            raise RulesError(
                f"model {model.name}: the latency SLO threshold {threshold:g}s is not a bucket "
                f"edge of {REQUEST_DURATION.name} (edges: {', '.join(f'{e:g}' for e in edges)}). "
                f"Set slos.latency.threshold_seconds to one of them, or export the histogram with "
                f"latency_buckets_with([{threshold:g}]) and pass the same buckets to rule "
                f"generation.")
        slo_period = period(model)  # whole seconds, or a RulesError saying so
        if model.slo.period_seconds < parse_duration(longest):
            raise RulesError(
                f"model {model.name}: the SLO period {slo_period} is shorter than the longest "
                f"burn-rate window ({longest}); use a period of {longest} or more, "
                f"e.g. 28d or 30d.")


# -- stage 2: recording rules -------------------------------------------------------------------

def _model_rate(metric: str, model: str, window: str, by: tuple[str, ...] = ("model_name",),
                **labels: str) -> str:
    return promql.sum_rate(promql.selector(metric, model_name=model, **labels), window, by)


def _accuracy(model: str, window: str, by: tuple[str, ...] = ("model_name",)) -> str:
    return promql.ratio(_model_rate(GROUND_TRUTH.sample, model, window, by, outcome="correct"),
                        _model_rate(GROUND_TRUTH.sample, model, window, by))


def _count(metric: str, model: str, window: str, **labels: str) -> str:
    return promql.sum_increase(promql.selector(metric, model_name=model, **labels), window)


def history_age(model: str) -> str:
    """Seconds since the model's ``ml_model_info`` (or request counter) first appeared, up to
    the longest burn-rate window, at 5m resolution."""
    longest = max((w.long for w in BURN_WINDOWS), key=parse_duration)
    present = " or ".join(f"max by (model_name) ({promql.selector(metric, model_name=model)})"
                          for metric in (MODEL_INFO.name, REQUESTS.sample))
    return (f"time() - min by (model_name) (min_over_time(timestamp({present})"
            f"[{longest}:5m]))")


def _recording(model: ModelConfig, spike: str) -> list[RecordingRule]:
    m = model.name
    labels = {"model_name": m}  # every model's rules share names: promtool's duplicate lint
    rules = []
    for w in (spike, *model_windows(model)):
        rules.append(RecordingRule(request_rate(w), _model_rate(REQUESTS.sample, m, w), labels))
        rules.append(RecordingRule(error_ratio(w), promql.ratio(
            _model_rate(ERRORS.sample, m, w), promql.selector(request_rate(w), model_name=m)),
            labels))
    # the evidence behind the alerts' ratios: how many events their windows hold
    rules.append(RecordingRule(request_count("5m"), _count(REQUESTS.sample, m, "5m"), labels))
    rules.append(RecordingRule(prediction_count("30m"), _count(PREDICTIONS.sample, m, "30m"),
                               labels))
    rules.append(RecordingRule(ground_truth_count("1h"), _count(GROUND_TRUTH.sample, m, "1h"),
                               labels))
    rules.append(RecordingRule(HISTORY_AGE, history_age(m), labels))
    for w in LATENCY_WINDOWS:
        for q in LATENCY_QUANTILES:
            rules.append(RecordingRule(latency_quantile(q, w), promql.histogram_quantile(
                q, promql.selector(REQUEST_DURATION.series("_bucket"), model_name=m), w), labels))
    for w in ACCURACY_WINDOWS:
        rules.append(RecordingRule(accuracy(w), _accuracy(m, w), labels))
    rules.append(RecordingRule(segment_accuracy("1h"),
                               _accuracy(m, "1h", ("model_name", "segment")), labels))
    for w in LOW_CONFIDENCE_WINDOWS:
        low = promql.ratio(_model_rate(LOW_CONFIDENCE.sample, m, w),
                           _model_rate(PREDICTIONS.sample, m, w))
        rules.append(RecordingRule(low_confidence_ratio(w), low, labels))
    if model.slo.cost_per_hour is not None:
        requests = promql.selector(request_rate("1h"), model_name=m)
        rules.append(RecordingRule(COST_PER_1K, (
            f"{promql.number(float(model.slo.cost_per_hour))} / ({requests} * 3600) * 1000"),
            labels))
    return rules


def recording_groups(config: Config) -> list[RuleGroup]:
    """RED, latency quantiles, accuracy and low-confidence share, the event counts behind them
    and the model's history age, one group per model."""
    spike = spike_window(config.stack.scrape_interval_seconds)
    return [RuleGroup(group_name(model.name, "recording"), tuple(_recording(model, spike)))
            for model in config.models]


# -- stage 3, the SLO rules, is .slo.slo_groups ------------------------------------------------
# -- stage 4: alerts ----------------------------------------------------------------------------

def runbook_url(config: Config, alertname: str, labels: Mapping[str, str],
                templated: Iterable[str] = ("model_name",)) -> str:
    """The launcher link of an alert; labels from the series are escaped with ``urlquery``.

    Prometheus expands annotation templates with the series' labels only, not the rule's own
    ``labels:``, so static labels are written out (URL-escaped here) and series labels are
    templated.
    """
    templated = tuple(templated)
    parts = []
    for key in _LINK_LABELS:
        if key in templated:
            parts.append(f"{key}={{{{ $labels.{key} | urlquery }}}}")
        elif key in labels:
            parts.append(f"{key}={quote(str(labels[key]), safe='')}")
    return f"{config.launcher_url}/runbook/{alertname}?" + "&".join(parts)


def alert_groups(config: Config,
                 baselines: Mapping[str, Baseline] | None = None) -> list[RuleGroup]:
    """Every catalogue alert per model, in the groups the catalogue names (``alerts``,
    ``slo-burn``), each with its runbook link.

    Alerts that need a baseline (drift) are included for the models in ``baselines`` only,
    since only they have drift recording rules; those that need a calibration (the estimated
    accuracy) for the models whose baseline has one.
    """
    baselines = baselines or {}
    order = list(dict.fromkeys(spec.group for spec in CATALOGUE))
    groups = []
    for model in config.models:
        rules: dict[str, list[AlertingRule]] = {name: [] for name in order}
        for spec in CATALOGUE:
            baseline = baselines.get(model.name)
            if spec.needs_baseline and baseline is None:
                continue
            if spec.needs_calibration and (baseline is None or baseline.calibration is None):
                continue
            for rule in spec.rules(config, model):
                link = runbook_url(config, spec.name, rule.labels, spec.series_labels)
                rules[spec.group].append(rule.with_annotations(runbook_url=link))
        groups += [RuleGroup(group_name(model.name, name), tuple(rules[name])) for name in order]
    return groups


# -- stage 5: drift -----------------------------------------------------------------------------

def drift_groups(config: Config,
                 baselines: Mapping[str, Baseline] | None = None) -> list[RuleGroup]:
    """The drift engine's recording rules for each model in ``baselines``.

    Per-feature rules share a name; their static ``feature`` label (from the drift engine, the
    value their expression yields anyway) tells them apart for promtool's duplicate-rule lint.
    """
    baselines = baselines or {}
    groups = []
    for model in config.models:
        baseline = baselines.get(model.name)
        if baseline is None:
            continue
        rules = tuple(RecordingRule(r["record"], r["expr"],
                                    {"model_name": model.name, **r.get("labels", {})})
                      for r in drift.drift_recording_rules(model.name, baseline, DRIFT_WINDOWS,
                                                           alpha=model.drift_alpha))
        groups.append(RuleGroup(group_name(model.name, "drift"), rules))
    return groups


# -- stage 6: estimated accuracy ----------------------------------------------------------------

def estimated_accuracy_groups(config: Config,
                              baselines: Mapping[str, Baseline] | None = None) -> list[RuleGroup]:
    """The estimated accuracy per window for each model whose baseline has a calibration
    (``mlmon:<model>:estimated-accuracy``)."""
    baselines = baselines or {}
    groups = []
    for model in config.models:
        baseline = baselines.get(model.name)
        rules = estimated_accuracy_rules(model.name, baseline) if baseline is not None else []
        if rules:
            groups.append(RuleGroup(group_name(model.name, "estimated-accuracy"), tuple(rules)))
    return groups
