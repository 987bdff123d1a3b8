"""What runbook notebooks call: when the alert's signal left its band, what changed, the verdict.

A runbook's cells stay thin. They open an :class:`Investigation` from their papermill
parameters, stop early when there is no data or the alert condition no longer holds
(:meth:`Investigation.require_data`, :meth:`Investigation.check_still_firing`), find when the
alert's own signal left its normal band (:meth:`Investigation.find_onset`, which makes onset →
end the incident window), compare that window with the same hours of the days before
(:meth:`Investigation.compare`), break the change down by every label the signal carries
(:meth:`Investigation.breakdown`), look for deploys and baseline changes near onset
(:meth:`Investigation.what_changed`) and :meth:`Investigation.conclude` with a verdict.

The alert's condition and its signals (:class:`Condition`, :class:`Signal` and their
factories) come from :mod:`mlmon_nb.signals` and are re-exported here for the runbooks.

Each check records a :class:`~mlmon_nb.findings.Finding` (a display output of type
:data:`~mlmon_nb.findings.FINDING_MIME`, with its chart, numbers, sample sizes, PromQL and a
link to Prometheus); the verdict is a display output of type ``SUMMARY_MIME`` that the launcher
reads back into its run index. Charts are findings' PNGs, never displayed twice.

Ending early is not an error: :func:`end_early` records the reason and makes the kernel skip the
remaining cells, so the run is ``done`` with a clear message instead of a traceback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import metrics as m
from . import plots
from . import queries as q
from .context import NotebookContext, Window, format_duration, notebook_context
from .findings import FINDING_MIME, Finding, Stat, graph_link, tiles_html, verdict_card
from .humanize import Kind, fmt, fmt_duration
from .onset import Onset, detect_onset, normal_band
from .promql import selector
from .rules import names as rule_names
from .rules import slo as rule_slo
from .runbooks.html import SUMMARY_MIME
from .signals import (
    Condition,
    Signal,
    accuracy,
    error_ratio,
    in_flight,
    latency,
    low_confidence,
    request_rate,
    scrape_up,
)

__all__ = [
    "Investigation",
    "Condition",
    "Signal",
    "error_ratio",
    "request_rate",
    "latency",
    "low_confidence",
    "accuracy",
    "in_flight",
    "scrape_up",
    "open_investigation",
    "record_summary",
    "record_finding",
    "end_early",
    "burn_rate_factor",
    "SUMMARY_MIME",
    "FINDING_MIME",
    "REFERENCE_DAYS",
]

REFERENCE_DAYS = 3
SEARCH_BEFORE = pd.Timedelta(hours=4)  # how far before the alert the onset is looked for
FALLBACK_WINDOW = pd.Timedelta(hours=1)  # the incident window when no onset is found
_NICE = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600)


def _display(obj: Any, raw: bool = False) -> None:
    from IPython.display import display  # only inside a kernel
    display(obj, raw=raw)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    return value


def _record(summary: dict[str, Any]) -> dict[str, Any]:
    html = verdict_card(summary) + tiles_html(summary.get("tiles") or ())
    _display({SUMMARY_MIME: summary, "text/html": html, "text/plain": summary["verdict"]},
             raw=True)
    return summary


def record_summary(verdict: str, *, status: str = "firing", **numbers: Any) -> dict[str, Any]:
    """Show the verdict and record it (with ``numbers``) for the launcher's run index."""
    clean = {k: _plain(v) for k, v in numbers.items()}
    tiles = [{"label": k, "value": fmt(v)} for k, v in clean.items()
             if isinstance(v, (int, float, str)) and not isinstance(v, bool)][:6]
    return _record({"verdict": verdict, "status": status, "numbers": clean, "tiles": tiles})


def record_finding(finding: Finding) -> Finding:
    """Show ``finding`` as a card and record it for the run page."""
    _display(finding.bundle(), raw=True)
    return finding


def _skip_remaining_cells() -> None:
    try:
        from IPython import get_ipython  # only inside a kernel
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is not None:
        shell.input_transformers_post.append(lambda lines: ["pass\n"])


def end_early(message: str, *, status: str, **numbers: Any) -> None:
    """Record ``message`` as the verdict and skip every remaining cell of the notebook."""
    record_summary(message, status=status, **numbers)
    _skip_remaining_cells()


def burn_rate_factor(long_window: str, period_seconds: float = 30 * 86400) -> float:
    """The burn-rate threshold factor of the multi-window alert whose long window this is
    (14.4 for 1h on a 30-day period, …): the rules' own factors, never a second copy."""
    for window in rule_slo.BURN_WINDOWS:
        if window.long == long_window:
            return window.factor(period_seconds)
    known = ", ".join(w.long for w in rule_slo.BURN_WINDOWS)
    raise ValueError(f"no burn-rate alert has the long window {long_window!r}; known: {known}")


def _known_slo(slo: str) -> str:
    return slo if slo in rule_names.SLOS else "availability"


def _one(frame: pd.DataFrame, above: bool = True) -> pd.Series:
    """One series from a range frame (the worst of several series at each time)."""
    if frame.empty:
        return pd.Series(dtype=float)
    grouped = frame.groupby("timestamp")["value"]
    return (grouped.max() if above else grouped.min()).sort_index()


def _factor(now: float, before: float) -> float:
    if not (now == now and before == before) or before == 0:
        return float("nan")
    return now / before


def _factor_text(now: float, before: float) -> str:
    k = _factor(now, before)
    if k != k:
        return "new" if before == 0 and now and now > 0 else "—"
    return f"×{k:.1f}" if k < 10 else f"×{k:.0f}"


# -- the investigation ---------------------------------------------------------------------------

@dataclass
class Investigation:
    """One runbook run: its context, the incident window, the search window around the alert,
    the findings recorded so far and the numbers behind the verdict."""

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
            sel = selector(m.REQUESTS.sample, model_name=self.model_name)
            end = self.search.end if self.search else self.incident.end
            try:
                n = self.prom.scalar(f"max(count_over_time({sel}[30m]))", end)
            except Exception:  # a missing series or a failing query: the configured interval
                n = float("nan")
            measured = 1800 / (n - 1) if n == n and n > 1 else 0.0
            base = max(self.incident.scrape_interval, measured)
            self._cache["resolution"] = float(min(_NICE, key=lambda s: abs(s - base))
                                              if base <= _NICE[-1] else base)
        return self._cache["resolution"]

    def link(self, promql: str, start: Any = None, end: Any = None) -> str:
        """Prometheus's graph page for ``promql`` (default: over the incident window)."""
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
                f"the service is scraped (up{{job=\"{q.DEMO_JOB}\"}}) and that the window is "
                f"right.", "no_data")

    def check_still_firing(self, condition: Condition, value: float | None = None) -> None:
        """End early (status ``resolved``) when the alert condition no longer holds at the end
        of the window; otherwise record its current value. ``value`` skips the query (for
        conditions computed here, such as drift from buckets)."""
        if value is None:
            value = self.prom.scalar(condition.promql, self.incident.end)
        self.numbers["current_value"] = _plain(value)
        self.numbers["threshold"] = condition.threshold
        self._cache["condition"] = (condition, value)
        if not condition.holds(value):
            side = "at or under" if condition.above else "at or over"
            shown = "no value" if value != value else fmt(value, condition.kind)
            self._early(f"Resolved: {condition.description} is {shown} at "
                        f"{self.incident.end:%Y-%m-%d %H:%M} UTC, {side} the threshold "
                        f"{fmt(condition.threshold, condition.kind)}; the alert condition no "
                        f"longer holds.",
                        "resolved", current_value=value, threshold=condition.threshold)

    # -- onset ----------------------------------------------------------------------------------

    def _signal_range(self, signal: Signal, start: pd.Timestamp, end: pd.Timestamp,
                      rate: str | None = None, step: float | None = None, *,
                      fill: bool = False) -> pd.Series:
        """The signal as one series; ``fill`` puts its ``missing`` value where a point is
        absent (days before are never filled: a day without data is no reference)."""
        step = step or self.resolution
        frame = self.prom.range(signal.query(rate or self.fine_rate), start, end, step)
        series = _one(frame, signal.above)
        if fill and signal.missing is not None:
            grid = pd.date_range(start, end, freq=pd.Timedelta(seconds=step))
            series = series.reindex(series.index.union(grid)).fillna(signal.missing)
        return series

    def _days_before(self, signal: Signal, start: pd.Timestamp, end: pd.Timestamp,
                     rate: str | None = None, step: float | None = None
                     ) -> list[tuple[int, pd.Series]]:
        out = []
        for d in range(1, REFERENCE_DAYS + 1):
            shift = pd.Timedelta(days=d)
            series = self._signal_range(signal, start - shift, end - shift, rate, step)
            if not series.empty:
                out.append((d, series.set_axis(series.index + shift)))
        return out

    def find_onset(self, signal: Signal) -> Onset | None:
        """When ``signal`` left its normal band, and make onset → end the incident window.

        Searched at the samples' resolution from some hours before the alert (or over the
        given window); the band is the median ± 4 robust sigmas of the same hours of the days
        before (else of the search window until an hour before the alert). Records the finding
        "When it started" with its chart; without a clear onset the incident window stays the
        hour before the alert (or the given window) and the finding says so.
        """
        search = self.search or self.incident
        series = self._signal_range(signal, search.start, search.end, fill=True)
        days = self._days_before(signal, search.start, search.end)
        ref_values = np.concatenate([s.to_numpy() for _, s in days]) if days else np.array([])
        ref_what = (f"the same hours of the {len(days)} day{'s' if len(days) > 1 else ''} before"
                    if len(ref_values) >= 30 else "")
        if not ref_what:
            cut = (self.alert_at - FALLBACK_WINDOW if self.alert_at is not None
                   else search.start + (search.end - search.start) / 2)
            ref_values = series[series.index < cut].to_numpy()
            ref_what = f"the search window before {cut:%H:%M} UTC"
        median = float(np.median(ref_values)) if len(ref_values) else float("nan")
        min_scale = (abs(signal.threshold - median) / 20
                     if signal.threshold is not None and median == median else 0.0)
        band = normal_band(ref_values, direction=signal.direction, min_scale=min_scale)
        onset = (detect_onset(series, band=band, direction=signal.direction, at=self.alert_at)
                 if not series.empty else None)
        self.onset = onset
        end = self.incident.end
        if onset is not None:
            self._set_incident(onset.time.floor("s"))
        promql = signal.promql(self.fine_rate)
        stats = [Stat("normal band", f"{fmt(band.median, signal.kind)} ± "
                      f"{fmt(band.k * band.scale, signal.kind)}", Kind.TEXT.value, band.n,
                      "reference points")]
        if onset is not None:
            lead = (self.alert_at - onset.time).total_seconds() if self.alert_at is not None \
                else float("nan")
            lasted = ((onset.ended or end) - onset.time).total_seconds()
            when = f"{onset.time:%H:%M:%S} UTC ±{fmt_duration(onset.uncertainty)}"
            message = (f"{_cap(signal.name)} left its normal band at {when}"
                       + (f", {fmt_duration(lead)} before the alert fired" if lead == lead and lead > 0
                          else "")
                       + (f"; outside it for {fmt_duration(lasted)} now"
                          if onset.ongoing else
                          f"; back in band at {onset.ended:%H:%M:%S} UTC" if onset.ended else "")
                       + f" (level {fmt(onset.level, signal.kind)} against a normal "
                         f"{fmt(band.median, signal.kind)}).")
            stats = [Stat("onset", f"{onset.time:%Y-%m-%d %H:%M:%S} UTC", Kind.TEXT.value),
                     Stat("uncertainty", onset.uncertainty, Kind.SECONDS.value),
                     Stat("before the alert", lead, Kind.SECONDS.value),
                     Stat("level since onset", onset.level, signal.kind, onset.points, "points"),
                     *stats]
            self.numbers["onset"] = onset.time.isoformat()
            self.numbers["onset_uncertainty_seconds"] = onset.uncertainty
            lead_text = f"{fmt_duration(lead)} before the alert" if lead == lead and lead > 0 else ""
            self.tiles.append({"label": "since", "value": f"{onset.time:%H:%M:%S} UTC",
                               "detail": f"±{fmt_duration(onset.uncertainty)}"
                                         + (f" · {lead_text}" if lead_text else "")})
            self.tiles.append({"label": "lasting", "value": fmt_duration(lasted),
                               "detail": "ongoing" if onset.ongoing else "ended"})
            self._cache["onset_lead"] = lead_text
        else:
            message = (f"No clear onset: {signal.name} did not leave its normal band "
                       f"({fmt(band.median, signal.kind)} ± {fmt(band.k * band.scale, signal.kind)},"
                       f" from {ref_what}) in a sustained way between {search.start:%H:%M} and "
                       f"{search.end:%H:%M} UTC; the incident window is "
                       f"{self.incident.start:%H:%M}–{self.incident.end:%H:%M} UTC.")
        chart_start = search.start
        if onset is not None:
            margin = max(pd.Timedelta(minutes=20), (end - onset.time) / 3)
            chart_start = max(search.start, onset.time - margin)
        shown = series[series.index >= chart_start]
        ref_line = next((s for d, s in days if d == 1), None)
        sample = None
        if signal.sample is not None:
            sample = self._sample_series(signal, chart_start, end)
        fig = plots.incident(
            shown, f"{signal.name} at {fmt_duration(self.resolution)} resolution",
            percent=signal.kind == Kind.RATIO.value,
            ylabel="s" if signal.kind == Kind.SECONDS.value else "",
            threshold=signal.threshold,
            band=(band.low, band.high) if band.n else None,
            onset=(onset.time, onset.uncertainty) if onset else None,
            alert_at=self.alert_at, incident_start=self.incident.start,
            reference=ref_line[ref_line.index >= chart_start] if ref_line is not None else None,
            sample=sample, sample_label=f"{signal.sample_unit or 'sample'} per {self.fine_rate}")
        self.record(Finding("When it started", onset is not None, message, stats,
                            plots.png(fig), promql, self.link(promql, chart_start, end)))
        return onset

    def _sample_series(self, signal: Signal, start, end) -> pd.Series | None:
        if signal.sample is None:
            return None
        frame = self.prom.range(signal.sample(self.fine_rate), start, end, self.resolution)
        return None if frame.empty else frame.groupby("timestamp")["value"].sum()

    def _set_incident(self, start: pd.Timestamp) -> None:
        end = self.incident.end
        start = min(start, end - pd.Timedelta(seconds=4 * self.resolution))
        step = q.auto_step((end - start).total_seconds(), 400, self.incident.scrape_interval)
        self.incident = Window(start, end, step, self.incident.scrape_interval)
        span = end - start
        self.reference = Window(start - pd.Timedelta(days=REFERENCE_DAYS), start,
                                max(step, 300.0), self.incident.scrape_interval)
        self.numbers["incident_window"] = fmt_duration(span.total_seconds())
        self._cache.pop("drift", None)

    # -- evidence -------------------------------------------------------------------------------

    def range(self, promql: str, *, reference: bool = False) -> pd.DataFrame:
        """A range query over the incident window (or the reference window)."""
        return self.prom.range(promql, *(self.reference if reference else self.incident).range)

    def _before(self, query: str) -> tuple[pd.DataFrame, str]:
        """``query`` over the same hours of the days before, else the span just before onset."""
        frames = []
        inc = self.incident
        for d in range(1, REFERENCE_DAYS + 1):
            shift = pd.Timedelta(days=d)
            frame = self.prom.range(query, inc.start - shift, inc.end - shift, inc.step)
            if not frame.empty:
                frames.append(frame)
        if frames:
            n = len(frames)
            return pd.concat(frames), f"the same hours {n} day{'s' if n > 1 else ''} before"
        span = inc.end - inc.start
        frame = self.prom.range(query, inc.start - span, inc.start, inc.step)
        return frame, f"the {fmt_duration(span.total_seconds())} before"

    def _sample(self, signal: Signal) -> float | None:
        if signal.sample is None:
            return None
        value = self.prom.scalar(f"sum({signal.sample(self.incident.duration)})", self.incident.end)
        return value if value == value else None

    def compare(self, signals: Sequence[Signal] | Mapping[str, str | Callable[[str], str]]
                ) -> pd.DataFrame:
        """Mean and peak of each signal since onset against the same hours of the days before
        (the span just before onset when those days have no data). Records the finding
        "Against the days before"; one row per signal."""
        if isinstance(signals, Mapping):
            signals = [Signal(k, v if callable(v) else (lambda r, v=v: v))
                       for k, v in signals.items()]
        rows, shown, stats = [], [], []
        interesting = False
        first_before = ""
        for i, signal in enumerate(signals):
            promql = signal.query(self.rate)
            now = self.range(signal.promql(self.rate))  # a missing point now means `missing`
            before, before_what = self._before(promql)  # a day without data is no reference
            mean_now = float(now["value"].mean()) if not now.empty else float("nan")
            peak = (float(now["value"].max() if signal.above else now["value"].min())
                    if not now.empty else float("nan"))
            mean_before = float(before["value"].mean()) if not before.empty else float("nan")
            change = _factor(mean_now, mean_before)
            n = self._sample(signal)
            rows.append({"measure": signal.name, "incident mean": mean_now, "incident peak": peak,
                         "before (mean)": mean_before, "change ×": change, "n": n})
            shown.append({"measure": signal.name, "since onset": fmt(mean_now, signal.kind),
                          "worst": fmt(peak, signal.kind),
                          "before": fmt(mean_before, signal.kind), "reference": before_what,
                          "change": _factor_text(mean_now, mean_before),
                          "sample": (f"{fmt(n, Kind.COUNT)} {signal.sample_unit}".strip()
                                     if n is not None else "—")})
            self.numbers[f"{signal.name} (incident)"] = _plain(mean_now)
            self.numbers[f"{signal.name} (before)"] = _plain(mean_before)
            if i == 0:
                stats = [Stat(f"{signal.name} since onset", mean_now, signal.kind, n,
                              signal.sample_unit),
                         Stat(f"{signal.name}, {before_what}", mean_before, signal.kind)]
                moved = (change == change and (change >= 1.5 or change <= 1 / 1.5)) or \
                    (mean_before == 0 and mean_now == mean_now and mean_now > 0)
                interesting = bool(moved)
                self._cache["compare_first"] = (signal, mean_now, mean_before, before_what)
                first_before = before_what
                if n is not None:
                    self.tiles.append({"label": f"{signal.sample_unit or 'sample'} since onset",
                                       "value": fmt(n, Kind.COUNT),
                                       "detail": f"behind the {signal.name}"})
        first = rows[0] if rows else None
        if first is None:
            message = "Nothing to compare."
        else:
            sig = signals[0]
            message = (f"{_cap(sig.name)} averaged {fmt(first['incident mean'], sig.kind)} "
                       f"since onset (worst {fmt(first['incident peak'], sig.kind)}) against "
                       f"{fmt(first['before (mean)'], sig.kind)} ({first_before}): "
                       f"{_factor_text(first['incident mean'], first['before (mean)'])}.")
        promql = signals[0].query(self.rate) if signals else ""
        self.record(Finding("Against the days before", interesting, message, stats, None,
                            promql, self.link(promql) if promql else "", shown))
        return pd.DataFrame(rows).set_index("measure") if rows else pd.DataFrame()

    def breakdown(self, name: str, query_by: Callable[[str, Sequence[str]], str],
                  labels: Sequence[str], *, kind: str = Kind.RATE.value, additive: bool = True,
                  sample_by: Callable[[str, Sequence[str]], str] | None = None,
                  sample_unit: str = "") -> pd.DataFrame:
        """The signal split by each of ``labels`` (those it carries), ranked by how much of the
        change since before onset each value explains (``additive``: its share of the total
        change; else by how far it moved). Records "What changed, by label" with a chart."""
        rows = []
        for label in labels:
            promql = query_by(self.rate, [label])
            now = self.range(promql)
            if now.empty or label not in now or (now[label].astype(str) == "").all():
                continue
            before, before_what = self._before(promql)
            mean_now = now.groupby(now[label].astype(str))["value"].mean()
            mean_before = (before.groupby(before[label].astype(str))["value"].mean()
                           if not before.empty and label in before else pd.Series(dtype=float))
            values = sorted(set(mean_now.index) | set(mean_before.index))
            delta = {v: float(mean_now.get(v, 0.0)) - float(mean_before.get(v, 0.0))
                     for v in values}
            total = sum(delta.values())
            samples = {}
            if sample_by is not None:
                frame = self.prom.query(sample_by(self.incident.duration, [label]),
                                        self.incident.end)
                if not frame.empty and label in frame:
                    samples = dict(zip(frame[label].astype(str), frame["value"]))
            for v in values:
                share = (delta[v] / total if additive and total else float("nan"))
                rows.append({"label": label, "value": v, "values": len(values),
                             "before": float(mean_before.get(v, float("nan"))),
                             "now": float(mean_now.get(v, float("nan"))), "change": delta[v],
                             "share of change": share, "n": samples.get(v)})
        frame = pd.DataFrame(rows)
        if frame.empty:
            self.record(Finding("What changed, by label", False,
                                f"No label of {name} to break down in the incident window."))
            return frame
        key = frame["share of change"].abs() if additive else frame["change"].abs()
        frame = frame.assign(_key=key.fillna(0)).sort_values("_key", ascending=False, kind="stable") \
            .drop(columns="_key").reset_index(drop=True)
        split = frame[frame["values"] > 1]
        top = (split.iloc[0] if not split.empty else frame.iloc[0])
        if additive:
            single = frame[frame["values"] == 1]
            message = (f"{top['value']} ({top['label']}) explains "
                       f"{fmt(top['share of change'], Kind.RATIO)} of the change in {name}"
                       if not split.empty else
                       "Every label has a single value, so the change is all of: "
                       + ", ".join(f"{r['label']}={r['value']}" for _, r in single.iterrows()))
            interesting = bool(not split.empty and abs(top["share of change"]) >= 0.5)
        else:
            message = (f"{top['value']} ({top['label']}) moved most: "
                       f"{fmt(top['before'], kind)} → {fmt(top['now'], kind)}")
            interesting = bool(not split.empty)
        self.numbers[f"{name}: top contributor"] = f"{top['label']}={top['value']}"
        self._cache["breakdown_top"] = (top["label"], top["value"], top["share of change"])
        shown = [{"label": r["label"], "value": r["value"], "before": fmt(r["before"], kind),
                  "now": fmt(r["now"], kind),
                  **({"share of change": fmt(r["share of change"], Kind.RATIO)} if additive else
                     {"change": fmt(r["change"], kind)}),
                  **({"sample": fmt(r["n"], Kind.COUNT) + (f" {sample_unit}" if sample_unit
                                                           else "")} if sample_by else {})}
                 for _, r in frame.head(12).iterrows()]
        chart_data = pd.Series(
            (frame["share of change"] if additive else frame["change"]).to_numpy(),
            index=[f"{r['label']}={r['value']}" for _, r in frame.iterrows()]).head(10)[::-1]
        fig = plots.bars(chart_data, f"{name}: {'share of the change' if additive else 'change'}"
                         f" by label value", percent=additive or kind == Kind.RATIO.value)
        promql = query_by(self.rate, [frame.iloc[0]["label"]])
        self.record(Finding("What changed, by label", interesting, message + ".", [], plots.png(fig),
                            promql, self.link(promql), shown))
        return frame

    def what_changed(self) -> pd.DataFrame:
        """Model versions and baseline ids seen before and since onset, with when each first
        appeared; a deploy or baseline change within an hour of onset is called out."""
        start = self.incident.start - pd.Timedelta(days=1)
        frame = self.prom.range(q.model_info(self.model_name), start, self.incident.end,
                                max(self.resolution, 60))
        rows, near = [], []
        for key in ("model_version", "baseline_id"):
            if frame.empty or key not in frame:
                continue
            first = frame.groupby(frame[key].astype(str))["timestamp"].min()
            last = frame.groupby(frame[key].astype(str))["timestamp"].max()
            for value in first.index:
                appeared = first[value]
                new = appeared > start + pd.Timedelta(minutes=5)
                rows.append({"what": key, "value": value,
                             "first seen": f"{appeared:%Y-%m-%d %H:%M} UTC" if new
                             else f"before {start:%Y-%m-%d %H:%M} UTC",
                             "last seen": f"{last[value]:%Y-%m-%d %H:%M} UTC"})
                if new and abs(appeared - self.incident.start) <= pd.Timedelta(hours=1):
                    near.append(f"{key} {value} appeared at {appeared:%H:%M} UTC")
        out = pd.DataFrame(rows)
        versions = sorted({r["value"] for r in rows if r["what"] == "model_version"})
        self.numbers["model_version_changed"] = bool(near)
        self.numbers["model_versions"] = ", ".join(versions) or "none seen"
        if near:
            message = "Near onset: " + "; ".join(near) + "."
        elif rows:
            message = ("No deploy or baseline change in the day before onset: model version "
                       f"{', '.join(versions) or 'unknown'}.")
        else:
            message = "No model_info series: the model version and baseline are unknown."
        promql = q.model_info(self.model_name)
        self.record(Finding("Deploys and baselines", bool(near), message, [], None, promql,
                            self.link(promql, start, self.incident.end), rows))
        return out

    # -- drift ----------------------------------------------------------------------------------

    def _window_drift(self, baseline) -> pd.DataFrame:
        """The drift rerun of the incident window (``mlmon_nb.drift.window_drift``), cached."""
        if "drift" not in self._cache:
            from .drift import thresholds_for, window_drift  # scipy: drift runbooks only
            self._cache["drift"] = window_drift(
                self.prom, baseline, time=self.incident.end, window=self.incident.duration,
                model_name=self.model_name, thresholds=thresholds_for(self.ctx.model))
        return self._cache["drift"]

    def confidence_psi(self, baseline=None) -> dict[str, float]:
        """PSI of the prediction-confidence histogram in the incident window vs the baseline."""
        from .drift import CONCEPT_FEATURE  # scipy: drift runbooks only
        baseline = baseline or self.load_baseline()
        if baseline is None:
            return {"psi": float("nan"), "n": 0.0}
        rows = self._window_drift(baseline)
        rows = rows[(rows["feature"] == CONCEPT_FEATURE) & (rows["test"] == "psi")]
        if rows.empty or rows["insufficient"].iloc[0]:
            return {"psi": float("nan"), "n": float(rows["n"].sum()) if not rows.empty else 0.0}
        return {"psi": float(rows["statistic"].iloc[0]), "n": float(rows["n"].iloc[0])}

    def drift_table(self, baseline=None, *, record: bool = True) -> pd.DataFrame:
        """Binned KS and PSI of every numeric feature in the incident window, with severities
        from the configured thresholds (the rerun of the drift recording rules)."""
        columns = ["ks", "psi", "n", "ks severity", "psi severity"]
        baseline = baseline or self.load_baseline()
        if baseline is None:
            return pd.DataFrame(columns=columns)
        rows = self._window_drift(baseline)
        rows = rows[rows["kind"] == "numeric"]
        if rows.empty:
            return pd.DataFrame(columns=columns)
        stat = rows.pivot_table(index="feature", columns="test", values="statistic", aggfunc="first")
        sev = rows.pivot_table(index="feature", columns="test", values="severity", aggfunc="first")
        out = pd.DataFrame({"ks": stat["ks"], "psi": stat["psi"],
                            "n": rows.groupby("feature")["n"].first(),
                            "ks severity": sev["ks"], "psi severity": sev["psi"]})
        out = out.sort_values("ks", ascending=False)
        if record:
            self.numbers["max_ks"] = float(out["ks"].max())
            self.numbers["most_drifted_feature"] = str(out.index[0])
        return out

    def ks_signal(self, feature: str, threshold: float | None, baseline=None) -> Signal | None:
        """The binned KS of ``feature`` against the baseline over time (the drift rule's own
        expression over a short window), with the feature's sample size."""
        from .drift import ks_rule_expr  # scipy: drift runbooks only
        baseline = baseline or self.load_baseline()
        if baseline is None or feature not in baseline.numeric:
            return None
        sel = selector(m.FEATURE_VALUE.series("_bucket"), model_name=self.model_name,
                       feature=feature, le="+Inf")
        return Signal(f"binned KS of {feature}",
                      lambda r: ks_rule_expr(self.model_name, feature, baseline,
                                             window=self._drift_window(r)),
                      threshold, kind=Kind.NUMBER.value,
                      sample=lambda r: f"sum(increase({sel}[{r}]))", sample_unit="values")

    def psi_signal(self, threshold: float | None, baseline=None) -> Signal | None:
        """PSI of the confidence histogram against the baseline over time."""
        from .drift import concept_psi_rule_expr  # scipy: drift runbooks only
        baseline = baseline or self.load_baseline()
        if baseline is None or baseline.confidence_fractions is None:
            return None
        sel = selector(m.CONFIDENCE.series("_count"), model_name=self.model_name)
        return Signal("confidence PSI",
                      lambda r: concept_psi_rule_expr(self.model_name, baseline,
                                                      window=self._drift_window(r)),
                      threshold, kind=Kind.NUMBER.value,
                      sample=lambda r: f"sum(increase({sel}[{r}]))", sample_unit="predictions")

    def _drift_window(self, rate: str) -> str:
        """Drift statistics need a few hundred values: at least 10 minutes per point."""
        from .prom import parse_step
        return format_duration(max(parse_step(rate), 600))

    def distribution(self, feature: str, *, title: str = "", baseline=None) -> Finding | None:
        """The baseline's distribution of ``feature`` (or ``confidence``) against the incident
        window's, with binned KS, PSI and the sample size. Records the finding."""
        from .drift import CONCEPT_FEATURE, window_counts  # scipy: drift runbooks only
        baseline = baseline or self.load_baseline()
        if baseline is None:
            return None
        counts = window_counts(self.prom, baseline, time=self.incident.end,
                               window=self.incident.duration, model_name=self.model_name)
        bins = counts.get(feature)
        rows = self._window_drift(baseline)
        rows = rows[rows["feature"] == feature]
        stat = {t: float(rows.loc[rows["test"] == t, "statistic"].iloc[0])
                for t in ("ks", "psi") if (rows["test"] == t).any()}
        n = float(rows["n"].iloc[0]) if not rows.empty else 0.0
        severity = (str(rows.loc[rows["test"] == "ks", "severity"].iloc[0])
                    if (rows["test"] == "ks").any() else "")
        if bins is None or not len(bins.totals) or not bins.totals[-1]:
            finding = Finding(title or f"Distribution of {feature}", False,
                              f"No values of {feature} in the incident window.")
            return self.record(finding)
        labels = [lbl if lbl == "+Inf" else f"≤{float(lbl):.3g}" for lbl in bins.labels]
        current = bins.counts[-1] / bins.totals[-1]
        fig = plots.distributions(labels, bins.reference, current,
                                  title or f"{feature}: training baseline against the incident "
                                           f"window")
        what = "confidence" if feature == CONCEPT_FEATURE else feature
        moved = int(np.argmax(np.abs(current - bins.reference)))
        message = (f"{_cap(what)} in the incident window against the training baseline: "
                   + ", ".join(f"{t.upper()} {fmt(v)}" for t, v in stat.items())
                   + f" on {fmt(n, Kind.COUNT)} values"
                   + (f" ({severity})" if severity and severity != "ok" else "")
                   + f"; the bucket {labels[moved]} moved most "
                     f"({fmt(bins.reference[moved], Kind.RATIO)} → {fmt(current[moved], Kind.RATIO)}).")
        stats = [Stat(f"binned {t.upper()}", v, Kind.NUMBER.value, n, "values")
                 for t, v in stat.items()]
        from .drift import feature_buckets_query, confidence_buckets_query  # noqa: I001
        promql = (confidence_buckets_query(self.model_name, self.incident.duration)
                  if feature == CONCEPT_FEATURE
                  else feature_buckets_query(self.model_name, self.incident.duration))
        return self.record(Finding(title or f"Distribution of {feature}",
                                   bool(severity and severity not in ("ok", "insufficient")),
                                   message, stats, plots.png(fig), promql, self.link(promql)))

    def drift_finding(self, baseline=None) -> pd.DataFrame:
        """Every numeric feature's binned KS and PSI in the incident window, as a finding."""
        table = self.drift_table(baseline)
        if table.empty:
            self.record(Finding("Input drift", False, "No baseline or no feature values: "
                                "input drift was not rerun."))
            return table
        drifted = table[table["ks severity"].isin(["warning", "critical"])]
        message = (f"{len(drifted)} of {len(table)} features drifted: "
                   + ", ".join(f"{f} (KS {fmt(r['ks'])})" for f, r in drifted.iterrows())
                   if len(drifted) else f"No input feature drifted (largest binned KS "
                   f"{fmt(table['ks'].max())}, {table.index[0]}).")
        rows = [{"feature": f, "binned KS": fmt(r["ks"]), "PSI": fmt(r["psi"]),
                 "n": fmt(r["n"], Kind.COUNT), "severity": str(r["ks severity"])}
                for f, r in table.iterrows()]
        self.record(Finding("Input drift", bool(len(drifted)), message, [], None, "", "", rows))
        return table

    def require_baseline(self):
        """The baseline, or end the run early (status ``no_data``) saying how to build it."""
        baseline = self.load_baseline()
        if baseline is None:
            self._early(f"No baseline for model {self.model_name} at {self.ctx.baseline_path}: "
                        f"drift cannot be rerun. Build it with `mlmon-nb baseline build`.",
                        "no_data")
        return baseline

    def most_drifted_feature(self, feature: str = "") -> str:
        """``feature`` when the baseline knows it, else the feature with the largest KS."""
        baseline = self.load_baseline()
        if baseline is not None and feature in baseline.numeric:
            return feature
        table = self.drift_table(record=False)
        return str(table.index[0]) if len(table) else ""

    # -- SLO ------------------------------------------------------------------------------------

    def invalid_rate(self, rate: str) -> str:
        """PromQL: rejected feature values per second (0 when none were rejected)."""
        return f"sum({q.invalid_feature_rate(self.model_name, rate)}) or vector(0)"

    def slo_bad_ratio(self, slo: str, rate: str) -> str:
        """PromQL for the share of bad events of an SLO, exactly as the SLO rules define it
        (an SLO without bad events of its own, such as throughput, reads as availability)."""
        return rule_slo.slo_bad_ratio(_known_slo(slo), self.ctx.model, rate)

    def slo_objective(self, slo: str) -> float:
        """The configured objective of an SLO."""
        return rule_slo.slo_objective(self.ctx.model, _known_slo(slo))

    def burn_rates(self, slo: str, windows: tuple[str, ...] | None = None, *,
                   record: bool = False, factor: float | None = None) -> pd.DataFrame:
        """Burn rate (bad share / error budget) of an SLO over each window (default: the burn
        alerts' windows) at the incident end; ``record`` adds the finding "Burn rates"."""
        budget = 1 - self.slo_objective(slo)
        rows = []
        for w in windows or rule_names.WINDOWS:
            bad = self.prom.scalar(f"sum({self.slo_bad_ratio(slo, w)})", self.incident.end)
            rows.append({"window": w, "bad share": bad, "burn rate": bad / budget})
        out = pd.DataFrame(rows).set_index("window")
        if record:
            hot = out[out["burn rate"] > (factor or 1.0)]
            message = (f"The {slo} SLO ({fmt(self.slo_objective(slo), Kind.RATIO)} objective, "
                       f"{fmt(budget, Kind.RATIO)} error budget) burns above "
                       f"{fmt(factor or 1.0)}× over " + (", ".join(hot.index) or "no window")
                       + ".")
            shown = [{"window": w, "bad share": fmt(r["bad share"], Kind.RATIO),
                      "burn rate": "—" if r["burn rate"] != r["burn rate"]
                      else f"{r['burn rate']:.1f}×"} for w, r in out.iterrows()]
            promql = f"sum({self.slo_bad_ratio(slo, '1h')})"
            self.record(Finding("Burn rates", bool(len(hot)), message, [], None, promql,
                                self.link(promql), shown))
        return out

    def load_baseline(self):
        """The model's training baseline, or None when its file is missing (cached)."""
        if "baseline" not in self._cache:
            from .baseline import Baseline
            from .errors import BaselineError
            try:
                self._cache["baseline"] = Baseline.load(self.ctx.baseline_path)
            except (BaselineError, OSError) as exc:
                self._cache["baseline"] = None
                self.record(Finding("Training baseline", True,
                                    f"No baseline ({exc}); drift cannot be rerun. Build it with "
                                    f"`mlmon-nb baseline build`."))
        return self._cache["baseline"]

    # -- the verdict ----------------------------------------------------------------------------

    def _summary(self, verdict: str, status: str, next_step: str = "",
                 **numbers: Any) -> dict[str, Any]:
        onset = None
        if self.onset is not None and status == "firing":
            onset = {"time": self.onset.time.isoformat(), "uncertainty": self.onset.uncertainty,
                     "lead": self._cache.get("onset_lead", ""), "ongoing": self.onset.ongoing}
        clean = {k: _plain(v) for k, v in {**self.numbers, **numbers}.items()}
        tiles = self.tiles if status == "firing" else []
        return {"verdict": verdict, "status": status, "severity": self.severity,
                "alertname": self.alertname, "model": self.model_name, "numbers": clean,
                "tiles": tiles, "onset": onset, "next": next_step,
                "window": {"start": self.incident.start.isoformat(),
                           "end": self.incident.end.isoformat()}}

    def conclude(self, signal: Signal | pd.DataFrame | None = None, measure: str = "", *,
                 cause: str = "", next_step: str = "", notes: tuple[str, ...] = (),
                 status: str = "firing", fmt: str = "") -> dict[str, Any]:
        """The verdict: what (the signal now against its threshold), since when (the onset),
        how far from normal (against the days before), why (``cause``, the top contributor, a
        deploy near onset) and what next (``next_step``); recorded with the key numbers."""
        condition, now = self._cache.get("condition", (None, float("nan")))
        first = self._cache.get("compare_first")
        sig = signal if isinstance(signal, Signal) else (first[0] if first else None)
        kind = sig.kind if sig is not None else Kind.NUMBER.value
        name = sig.name if sig is not None else (measure or "the signal")
        parts = []
        if condition is not None and now == now:
            parts.append(f"{_cap(condition.description)} is "
                         f"{_fmt_kind(now, condition.kind)} (threshold "
                         f"{_fmt_kind(condition.threshold, condition.kind)})")
        elif first is not None:
            parts.append(f"{_cap(name)} averaged {_fmt_kind(first[1], kind)}")
        if self.onset is not None:
            lead = self._cache.get("onset_lead", "")
            parts[-1:] = [(parts[-1] if parts else _cap(name))
                          + f" since {self.onset.time:%H:%M:%S} UTC "
                            f"±{fmt_duration(self.onset.uncertainty)}" + (f", {lead}" if lead
                                                                          else "")]
        if first is not None and first[0].name == name:
            parts.append(f"{_factor_text(first[1], first[2])} against {first[3]} "
                         f"({_fmt_kind(first[2], kind)})")
        top = self._cache.get("breakdown_top")
        if cause:
            parts.append(cause)
        elif top is not None:
            share = top[2]
            parts.append(f"{top[0]}={top[1]}" + (f" carries {_fmt_kind(share, Kind.RATIO.value)}"
                                                 f" of it" if share == share else " moved most"))
        if self.numbers.get("model_version_changed"):
            parts.append("a deploy or baseline change came near onset")
        parts.extend(n for n in notes if n)
        verdict = "; ".join(parts) + "."
        if condition is not None and now == now:
            label = condition.description.removeprefix("the ")
            self.tiles.insert(0, {"label": f"{label} now",
                                  "value": _fmt_kind(now, condition.kind),
                                  "detail": "threshold "
                                            f"{_fmt_kind(condition.threshold, condition.kind)}"})
        if first is not None:
            self.tiles.insert(1 if len(self.tiles) else 0, {
                "label": "against days before", "value": _factor_text(first[1], first[2]),
                "detail": f"{_fmt_kind(first[2], kind)} → {_fmt_kind(first[1], kind)}"})
        return _record(self._summary(verdict, status, next_step=next_step))

    def summary(self, verdict: str, *, status: str = "firing", **numbers: Any) -> dict[str, Any]:
        """Record ``verdict`` with every number gathered so far (plus ``numbers``)."""
        return _record(self._summary(verdict, status, **numbers))


def _cap(text: str) -> str:
    """``text`` with its first letter upper-cased (the rest kept: KS stays KS)."""
    return text[:1].upper() + text[1:]


def _fmt_kind(value: Any, kind: str) -> str:
    return fmt(value, kind)


def open_investigation(alertname: str, model_name: str, prometheus_url: str = "", start: str = "",
                       end: str = "", window: str = "6h", step: str = "", baseline_path: str = "",
                       *, starts_at: str = "", severity: str = "", show: bool = False,
                       **labels: str) -> Investigation:
    """An :class:`Investigation` from a runbook's parameters.

    With the alert's ``starts_at`` (and no ``start``), the onset is searched from
    ``SEARCH_BEFORE`` before it to ``end`` (default now) and the incident window is the hour
    before it until :meth:`Investigation.find_onset` narrows it; with ``start``/``end`` both the
    search and the incident are that window; else the last ``window``.
    """
    from .prom import to_timestamp

    alert_at = to_timestamp(starts_at) if starts_at else None
    search_start = start
    if not start and alert_at is not None:
        search_start = (alert_at - SEARCH_BEFORE).isoformat()
    ctx = notebook_context(model_name, prometheus_url, search_start, end, window, step,
                           baseline_path)
    search = ctx.window
    inc = search
    if not start and alert_at is not None:
        inc_start = max(search.start, min(alert_at - FALLBACK_WINDOW,
                                          search.end - pd.Timedelta(minutes=5)))
        inc = Window(inc_start, search.end,
                     q.auto_step((search.end - inc_start).total_seconds(), 400,
                                 search.scrape_interval), search.scrape_interval)
    reference = Window(inc.start - pd.Timedelta(days=REFERENCE_DAYS), inc.start,
                       max(inc.step, 300.0), inc.scrape_interval)
    inv = Investigation(alertname, ctx, inc, reference,
                        {"starts_at": starts_at, **{k: str(v) for k, v in labels.items()}},
                        severity=severity, alert_at=alert_at, search=search)
    inv.numbers["incident_window"] = fmt_duration(inc.seconds)
    if show:
        inv.header()
    return inv
