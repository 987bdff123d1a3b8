"""SLOs as rules: bad-event ratios, objectives, error budgets and the burn-rate windows.

Why the error ratios are traffic-weighted: every ratio is ``sum(rate(bad)) / sum(rate(all))`` over
its window, never an average of shorter ratios, so a quiet hour counts less than a busy one. The
same PromQL (:func:`slo_events`, :func:`slo_bad_ratio`) serves the SLO rules, the SLO reports
(``mlmon_nb.slo``) and the runbooks' evidence, so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Sequence

from .. import promql
from ..config import Config, ModelConfig, parse_duration
from ..errors import RulesError
from ..metrics import ERRORS, GROUND_TRUTH, REQUEST_DURATION, REQUESTS, le_label
from ..promql.evidence import bound_rules
from ..promql.fleet import SETTING, Setting, Variant, join_variants, variants
from ..promql.names import (
    CHAIN_STEP,
    ERROR_BUDGET_REMAINING,
    SLO_OBJECTIVE,
    SLOS,
    WINDOWS,
    chain_coverage,
    chain_record,
    chained,
    is_chained,
    slo_bad_count,
    slo_chain_coverage,
    slo_error_ratio,
    slo_event_count,
)
from ..promql.rule import RecordingRule, RuleGroup, stage_groups

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
    "slo_budget",
    "burn_threshold",
    "slo_settings",
    "period_variants",
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


# Windows whose SLO event counts are recorded: the burn alerts' long windows, their short ones
# (whose upper bound resets them) and the 5m of the latency alert (the evidence each needs).
COUNT_WINDOWS: tuple[str, ...] = tuple(dict.fromkeys(
    ("5m", *(w.long for w in BURN_WINDOWS), *(w.short for w in BURN_WINDOWS))))


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


def period_variants(config: Config) -> list[Variant]:
    """The SLO periods of the fleet, each with the matchers of its models."""
    return variants(config, period)


def _latency_le(model: ModelConfig) -> str:
    return le_label(model.slo.latency_threshold_seconds)


def slo_events(slo: str, model: ModelConfig | None, window: str, *, config: Config | None = None,
               matchers: Sequence[str] = (), count: bool = False) -> tuple[str, str]:
    """PromQL of an SLO's bad events and all events per second over ``window``.

    latency: requests over the threshold (``_count`` minus the ``le=threshold`` bucket) of all
    requests; availability: errors of requests; accuracy: incorrect ground-truth outcomes of all.
    For one ``model`` (reports, runbooks), or with ``model=None`` for every model of the fleet
    at once (the rules): the latency threshold then one variant per distinct value in ``config``,
    ``matchers`` narrowing the models. ``count``: events over ``window`` (``increase``), not per
    second.
    """
    own = {"model_name": model.name} if model is not None else {}
    over = promql.sum_increase if count else promql.sum_rate

    def rate(metric: str, *extra: str, **labels: str) -> str:
        return over(promql.selector(metric, *matchers, *extra, **own, **labels), window)

    if slo == "availability":
        return rate(ERRORS.sample), rate(REQUESTS.sample)
    if slo == "latency":
        total = rate(REQUEST_DURATION.series("_count"))
        bucket = REQUEST_DURATION.series("_bucket")
        if model is not None:
            return f"{total} - {rate(bucket, le=_latency_le(model))}", total
        good = join_variants(config or Config(models=()), _latency_le,
                             lambda v: rate(bucket, *v.matchers, le=str(v.value)))
        return f"{total} - ({good})", total
    if slo == "accuracy":
        return rate(GROUND_TRUTH.sample, outcome="incorrect"), rate(GROUND_TRUTH.sample)
    raise RulesError(f"unknown SLO {slo!r}; known: {', '.join(SLOS)}")


def slo_event_total(slo: str, window: str) -> str:
    """PromQL of how many events an SLO counted over ``window``, every model."""
    return promql.sum_increase(_event_series(slo), window)


def _event_series(slo: str) -> str:
    """The counter of an SLO's events: requests (latency: the histogram's count), or outcomes."""
    if slo == "availability":
        return REQUESTS.sample
    if slo == "latency":
        return REQUEST_DURATION.series("_count")
    if slo == "accuracy":
        return GROUND_TRUTH.sample
    raise RulesError(f"unknown SLO {slo!r}; known: {', '.join(SLOS)}")


def slo_bad_ratio(slo: str, model: ModelConfig | None, window: str, *,
                  config: Config | None = None, matchers: Sequence[str] = ()) -> str:
    """PromQL of an SLO's bad-event ratio over ``window`` (0 when there are no bad events)."""
    bad, total = slo_events(slo, model, window, config=config, matchers=matchers)
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


def slo_budget(model: ModelConfig, slo: str) -> float:
    """The error budget of one of a model's SLOs: 1 − objective."""
    return round(1 - slo_objective(model, slo), 9)


def burn_threshold(model: ModelConfig, slo: str, window: BurnWindow) -> float:
    """The error ratio a burn window fires above: factor × budget (1 or more: never)."""
    return round(window.factor(model.slo.period_seconds) * slo_budget(model, slo), 9)


def slo_settings() -> list[Setting]:
    """The SLOs' per-model numbers as series: objectives, budgets, burn thresholds."""
    out = []
    for slo in SLOS:
        out.append(Setting(SLO_OBJECTIVE, partial(_objective, slo=slo), {"slo": slo},
                           record=SLO_OBJECTIVE))
        out.append(Setting("slo_budget", partial(_budget, slo=slo), {"slo": slo}))
        for w in BURN_WINDOWS:
            out.append(Setting("slo_burn", partial(_burn, slo=slo, window=w),
                               {"slo": slo, "long_window": w.long}))
    out += [Setting("slo_burn_factor", partial(_factor, window=w), {"long_window": w.long})
            for w in BURN_WINDOWS]
    return out


def _objective(model: ModelConfig, *, slo: str) -> float:
    return slo_objective(model, slo)


def _budget(model: ModelConfig, *, slo: str) -> float:
    return slo_budget(model, slo)


def _burn(model: ModelConfig, *, slo: str, window: BurnWindow) -> float:
    return burn_threshold(model, slo, window)


def _factor(model: ModelConfig, *, window: BurnWindow) -> float:
    return window.factor(model.slo.period_seconds)


def _spent(variant: Variant, *, slo: str) -> str:
    return promql.selector(slo_error_ratio(str(variant.value)), *variant.matchers, slo=slo)


def _ratio(slo: str, window: str, config: Config, matchers: Sequence[str] = ()) -> str:
    """The SLO's bad-event ratio over ``window`` for every model: from the raw counters, or
    (a day or more) chained from the recorded 5m counts of bad and all events."""
    if not is_chained(window):
        return slo_bad_ratio(slo, None, window, config=config, matchers=matchers)
    bad = chained(chain_record(slo_bad_count(CHAIN_STEP)), window, *matchers,
                  promql.matcher("slo", slo))
    total = chained(chain_record(slo_event_count(CHAIN_STEP)), window, *matchers,
                    promql.matcher("slo", slo))
    return promql.ratio(bad, total, bad_may_be_absent=slo != "latency")


def _count(slo: str, window: str) -> str:
    if not is_chained(window):
        return slo_event_total(slo, window)
    return chained(chain_record(slo_event_count(CHAIN_STEP)), window, promql.matcher("slo", slo))


def slo_groups(config: Config) -> list[RuleGroup]:
    """Per SLO, every model at once: bad-event ratios per window and over each model's SLO
    period, event counts, and the error budget remaining (objectives and budgets are the
    settings stage's). Windows of a day or more, the period among them, are chained from the
    5m counts of bad and all events recorded every evaluation."""
    rules: list[RecordingRule] = []
    chain: list[RecordingRule] = []
    periods = period_variants(config)
    windows = list(WINDOWS)
    for slo in SLOS:
        labels = {"slo": slo}
        # the bad and all events of each 5m, once per 5m: what the day-long windows sum
        bad, _ = slo_events(slo, None, CHAIN_STEP, config=config, count=True)
        chain += [RecordingRule(chain_record(slo_bad_count(CHAIN_STEP)), bad, labels),
                  RecordingRule(chain_record(slo_event_count(CHAIN_STEP)),
                                slo_event_total(slo, CHAIN_STEP), labels)]
        rules += [RecordingRule(slo_error_ratio(w), _ratio(slo, w, config), labels)
                  for w in windows]
        for variant in periods:
            if variant.value in windows:
                continue
            rules.append(RecordingRule(slo_error_ratio(str(variant.value)), _ratio(
                slo, str(variant.value), config, variant.matchers), labels))
        rules += [RecordingRule(slo_event_count(w), _count(slo, w), labels)
                  for w in COUNT_WINDOWS]
        spent = join_variants(config, period, partial(_spent, slo=slo))
        rules += [r for r in bound_rules(config.stack.scrape_interval_seconds, slo=True,
                                         short_windows=tuple(w.short for w in BURN_WINDOWS))
                  if r.labels.get("slo") == slo]
        rules.append(RecordingRule(ERROR_BUDGET_REMAINING, (
            f"1 - ({spent}) / on (model_name) group_left () "
            f"{promql.selector(SETTING, setting='slo_budget', slo=slo)}"), labels))
    # how much of each chained burn window the chain covers (what its alerts' evidence needs)
    events = chain_record(slo_event_count(CHAIN_STEP))
    chain += [RecordingRule(slo_chain_coverage(w.long),
                            chain_coverage(promql.selector(events, slo=slo), w.long), {"slo": slo})
              for w in BURN_WINDOWS if is_chained(w.long) for slo in SLOS]
    return stage_groups("slo", rules, chain)
