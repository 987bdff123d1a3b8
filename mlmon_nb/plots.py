"""Matplotlib figures in one consistent style: status tiles, series with thresholds, histograms.

Figures are plain ``Figure`` objects, not registered with pyplot: Jupyter shows the one a cell
returns, and nothing accumulates in long sessions. Every function takes data (tidy or wide
frames from :mod:`mlmon_nb.prom`, tiles from :mod:`mlmon_nb.dashboards`) and returns a
``Figure``; none queries anything. Empty data draws a "no data in this window" panel instead of
raising, so a notebook over a quiet window still ends cleanly. :func:`export_html` writes an
executed notebook as HTML without code, for sharing.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib
import matplotlib.dates as mdates
import matplotlib.patches
import matplotlib.ticker
import pandas as pd
from cycler import cycler
from matplotlib.figure import Figure

from .prom import to_wide

__all__ = [
    "STATUS_COLORS",
    "STYLE",
    "tiles",
    "series",
    "series_grid",
    "shares",
    "histogram",
    "bars",
    "incident",
    "distributions",
    "png",
    "export_html",
]

SAMPLE_COLOR = "#7fb2e5"  # sample-size bars: light blue, never the normal band's grey
STATUS_COLORS = {"ok": "#2e9d4f", "warning": "#e0a100", "critical": "#d33a2c",
                 "unknown": "#8a8f98", "info": "#3a7bd5"}
# rcParams (typed Any: matplotlib's stubs key them by literal names)
STYLE: dict[Any, Any] = {
    "figure.dpi": 100,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.prop_cycle": cycler(color=["#3a7bd5", "#e07b39", "#5aa469", "#9b59b6",
                                                "#c0392b", "#16a085", "#7f8c8d", "#d4ac0d"]),
}


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (what findings carry)."""
    return _png(fig)


def _register_display() -> None:
    """Let IPython show a returned Figure as PNG (figures here bypass pyplot's inline hook)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the notebook extras
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(Figure, _png)


def _figure(width: float, height: float) -> Figure:
    _register_display()
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def _no_data(ax, message: str = "no data in this window") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes,
            color=STATUS_COLORS["unknown"], fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])


def tiles(items: Sequence, title: str = "") -> Figure:
    """A row of large status tiles (``dashboards.Tile``: title, text, status, detail)."""
    fig = _figure(3.2 * max(len(items), 1), 2.2)
    with matplotlib.rc_context(STYLE):
        axes = fig.subplots(1, max(len(items), 1), squeeze=False)[0]
        for ax, tile in zip(axes, items):
            ax.set_axis_off()
            color = STATUS_COLORS.get(tile.status, STATUS_COLORS["unknown"])
            ax.add_patch(matplotlib.patches.FancyBboxPatch(
                (0.02, 0.02), 0.96, 0.96, boxstyle="round,pad=0,rounding_size=0.06",
                transform=ax.transAxes, facecolor=color, edgecolor="none"))
            ax.text(0.5, 0.80, tile.title, ha="center", va="center", color="white",
                    fontsize=12, fontweight="bold", transform=ax.transAxes)
            ax.text(0.5, 0.50, tile.text, ha="center", va="center", color="white",
                    fontsize=22, fontweight="bold", transform=ax.transAxes)
            ax.text(0.5, 0.18, f"{tile.status.upper()} · {tile.detail}", ha="center",
                    va="center", color="white", fontsize=8, transform=ax.transAxes, wrap=True)
        if title:
            fig.suptitle(title, fontweight="bold")
    return fig


def _wide(data: pd.DataFrame, columns=None) -> pd.DataFrame:
    if "timestamp" in getattr(data, "columns", ()) and "value" in data.columns:
        return to_wide(data, columns)
    return data


def _draw_series(ax, data: pd.DataFrame, title: str, ylabel: str = "",
                 thresholds: Mapping[str, tuple[float, str]] | None = None,
                 percent: bool = False, columns=None) -> None:
    wide = _wide(data, columns)
    ax.set_title(title, loc="left")
    if wide.empty or wide.dropna(how="all").empty:
        _no_data(ax)
        return
    for name in wide.columns:
        ax.plot(wide.index, wide[name], label=str(name), linewidth=1.4)
    for label, (value, status) in (thresholds or {}).items():
        ax.axhline(value, color=STATUS_COLORS.get(status, "black"), linestyle="--", linewidth=1,
                   label=label)
    if percent:
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylabel(ylabel)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if len(wide.columns) > 1 or thresholds:
        ax.legend(loc="upper left")


def series(data: pd.DataFrame, title: str, ylabel: str = "", *,
           thresholds: Mapping[str, tuple[float, str]] | None = None, percent: bool = False,
           columns=None) -> Figure:
    """A time series (tidy or wide frame) with dashed threshold lines coloured by severity.

    ``thresholds`` maps a label to ``(value, status)``, e.g. ``{"SLO": (0.25, "warning")}``.
    """
    fig = _figure(10, 3.0)
    with matplotlib.rc_context(STYLE):
        _draw_series(fig.subplots(), data, title, ylabel, thresholds, percent, columns)
    return fig


def series_grid(panels: Sequence[Mapping], ncols: int = 2, title: str = "") -> Figure:
    """Several series panels in a grid; each panel is a dict of :func:`series`'s arguments."""
    n = max(len(panels), 1)
    nrows = -(-n // ncols)
    fig = _figure(6 * ncols, 3.0 * nrows)
    with matplotlib.rc_context(STYLE):
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, panel in zip(axes, panels):
            _draw_series(ax, **panel)
        for ax in axes[len(panels):]:
            ax.set_axis_off()
        if title:
            fig.suptitle(title, fontweight="bold")
    return fig


def shares(data: pd.DataFrame, title: str, columns=None) -> Figure:
    """Shares over time as stacked areas (e.g. the predicted-class distribution)."""
    fig = _figure(10, 3.0)
    with matplotlib.rc_context(STYLE):
        ax = fig.subplots()
        wide = _wide(data, columns)
        ax.set_title(title, loc="left")
        if wide.empty:
            _no_data(ax)
            return fig
        wide = wide.fillna(0.0)
        ax.stackplot(wide.index, *[wide[c] for c in wide.columns],
                     labels=[str(c) for c in wide.columns], alpha=0.85)
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.legend(loc="upper left", ncols=min(len(wide.columns), 6))
    return fig


def histogram(bins: pd.DataFrame, title: str, xlabel: str = "",
              marker: tuple[float, str] | None = None) -> Figure:
    """Bins (``lower``, ``upper``, ``share``) as bars; ``marker`` = (x, label) draws a line."""
    fig = _figure(6, 3.0)
    with matplotlib.rc_context(STYLE):
        ax = fig.subplots()
        ax.set_title(title, loc="left")
        finite = bins[bins["lower"] > float("-inf")] if not bins.empty else bins
        if finite.empty or float(bins["count"].sum()) == 0:
            _no_data(ax)
            return fig
        first = bins.iloc[0]
        if first["lower"] == float("-inf") and first["count"] > 0:
            width = (finite["upper"] - finite["lower"]).min()
            finite = pd.concat([bins.iloc[[0]].assign(lower=first["upper"] - width), finite])
        ax.bar(finite["lower"], finite["share"], width=finite["upper"] - finite["lower"],
               align="edge", edgecolor="white")
        if marker is not None:
            ax.axvline(marker[0], color=STATUS_COLORS["warning"], linestyle="--",
                       label=marker[1])
            ax.legend(loc="upper left")
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel(xlabel)
    return fig


def bars(values: pd.Series, title: str, *, percent: bool = False,
         reference: Mapping[str, tuple[float, str]] | None = None) -> Figure:
    """Horizontal bars of a labelled series (e.g. accuracy per segment) with reference lines."""
    fig = _figure(6, 0.5 * max(len(values), 2) + 1.2)
    with matplotlib.rc_context(STYLE):
        ax = fig.subplots()
        ax.set_title(title, loc="left")
        values = values.dropna()
        if values.empty:
            _no_data(ax)
            return fig
        ax.barh([str(i) for i in values.index], values.to_numpy())
        for label, (value, status) in (reference or {}).items():
            ax.axvline(value, color=STATUS_COLORS.get(status, "black"), linestyle="--",
                       label=label)
        if reference:
            ax.legend(loc="lower right")
        if percent:
            ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    return fig


def incident(data: pd.DataFrame | pd.Series, title: str, *, ylabel: str = "",
             percent: bool = False, threshold: float | None = None,
             band: tuple[float, float] | None = None,
             onset: tuple[pd.Timestamp, float] | None = None,
             alert_at: pd.Timestamp | None = None, incident_start: pd.Timestamp | None = None,
             reference: pd.Series | None = None, sample: pd.Series | None = None,
             sample_label: str = "sample size",
             domain: tuple[float | None, float | None] = (None, None)) -> Figure:
    """A signal around its incident: the normal band of the reference period shaded grey, the
    reference (the same hours of the days before) as a grey line, the threshold dashed, the
    onset with its uncertainty, the alert's start, and the incident shaded from its start.
    ``sample`` (the sample size per point) is drawn as light blue bars on a second axis, named
    in the legend by ``sample_label``. ``domain`` is the signal's range (a ratio's is 0–1; a
    rate's starts at 0): the band and the axis never leave it (``percent`` implies 0–1)."""
    low_end, high_end = domain if domain != (None, None) or not percent else (0.0, 1.0)
    fig = _figure(10, 3.2)
    with matplotlib.rc_context(STYLE):
        ax = fig.subplots()
        ax.set_title(title, loc="left")
        wide = _wide(data.to_frame("value") if isinstance(data, pd.Series) else data)
        if wide.empty or wide.dropna(how="all").empty:
            _no_data(ax)
            return fig
        if sample is not None and not sample.dropna().empty:
            ax2 = ax.twinx()
            width = (sample.index[1] - sample.index[0]) if len(sample) > 1 else pd.Timedelta("1min")
            ax2.bar(sample.index, sample.to_numpy(), width=width / pd.Timedelta(days=1),
                    color=SAMPLE_COLOR, alpha=0.35,  # bar widths on a date axis are in days
                    label=sample_label)
            ax2.set_ylabel(sample_label, color="#4a78a8")
            # the bars keep to the lower third: the signal, its band and the legend stay legible
            top = float(sample.max())
            ax2.set_ylim(0, 3 * top if top > 0 else 1)
            ax2.grid(False)
            ax.set_zorder(ax2.get_zorder() + 1)
            ax.patch.set_visible(False)
        if band is not None:
            ax.axhspan(max(band[0], low_end) if low_end is not None else band[0],
                       min(band[1], high_end) if high_end is not None else band[1],
                       color="#8a8f98", alpha=0.15, label="normal band")
        if reference is not None and not reference.dropna().empty:
            ax.plot(reference.index, reference.to_numpy(), color="#8a8f98", linewidth=1,
                    label="same hours, days before")
        for name in wide.columns:
            ax.plot(wide.index, wide[name], label=str(name) if len(wide.columns) > 1 else None,
                    linewidth=1.6, color=None if len(wide.columns) > 1 else "#3a7bd5")
        if threshold is not None:
            ax.axhline(threshold, color=STATUS_COLORS["critical"], linestyle="--", linewidth=1,
                       label="threshold")
        end = wide.index.max()
        if incident_start is not None:
            ax.axvspan(mdates.date2num(incident_start), mdates.date2num(end),
                       color=STATUS_COLORS["critical"], alpha=0.06, label="incident")
        if onset is not None:
            at, plus_minus = onset
            half = pd.Timedelta(seconds=plus_minus)
            ax.axvspan(mdates.date2num(at - half), mdates.date2num(at + half), color=STATUS_COLORS["warning"],
                       alpha=0.35)
            ax.axvline(mdates.date2num(at), color=STATUS_COLORS["warning"], linewidth=1.4, label="onset")
        if alert_at is not None and wide.index.min() <= alert_at <= end:
            ax.axvline(mdates.date2num(alert_at), color="#1d2330", linestyle=":", linewidth=1.2,
                       label="alert fired")
        if percent:
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_ylabel(ylabel)
        ax.set_xlim(wide.index.min(), end)
        bottom, top = ax.get_ylim()
        ax.set_ylim(max(bottom, low_end) if low_end is not None else bottom,
                    min(top, high_end) if high_end is not None else top)
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        handles, labels = ax.get_legend_handles_labels()
        if len(fig.axes) > 1:  # the sample bars' axis: named in the same legend
            more, names = fig.axes[1].get_legend_handles_labels()
            handles, labels = handles + more, labels + names
        ax.legend(handles, labels, loc="upper left", ncols=3)
    return fig


def distributions(labels: Sequence[str], reference: Sequence[float], current: Sequence[float],
                  title: str, *, reference_label: str = "training baseline",
                  current_label: str = "incident window") -> Figure:
    """Two distributions over the same bins side by side (shares; e.g. baseline vs now)."""
    fig = _figure(10, 3.0)
    with matplotlib.rc_context(STYLE):
        ax = fig.subplots()
        ax.set_title(title, loc="left")
        if not len(labels):
            _no_data(ax)
            return fig
        x = range(len(labels))
        ax.bar([i - 0.2 for i in x], list(reference), width=0.4, color="#8a8f98",
               label=reference_label)
        ax.bar([i + 0.2 for i in x], list(current), width=0.4, color="#3a7bd5",
               label=current_label)
        ax.set_xticks(list(x), [str(v) for v in labels], rotation=45 if len(labels) > 10 else 0,
                      ha="right" if len(labels) > 10 else "center")
        ax.set_xlabel("bucket (upper edge)")
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.legend(loc="upper left")
    return fig


def export_html(notebook: str | Path, output: str | Path | None = None, *,
                code: bool = False) -> Path:
    """Write an executed notebook as standalone HTML, without code cells unless ``code``."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = Path(notebook)
    output = Path(output) if output else notebook.with_suffix(".html")
    exporter = HTMLExporter(exclude_input=not code, exclude_input_prompt=not code,
                            exclude_output_prompt=not code)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    output.write_text(body, encoding="utf-8")
    return output
