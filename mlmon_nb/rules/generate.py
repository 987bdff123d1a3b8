"""Rule generation in stages, each a pure function of the configuration (like Sloth). The
rules are written once for every model (:mod:`mlmon_nb.promql.fleet`): what differs between
models travels as series, so their size does not grow with models, features or buckets.

1. :func:`validate` — every latency SLO threshold is a bucket edge of the latency histogram, the
   SLO period is whole seconds and covers the longest burn-rate window;
2. :func:`settings_groups` — the configured models and every per-model setting (thresholds,
   evidence, objectives, burn thresholds) as series: the fleet default, overridden only where a
   model's configuration differs;
3. :func:`recording_groups` — RED, latency quantiles, accuracy and low-confidence share over 5m,
   30m, 1h, 2h, 6h, 1d, 3d and each model's SLO period (requests and errors over the alerts'
   short spike window too), the event counts behind them, the Wilson bounds the alerts fire on
   (:mod:`mlmon_nb.promql.evidence`), and each model's history age (the burn-rate windows count
   only once it covers 90% of them);
4. :func:`~mlmon_nb.slo.rules.slo_groups` — per SLO the error ratio over every window, its
   event count and bound over the burn windows, and the error budget remaining;
5. :func:`alert_groups` — every alert of the catalogue (``mlmon_nb.rules.catalogue``), with its
   runbook link;
6. :func:`drift_groups` — the drift engine's recording rules, the multivariate check's and the
   estimated accuracy (:mod:`mlmon_nb.estimated.rules`), the baselines joined from the series
   the services export.

Baselines may be passed in (``model name → Baseline``, read by
:func:`mlmon_nb.rules.files.load_baselines`); the rules do not depend on them beyond widening
the PSI critical values' table to their bin counts.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping
from urllib.parse import quote

from .. import drift, promql
from ..baseline import Baseline
from ..config import Config, parse_duration
from ..errors import RulesError
from ..estimated.rules import estimated_accuracy_rules, version_estimated_accuracy_rules
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
from ..promql.evidence import COUNT_WINDOWS, EVIDENCE, EVIDENCE_SETTINGS, bound_rules
from ..promql.fleet import Setting, setting, setting_rules, variants
from ..promql.names import (
    ACCURACY_WINDOWS,
    CHAIN_STEP,
    COST_PER_1K,
    DRIFT_WINDOWS,
    HISTORY_AGE,
    LATENCY_QUANTILES,
    LATENCY_WINDOWS,
    LONG_INTERVAL,
    LOW_CONFIDENCE_WINDOWS,
    WINDOWS,
    accuracy,
    chain_record,
    chained,
    error_count,
    error_ratio,
    ground_truth_count,
    group_name,
    is_chained,
    latency_buckets,
    latency_quantile,
    low_confidence_ratio,
    prediction_count,
    request_count,
    request_rate,
    segment_accuracy,
    spike_window,
    versioned,
)
from ..promql.rule import AlertingRule, RecordingRule, RuleGroup, stage_groups
from ..slo.rules import BURN_WINDOWS, period, period_variants, slo_settings
from .catalogue import ALERT_SETTINGS, CATALOGUE, GROUP_INTERVALS

__all__ = [
    "validate",
    "settings_groups",
    "recording_groups",
    "alert_groups",
    "drift_groups",
    "alpha_variants",
    "runbook_url",

    "DRIFT_WINDOWS",
]

# Query-string order of a runbook link's labels.
_LINK_LABELS = ("model_name", "severity", "feature", "model_version", "slo", "long_window",
                "short_window")


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


# -- stage 2: settings and recording rules -------------------------------------------------

def settings_groups(config: Config) -> list[RuleGroup]:
    """The known models and every per-model setting the rules read, as series
    (:mod:`mlmon_nb.promql.fleet`): the alerts' thresholds and evidence, the SLOs' objectives,
    budgets and burn thresholds, the cost."""
    settings = [*ALERT_SETTINGS, *EVIDENCE_SETTINGS, *slo_settings(),
                Setting("cost_per_hour", lambda m: m.slo.cost_per_hour)]
    # they change only when the rules are reloaded: every LONG_INTERVAL is fresh enough
    return [RuleGroup(group_name("settings"), tuple(setting_rules(config, settings)),
                      LONG_INTERVAL)]


def _rate(metric: str, window: str, by: tuple[str, ...] = ("model_name",), *matchers: str,
          **labels: str) -> str:
    return promql.sum_rate(promql.selector(metric, *matchers, **labels), window, by)


def _accuracy(window: str, by: tuple[str, ...] = ("model_name",)) -> str:
    return promql.ratio(_rate(GROUND_TRUTH.sample, window, by, outcome="correct"),
                        _rate(GROUND_TRUTH.sample, window, by))


def history_age() -> str:
    """Seconds since each model's ``ml_model_info`` (or request counter) first appeared, up to
    the longest burn-rate window, at 5m resolution."""
    longest = max((w.long for w in BURN_WINDOWS), key=parse_duration)
    present = " or ".join(f"max by (model_name) ({metric})"
                          for metric in (MODEL_INFO.name, REQUESTS.sample))
    return (f"time() - min by (model_name) (min_over_time(timestamp({present})"
            f"[{longest}:5m]))")


def _rates(window: str, *matchers: str) -> list[RecordingRule]:
    """Requests per second and the error ratio over ``window`` (for the models ``matchers``
    select); a window of a day or more chained from the recorded 5m counts."""
    if is_chained(window):
        seconds = promql.number(parse_duration(window))
        requests = f"{chained(chain_record(request_count(CHAIN_STEP)), window, *matchers)} / " \
                   f"{seconds}"
        failed = f"{chained(chain_record(error_count(CHAIN_STEP)), window, *matchers)} / " \
                 f"{seconds}"
    else:
        requests = _rate(REQUESTS.sample, window, ("model_name",), *matchers)
        failed = _rate(ERRORS.sample, window, ("model_name",), *matchers)
    rate = RecordingRule(request_rate(window), requests)
    errors = RecordingRule(error_ratio(window), promql.ratio(
        failed, promql.selector(request_rate(window), *matchers)))
    return [rate, errors]


def _version_rates(window: str) -> list[RecordingRule]:
    """Requests, their count and the error ratio per version over ``window``, for the models
    that run more than one version now (a canary judged on its own requests)."""
    by = ("model_name", "model_version")
    only = f"and on (model_name) ({drift.expressions.versions_rule_expr()} > 1)"
    rate = versioned(request_rate(window))
    return [RecordingRule(rate, f"{_rate(REQUESTS.sample, window, by)} {only}"),
            RecordingRule(versioned(error_ratio(window)),
                          promql.ratio(_rate(ERRORS.sample, window, by), rate)),
            RecordingRule(versioned(request_count(window)),
                          f"{promql.sum_increase(REQUESTS.sample, window, by)} {only}")]


def _version_quality() -> list[RecordingRule]:
    """Accuracy and the low-confidence share per version, with their counts, over the windows
    their alerts read, for the models that run more than one version now (a canary's quality
    judged on its own predictions and labels)."""
    by = ("model_name", "model_version")
    only = f"and on (model_name) ({drift.expressions.versions_rule_expr()} > 1)"
    rules = []
    for w in EVIDENCE["accuracy_version"].windows:
        count = versioned(ground_truth_count(w))
        rules += [RecordingRule(count, f"{promql.sum_increase(GROUND_TRUTH.sample, w, by)} {only}"),
                  RecordingRule(versioned(accuracy(w)),
                                f"{_accuracy(w, by)} and on (model_name, model_version) {count}")]
    for w in EVIDENCE["low_confidence_version"].windows:
        count = versioned(prediction_count(w))
        low = promql.ratio(_rate(LOW_CONFIDENCE.sample, w, by), _rate(PREDICTIONS.sample, w, by))
        rules += [RecordingRule(count, f"{promql.sum_increase(PREDICTIONS.sample, w, by)} {only}"),
                  RecordingRule(versioned(low_confidence_ratio(w)),
                                f"{low} and on (model_name, model_version) {count}")]
    return rules


def _recording(config: Config, spike: str) -> list[RecordingRule]:
    rules = []
    for w in (spike, *WINDOWS):
        rules += _rates(w)
    for variant in period_variants(config):  # each model's SLO period, where not a window
        if variant.value not in (spike, *WINDOWS):
            rules += _rates(str(variant.value), *variant.matchers)
    # the evidence behind the alerts' ratios: how many events their windows hold
    counted: dict[Callable[[str], str], str] = {
               request_count: REQUESTS.sample, prediction_count: PREDICTIONS.sample,
               ground_truth_count: GROUND_TRUTH.sample}
    for name, windows in COUNT_WINDOWS.items():
        rules += [RecordingRule(name(w), promql.sum_increase(counted[name], w)) for w in windows]
    rules.append(RecordingRule(request_count(spike), promql.sum_increase(REQUESTS.sample, spike)))
    for w in (spike, *EVIDENCE["errors_version"].windows):
        rules += _version_rates(w)
    rules += _version_quality()
    rules.append(RecordingRule(HISTORY_AGE, history_age()))
    for w in LATENCY_WINDOWS:  # the buckets' rates once, every quantile from them
        rules.append(RecordingRule(latency_buckets(w), promql.sum_rate(
            REQUEST_DURATION.series("_bucket"), w, ("le", "model_name"))))
        rules += [RecordingRule(latency_quantile(q, w),
                                f"histogram_quantile({promql.number(q)}, {latency_buckets(w)})")
                  for q in LATENCY_QUANTILES]
    for w in ACCURACY_WINDOWS:
        rules.append(RecordingRule(accuracy(w), _accuracy(w)))
    rules.append(RecordingRule(segment_accuracy("1h"), _accuracy("1h", ("model_name", "segment"))))
    for w in LOW_CONFIDENCE_WINDOWS:
        low = promql.ratio(_rate(LOW_CONFIDENCE.sample, w), _rate(PREDICTIONS.sample, w))
        rules.append(RecordingRule(low_confidence_ratio(w), low))
    if any(m.slo.cost_per_hour is not None for m in config.models):
        cost = f"max by (model_name) ({setting('cost_per_hour')})"
        rules.append(RecordingRule(COST_PER_1K, (
            f"{cost} / ({request_rate('1h')} * 3600) * 1000")))
    # the statistics the ratio alerts fire on: each ratio's bound at the model's alpha
    return rules + bound_rules(config.stack.scrape_interval_seconds, slo=False)


def recording_groups(config: Config) -> list[RuleGroup]:
    """The settings stage, then RED, latency quantiles, accuracy and low-confidence share, the
    event counts behind them and each model's history age, for every model: windows under an
    hour every evaluation, longer ones every :data:`LONG_INTERVAL` (and, once every stage is
    generated, the 30m records no rule reads too: :func:`~mlmon_nb.promql.rule.unhurried`)."""
    spike = spike_window(config.stack.scrape_interval_seconds)
    # the requests and failures of each 5m, once per 5m: what the day-long windows sum
    chain = [RecordingRule(chain_record(name(CHAIN_STEP)), promql.sum_increase(metric, CHAIN_STEP))
             for name, metric in ((request_count, REQUESTS.sample), (error_count, ERRORS.sample))]
    return settings_groups(config) + stage_groups("recording", _recording(config, spike), chain)


# -- stage 3, the SLO rules, is .slo.slo_groups ------------------------------------------------
# -- stage 4: alerts ----------------------------------------------------------------------------

def runbook_url(config: Config, alertname: str, labels: Mapping[str, str],
                templated: Iterable[str] = ("model_name",)) -> str:
    """The launcher link of an alert; labels from the series are escaped with ``urlquery``.

    Prometheus expands annotation templates with the series' labels only, not the rule's own
    ``labels:``, so static labels are written out (URL-escaped here) and series labels are
    templated; a series label other than ``model_name`` only where the series has it (a
    canary's ``model_version``).
    """
    templated = tuple(templated)
    parts: list[str] = []
    for key in _LINK_LABELS:
        if key in templated:
            value = f"{key}={{{{ $labels.{key} | urlquery }}}}"
            parts.append(value if key == "model_name" or not parts else
                         f"{{{{ if $labels.{key} }}}}&{value}{{{{ end }}}}")
        elif key in labels:
            parts.append(f"{key}={quote(str(labels[key]), safe='')}")
    first, *rest = parts
    return (f"{config.launcher_url}/runbook/{alertname}?{first}"
            + "".join(p if p.startswith("{{ if") else f"&{p}" for p in rest))


def alert_groups(config: Config,
                 baselines: Mapping[str, Baseline] | None = None) -> list[RuleGroup]:
    """Every catalogue alert for every model at once, in the groups the catalogue names
    (``alerts``, ``slo-burn``), each with its runbook link. ``baselines`` is accepted for the
    stages' common signature; alerts on drift and estimated accuracy exist for every model and
    fire only where the model's service exports its baseline."""
    order = list(dict.fromkeys(spec.group for spec in CATALOGUE))
    rules: dict[str, list[AlertingRule]] = {name: [] for name in order}
    for spec in CATALOGUE:
        for rule in spec.rules(config):
            link = runbook_url(config, spec.name, rule.labels, spec.series_labels)
            rules[spec.group].append(rule.with_annotations(runbook_url=link))
    return [RuleGroup(group_name(name), tuple(rules[name]), GROUP_INTERVALS.get(name))
            for name in order]


# -- stage 5: drift and estimated accuracy ------------------------------------------------------

def drift_groups(config: Config,
                 baselines: Mapping[str, Baseline] | None = None) -> list[RuleGroup]:
    """The estimated accuracy every :data:`LONG_INTERVAL`, with the confidence buckets of its
    windows (an estimate over 5m to 1d, alerting after 15m, needs no 15 s freshness; every
    replica's confidence buckets read every 15 s were a quarter of a fleet's cost outside the
    drift group), and the drift engine's recording rules, evaluated every
    ``stack.drift_evaluation_interval`` (5m: their 1h windows over every feature's buckets are
    what costs at fleet scale), for every model whose service exports its baseline.
    ``baselines`` widen the PSI critical values' table to their bin counts."""
    bins = max((len(spec.edges) + 1 for b in (baselines or {}).values()
                for spec in b.numeric.values()), default=0)
    rules = [RecordingRule(r["record"], r["expr"], r.get("labels", {}))
             for r in drift.drift_recording_rules(
                 DRIFT_WINDOWS, alphas=alpha_variants(config), max_bins=bins,
                 confidence_buckets=False)]
    interval = promql.duration(math.ceil(config.stack.drift_evaluation_interval_seconds))
    # the estimate's group records the confidence buckets of every window, the drift's 1h too
    several = f"and on (model_name) ({drift.expressions.versions_rule_expr()} > 1)"
    estimated = (*estimated_accuracy_rules(), *version_estimated_accuracy_rules(several))
    return [RuleGroup(group_name("estimated-accuracy"), estimated, LONG_INTERVAL),
            RuleGroup(group_name("drift"), tuple(rules), interval),
            multivariate_group(config, interval)]


def multivariate_group(config: Config, interval: str) -> RuleGroup:
    """The multivariate check's recording rules (``drift.multivariate_rules``) at the drift
    rules' interval, at each model's drift alpha."""
    return RuleGroup(group_name("multivariate-drift"), tuple(
        RecordingRule(r["record"], r["expr"], r.get("labels", {}))
        for r in drift.multivariate_rules.multivariate_rules(DRIFT_WINDOWS[:1],
                                                             alphas=alpha_variants(config))),
        interval)


def alpha_variants(config: Config) -> list[tuple[float, tuple[str, ...]]]:
    """Each distinct drift alpha of the fleet with the matchers of its models."""
    return [(float(str(v.value)), v.matchers)
            for v in variants(config, lambda m: m.drift_alpha)]
