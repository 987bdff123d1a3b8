"""SLOs as rules: bad-event ratios, objectives, error budgets and the burn-rate windows.

Why the error ratios are traffic-weighted: every ratio is ``sum(rate(bad)) / sum(rate(all))`` over
its window, never an average of shorter ratios, so a quiet hour counts less than a busy one. The
same PromQL (:func:`slo_events`, :func:`slo_bad_ratio`) serves the SLO rules, the SLO reports
(``mlmon_nb.slo``) and the runbooks' evidence, so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import promql
from ..config import Config, ModelConfig, parse_duration
from ..errors import RulesError
from ..metrics import ERRORS, GROUND_TRUTH, REQUEST_DURATION, REQUESTS, le_label
from .model import RecordingRule, RuleGroup
from .names import (
    ERROR_BUDGET_REMAINING,
    SLO_OBJECTIVE,
    SLOS,
    WINDOWS,
    group_name,
    slo_error_ratio,
    slo_event_count,
)

__all__ = [
    "BurnWindow",
    "BURN_WINDOWS",
    "burn_windows",
    "period",
    "model_windows",
    "slo_events",
    "slo_bad_ratio",
    "slo_event_total",
    "slo_objective",
    "slo_groups",
    "COUNT_WINDOWS",
]


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
        return round(self.budget_share * period_seconds / parse_duration(self.long), 9)


BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("1h", "5m", 0.02, "critical"),
    BurnWindow("6h", "30m", 0.05, "critical"),
    BurnWindow("1d", "2h", 0.10, "warning"),
    BurnWindow("3d", "6h", 0.10, "warning"),
)


# Windows whose SLO event counts are recorded: the burn alerts' long windows and the 5m of the
# latency alert (the evidence each needs before it may fire).
COUNT_WINDOWS: tuple[str, ...] = ("5m", *(w.long for w in BURN_WINDOWS))


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


def period(model: ModelConfig) -> str:
    """A model's SLO period as a PromQL duration (``30d``); :class:`RulesError` if not whole."""
    try:
        return promql.duration(model.slo.period_seconds)
    except promql.PromQLError:
        raise RulesError(f"model {model.name}: the SLO period {model.slo.period_seconds!r}s is not "
                         f"a whole number of seconds; set slos.period to e.g. 30d or 28d") from None


def model_windows(model: ModelConfig) -> tuple[str, ...]:
    """The recording rules' windows for a model: :data:`WINDOWS` and its SLO period."""
    slo_period = period(model)
    return WINDOWS + ((slo_period,) if slo_period not in WINDOWS else ())


def slo_events(slo: str, model: ModelConfig, window: str) -> tuple[str, str]:
    """PromQL of an SLO's bad events and all events per second over ``window``.

    latency: requests over the threshold (``_count`` minus the ``le=threshold`` bucket) of all
    requests; availability: errors of requests; accuracy: incorrect ground-truth outcomes of all.
    """
    m = model.name
    if slo == "availability":
        return (promql.sum_rate(promql.selector(ERRORS.sample, model_name=m), window),
                promql.sum_rate(promql.selector(REQUESTS.sample, model_name=m), window))
    if slo == "latency":
        count = promql.sum_rate(promql.selector(REQUEST_DURATION.series("_count"), model_name=m),
                                window)
        good = promql.sum_rate(promql.selector(
            REQUEST_DURATION.series("_bucket"), model_name=m,
            le=le_label(model.slo.latency_threshold_seconds)), window)
        return f"{count} - {good}", count
    if slo == "accuracy":
        return (promql.sum_rate(promql.selector(GROUND_TRUTH.sample, model_name=m,
                                                outcome="incorrect"), window),
                promql.sum_rate(promql.selector(GROUND_TRUTH.sample, model_name=m), window))
    raise RulesError(f"unknown SLO {slo!r}; known: {', '.join(SLOS)}")


def slo_event_total(slo: str, model: ModelConfig, window: str) -> str:
    """PromQL of how many events an SLO counted over ``window`` (its ratio's evidence)."""
    return promql.sum_increase(_event_series(slo, model), window)


def _event_series(slo: str, model: ModelConfig) -> str:
    """The counter of an SLO's events: requests (latency: the histogram's count), or outcomes."""
    m = model.name
    if slo == "availability":
        return promql.selector(REQUESTS.sample, model_name=m)
    if slo == "latency":
        return promql.selector(REQUEST_DURATION.series("_count"), model_name=m)
    if slo == "accuracy":
        return promql.selector(GROUND_TRUTH.sample, model_name=m)
    raise RulesError(f"unknown SLO {slo!r}; known: {', '.join(SLOS)}")


def slo_bad_ratio(slo: str, model: ModelConfig, window: str) -> str:
    """PromQL of an SLO's bad-event ratio over ``window`` (0 when there are no bad events)."""
    bad, total = slo_events(slo, model, window)
    # latency: both sides come from one histogram, never missing apart
    return promql.ratio(bad, total, bad_may_be_absent=slo != "latency")


def slo_objective(model: ModelConfig, slo: str) -> float:
    """The configured objective of one of a model's SLOs."""
    objectives = {"latency": model.slo.latency_objective,
                  "availability": model.slo.availability_objective,
                  "accuracy": model.slo.accuracy_objective}
    if slo not in objectives:
        raise RulesError(f"unknown SLO {slo!r}; known: {', '.join(SLOS)}")
    return objectives[slo]


def slo_groups(config: Config) -> list[RuleGroup]:
    """Per model and SLO: bad-event ratios per window, the objective, the budget remaining."""
    groups = []
    for model in config.models:
        m = model.name
        slo_period = period(model)
        rules: list[RecordingRule] = []
        for slo in SLOS:
            labels = {"model_name": m, "slo": slo}
            objective = slo_objective(model, slo)
            rules += [RecordingRule(slo_error_ratio(w), slo_bad_ratio(slo, model, w), labels)
                      for w in model_windows(model)]
            rules += [RecordingRule(slo_event_count(w), slo_event_total(slo, model, w), labels)
                      for w in COUNT_WINDOWS]
            rules.append(RecordingRule(SLO_OBJECTIVE, f"vector({promql.number(objective)})",
                                       labels))
            budget = promql.selector(slo_error_ratio(slo_period), model_name=m, slo=slo)
            rules.append(RecordingRule(ERROR_BUDGET_REMAINING, (
                f"1 - {budget} / {promql.number(round(1 - objective, 9))}"), labels))
        groups.append(RuleGroup(group_name(m, "slo"), tuple(rules)))
    return groups
