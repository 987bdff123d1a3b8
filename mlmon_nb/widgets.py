"""Interactive drift exploration: plain functions for the views, ipywidgets around them.

``explore(prom, baseline, selection)`` computes everything a view shows — the drift of every
feature for the chosen test and reference, the chosen feature's reference and current
distributions, and its drift history — and the figure functions draw it. They are plain
functions, tested without a browser. :class:`DriftExplorer` only wires widgets (model, feature,
date range, reference, test) to them: each change calls :meth:`DriftExplorer.update`, which
replaces the table and the images in place.

The reference is the training baseline or the production window of the same length just before
the chosen range (``previous``): "is this week different from last week?".
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .baseline import Baseline
from .config import Thresholds
from .drift import BINNED_TESTS, BinCounts, QuerySource, drift_series, get_method, judge, \
    thresholds_for, window_counts
from .errors import DriftError

__all__ = [
    "REFERENCES",
    "Selection",
    "View",
    "explore",
    "distribution_frame",
    "distribution_figure",
    "view_distribution_figure",
    "severity_lines",
    "history_panels",
    "history_figure",
    "drift_table_html",
    "DriftExplorer",
    "with_config_thresholds",
]

REFERENCES = ("baseline", "previous")


@dataclass(frozen=True)
class Selection:
    """What the explorer shows: a feature over ``start``..``end`` against a reference."""

    model_name: str
    feature: str
    start: pd.Timestamp
    end: pd.Timestamp
    reference: str = "baseline"  # baseline | previous
    test: str = "psi"  # a test computable from bins: drift.BINNED_TESTS (ks | psi | js)
    step: str = "1h"  # one history point per step

    def __post_init__(self):
        if self.reference not in REFERENCES:
            raise DriftError(f"reference {self.reference!r} is unknown; choose {REFERENCES}")
        get_method(self.test, binned=True)  # a DriftError naming the valid tests
        if not self.end > self.start:
            raise DriftError(f"the range is empty: {self.start} is not before {self.end}")

    @property
    def window(self) -> str:
        """The range as a PromQL duration (whole seconds)."""
        return f"{int((self.end - self.start).total_seconds())}s"


@dataclass(frozen=True)
class View:
    """Everything one state of the explorer shows."""

    selection: Selection
    table: pd.DataFrame  # per feature: statistic, n_current, n_reference, severity
    distribution: pd.DataFrame  # per bin of the chosen feature: label, reference, current
    history: pd.DataFrame  # timestamp, statistic, n of the chosen feature against the baseline
    thresholds: Thresholds | None
    message: str = ""


def _reference_shares(current: BinCounts, previous: BinCounts | None) -> tuple[np.ndarray, float]:
    if previous is None:
        return current.reference, float("nan")
    return previous.shares[0], float(previous.totals[0])


def explore(prom: QuerySource, baseline: Baseline, selection: Selection, *,
            thresholds: Mapping[str, Thresholds] | None = None, min_samples: int = 30) -> View:
    """Compute the view of ``selection`` (queries Prometheus; no widgets involved)."""
    limits = thresholds_for(None, thresholds)
    current = window_counts(prom, baseline, time=selection.end, window=selection.window,
                            model_name=selection.model_name)
    previous = (window_counts(prom, baseline, time=selection.start, window=selection.window,
                              model_name=selection.model_name)
                if selection.reference == "previous" else {})
    method = get_method(selection.test, binned=True)
    rows = []
    for name, bins in current.items():
        if not method.applies_to(bins.kind):
            continue
        ref, n_ref = _reference_shares(bins, previous.get(name))
        stat = float(bins.statistic(selection.test, ref)[0])
        n = float(bins.totals[0])
        short = not n >= min_samples or (selection.reference == "previous"
                                         and not n_ref >= min_samples)
        rows.append({"feature": name, "kind": str(bins.kind), "test": selection.test,
                     "statistic": stat, "n_current": n, "n_reference": n_ref,
                     "insufficient": short, "severity": judge(limits, selection.test, stat, short)})
    table = pd.DataFrame(rows, columns=["feature", "kind", "test", "statistic", "n_current",
                                        "n_reference", "insufficient", "severity"])
    table = table.sort_values("statistic", ascending=False, na_position="last",
                              ignore_index=True)
    chosen = current.get(selection.feature)
    message = "" if chosen is not None else \
        f"no data for feature {selection.feature!r} in {selection.start} → {selection.end}"
    dist = distribution_frame(chosen, previous.get(selection.feature)) if chosen is not None \
        else pd.DataFrame(columns=["label", "reference", "current"])
    hist = drift_series(prom, baseline, selection.start, selection.end, selection.step,
                        model_name=selection.model_name, tests=(selection.test,))
    hist = hist[(hist["feature"] == selection.feature) & (hist["test"] == selection.test)]
    return View(selection, table, dist, hist[["timestamp", "statistic", "n"]].reset_index(drop=True),
                limits.get(selection.test), message)


def distribution_frame(current: BinCounts, previous: BinCounts | None = None) -> pd.DataFrame:
    """Reference and current share per bin (``label`` = upper edge or category)."""
    ref, _ = _reference_shares(current, previous)
    labels = list(current.labels) if current.kind == "categorical" else \
        [f"≤{le}" for le in current.labels]
    return pd.DataFrame({"label": labels, "reference": ref, "current": current.shares[0]})


def distribution_figure(data: pd.DataFrame, title: str, reference: str = "baseline",
                        message: str = "no data in this window") -> Figure:
    """Reference against current shares bin by bin (a :func:`distribution_frame`)."""
    import matplotlib

    from .plots import STYLE, _figure, _no_data

    fig = _figure(8, 3.2)
    with matplotlib.rc_context(STYLE):
        ax = fig.subplots()
        ax.set_title(title, loc="left")
        if data.empty:
            _no_data(ax, message)
            return fig
        x = np.arange(len(data))
        ax.bar(x - 0.2, data["reference"], width=0.4, label=reference)
        ax.bar(x + 0.2, data["current"].fillna(0), width=0.4, label="current")
        ax.set_xticks(x, list(data["label"]), rotation=60, fontsize=7)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.legend(loc="upper right")
    return fig


def view_distribution_figure(view: View) -> Figure:
    """The explorer's distribution panel for its chosen feature."""
    sel = view.selection
    return distribution_figure(view.distribution, f"{sel.feature}: {sel.reference} vs current",
                               sel.reference, view.message or "no data in this window")


def severity_lines(t: Thresholds | None) -> dict[str, tuple[float, str]]:
    """Threshold lines for :func:`mlmon_nb.plots.series`: info, warning, critical."""
    return {} if t is None else {"info": (t.info, "info"), "warning": (t.warning, "warning"),
                                 "critical": (t.critical, "critical")}


def history_panels(history: pd.DataFrame, test: str, thresholds: Mapping[str, Thresholds],
                   features: list[str] | None = None) -> list[dict]:
    """:func:`mlmon_nb.plots.series_grid` panels: one feature's ``test`` per step, with bands."""
    part = history[history["test"] == test]
    names = features or list(dict.fromkeys(part["feature"]))
    return [dict(data=part[part["feature"] == f].set_index("timestamp")[["statistic"]]
                 .rename(columns={"statistic": test}),
                 title=f"{f}: {test}", ylabel=test, thresholds=severity_lines(thresholds.get(test)))
            for f in names]


def history_figure(view: View) -> Figure:
    """The chosen feature's drift per step against the baseline, with the severity lines."""
    from .plots import series

    sel = view.selection
    lines = severity_lines(view.thresholds)
    data = view.history.set_index("timestamp")[["statistic"]].rename(
        columns={"statistic": f"{sel.test} vs baseline"}) if not view.history.empty \
        else pd.DataFrame()
    return series(data, f"{sel.feature}: {sel.test} per {sel.step}", sel.test, thresholds=lines)


def drift_table_html(table: pd.DataFrame) -> str:
    """The per-feature table as HTML, rows coloured by severity."""
    from .plots import STATUS_COLORS

    def colour(row):
        c = STATUS_COLORS.get(row["severity"], "")
        return [f"background-color: {c}33" if c else ""] * len(row)

    shown = table.drop(columns=["test"]).round({"statistic": 4, "n_current": 0,
                                                 "n_reference": 0})
    return shown.style.apply(colour, axis=1).hide(axis="index").to_html()


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class DriftExplorer:
    """ipywidgets around :func:`explore`: model, feature, date range, reference and test.

    ``baselines`` maps model name → Baseline. Every widget change calls :meth:`update`, which
    recomputes the :class:`View` and replaces the table and images in place (``self.view``).
    """

    def __init__(self, prom: QuerySource, baselines: Mapping[str, Baseline], *, start: Any, end: Any,
                 feature: str | None = None, reference: str = "baseline", test: str = "psi",
                 step: str = "1h", thresholds: Mapping[str, Mapping[str, Thresholds]] | None = None):
        import ipywidgets as w

        if not baselines:
            raise DriftError("no baselines to explore; build one with `mlmon-nb baseline build`")
        self.prom = prom
        self.baselines = dict(baselines)
        self.thresholds = dict(thresholds or {})
        model = next(iter(self.baselines))
        features = self._features(model)
        self.model = w.Dropdown(options=list(self.baselines), value=model, description="model")
        self.feature = w.Dropdown(options=features, value=feature or features[0],
                                  description="feature")
        self.start = w.Text(value=pd.Timestamp(start).isoformat(), description="from")
        self.end = w.Text(value=pd.Timestamp(end).isoformat(), description="to")
        self.reference = w.ToggleButtons(options=list(REFERENCES), value=reference,
                                         description="reference")
        self.test = w.ToggleButtons(options=list(BINNED_TESTS), value=test, description="test")
        self.step = step
        self.status = w.HTML()
        self.table = w.HTML()
        self.distribution = w.Image(format="png")
        self.history = w.Image(format="png")
        self.view: View | None = None
        for control in (self.model, self.feature, self.start, self.end, self.reference, self.test):
            control.observe(self.on_change, names="value")
        self.widget = w.VBox([w.HBox([self.model, self.feature]), w.HBox([self.start, self.end]),
                              self.reference, self.test, self.status, self.table,
                              w.HBox([self.distribution, self.history])])
        self.update()

    def _features(self, model: str) -> list[str]:
        base = self.baselines[model]
        extra = ["confidence"] if base.confidence_fractions is not None else []
        return list(base.features) + extra

    def selection(self) -> Selection:
        """The current widget values as a :class:`Selection`."""
        return Selection(self.model.value, self.feature.value, pd.Timestamp(self.start.value),
                         pd.Timestamp(self.end.value), self.reference.value, self.test.value,
                         self.step)

    def on_change(self, change: dict) -> None:
        """Observer of every control: a new model refreshes the feature list, then update."""
        if change.get("owner") is self.model:
            features = self._features(self.model.value)
            with self.feature.hold_trait_notifications():
                self.feature.options = features
                if self.feature.value not in features:
                    self.feature.value = features[0]
        self.update()

    def update(self) -> View | None:
        """Recompute and redraw; a bad input shows one clear message instead of raising."""
        try:
            sel = self.selection()
            view = explore(self.prom, self.baselines[sel.model_name], sel,
                           thresholds=self.thresholds.get(sel.model_name))
        except (ValueError, DriftError) as exc:
            self.status.value = f"<b>Cannot show this:</b> {exc}"
            return None
        self.view = view
        self.status.value = view.message or (
            f"{sel.model_name} · {sel.start:%Y-%m-%d %H:%M} → {sel.end:%Y-%m-%d %H:%M} UTC · "
            f"{sel.test} against the {sel.reference}")
        self.table.value = drift_table_html(view.table)
        self.distribution.value = _png(view_distribution_figure(view))
        self.history.value = _png(history_figure(view))
        return view

    def set(self, **values: Any) -> View | None:
        """Change several controls at once with a single update (e.g. from a notebook cell)."""
        controls = {"model": self.model, "feature": self.feature, "start": self.start,
                    "end": self.end, "reference": self.reference, "test": self.test}
        for name, value in values.items():
            control = controls[name]
            with control.hold_trait_notifications():
                control.unobserve(self.on_change, names="value")
                control.value = pd.Timestamp(value).isoformat() if name in ("start", "end") \
                    else value
                control.observe(self.on_change, names="value")
        return self.update()

    def _ipython_display_(self):  # pragma: no cover - rendered by the notebook frontend
        from IPython.display import display
        display(self.widget)


def with_config_thresholds(config: Any) -> dict[str, dict[str, Thresholds]]:
    """Per-model thresholds from a :class:`~mlmon_nb.config.Config` for :class:`DriftExplorer`."""
    return {m.name: thresholds_for(m) for m in config.models}

