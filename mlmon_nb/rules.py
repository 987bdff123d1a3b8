"""Prometheus rule files and Alertmanager routing, generated from the configuration.

Generation runs in small stages, each a pure function of the configuration (like Sloth):

1. :func:`validate` — every latency SLO threshold is a bucket edge of the latency histogram, the
   SLO period covers the longest burn-rate window;
2. :func:`recording_groups` — RED, latency quantiles, accuracy and low-confidence share per model,
   ``level:metric:operations`` names over 5m, 30m, 1h, 2h, 6h, 1d, 3d and the SLO period;
3. :func:`slo_groups` — per SLO (latency, availability, accuracy) the error ratio over every
   burn-rate window and the period, the objective and the error budget remaining;
4. :func:`alert_groups` — the alert catalogue and the multi-window multi-burn-rate alerts;
5. :func:`drift_groups` — the drift engine's recording rules, when a baseline file exists.

:func:`render_rule_files` joins them into YAML files (``recording.yml``, ``slo.yml``,
``alerts.yml``, ``drift.yml``); :func:`render_alertmanager` renders the routing. Only the CLI and
the stack write them to disk. Recording-rule names live here, in one place, for the queries and
notebooks to reuse.

Why the error ratios are traffic-weighted: every ratio is ``sum(rate(bad)) / sum(rate(all))`` over
its window, never an average of shorter ratios, so a quiet hour counts less than a busy one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

import yaml

from .config import Config, ModelConfig
from .errors import RulesError, StackError
from .metrics import (
    DEFAULT_LATENCY_BUCKETS,
    ERRORS,
    GROUND_TRUTH,
    LOW_CONFIDENCE,
    MODEL_INFO,
    PREDICTIONS,
    REQUEST_DURATION,
    REQUESTS,
    le_label,
    recording_name,
)

__all__ = [
    "WINDOWS",
    "SLOS",
    "SERVICE_JOB",
    "BurnWindow",
    "BURN_WINDOWS",
    "burn_windows",
    "format_duration",
    "request_rate",
    "error_ratio",
    "latency_quantile",
    "accuracy",
    "segment_accuracy",
    "low_confidence_ratio",
    "slo_error_ratio",
    "slo_events",
    "slo_bad_ratio",
    "slo_objective",
    "SLO_OBJECTIVE",
    "ERROR_BUDGET_REMAINING",
    "COST_PER_1K",
    "validate",
    "recording_groups",
    "slo_groups",
    "alert_groups",
    "drift_groups",
    "load_baselines",
    "render_rule_files",
    "render_rules",
    "render_alertmanager",
    "write_generated",
    "receivers_from_env",
    "check_files",
    "stale_files",
    "runbook_url",
    "RULE_FILES",
    "ALERTMANAGER_FILE",
]

# Rate windows of the recording rules (the SLO period is added per model).
WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
LATENCY_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h")
LATENCY_QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)
LOW_CONFIDENCE_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h")
SLOS: tuple[str, ...] = ("latency", "availability", "accuracy")
# Scrape job of the monitored service (the demo stack's); MLServiceDown watches its `up`.
SERVICE_JOB = "mlmon-demo"
RULE_FILES: tuple[str, ...] = ("recording.yml", "slo.yml", "alerts.yml", "drift.yml")
ALERTMANAGER_FILE = "alertmanager.yml"
_LABEL_ORDER = ("model_name", "severity", "feature", "slo", "long_window", "short_window")


# -- names (one place) ------------------------------------------------------------------------

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


def accuracy(window: str) -> str:
    """Share of ground-truth outcomes that were correct over ``window``."""
    return recording_name("model_name", "ml_accuracy", f"ratio_rate{window}")


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


SLO_OBJECTIVE = recording_name("model_name_slo", "ml_slo_objective", "ratio")
ERROR_BUDGET_REMAINING = recording_name("model_name_slo", "ml_slo_error_budget_remaining", "ratio")
COST_PER_1K = recording_name("model_name", "ml_cost_per_1k_requests", "rate1h")


# -- durations and burn windows ---------------------------------------------------------------

def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for ``seconds`` (``2592000`` → ``30d``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    raise RulesError(f"{seconds!r}s is not a whole number of seconds; use e.g. 30d or 28d")


_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def _seconds(window: str) -> float:
    return float(window[:-1]) * _SECONDS[window[-1]]


@dataclass(frozen=True)
class BurnWindow:
    """One multi-window burn-rate alert: the share of the budget it catches in its long window.

    For a 30-day period the factors are the SRE workbook's 14.4, 6, 3 and 1; for another period
    the factor is ``budget_share × period / long_window``, which keeps the same budget share.
    """

    long: str
    short: str
    budget_share: float
    severity: str  # critical = page, warning = ticket

    def factor(self, period_seconds: float) -> float:
        """Burn-rate factor for an SLO period."""
        return round(self.budget_share * period_seconds / _seconds(self.long), 9)


BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("1h", "5m", 0.02, "critical"),
    BurnWindow("6h", "30m", 0.05, "critical"),
    BurnWindow("1d", "2h", 0.10, "warning"),
    BurnWindow("3d", "6h", 0.10, "warning"),
)


def burn_windows(slo_objective: float, period_seconds: float) -> list[tuple[BurnWindow, float]]:
    """The burn windows that can fire, each with its error-ratio threshold.

    A window whose threshold (factor × budget) is 100% or more can never fire and is left out
    (e.g. the 14.4× page for an 85% accuracy objective).
    """
    budget = 1.0 - slo_objective
    out = []
    for w in BURN_WINDOWS:
        threshold = round(w.factor(period_seconds) * budget, 9)
        if threshold < 1.0:
            out.append((w, threshold))
    return out


# -- stage 1: validate --------------------------------------------------------------------------

def validate(config: Config, latency_buckets: Iterable[float] = DEFAULT_LATENCY_BUCKETS) -> None:
    """Raise :class:`RulesError` when rules for ``config`` would be wrong.

    A latency SLO counts requests under its threshold from the histogram bucket ``le=threshold``;
    a threshold between bucket edges has no such bucket, so it is refused rather than guessed.
    """
    edges = sorted(float(b) for b in latency_buckets)
    longest = max(_seconds(w.long) for w in BURN_WINDOWS)
    for model in config.models:
        threshold = model.slo.latency_threshold_seconds
        if not any(math.isclose(threshold, e, rel_tol=0, abs_tol=1e-12) for e in edges):
            raise RulesError(
                f"model {model.name}: the latency SLO threshold {threshold:g}s is not a bucket "
                f"edge of {REQUEST_DURATION.name} (edges: {', '.join(f'{e:g}' for e in edges)}). "
                f"Set slos.latency.threshold_seconds to one of them, or export the histogram with "
                f"latency_buckets_with([{threshold:g}]) and pass the same buckets to rule "
                f"generation.")
        if model.slo.period_seconds < longest:
            raise RulesError(
                f"model {model.name}: the SLO period {format_duration(model.slo.period_seconds)} "
                f"is shorter than the longest burn-rate window (3d); use a period of 3d or more, "
                f"e.g. 28d or 30d.")
        format_duration(model.slo.period_seconds)


# -- expression helpers -------------------------------------------------------------------------

def _num(value: float) -> str:
    return f"{value:.12g}"


def _sel(metric: str, model: str, **matchers: str) -> str:
    inner = ",".join([f'model_name="{model}"'] + [f'{k}="{v}"' for k, v in matchers.items()])
    return f"{metric}{{{inner}}}"


def _sum_rate(metric: str, model: str, window: str, by: str = "model_name", **matchers: str) -> str:
    return f"sum by ({by}) (rate({_sel(metric, model, **matchers)}[{window}]))"


def _ratio(bad: str, total: str) -> str:
    """``bad / total`` that is 0, not empty, when no bad series exists yet (no errors so far)."""
    return f"({bad} or 0 * {total}) / {total}"


def _rule(record: str, expr: str, **labels: str) -> dict:
    rule: dict[str, Any] = {"record": record, "expr": expr}
    if labels:
        rule["labels"] = labels
    return rule


# -- stage 2: recording rules -------------------------------------------------------------------

def _per_model(rules: list[dict], model: str) -> list[dict]:
    """Every model's rules share names; a static ``model_name`` label (the value the series carry
    anyway) keeps them apart for promtool's duplicate-rule lint."""
    return [{**r, "labels": {"model_name": model, **r.get("labels", {})}} for r in rules]


def _model_windows(model: ModelConfig) -> tuple[str, ...]:
    period = format_duration(model.slo.period_seconds)
    return WINDOWS + ((period,) if period not in WINDOWS else ())


def recording_groups(config: Config) -> list[dict]:
    """RED, latency quantiles, accuracy and low-confidence share, one group per model."""
    groups = []
    for model in config.models:
        m = model.name
        rules = []
        for w in _model_windows(model):
            rules.append(_rule(request_rate(w), _sum_rate(REQUESTS.sample, m, w)))
            rules.append(_rule(error_ratio(w), _ratio(
                _sum_rate(ERRORS.sample, m, w), _sel(request_rate(w), m))))
        for w in LATENCY_WINDOWS:
            for q in LATENCY_QUANTILES:
                rules.append(_rule(latency_quantile(q, w), (
                    f"histogram_quantile({_num(q)}, "
                    f"{_sum_rate(REQUEST_DURATION.series('_bucket'), m, w, by='model_name, le')})")))
        for w in ("1h", "1d"):
            rules.append(_rule(accuracy(w), _accuracy_expr(m, w)))
        rules.append(_rule(segment_accuracy("1h"), _accuracy_expr(m, "1h", by="model_name, segment")))
        for w in LOW_CONFIDENCE_WINDOWS:
            rules.append(_rule(low_confidence_ratio(w), _ratio(
                _sum_rate(LOW_CONFIDENCE.sample, m, w), _sum_rate(PREDICTIONS.sample, m, w))))
        if model.slo.cost_per_hour is not None:
            rules.append(_rule(COST_PER_1K, (
                f"{_num(float(model.slo.cost_per_hour))} / ({_sel(request_rate('1h'), m)} * 3600) "
                f"* 1000")))
        groups.append({"name": f"mlmon:{m}:recording", "rules": _per_model(rules, m)})
    return groups


def _accuracy_expr(model: str, window: str, by: str = "model_name") -> str:
    total = _sum_rate(GROUND_TRUTH.sample, model, window, by=by)
    correct = _sum_rate(GROUND_TRUTH.sample, model, window, by=by, outcome="correct")
    return _ratio(correct, total)


# -- stage 3: SLO rules -------------------------------------------------------------------------

def slo_events(slo: str, model: ModelConfig, window: str) -> tuple[str, str]:
    """PromQL of an SLO's bad events and all events per second over ``window``.

    latency: requests over the threshold (``_count`` minus the ``le=threshold`` bucket) of all
    requests; availability: errors of requests; accuracy: incorrect ground-truth outcomes of all.
    """
    m = model.name
    if slo == "availability":
        return _sum_rate(ERRORS.sample, m, window), _sum_rate(REQUESTS.sample, m, window)
    if slo == "latency":
        count = _sum_rate(REQUEST_DURATION.series("_count"), m, window)
        good = _sum_rate(REQUEST_DURATION.series("_bucket"), m, window,
                         le=le_label(model.slo.latency_threshold_seconds))
        return f"{count} - {good}", count
    if slo == "accuracy":
        return (_sum_rate(GROUND_TRUTH.sample, m, window, outcome="incorrect"),
                _sum_rate(GROUND_TRUTH.sample, m, window))
    raise RulesError(f"unknown SLO {slo!r}; known: {', '.join(SLOS)}")


def slo_bad_ratio(slo: str, model: ModelConfig, window: str) -> str:
    """PromQL of an SLO's bad-event ratio over ``window`` (0 when there are no bad events)."""
    bad, total = slo_events(slo, model, window)
    if slo == "latency":  # both sides come from one histogram: never missing apart
        return f"({bad}) / {total}"
    return _ratio(bad, total)


def slo_objective(model: ModelConfig, slo: str) -> float:
    """The configured objective of one of a model's SLOs."""
    return {"latency": model.slo.latency_objective,
            "availability": model.slo.availability_objective,
            "accuracy": model.slo.accuracy_objective}[slo]


def slo_groups(config: Config) -> list[dict]:
    """Per model and SLO: bad-event ratios per window, the objective, the budget remaining."""
    groups = []
    for model in config.models:
        m = model.name
        period = format_duration(model.slo.period_seconds)
        rules = []
        for slo in SLOS:
            for w in _model_windows(model):
                rules.append(_rule(slo_error_ratio(w), slo_bad_ratio(slo, model, w), slo=slo))
            objective = slo_objective(model, slo)
            rules.append(_rule(SLO_OBJECTIVE, f"vector({_num(objective)})", model_name=m, slo=slo))
            rules.append(_rule(ERROR_BUDGET_REMAINING, (
                f"1 - {_sel(slo_error_ratio(period), m, slo=slo)} / {_num(round(1 - objective, 9))}"),
                slo=slo))
        groups.append({"name": f"mlmon:{m}:slo", "rules": _per_model(rules, m)})
    return groups


# -- stage 4: alerts ----------------------------------------------------------------------------

def runbook_url(config: Config, alertname: str, labels: dict[str, str],
                templated: Iterable[str] = ("model_name",)) -> str:
    """The launcher link of an alert; labels from the series are escaped with ``urlquery``.

    Prometheus expands annotation templates with the series' labels only, not the rule's own
    ``labels:``, so static labels are written out (URL-escaped here) and series labels are
    templated.
    """
    templated = tuple(templated)
    keys = [k for k in _LABEL_ORDER if k in templated or k in labels]
    parts = []
    for key in keys:
        if key in templated:
            parts.append(f"{key}={{{{ $labels.{key} | urlquery }}}}")
        else:
            parts.append(f"{key}={quote(str(labels[key]), safe='')}")
    return f"{config.launcher_url}/runbook/{alertname}?" + "&".join(parts)


def _alert(config: Config, name: str, expr: str, for_: str | None, labels: dict[str, str],
           summary: str, description: str, templated: Iterable[str] = ("model_name",)) -> dict:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_:
        rule["for"] = for_
    rule["labels"] = labels
    rule["annotations"] = {"summary": summary, "description": description,
                           "runbook_url": runbook_url(config, name, labels, templated)}
    return rule


def _pct(value: float) -> str:
    return f"{value * 100:g}%"


def alert_groups(config: Config, baselines: Mapping[str, Any] | None = None) -> list[dict]:
    """The alert catalogue (group ``mlmon:<model>:alerts``) and the burn-rate alerts per model.

    The drift alerts are included for the models in ``baselines`` (default: whose baseline file
    exists), since only they have drift recording rules.
    """
    baselines = load_baselines(config) if baselines is None else baselines
    groups = []
    for model in config.models:
        groups.append({"name": f"mlmon:{model.name}:alerts",
                       "rules": _catalogue(config, model, baselines.get(model.name) is not None)})
        groups.append({"name": f"mlmon:{model.name}:slo-burn", "rules": _burn_alerts(config, model)})
    return groups


def _catalogue(config: Config, model: ModelConfig, drift: bool) -> list[dict]:
    m, a, s = model.name, model.alerts, model.slo
    mv = "{{ $labels.model_name }}"
    rules = []
    for name, severity, threshold, for_ in (("HighErrorRate", "critical", a.error_ratio_critical, "5m"),
                                            ("ElevatedErrorRate", "warning", a.error_ratio_warning, "10m")):
        rules.append(_alert(
            config, name, f"{_sel(error_ratio('5m'), m)} > {_num(threshold)}", for_,
            {"severity": severity, "model_name": m},
            f"{mv}: error ratio above {_pct(threshold)}",
            f"{{{{ $value | humanizePercentage }}}} of {mv}'s requests failed over the last 5m "
            f"(threshold {_pct(threshold)}, for {for_})."))
    for severity, factor, for_ in (("critical", a.latency_p95_factor_critical, "10m"),
                                   ("warning", a.latency_p95_factor_warning, "15m")):
        limit = round(factor * s.latency_threshold_seconds, 9)
        rules.append(_alert(
            config, "HighLatencyP95", f"{_sel(latency_quantile(0.95, '5m'), m)} > {_num(limit)}",
            for_, {"severity": severity, "model_name": m},
            f"{mv}: P95 latency above {_num(factor)}x the SLO",
            f"P95 latency of {mv} is {{{{ $value | humanizeDuration }}}} over the last 5m "
            f"(threshold {_num(limit)}s = {_num(factor)} x the {_num(s.latency_threshold_seconds)}s "
            f"latency SLO, for {for_})."))
    rules.append(_alert(
        config, "MLServiceDown", f'up{{job="{SERVICE_JOB}"}} == 0', "1m",
        {"severity": "critical", "model_name": m},
        f"{m}: the model service is down",
        f"Prometheus cannot scrape {{{{ $labels.instance }}}} (job {SERVICE_JOB}) serving {m}: "
        f"up is {{{{ $value }}}} (threshold: up == 0, for 1m).", templated=()))
    rules.append(_alert(
        config, "LowModelAccuracy", f"{_sel(accuracy('1h'), m)} < {_num(a.accuracy_min)}", "30m",
        {"severity": "critical", "model_name": m},
        f"{mv}: accuracy below {_pct(a.accuracy_min)}",
        f"Accuracy of {mv} on ground truth over the last 1h is {{{{ $value | humanizePercentage }}}} "
        f"(threshold {_pct(a.accuracy_min)}, for 30m)."))
    rules.append(_alert(
        config, "HighLowConfidencePredictions",
        f"{_sel(low_confidence_ratio('30m'), m)} > {_num(a.low_confidence_share)}", "1h",
        {"severity": "info", "model_name": m},
        f"{mv}: many low-confidence predictions",
        f"{{{{ $value | humanizePercentage }}}} of {mv}'s predictions over the last 30m had "
        f"confidence under {_num(model.low_confidence_threshold)} (threshold "
        f"{_pct(a.low_confidence_share)}, for 1h)."))
    rules.append(_alert(
        config, "LowThroughput", f"{_sel(request_rate('5m'), m)} < {_num(s.throughput_min_rps)}",
        "15m", {"severity": "warning", "model_name": m},
        f"{mv}: throughput below {_num(s.throughput_min_rps)} requests/s",
        f"{mv} served {{{{ $value | humanize }}}} requests/s over the last 5m (threshold "
        f"{_num(s.throughput_min_rps)} requests/s, for 15m)."))
    rules.append(_alert(
        config, "ModelMetricsAbsent",
        f"absent({_sel(REQUESTS.sample, m)}) or absent({_sel(MODEL_INFO.name, m)})", "10m",
        {"severity": "warning", "model_name": m},
        f"{m}: model metrics are absent",
        f"Prometheus has no {REQUESTS.sample} or {MODEL_INFO.name} for {m} (value "
        f"{{{{ $value }}}}, threshold: absent for 10m); the service or its instrumentation is "
        f"not being scraped.", templated=()))
    if drift:
        rules.extend(_drift_alerts(config, model))
    return rules


def _burn_alerts(config: Config, model: ModelConfig) -> list[dict]:
    m = model.name
    rules = []
    for slo in SLOS:
        objective = slo_objective(model, slo)
        for window, threshold in burn_windows(objective, model.slo.period_seconds):
            factor = window.factor(model.slo.period_seconds)
            labels = {"severity": window.severity, "model_name": m, "slo": slo,
                      "long_window": window.long, "short_window": window.short}
            long_sel = _sel(slo_error_ratio(window.long), m, slo=slo)
            short_sel = _sel(slo_error_ratio(window.short), m, slo=slo)
            kind = "page" if window.severity == "critical" else "ticket"
            rules.append(_alert(
                config, "SLOErrorBudgetBurn",
                f"{long_sel} > {_num(threshold)} and {short_sel} > {_num(threshold)}", None, labels,
                f"{{{{ $labels.model_name }}}}: {slo} SLO burns its error budget {_num(factor)}x "
                f"too fast ({kind})",
                f"The {slo} error ratio of {{{{ $labels.model_name }}}} is {{{{ $value | "
                f"humanizePercentage }}}} over {window.long} and above the threshold over "
                f"{window.short} too (threshold {_pct(threshold)} = {_num(factor)} x the "
                f"{_pct(round(1 - objective, 9))} error budget of the "
                f"{_pct(objective)} objective).",
                templated=("model_name",)))
    return rules


# -- stage 5: drift -----------------------------------------------------------------------------

def _drift_names() -> tuple[Callable[..., list[dict]], str, str] | None:
    """The drift engine's rule generator and its KS/PSI rule names, once it exists."""
    try:
        from . import drift  # noqa: PLC0415 - optional until the drift engine lands
    except ImportError:
        return None
    gen = getattr(drift, "drift_recording_rules", None)
    ks = getattr(drift, "KS_RULE", None)
    psi = getattr(drift, "CONCEPT_PSI_RULE", None)
    if gen is None or ks is None or psi is None:
        return None
    return gen, ks, psi


def load_baselines(config: Config) -> dict[str, Any]:
    """Each model's baseline, loaded from its file; models without a baseline file are left out."""
    from .baseline import Baseline
    out = {}
    for model in config.models:
        path = config.baseline_path(model.name)
        if Path(path).exists():
            out[model.name] = Baseline.load(path)
    return out


def drift_groups(config: Config, baselines: Mapping[str, Any] | None = None) -> list[dict]:
    """The drift engine's recording rules for each model with a baseline (default: its file)."""
    names = _drift_names()
    if names is None:
        return []
    baselines = load_baselines(config) if baselines is None else baselines
    gen = names[0]
    groups = []
    for model in config.models:
        baseline = baselines.get(model.name)
        if baseline is not None:
            groups.append({"name": f"mlmon:{model.name}:drift",
                           "rules": _per_model([_feature_label(r) for r in gen(
                               model.name, baseline, ("1h",))], model.name)})
    return groups


_FEATURE_MATCHER = re.compile(r'feature="([^"]+)"')


def _feature_label(rule: dict) -> dict:
    """Per-feature rules share a name; a static ``feature`` label (the value their expression
    yields anyway) tells them apart for promtool's duplicate-rule lint."""
    features = set(_FEATURE_MATCHER.findall(rule["expr"]))
    if rule["record"].startswith("model_name_feature:") and len(features) == 1 and "labels" not in rule:
        return {**rule, "labels": {"feature": features.pop()}}
    return rule


def _drift_alerts(config: Config, model: ModelConfig) -> list[dict]:
    names = _drift_names()
    if names is None:
        return []
    _, ks, psi = names
    m = model.name
    rules = []
    for severity, threshold in (("warning", model.ks.warning), ("critical", model.ks.critical)):
        rules.append(_alert(
            config, "DataDriftDetected", f"{_sel(ks, m)} > {_num(threshold)}", "1h",
            {"severity": severity, "model_name": m},
            "{{ $labels.model_name }}: input drift on {{ $labels.feature }}",
            f"Binned KS of feature {{{{ $labels.feature }}}} against the training baseline is "
            f"{{{{ $value | printf \"%.3f\" }}}} over the last 1h (threshold {_num(threshold)}, "
            f"for 1h).", templated=("model_name", "feature")))
    rules.append(_alert(
        config, "ConceptDriftDetected", f"{_sel(psi, m)} > {_num(model.psi.warning)}", "1h",
        {"severity": "warning", "model_name": m},
        "{{ $labels.model_name }}: prediction confidence drifted",
        f"PSI of the prediction confidence against the training baseline is "
        f"{{{{ $value | printf \"%.3f\" }}}} over the last 1h (threshold {_num(model.psi.warning)}, "
        f"for 1h)."))
    return rules


# -- rendering ----------------------------------------------------------------------------------

_HEADER = ("# Generated by `mlmon-nb rules generate` from {source}; do not edit.\n"
           "# {what}\n")


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, width=10_000, allow_unicode=True)


def _source(config: Config) -> str:
    if config.path is None:
        return "the configuration"
    try:
        return str(Path(config.path).resolve().relative_to(Path(__file__).resolve().parent.parent))
    except ValueError:
        return Path(config.path).name


def render_rule_files(config: Config, *,
                      latency_buckets: Iterable[float] = DEFAULT_LATENCY_BUCKETS,
                      baselines: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Prometheus rule files for ``config``: file name → YAML text.

    ``baselines`` (model name → Baseline) default to the models' baseline files; models with one
    get drift recording rules (``drift.yml``) and the drift alerts.
    """
    validate(config, latency_buckets)
    baselines = load_baselines(config) if baselines is None else baselines
    stages = (("recording.yml", recording_groups, "Recording rules: RED, latency, accuracy."),
              ("slo.yml", slo_groups, "SLO error ratios per window, objectives, budget left."),
              ("alerts.yml", lambda c: alert_groups(c, baselines),
               "The alert catalogue and the burn-rate alerts."),
              ("drift.yml", lambda c: drift_groups(c, baselines),
               "Drift recording rules from the training baselines."))
    out = {}
    for filename, stage, what in stages:
        groups = stage(config)
        if groups:
            out[filename] = (_HEADER.format(source=_source(config), what=what)
                             + _dump({"groups": groups}))
    return out


def render_rules(config: Config, *,
                 latency_buckets: Iterable[float] = DEFAULT_LATENCY_BUCKETS,
                 baselines: Mapping[str, Any] | None = None) -> str:
    """All rule groups of ``config`` in one Prometheus rule file."""
    validate(config, latency_buckets)
    baselines = load_baselines(config) if baselines is None else baselines
    groups = (recording_groups(config) + slo_groups(config) + alert_groups(config, baselines)
              + drift_groups(config, baselines))
    return (_HEADER.format(source=_source(config), what="All rule groups.")
            + _dump({"groups": groups}))


_AM_HEADER = """\
# Generated by `mlmon-nb rules generate` from {source}; do not edit.
# Routing: critical -> pager (+ launcher), warning -> chat (+ launcher), info -> log.
# People get one notification per model and severity; the launcher gets every alert on its own
# (group_by: ['...']), so a runbook starts group_wait after its alert fires, not group_interval
# after another alert of the same model and severity was notified.
# The pager and chat receivers are placeholders until configured; secrets never live here:
#   PagerDuty: MLMON_PAGERDUTY_ROUTING_KEY_FILE=/path/to/key  -> pagerduty_configs.routing_key_file
#   Slack:     MLMON_SLACK_API_URL_FILE=/path/to/webhook-url   -> slack_configs.api_url_file
#              MLMON_SLACK_CHANNEL=#ml-alerts (optional)
#   Launcher:  MLMON_LAUNCHER_TOKEN_FILE=/path/to/token       -> bearer token of the webhook
# `render_alertmanager(config, **receivers_from_env())` writes these in at `stack up`.
"""


def receivers_from_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """Keyword arguments for :func:`render_alertmanager` from ``MLMON_*`` environment variables."""
    import os
    env = os.environ if env is None else env
    keys = {"MLMON_PAGERDUTY_ROUTING_KEY_FILE": "pagerduty_routing_key_file",
            "MLMON_SLACK_API_URL_FILE": "slack_api_url_file",
            "MLMON_SLACK_CHANNEL": "slack_channel",
            "MLMON_LAUNCHER_TOKEN_FILE": "webhook_token_file"}
    return {arg: env[var] for var, arg in keys.items() if env.get(var)}


def render_alertmanager(config: Config, *, webhook_url: str | None = None,
                        webhook_token_file: str | None = None,
                        pagerduty_routing_key_file: str | None = None,
                        slack_api_url_file: str | None = None,
                        slack_channel: str = "#ml-alerts") -> str:
    """Alertmanager routing for ``config``: every critical and warning alert reaches the launcher.

    ``webhook_url`` defaults to ``{launcher_url}/alertmanager``. Secrets are referenced by file
    path only (``*_file`` fields), so the rendered file can be committed.
    """
    url = webhook_url or f"{config.launcher_url}/alertmanager"
    webhook: dict[str, Any] = {"url": url, "send_resolved": True, "max_alerts": 0}
    if webhook_token_file:
        webhook["http_config"] = {"authorization": {"type": "Bearer",
                                                    "credentials_file": str(webhook_token_file)}}
    pager: dict[str, Any] = {"name": "pager"}
    if pagerduty_routing_key_file:
        pager["pagerduty_configs"] = [{"routing_key_file": str(pagerduty_routing_key_file),
                                       "send_resolved": True,
                                       "description": '{{ .CommonAnnotations.summary }}'}]
    chat: dict[str, Any] = {"name": "chat"}
    if slack_api_url_file:
        chat["slack_configs"] = [{"api_url_file": str(slack_api_url_file), "channel": slack_channel,
                                  "send_resolved": True,
                                  "title": '{{ .CommonAnnotations.summary }}',
                                  "text": '{{ range .Alerts }}{{ .Annotations.description }} '
                                          '{{ .Annotations.runbook_url }}\n{{ end }}'}]
    per_alert = {"group_by": ["..."]}  # one runbook per alert: don't wait for a group's interval
    doc = {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "log",
            "group_by": ["model_name", "severity"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"matchers": ['severity="critical"'], "receiver": "pager", "continue": True},
                {"matchers": ['severity="critical"'], "receiver": "launcher", **per_alert},
                {"matchers": ['severity="warning"'], "receiver": "chat", "continue": True},
                {"matchers": ['severity="warning"'], "receiver": "launcher", **per_alert},
                {"matchers": ['severity="info"'], "receiver": "log"},
            ],
        },
        "inhibit_rules": [
            # critical silences warning and info of the same model and alert (and SLO/feature)
            {"source_matchers": ['severity="critical"'],
             "target_matchers": ['severity=~"warning|info"'],
             "equal": ["model_name", "alertname", "slo", "feature"]},
            {"source_matchers": ['alertname="HighErrorRate"'],
             "target_matchers": ['alertname="ElevatedErrorRate"'],
             "equal": ["model_name"]},
            {"source_matchers": ['alertname="MLServiceDown"'],
             "target_matchers": ['alertname=~"ModelMetricsAbsent|LowThroughput"'],
             "equal": ["model_name"]},
        ],
        "receivers": [
            {"name": "launcher", "webhook_configs": [webhook]},
            pager,
            chat,
            {"name": "log"},
        ],
    }
    return _AM_HEADER.format(source=_source(config)) + _dump(doc)


def write_generated(config: Config, directory: str | Path, *, webhook_url: str | None = None,
                    baselines: Mapping[str, Any] | None = None, **receivers: str) -> list[Path]:
    """Write the rule files to ``directory/rules/`` and ``alertmanager.yml`` to ``directory``.

    Rule files of earlier generations that no longer apply (e.g. ``drift.yml``) are removed.
    """
    directory = Path(directory)
    rules_dir = directory / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    files = render_rule_files(config, baselines=baselines)
    written = []
    for name in RULE_FILES:
        path = rules_dir / name
        if name in files:
            path.write_text(files[name])
            written.append(path)
        elif path.exists():
            path.unlink()
    am = directory / ALERTMANAGER_FILE
    am.write_text(render_alertmanager(config, webhook_url=webhook_url, **receivers))
    written.append(am)
    return written


def _tool(name: str) -> str:
    from .stack import find_binary  # stack imports this module; binaries are found in one place
    try:
        return find_binary(name)
    except StackError as exc:
        raise RulesError(str(exc)) from None


def check_files(directory: str | Path) -> list[str]:
    """Check ``directory/rules/*.yml`` with promtool (lint fatal) and ``alertmanager.yml`` with amtool.

    Returns the tools' reports; raises :class:`RulesError` with their output when one fails.
    """
    import subprocess
    directory = Path(directory)
    rule_files = sorted(str(p) for p in (directory / "rules").glob("*.yml"))
    if not rule_files:
        raise RulesError(f"no rule files under {directory / 'rules'}; run `mlmon-nb rules generate`")
    commands = [[_tool("promtool"), "check", "rules", "--lint=all",
                 "--lint-fatal", *rule_files],
                [_tool("amtool"), "check-config",
                 str(directory / ALERTMANAGER_FILE)]]
    reports = []
    for cmd in commands:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        report = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            raise RulesError(f"{Path(cmd[0]).name} failed:\n{report}")
        reports.append(report)
    return reports


def stale_files(config: Config, directory: str | Path, *,
                baselines: Mapping[str, Any] | None = None) -> list[str]:
    """Generated files under ``directory`` that differ from a fresh generation (names only)."""
    directory = Path(directory)
    fresh = {f"rules/{name}": text
             for name, text in render_rule_files(config, baselines=baselines).items()}
    fresh[ALERTMANAGER_FILE] = render_alertmanager(config)
    stale = [name for name, text in fresh.items()
             if not (directory / name).exists() or (directory / name).read_text() != text]
    stale += [f"rules/{name}" for name in RULE_FILES
              if f"rules/{name}" not in fresh and (directory / "rules" / name).exists()]
    return sorted(stale)
