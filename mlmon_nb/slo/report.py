"""SLO compliance, error budgets and burn rates from Prometheus history.

The SLOs of a model come from ``mlmon.yaml``: latency (share of requests under the threshold),
availability (share of requests without error), accuracy (share of correct ground-truth
outcomes) and throughput (share of 5-minute intervals at or above the minimum request rate).
Ratios are traffic-weighted: bad events over all events of the whole period, the same PromQL as
the generated recording rules (:func:`mlmon_nb.slo.rules.slo_events`), so the notebook and the
alerts agree. Statistics are pure functions; the ``*_from`` functions query Prometheus.

Error budget remaining = ``1 - bad_ratio / (1 - objective)``: 1 is untouched, 0 is spent,
negative is overspent. A burn rate is ``bad_ratio / (1 - objective)``: 1 spends the budget
exactly over the SLO period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..config import ModelConfig
from ..context import NotebookContext, format_duration, notebook_context
from ..dashboards import Tile
from ..promql.names import SLOS
from ..queries import request_rate
from .rules import burn_windows, slo_events, slo_objective

if TYPE_CHECKING:
    from ..prom import Prometheus

__all__ = [
    "SLOResult",
    "MEETING",
    "VIOLATING",
    "NO_DATA",
    "THROUGHPUT_WINDOW",
    "THROUGHPUT_OBJECTIVE",
    "error_budget_remaining",
    "burn_rate",
    "status",
    "slo_result",
    "burn_down",
    "month_bounds",
    "compliance_from",
    "burn_rates_from",
    "burn_down_from",
    "monthly_from",
    "report_context",
    "tiles",
]

MEETING, VIOLATING, NO_DATA = "MEETING", "VIOLATING", "NO DATA"
THROUGHPUT_WINDOW = "5m"
# The throughput SLO is a minimum rate (slos.throughput.min_rps); it is met when this share of
# 5-minute intervals reach it.
THROUGHPUT_OBJECTIVE = 0.99


# -- pure statistics ---------------------------------------------------------------------------

def error_budget_remaining(bad_ratio: float, objective: float) -> float:
    """Share of the error budget left: 1 untouched, 0 spent, below 0 overspent; NaN without data."""
    return 1.0 - bad_ratio / (1.0 - objective)


def burn_rate(bad_ratio: float, objective: float) -> float:
    """How fast the budget burns: 1 spends exactly the budget over the SLO period."""
    return bad_ratio / (1.0 - objective)


def status(sli: float, objective: float) -> str:
    """MEETING when the SLI reaches the objective, VIOLATING below it, NO DATA for NaN."""
    if sli != sli:
        return NO_DATA
    return MEETING if sli >= objective else VIOLATING


@dataclass(frozen=True)
class SLOResult:
    """One SLO over one period."""

    slo: str
    objective: float
    sli: float           # share of good events (or of good intervals for throughput)
    events: float        # events behind the SLI (requests, outcomes or intervals)
    budget_remaining: float
    status: str

    def as_row(self) -> dict[str, Any]:
        return {"slo": self.slo, "objective": self.objective, "sli": self.sli,
                "events": self.events, "budget_remaining": self.budget_remaining,
                "status": self.status}


def slo_result(slo: str, objective: float, bad: float, total: float) -> SLOResult:
    """An SLO's result from its counts of bad and all events (no events → NO DATA)."""
    if not total or total != total or total <= 0:
        sli = float("nan")
    else:
        sli = 1.0 - max(bad, 0.0) / total
    return SLOResult(slo, objective, sli, float(total if total == total else 0.0),
                     error_budget_remaining(1.0 - sli, objective), status(sli, objective))


def burn_down(bad: pd.Series, total: pd.Series, objective: float) -> pd.Series:
    """Error budget remaining over time, cumulative from the first point.

    ``bad`` and ``total`` are event counts (or rates) per step on the same index; the budget at
    ``t`` is judged on everything from the start up to ``t``.
    """
    bad_cum = bad.fillna(0).clip(lower=0).cumsum()
    total_cum = total.fillna(0).cumsum()
    ratio = (bad_cum / total_cum.where(total_cum > 0)).astype(float)
    return (1.0 - ratio / (1.0 - objective)).rename("budget_remaining")


def month_bounds(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Calendar months (UTC) overlapping ``[start, end]``, clipped to it."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    out = []
    month = start.tz_convert("UTC").normalize().replace(day=1) if start.tzinfo else \
        start.normalize().replace(day=1)
    while month < end:
        nxt = month + pd.offsets.MonthBegin(1)
        out.append((max(month, start), min(nxt, end)))
        month = nxt
    return out


# -- from Prometheus ---------------------------------------------------------------------------

def _seconds(start: Any, end: Any) -> int:
    return int((pd.Timestamp(end) - pd.Timestamp(start)).total_seconds())


def _times(start: Any, end: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC timestamps from anything :func:`mlmon_nb.prom.to_timestamp` takes (``now-30d``, …),
    start first."""
    from ..prom import time_range
    return time_range(start, end)


def _events(prom: Prometheus, slo: str, model: ModelConfig, end: Any, seconds: int) -> tuple[float, float]:
    """Bad and all events of an SLO over ``seconds`` ending at ``end`` (rates × seconds)."""
    window = format_duration(seconds)
    bad_q, total_q = slo_events(slo, model, window)
    total = prom.scalar(total_q, end, default=0.0) * seconds
    bad = prom.scalar(f"({bad_q})", end, default=0.0) * seconds
    return (0.0 if bad != bad else bad), (0.0 if total != total else total)


def _throughput(prom: Prometheus, model: ModelConfig, start: Any, end: Any) -> SLOResult:
    """Share of 5-minute intervals whose request rate met the minimum."""
    frame = prom.range(request_rate(model.name, THROUGHPUT_WINDOW), start, end, 300)
    values = frame["value"].to_numpy(dtype=float) if len(frame) else np.array([])
    values = values[np.isfinite(values)]
    good = float((values >= model.slo.throughput_min_rps).sum())
    return slo_result("throughput", THROUGHPUT_OBJECTIVE, float(len(values)) - good,
                      float(len(values)))


def compliance_from(prom: Prometheus, model: ModelConfig, start: Any, end: Any) -> pd.DataFrame:
    """One row per SLO: objective, SLI over ``[start, end]``, events, budget left, status."""
    start, end = _times(start, end)
    seconds = _seconds(start, end)
    rows = []
    for slo in SLOS:
        bad, total = _events(prom, slo, model, end, seconds)
        rows.append(slo_result(slo, slo_objective(model, slo), bad, total).as_row())
    rows.append(_throughput(prom, model, start, end).as_row())
    return pd.DataFrame(rows)


def burn_rates_from(prom: Prometheus, model: ModelConfig, at: Any) -> pd.DataFrame:
    """Burn rates over each alert's long and short window at ``at``, against its factor.

    ``firing`` is True when both windows burn faster than the factor, as the
    SLOErrorBudgetBurn alert of that window pair requires.
    """
    rows = []
    for slo in SLOS:
        objective = slo_objective(model, slo)
        for window, threshold in burn_windows(objective, model.slo.period_seconds):
            rates = {}
            for which in ("long", "short"):
                w = getattr(window, which)
                bad_q, total_q = slo_events(slo, model, w)
                total = prom.scalar(total_q, at, default=float("nan"))
                bad = prom.scalar(f"({bad_q})", at, default=0.0)
                rates[which] = burn_rate((0.0 if bad != bad else bad) / total, objective) \
                    if total and total == total else float("nan")
            factor = window.factor(model.slo.period_seconds)
            rows.append({"slo": slo, "severity": window.severity, "long_window": window.long,
                         "short_window": window.short, "factor": factor,
                         "burn_long": rates["long"], "burn_short": rates["short"],
                         "threshold": threshold,
                         "firing": bool(rates["long"] > factor and rates["short"] > factor)})
    return pd.DataFrame(rows)


def burn_down_from(prom: Prometheus, model: ModelConfig, start: Any, end: Any,
                   step: float | str) -> pd.DataFrame:
    """Error budget remaining over ``[start, end]`` per SLO: columns timestamp, slo, value.
    ``step``: seconds or a duration (``30s``, ``5m``)."""
    from ..prom import parse_step
    start, end = _times(start, end)
    step = parse_step(step)
    window = format_duration(step)
    frames = []
    for slo in SLOS:
        bad_q, total_q = slo_events(slo, model, window)
        bad = _series(prom.range(f"({bad_q})", start, end, step))
        total = _series(prom.range(total_q, start, end, step))
        if total.empty:
            continue
        bad = bad.reindex(total.index).fillna(0.0)
        remaining = burn_down(bad, total, slo_objective(model, slo))
        frames.append(pd.DataFrame({"timestamp": remaining.index, "slo": slo,
                                    "value": remaining.to_numpy()}))
    if not frames:
        return pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
                             "slo": pd.Series(dtype=str), "value": pd.Series(dtype=float)})
    return pd.concat(frames, ignore_index=True)


def _series(frame: pd.DataFrame) -> pd.Series:
    if frame.empty:
        return pd.Series(dtype=float)
    return frame.groupby("timestamp")["value"].sum()


def monthly_from(prom: Prometheus, model: ModelConfig, start: Any, end: Any) -> pd.DataFrame:
    """Compliance per calendar month in ``[start, end]``: rows month × SLO."""
    frames = []
    for m0, m1 in month_bounds(*_times(start, end)):
        if _seconds(m0, m1) < 60:
            continue
        frame = compliance_from(prom, model, m0, m1)
        frame.insert(0, "month", m0.strftime("%Y-%m"))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["month", "slo", "objective", "sli", "events", "budget_remaining", "status"])


# -- notebook helpers ---------------------------------------------------------------------------

def report_context(model_name: str, prometheus_url: str = "", start: Any = "", end: Any = "",
                   window: str = "", step: Any = "") -> NotebookContext:
    """The notebook context of the SLO report; an empty ``window`` is the model's SLO period."""
    from ..config import load_config
    if not (window or "").strip() and not str(start or "").strip():
        window = format_duration(load_config().model(model_name).slo.period_seconds)
    return notebook_context(model_name, prometheus_url, start, end, window or "30d", step)


_TILE_STATUS = {MEETING: "ok", VIOLATING: "critical", NO_DATA: "unknown"}


def tiles(table: pd.DataFrame) -> list[Tile]:
    """One status tile per SLO of a :func:`compliance_from` table."""
    out = []
    for row in table.to_dict("records"):
        sli = row["sli"]
        text = "no data" if sli != sli else f"{sli:.3%}"
        left = row["budget_remaining"]
        detail = (f"objective {row['objective']:.2%}"
                  + ("" if left != left else f" · budget left {left:.0%}"))
        out.append(Tile(row["slo"], sli, _TILE_STATUS[row["status"]], text, detail,
                        row["objective"]))
    return out
