"""When the alert's signal left its normal band: the onset search of an investigation, which
makes onset → end the incident window and records the finding "When it started"."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plots
from ..config import parse_duration
from ..findings import Finding, Stat
from ..findings.investigation import FALLBACK_WINDOW, REFERENCE_DAYS, InvestigationBase
from ..findings.record import _cap, _one
from ..humanize import Kind, fmt, fmt_duration
from ..onset import Onset, detect_onset, normal_band
from ..signals import Signal

__all__ = ["OnsetSearch", "band_range", "departure", "domain", "place"]

# kinds whose values cannot be negative, and the one that cannot pass 1 either
_NON_NEGATIVE = {Kind.RATIO.value, Kind.RATE.value, Kind.COUNT.value, Kind.SECONDS.value,
                 Kind.SCORE.value}


def domain(kind: str) -> tuple[float | None, float | None]:
    """The range a signal of ``kind`` can take: 0–1 for a ratio, from 0 for rates, counts,
    durations and scores (drift statistics), unbounded otherwise."""
    if kind == Kind.RATIO.value:
        return 0.0, 1.0
    return (0.0, None) if kind in _NON_NEGATIVE else (None, None)


def place(band, level: float) -> str:
    """Where a level sits against the normal band, in words: "out of its normal band" only when
    it is outside the band; a sustained shift inside it (what the change-point search also
    finds) is "above its normal level" or "below" it."""
    if not band.low <= level <= band.high:
        return "out of its normal band"
    return f"{'above' if level > band.median else 'below'} its normal level"


def departure(band, level: float) -> str:
    """How the signal left normal, in words true of the level it held since (see ``place``)."""
    where = place(band, level)
    if where.startswith("out of"):
        return "left its normal band"
    return f"{'rose' if where.startswith('above') else 'fell'} {where}"


def band_range(band, kind: str) -> str:
    """A normal band as the range a person reads, inside the signal's domain: "0%–6%", never
    "0% ± 6%" (a ratio is never negative)."""
    low_end, high_end = domain(kind)
    low = band.low if low_end is None else max(low_end, band.low)
    high = band.high if high_end is None else min(high_end, band.high)
    return f"{fmt(low, kind)}–{fmt(high, kind)} (median {fmt(band.median, kind)})"


class OnsetSearch(InvestigationBase):
    """The onset methods of :class:`~mlmon_nb.investigate.Investigation`."""

    def _signal_range(self, signal: Signal, start: pd.Timestamp, end: pd.Timestamp,
                      rate: str | None = None, step: float | None = None, *,
                      fill: bool = False) -> pd.Series:
        """The signal as one series; ``fill`` puts its ``missing`` value where a point is
        absent from its first point on (before it, no data is no evidence: Prometheus or the
        service may not have existed yet; a window without any point is filled whole); days
        before are never filled: a day without data is no reference."""
        step = step or self.resolution
        frame = self.prom.range(signal.query(rate or self.fine_rate), start, end, step)
        series = _one(frame, signal.above)
        if fill and signal.missing is not None:
            grid = pd.date_range(start, end, freq=pd.Timedelta(seconds=step))
            if not series.empty:
                grid = grid[grid >= series.index[0]]
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
        # a rate over fine_rate lags a change by up to that range; a signal whose points span
        # a fixed range (a drift statistic's 10m) lags it by that range; an instant one not
        lag = (parse_duration(self.fine_rate) if signal.query("1m") != signal.query("2m")
               else parse_duration(signal.window) if signal.window else 0.0)
        onset = (detect_onset(series, band=band, direction=signal.direction, at=self.alert_at,
                              lag=lag) if not series.empty else None)
        self.onset = onset
        end = self.incident.end
        if onset is not None:
            self._set_incident(onset.time.floor("s"))
        promql = signal.promql(self.fine_rate)
        band_text = band_range(band, signal.kind)
        stats = [Stat("normal band", band_text, Kind.TEXT.value, band.n, "reference points")]
        if onset is not None:
            lead = (self.alert_at - onset.time).total_seconds() if self.alert_at is not None \
                else float("nan")
            lasted = ((onset.ended or end) - onset.time).total_seconds()
            when = f"{onset.time:%H:%M:%S} UTC ±{fmt_duration(onset.uncertainty)}"
            message = (f"{_cap(signal.name)} {departure(band, onset.level)} at {when}"
                       + (f", {fmt_duration(lead)} before the alert fired" if lead == lead and lead > 0
                          else "")
                       + (f"; outside it for {fmt_duration(lasted)} now"
                          if onset.ongoing else
                          f"; back to normal at {onset.ended:%H:%M:%S} UTC" if onset.ended else "")
                       + f" (median {fmt(onset.level, signal.kind)} since onset against a "
                         f"normal median {fmt(band.median, signal.kind)}).")
            stats = [Stat("onset", f"{onset.time:%Y-%m-%d %H:%M:%S} UTC", Kind.TEXT.value),
                     Stat("uncertainty", onset.uncertainty, Kind.SECONDS.value),
                     Stat("before the alert", lead, Kind.SECONDS.value),
                     Stat("median since onset", onset.level, signal.kind, onset.points, "points"),
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
            left = (f"did not leave its normal band ({band_text}, from {ref_what}) in a "
                    f"sustained way" if band.n else
                    f"has no normal band to leave (no points in {ref_what})")
            message = (f"No clear onset: {signal.name} {left} between "
                       f"{search.start:%H:%M} and {search.end:%H:%M} UTC; the incident window is "
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
            band=(band.low, band.high) if band.n else None, domain=domain(signal.kind),
            onset=(onset.time, onset.uncertainty) if onset else None,
            alert_at=self.alert_at, incident_start=self.incident.start,
            reference=ref_line[ref_line.index >= chart_start] if ref_line is not None else None,
            sample=sample, sample_label=f"{signal.sample_unit or 'sample'} per minute")
        self.record(Finding("When it started", onset is not None, message, stats,
                            plots.png(fig), promql, self.link(promql, chart_start, end)))
        return onset

    def _sample_series(self, signal: Signal, start, end) -> pd.Series | None:
        if signal.sample is None:
            return None
        frame = self.prom.range(signal.sample(self.fine_rate), start, end, self.resolution)
        if frame.empty:
            return None
        # the count over each fine_rate range, as a count per minute (a unit a person reads)
        per_minute = 60.0 / parse_duration(self.fine_rate)
        return frame.groupby("timestamp")["value"].sum() * per_minute

