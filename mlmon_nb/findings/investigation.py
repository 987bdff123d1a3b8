"""The state of one runbook run and what every check shares: its windows, the Prometheus
queries' resolution, links, recording findings, the guards that end a run early and the summary
recorded with the verdict. The checks themselves are mixed in by
:class:`~mlmon_nb.investigate.Investigation`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import queries as q
from ..context import (
    NotebookContext,
    Window,
    auto_step,
    format_duration,
    sample_interval,
    stored_interval,
)
from ..humanize import fmt, fmt_duration, fmt_pair
from ..onset import Onset
from ..signals import Condition
from . import Finding, graph_link
from .record import _display, _one, _plain, _record, _skip_remaining_cells, record_finding

__all__ = ["InvestigationBase", "REFERENCE_DAYS", "SEARCH_BEFORE", "FALLBACK_WINDOW",
           "observed_query", "from_first_observation"]

# how Signal.promql fills a signal's missing points: ``(query) or vector(missing)``
_FILLED = re.compile(r"\((?P<query>.*)\) or vector\([^()]*\)", re.S)


def observed_query(promql: str) -> str | None:
    """The query behind a condition whose missing points read as a value (``Signal.promql``
    with ``missing``: up's absent points as 0), else None: its points are all data."""
    match = _FILLED.fullmatch(promql)
    return match["query"] if match else None


def from_first_observation(series: pd.Series, observed: pd.Series) -> pd.Series:
    """``series`` from the first point ``observed`` has on: before it, a filled value is no
    evidence (Prometheus, or the service, may not have existed yet); nothing observed leaves
    nothing."""
    return series[series.index >= observed.index[0]] if not observed.empty else series.iloc[:0]


REFERENCE_DAYS = 3
SEARCH_BEFORE = pd.Timedelta(hours=4)  # how far before the alert the onset is looked for
FALLBACK_WINDOW = pd.Timedelta(hours=1)  # the incident window when no onset is found



@dataclass
class InvestigationBase:
    """The state of one runbook run: its context, the incident window, the search window around
    the alert, the findings recorded so far and the numbers behind the verdict."""

    alertname: str
    ctx: NotebookContext
    incident: Window
    reference: Window
    labels: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    severity: str = ""
    alert_at: pd.Timestamp | None = None
    search: Window | None = None
    onset: Onset | None = None
    findings: list[Finding] = field(default_factory=list)
    tiles: list[dict[str, str]] = field(default_factory=list)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def model_name(self) -> str:
        return self.ctx.model_name

    @property
    def job(self) -> str:
        """The scrape job of the model's service, from the configuration."""
        return self.ctx.model.job

    @property
    def prom(self):
        return self.ctx.prom

    @property
    def rate(self) -> str:
        """The ``rate()`` range for the incident window: the window's own step, at least four
        samples (history backfilled at a coarse step has too few points in a shorter range)."""
        return format_duration(max(self.incident.step, 4 * self.resolution, 60))

    @property
    def fine_rate(self) -> str:
        """The shortest ``rate()`` range that holds two samples: for onsets at scrape resolution."""
        return format_duration(math.ceil(2.5 * self.resolution))

    @property
    def reference_rate(self) -> str:
        """The ``rate()`` range for the reference (kept for notebooks written against it)."""
        return self.rate

    @property
    def thresholds(self):
        """The model's alert thresholds from the configuration."""
        return self.ctx.model.alerts

    @property
    def resolution(self) -> float:
        """Seconds between samples of the model's series, as stored (at least the configured
        scrape interval): backfilled history may be coarser than live scrapes."""
        if "resolution" not in self._cache:
            end = self.search.end if self.search else self.incident.end
            self._cache["resolution"] = stored_interval(
                self.incident.scrape_interval, sample_interval(self.prom, self.model_name, end))
        return self._cache["resolution"]

    def link(self, promql: str, start: Any = None, end: Any = None) -> str:
        """Prometheus's graph page for ``promql`` (default: over the incident window); empty
        where the server serves no graph page (asked once per run)."""
        if "graph_page" not in self._cache:
            self._cache["graph_page"] = self.prom.serves_page("/graph")
        if not self._cache["graph_page"]:
            return ""
        return graph_link(self.prom.url, promql, start if start is not None else
                          self.incident.start, end if end is not None else self.incident.end)

    def record(self, finding: Finding) -> Finding:
        """Record a finding of this run (shown as a card, read back by the run page)."""
        self.findings.append(finding)
        return record_finding(finding)

    def header(self) -> None:
        """A short header: what is investigated, over which windows (Markdown)."""
        from IPython.display import Markdown  # only inside a kernel
        labels = ", ".join(f"{k}={v}" for k, v in self.labels.items() if v)
        _display(Markdown(f"{self.alertname} · model `{self.model_name}` · incident window "
                          f"{self.incident} · Prometheus {self.prom.url}"
                          + (f" · alert labels: {labels}" if labels else "")))

    # -- guards ---------------------------------------------------------------------------------

    def _early(self, message: str, status: str, **numbers: Any) -> None:
        summary = self._summary(message, status, **numbers)
        _record(summary)
        _skip_remaining_cells()

    def require_data(self, promql: str | None = None, what: str = "requests") -> None:
        """End the run early (status ``no_data``) when ``promql`` has no points in the window."""
        promql = promql or q.request_rate(self.model_name, self.rate)
        window = self.search or self.incident
        frame = self.prom.range(promql, *window.range)
        if frame.empty:
            self._early(
                f"No data: Prometheus has no {what} for model {self.model_name} between "
                f"{window.start:%Y-%m-%d %H:%M} and {window.end:%Y-%m-%d %H:%M} UTC. Check that "
                f"the service is scraped (up{{job=\"{self.job}\"}}) and that the window is "
                f"right.", "no_data")

    def check_still_firing(self, condition: Condition, value: float | None = None) -> None:
        """Judge the alert's condition at the end of the window and record its value.

        A run an alert started (``starts_at`` given) ends early (status ``resolved``) when the
        condition no longer holds. A run started by hand (no alert) is an investigation: it
        never ends here; it says "not firing now" (status ``not_firing``) when the condition
        does not hold at the end, with when it held in the window asked for and its peak, and
        goes on to the same evidence. ``value`` skips the query (for conditions computed here,
        such as drift from buckets)."""
        if value is None:
            value = self.prom.scalar(condition.promql, self.incident.end)
        self.numbers["current_value"] = _plain(value)
        self.numbers["threshold"] = condition.threshold
        self._cache["condition"] = (condition, value)
        if condition.holds(value):
            return
        at = f"{self.incident.end:%Y-%m-%d %H:%M} UTC"
        if value != value:  # NaN: no data at the window's end is not "the condition stopped"
            message = (f"No data: {condition.description} has no value at {at} (the service "
                       f"may have stopped reporting; check up{{job=\"{self.job}\"}}).")
            if self.alert_at is None:
                self._cache["not_firing"] = f"{message} " + self._held_in_window(condition)
                return
            self._early(message, "no_data", threshold=condition.threshold)
            return
        side = "at or under" if condition.above else "at or over"
        shown, limit = fmt_pair(value, condition.threshold, condition.kind)
        now = f"{condition.description} is {shown} at {at}, {side} the threshold {limit}"
        if self.alert_at is None:
            self._cache["not_firing"] = f"Not firing now: {now}; " + self._held_in_window(
                condition)
            return
        self._early(f"Resolved: {now}; the alert condition no longer holds.",
                    "resolved", current_value=value, threshold=condition.threshold)

    def _held_in_window(self, condition: Condition) -> str:
        """When ``condition`` held in the window asked for, and its peak (words); a condition
        whose missing points read as a value is judged from its first observed point on."""
        window = self.search or self.incident
        step = max(self.resolution, window.step)
        observed = observed_query(condition.promql)
        try:
            frame = self.prom.range(condition.promql, window.start, window.end, step)
            seen = (_one(self.prom.range(observed, window.start, window.end, step))
                    if observed is not None else None)
        except Exception:  # the window's values are evidence, not a reason to stop
            frame, seen = pd.DataFrame(), None
        series = _one(frame, condition.above)
        if seen is not None:
            series = from_first_observation(series, seen)
        span = f"{fmt_duration((window.end - window.start).total_seconds())} asked for"
        if series.empty:
            return f"it has no value in the {span}"
        where = int(series.to_numpy().argmax() if condition.above else series.to_numpy().argmin())
        peak = (f"{'peak' if condition.above else 'lowest'} "
                f"{fmt(float(series.iloc[where]), condition.kind)} at "
                f"{series.index[where]:%H:%M} UTC")
        held = series[[condition.holds(v) for v in series]]
        self.numbers["held_in_window"] = not held.empty
        if held.empty:
            return f"it did not cross the threshold in the {span} ({peak}, n = {len(series)} points)"
        return (f"in the {span} it held from {held.index[0]:%H:%M} to {held.index[-1]:%H:%M} UTC "
                f"({peak}, n = {len(series)} points)")

    # -- the windows ----------------------------------------------------------------------------

    def range(self, promql: str, *, reference: bool = False) -> pd.DataFrame:
        """A range query over the incident window (or the reference window)."""
        return self.prom.range(promql, *(self.reference if reference else self.incident).range)

    def _set_incident(self, start: pd.Timestamp) -> None:
        """Make ``start`` → the current end the incident window (at least four samples long) and
        the days before it the reference; the drift rerun of the old window is dropped."""
        end = self.incident.end
        start = min(start, end - pd.Timedelta(seconds=4 * self.resolution))
        step = auto_step((end - start).total_seconds(), 400, self.incident.scrape_interval)
        self.incident = Window(start, end, step, self.incident.scrape_interval)
        span = end - start
        self.reference = Window(start - pd.Timedelta(days=REFERENCE_DAYS), start,
                                max(step, 300.0), self.incident.scrape_interval)
        self.numbers["incident_window"] = fmt_duration(span.total_seconds())
        self._cache.pop("drift", None)

    # -- the summary ----------------------------------------------------------------------------

    def _summary(self, verdict: str, status: str, next_step: str = "",
                 **numbers: Any) -> dict[str, Any]:
        evidence = status in ("firing", "not_firing")
        onset = None
        if self.onset is not None and evidence:
            onset = {"time": self.onset.time.isoformat(), "uncertainty": self.onset.uncertainty,
                     "lead": self._cache.get("onset_lead", ""), "ongoing": self.onset.ongoing}
        clean = {k: _plain(v) for k, v in {**self.numbers, **numbers}.items()}
        tiles = self.tiles if evidence else []
        return {"verdict": verdict, "status": status, "severity": self.severity,
                "alertname": self.alertname, "model": self.model_name, "numbers": clean,
                "tiles": tiles, "onset": onset, "next": next_step,
                "window": {"start": self.incident.start.isoformat(),
                           "end": self.incident.end.isoformat()}}

    def summary(self, verdict: str, *, status: str = "firing", **numbers: Any) -> dict[str, Any]:
        """Record ``verdict`` with every number gathered so far (plus ``numbers``)."""
        return _record(self._summary(verdict, status, **numbers))

