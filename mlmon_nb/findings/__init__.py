"""Findings: what a runbook found, one check at a time, as data the run page reads back.

A :class:`Finding` is one check in the spirit of Grafana Sift's: its name, whether it is
interesting, a one-line message, the numbers behind it (each with its sample size), a chart,
the PromQL and a link to it on Prometheus's graph page. A runbook records each finding as a
display output of type :data:`FINDING_MIME` (JSON, the chart as base64 PNG) with an HTML card
for JupyterLab; its verdict is a :data:`SUMMARY_MIME` output. The run page
(:mod:`mlmon_nb.runbooks.html`) reads both back from the executed notebook and renders them
with :func:`finding_card` and :func:`verdict_card`; every text is escaped here.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlencode

from ..humanize import Kind, fmt, fmt_count, fmt_duration, fmt_time, utc
from ..promql import duration

__all__ = ["FINDING_MIME", "SUMMARY_MIME", "Stat", "Finding", "graph_link", "finding_card", "verdict_card",
           "tiles_html", "read_findings", "STATUS_TEXT"]

FINDING_MIME = "application/vnd.mlmon.finding+json"
# A runbook records its verdict and key numbers as a display output of this type
# (mlmon_nb.investigate.record_summary); the run index reads it back from the notebook.
SUMMARY_MIME = "application/vnd.mlmon.summary+json"

# status → what the verdict card says; severity and status choose its colour (see html.py)
STATUS_TEXT = {"firing": "Firing", "resolved": "Resolved", "no_data": "No data",
               "not_firing": "Not firing now"}

_E = html.escape


@dataclass(frozen=True)
class Stat:
    """One number of a finding: its value, how it reads, and the sample behind it."""

    name: str
    value: Any
    kind: str = Kind.NUMBER.value
    n: float | None = None  # sample size behind the statistic
    unit: str = ""  # what n counts: requests, predictions, points…

    @property
    def text(self) -> str:
        return fmt(self.value, self.kind)

    @property
    def sample(self) -> str:
        if self.n is None:
            return ""
        return f"n = {fmt_count(self.n)}" + (f" {self.unit}" if self.unit else "")


@dataclass
class Finding:
    """One check's result. ``rows`` is an optional small table of already formatted cells."""

    name: str
    interesting: bool
    message: str
    stats: list[Stat] = field(default_factory=list)
    chart: bytes | None = None  # PNG
    promql: str = ""
    link: str = ""
    rows: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["chart"] = base64.b64encode(self.chart).decode() if self.chart else None
        out["stats"] = [{**asdict(s), "value": _plain(s.value), "text": s.text,
                         "sample": s.sample} for s in self.stats]
        # JSON objects lose their key order in a notebook (sorted keys): columns + cell lists
        columns = list(self.rows[0]) if self.rows else []
        out["rows"] = {"columns": columns,
                       "cells": [[str(r.get(c, "")) for c in columns] for r in self.rows]}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        chart = data.get("chart")
        stats = [Stat(s.get("name", ""), s.get("value"), s.get("kind", "number"), s.get("n"),
                      s.get("unit", "")) for s in data.get("stats") or []]
        table = data.get("rows") or {}
        rows = []
        if isinstance(table, Mapping):
            columns = [str(c) for c in table.get("columns") or []]
            rows = [dict(zip(columns, map(str, cells))) for cells in table.get("cells") or []]
        return cls(str(data.get("name", "")), bool(data.get("interesting")),
                   str(data.get("message", "")), stats,
                   base64.b64decode(chart) if isinstance(chart, str) and chart else None,
                   str(data.get("promql", "")), str(data.get("link", "")), rows)

    def bundle(self) -> dict[str, Any]:
        """The display bundle: the JSON for the run page, an HTML card for JupyterLab."""
        return {FINDING_MIME: self.to_json(), "text/html": finding_card(self),
                "text/plain": f"{self.name}: {self.message}"}


def _plain(value: Any) -> Any:
    """A JSON-safe value: numpy scalars as floats, NaN as None."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def graph_link(prometheus_url: str, promql: str, start: Any, end: Any) -> str:
    """Prometheus's graph page showing ``promql`` from ``start`` to ``end``."""
    t0, t1 = utc(start), utc(end)
    minutes = max(1, math.ceil((t1 - t0).total_seconds() / 60))
    moment = f"{t1:%Y-%m-%d %H:%M:%S}"
    query = {"g0.expr": promql, "g0.tab": "0", "g0.range_input": duration(minutes * 60),
             "g0.end_input": moment, "g0.moment_input": moment}
    return f"{prometheus_url.rstrip('/')}/graph?{urlencode(query)}"


def read_findings(nb) -> list[Finding]:
    """The findings a runbook recorded, in order."""
    out = []
    for cell in nb.cells:
        for output in cell.get("outputs", []) or []:
            data = (output.get("data") or {}).get(FINDING_MIME)
            if isinstance(data, Mapping):
                out.append(Finding.from_json(data))
    return out


# -- HTML cards (escaped; the run page sanitizes the whole body again) ---------------------------

def _stats_html(stats: Sequence[Stat]) -> str:
    if not stats:
        return ""
    items = "".join(
        f"<div class='mlmon-stat'><div class='mlmon-stat-value'>{_E(s.text)}</div>"
        f"<div class='mlmon-stat-name'>{_E(s.name)}</div>"
        + (f"<div class='mlmon-stat-n'>{_E(s.sample)}</div>" if s.sample else "") + "</div>"
        for s in stats)
    return f"<div class='mlmon-stats'>{items}</div>"


def _rows_html(rows: Sequence[Mapping[str, str]]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])
    head = "".join(f"<th>{_E(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_E(str(r.get(c, '')))}</td>" for c in columns)
                   + "</tr>" for r in rows)
    return f"<table class='mlmon-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def finding_card(finding: Finding) -> str:
    """A finding as an HTML card: name, message, numbers, chart, table, PromQL and its link."""
    cls = "mlmon-finding interesting" if finding.interesting else "mlmon-finding"
    chart = (f"<img class='mlmon-chart' alt='{_E(finding.name)}' "
             f"src='data:image/png;base64,{base64.b64encode(finding.chart).decode()}'>"
             if finding.chart else "")
    query = ""
    if finding.promql:
        link = (f" <a href='{_E(finding.link)}'>open in Prometheus</a>" if finding.link else "")
        query = (f"<details class='mlmon-query'><summary>PromQL{link}</summary>"
                 f"<pre><code>{_E(finding.promql)}</code></pre></details>")
    return (f"<div class='{cls}'><h3>{_E(finding.name)}</h3>"
            f"<p class='mlmon-message'>{_E(finding.message)}</p>{_stats_html(finding.stats)}"
            f"{chart}{_rows_html(finding.rows)}{query}</div>")


def tiles_html(tiles: Iterable[Mapping[str, Any]]) -> str:
    """Key numbers as tiles: ``{"label", "value", "detail"}`` (value already formatted)."""
    items = "".join(
        f"<div class='mlmon-tile'><div class='mlmon-tile-value'>{_E(str(t.get('value', '')))}"
        f"</div><div class='mlmon-tile-label'>{_E(str(t.get('label', '')))}</div>"
        + (f"<div class='mlmon-tile-detail'>{_E(str(t['detail']))}</div>" if t.get("detail")
           else "") + "</div>" for t in tiles)
    return f"<div class='mlmon-tiles'>{items}</div>" if items else ""


def verdict_card(summary: Mapping[str, Any]) -> str:
    """The verdict as a card coloured by status and severity, with the onset when known."""
    status = str(summary.get("status", "firing"))
    severity = str(summary.get("severity") or "")
    tone = ("ok" if status == "resolved" else "unknown" if status in ("no_data", "not_firing")
            else severity if severity in ("critical", "warning", "info") else "critical")
    title = " · ".join(x for x in (str(summary.get("alertname") or ""),
                                   str(summary.get("model") or "")) if x)
    label = STATUS_TEXT.get(status, status) + (f" · {severity}" if severity else "")
    onset = summary.get("onset") or {}
    when = []
    if isinstance(onset, Mapping) and onset.get("time"):
        when.append(f"since {_E(fmt_time(onset['time']))} "
                    f"±{_E(fmt_duration(onset.get('uncertainty')))}")
    window = summary.get("window") or {}
    if isinstance(window, Mapping) and window.get("end"):
        when.append(f"<span class='mlmon-asof'>as of {_E(fmt_time(window['end']))}</span>")
    since = f"<span class='mlmon-since'>{' · '.join(when)}</span>" if when else ""
    follow = summary.get("next")
    follow = f"<p class='mlmon-next'><b>Next:</b> {_E(str(follow))}</p>" if follow else ""
    return (f"<div class='mlmon-verdict {_E(tone)} {_E(status)}'>"
            f"<div class='mlmon-verdict-head'><span class='mlmon-badge'>{_E(label)}</span>"
            f"<span class='mlmon-verdict-title'>Verdict{(': ' + _E(title)) if title else ''}"
            f"</span>{since}</div><p class='mlmon-verdict-text'>"
            f"{_E(str(summary.get('verdict', '')))}</p>{follow}</div>")
