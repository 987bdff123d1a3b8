"""Interactive drift exploration: plain functions for the views, ipywidgets around them.

``explore(prom, baseline, selection)`` computes everything a view shows — the drift of every
feature for the chosen test and reference, the chosen feature's reference and current
distributions, and its drift per step against the same reference — and the figure functions draw
it. They are plain functions, tested without a browser. :class:`DriftExplorer` only wires widgets
(model, feature, date range, reference, test) to them: each change calls
:meth:`DriftExplorer.update`, which replaces the table and the images in place.

The reference is the training baseline or the production window of the same length just before
the chosen range (``previous``): "is this week different from last week?". A test that does not
apply to the chosen feature (KS on a categorical feature or on the confidence histogram) is
replaced, for that feature's panels, by the first binned test that does (PSI), and the view says
so. The panels are stacked and at most :data:`FIGURE_WIDTH_PX` wide, so they fit a notebook
column. :meth:`DriftExplorer.snapshot` displays a view as static outputs (HTML table, PNG
panels): what an executed notebook (papermill) and its HTML export show, where the widget itself
renders nothing without a widget frontend.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .baseline import Baseline
from .config import Thresholds
from .context import format_duration
from .drift import (
    BINNED_TESTS,
    CONCEPT_FEATURE,
    BinCounts,
    FeatureKind,
    QuerySource,
    get_method,
    judge,
    methods_for,
    thresholds_for,
    window_counts,
)
from .drift.bins import bin_counts
from .drift.expressions import (
    category_counts_query,
    confidence_buckets_query,
    feature_buckets_query,
)
from .errors import BaselineError, ConfigError, DriftError
from .humanize import MISSING, fmt_count, fmt_number
from .prom import to_timestamp
from .queries import model_names

__all__ = [
    "REFERENCES",
    "FIGURE_WIDTH_PX",
    "Selection",
    "View",
    "explore",
    "default_step",
    "shown_test",
    "distribution_frame",
    "distribution_figure",
    "view_distribution_figure",
    "severity_lines",
    "history_panels",
    "history_figure",
    "drift_table_html",
    "history_title",
    "status_text",
    "DriftExplorer",
    "fleet_models",
    "with_config_thresholds",
]

REFERENCES = ("baseline", "previous")
FIGURE_WIDTH_PX = 960  # every panel fits a ~1000 px notebook column, stacked vertically
_DPI = 100
_WIDTH_IN = FIGURE_WIDTH_PX / _DPI


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

    @property
    def reference_label(self) -> str:
        """The reference in words: ``baseline`` or ``previous 6h`` (the window before)."""
        if self.reference == "baseline":
            return "baseline"
        return f"previous {format_duration((self.end - self.start).total_seconds())}"


@dataclass(frozen=True)
class View:
    """Everything one state of the explorer shows."""

    selection: Selection
    table: pd.DataFrame  # per feature: statistic, n_current, n_reference, severity
    distribution: pd.DataFrame  # per bin of the chosen feature: label, reference, current
    history: pd.DataFrame  # timestamp, statistic, n of the chosen feature per step vs reference
    thresholds: Thresholds | None  # of ``test``
    message: str = ""  # why a panel is empty (no data)
    test: str = ""  # the test the chosen feature's panels show (see :func:`shown_test`)
    note: str = ""  # why that test differs from the selection's

    @property
    def shown_test(self) -> str:
        return self.test or self.selection.test


def default_step(seconds: float) -> str:
    """One drift point per hour up to three days, else per day."""
    return "1h" if seconds <= 3 * 86400 else "1d"


def shown_test(test: str, kind: str) -> tuple[str, str]:
    """``(test, note)``: ``test`` if it applies to ``kind``, else the first binned test that does
    (PSI for categorical features and the confidence histogram) with a note saying so."""
    if get_method(test, binned=True).applies_to(kind):
        return test, ""
    fallback = next((m.name for m in methods_for(kind) if m.binned), "")
    if not fallback:
        raise DriftError(f"no binned drift test applies to {kind} features")
    return fallback, (f"{test.upper()} does not apply to {kind} features; "
                      f"{fallback.upper()} is shown instead")


def _reference_shares(current: BinCounts, previous: BinCounts | None) -> tuple[np.ndarray, float]:
    if previous is None:
        return current.reference, float("nan")
    return previous.shares[0], float(previous.totals[0])


def _kind(baseline: Baseline, feature: str) -> FeatureKind:
    if feature in baseline.categorical:
        return FeatureKind.CATEGORICAL
    if feature == CONCEPT_FEATURE and feature not in baseline.numeric:
        return FeatureKind.CONCEPT
    return FeatureKind.NUMERIC


def _step_counts(prom: QuerySource, baseline: Baseline, sel: Selection) -> dict[str, BinCounts]:
    """Every feature's counts per ``step`` (each point covers the step ending at it)."""
    model, window = sel.model_name, sel.step
    return bin_counts(
        baseline, prom.range(feature_buckets_query(model, window), sel.start, sel.end, sel.step),
        confidence=prom.range(confidence_buckets_query(model, window), sel.start, sel.end,
                              sel.step),
        categories=prom.range(category_counts_query(model, window), sel.start, sel.end, sel.step))


def _history(steps: BinCounts | None, reference: np.ndarray | None, test: str) -> pd.DataFrame:
    if steps is None or reference is None or not len(steps.totals):
        return pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
                             "statistic": pd.Series(dtype=float), "n": pd.Series(dtype=float)})
    return pd.DataFrame({"timestamp": pd.to_datetime(pd.Index(steps.timestamps), utc=True),
                         "statistic": steps.statistic(test, reference).astype(float),
                         "n": steps.totals.astype(float)})


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
        test = selection.test
        if not method.applies_to(bins.kind):
            if name != selection.feature:
                continue
            # the chosen feature stays in the table, judged by the test that applies to it
            test = shown_test(selection.test, str(bins.kind))[0]
        ref, n_ref = _reference_shares(bins, previous.get(name))
        stat = float(bins.statistic(test, ref)[0])
        n = float(bins.totals[0])
        short = not n >= min_samples or (selection.reference == "previous"
                                         and not n_ref >= min_samples)
        rows.append({"feature": name, "kind": str(bins.kind), "test": test,
                     "statistic": stat, "n_current": n, "n_reference": n_ref,
                     "insufficient": short, "severity": judge(limits, test, stat, short)})
    table = pd.DataFrame(rows, columns=["feature", "kind", "test", "statistic", "n_current",
                                        "n_reference", "insufficient", "severity"])
    table = table.sort_values("statistic", ascending=False, na_position="last",
                              ignore_index=True)
    chosen = current.get(selection.feature)
    message = "" if chosen is not None else \
        f"no data for feature {selection.feature!r} in {selection.start} → {selection.end}"
    dist = distribution_frame(chosen, previous.get(selection.feature)) if chosen is not None \
        else pd.DataFrame(columns=["label", "reference", "current"])
    test, note = shown_test(selection.test, _kind(baseline, selection.feature))
    steps = _step_counts(prom, baseline, selection).get(selection.feature)
    if selection.reference == "previous":
        before = previous.get(selection.feature)
        reference = before.shares[0] if before is not None and before.totals[0] > 0 else None
        if reference is None and steps is not None and not message:
            message = f"no data for feature {selection.feature!r} in the previous window"
    else:
        reference = steps.reference if steps is not None else None
    return View(selection, table, dist, _history(steps, reference, test), limits.get(test),
                message, test, note)


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

    fig = _figure(_WIDTH_IN, 3.2)
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
    label = sel.reference_label
    return distribution_figure(view.distribution, f"{sel.feature}: {label} vs current", label,
                               view.message or "no data in this window")


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


def history_title(view: View) -> str:
    """The history panel's title: feature, the test shown, the step and the reference."""
    sel = view.selection
    title = f"{sel.feature}: {view.shown_test} per {sel.step} vs {sel.reference_label}"
    return f"{title} ({view.note})" if view.note else title


def history_figure(view: View) -> Figure:
    """The chosen feature's drift per step against the selection's reference, with the severity
    lines; at most :data:`FIGURE_WIDTH_PX` wide."""
    from .plots import series

    sel = view.selection
    lines = severity_lines(view.thresholds)
    data = view.history.set_index("timestamp")[["statistic"]].rename(
        columns={"statistic": f"{view.shown_test} vs {sel.reference_label}"}) \
        if not view.history.empty else pd.DataFrame()
    fig = series(data, history_title(view), view.shown_test, thresholds=lines)
    fig.set_size_inches(_WIDTH_IN, 3.0)
    fig.set_dpi(_DPI)
    return fig


def drift_table_html(table: pd.DataFrame) -> str:
    """The per-feature table as HTML, rows coloured by severity, numbers as a person reads
    them: the statistic to three significant digits, counts with separators, "—" for none
    (never ``441478.000000``, ``nan`` or ``0.007900``); the test is named per row (a
    categorical feature chosen under KS is judged by PSI)."""
    from .plots import STATUS_COLORS

    def colour(row):
        c = STATUS_COLORS.get(row["severity"], "")
        return [f"background-color: {c}33" if c else ""] * len(row)

    shown = table.assign(test=table["test"].astype(str).str.upper())
    return (shown.style.apply(colour, axis=1).hide(axis="index")
            .format({"statistic": fmt_number, "n_current": fmt_count, "n_reference": fmt_count,
                     "insufficient": lambda v: "yes" if v else "no"}, na_rep=MISSING)
            .to_html())


def status_text(view: View) -> str:
    """One line saying what the view shows (or why a panel is empty), as HTML."""
    sel = view.selection
    text = view.message or (
        f"{sel.model_name} · {sel.start:%Y-%m-%d %H:%M} → {sel.end:%Y-%m-%d %H:%M} UTC · "
        f"{sel.test} against the {sel.reference_label} · drift per {sel.step}")
    return html.escape(text) + (f" · <b>{html.escape(view.note)}</b>" if view.note else "")


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").floor("s")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


class DriftExplorer:
    """ipywidgets around :func:`explore`: model, feature, date range, reference and test.

    ``baselines`` maps model name → Baseline (the first is shown first). ``models`` adds names to
    the model picker (e.g. :func:`fleet_models`: every model Prometheus knows) whose baselines
    ``load_baseline`` reads when one is picked, so a fleet of models costs one query and one
    baseline, not all of them. Every widget change calls :meth:`update`, which
    recomputes the :class:`View` and replaces the table and images in place (``self.view``).
    Times take what :func:`mlmon_nb.prom.to_timestamp` does (ISO-8601, unix seconds, ``now-2h``).
    :meth:`snapshot` displays the current view as static outputs for where no widget frontend
    runs (an executed notebook, its HTML export).
    """

    def __init__(self, prom: QuerySource, baselines: Mapping[str, Baseline], *, start: Any, end: Any,
                 feature: str | None = None, reference: str = "baseline", test: str = "psi",
                 step: str = "1h", thresholds: Mapping[str, Mapping[str, Thresholds]] | None = None,
                 models: Sequence[str] = (),
                 load_baseline: Callable[[str], Baseline] | None = None):
        import ipywidgets as w

        if not baselines:
            raise DriftError("no baselines to explore; build one with `mlmon-nb baseline build`")
        self.prom = prom
        self.baselines = dict(baselines)
        self.load_baseline = load_baseline
        self.thresholds = dict(thresholds or {})
        model = next(iter(self.baselines))
        features = self._features(model)
        if feature and feature not in features:
            raise DriftError(f"feature {feature!r} is not in the baseline of {model}; its "
                             f"features are: {', '.join(features)}")
        names = list(self.baselines) + sorted(set(models) - set(self.baselines)
                                              if load_baseline else ())
        self.model = w.Dropdown(options=names, value=model, description="model")
        self.feature = w.Dropdown(options=features, value=feature or features[0],
                                  description="feature")
        now = _now()
        self.start = w.Text(value=to_timestamp(start, now).isoformat(), description="from")
        self.end = w.Text(value=to_timestamp(end, now).isoformat(), description="to")
        self.reference = w.ToggleButtons(options=list(REFERENCES), value=reference,
                                         description="reference")
        self.test = w.ToggleButtons(options=list(BINNED_TESTS), value=test, description="test")
        self.step = step
        self.status = w.HTML()
        self.table = w.HTML()
        # never wider than the notebook column
        self.distribution = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.history = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.view: View | None = None
        for control in (self.model, self.feature, self.start, self.end, self.reference, self.test):
            control.observe(self.on_change, names="value")
        # stacked, not side by side: two panels next to each other overflow a notebook column
        self.widget = w.VBox([w.HBox([self.model, self.feature]), w.HBox([self.start, self.end]),
                              self.reference, self.test, self.status, self.table,
                              self.distribution, self.history],
                             layout=w.Layout(max_width=f"{FIGURE_WIDTH_PX + 40}px"))
        self.update()

    def baseline(self, model: str) -> Baseline:
        """The model's baseline, read by ``load_baseline`` the first time it is picked."""
        if model not in self.baselines:
            if self.load_baseline is None:
                raise DriftError(f"no baseline for model {model!r}")
            try:
                self.baselines[model] = self.load_baseline(model)
            except (BaselineError, ConfigError, OSError) as exc:
                raise DriftError(f"no baseline for model {model!r}: {exc}") from exc
        return self.baselines[model]

    def _features(self, model: str) -> list[str]:
        base = self.baseline(model)
        extra = [CONCEPT_FEATURE] if base.confidence_fractions is not None else []
        return list(base.features) + extra

    def selection(self) -> Selection:
        """The current widget values as a :class:`Selection`."""
        now = _now()  # one "now" for both ends: now-6h → now is exactly six hours
        return Selection(self.model.value, self.feature.value, to_timestamp(self.start.value, now),
                         to_timestamp(self.end.value, now), self.reference.value,
                         self.test.value, self.step)

    def on_change(self, change: dict) -> None:
        """Observer of every control: a new model refreshes the feature list, then update."""
        owner = change.get("owner")
        if owner is not None and owner is self.model:
            try:
                features = self._features(self.model.value)
            except DriftError as exc:
                self.view = None
                self.status.value = f"<b>Cannot show this:</b> {html.escape(str(exc))}"
                return
            with self.feature.hold_trait_notifications():
                self.feature.options = features
                if self.feature.value not in features:
                    self.feature.value = features[0]
        self.update()

    def update(self) -> View | None:
        """Recompute and redraw; a bad input shows one clear message instead of raising."""
        try:
            sel = self.selection()
            view = explore(self.prom, self.baseline(sel.model_name), sel,
                           thresholds=self.thresholds.get(sel.model_name))
        except (ValueError, DriftError) as exc:
            self.status.value = f"<b>Cannot show this:</b> {html.escape(str(exc))}"
            return None
        self.view = view
        self.status.value = status_text(view)
        self.table.value = drift_table_html(view.table)
        self.distribution.value = _png(view_distribution_figure(view))
        self.history.value = _png(history_figure(view))
        return view

    def set(self, **values: Any) -> View | None:
        """Change several controls at once with a single update (e.g. from a notebook cell)."""
        controls = {"model": self.model, "feature": self.feature, "start": self.start,
                    "end": self.end, "reference": self.reference, "test": self.test}
        now = _now()
        for name, value in values.items():
            control = controls[name]
            with control.hold_trait_notifications():
                control.unobserve(self.on_change, names="value")
                control.value = to_timestamp(value, now).isoformat() if name in ("start", "end") \
                    else value
                control.observe(self.on_change, names="value")
        return self.update()

    def snapshot(self) -> None:
        """Display the current view as static outputs — the status and table as HTML, both panels
        as PNG images — which an executed notebook (papermill) and its HTML export keep, where
        the widget itself shows nothing without a widget frontend."""
        from IPython.display import HTML, Image, display

        if self.view is None:
            display(HTML(f"<p>{self.status.value}</p>"))
            return
        display(HTML(f"<p>{self.status.value}</p>\n{self.table.value}"))
        display(Image(data=self.distribution.value, format="png"))
        display(Image(data=self.history.value, format="png"))

    def _ipython_display_(self) -> None:  # pragma: no cover - rendered by the notebook frontend
        from IPython.display import display
        display(self.widget)


def fleet_models(prom: QuerySource, time: Any = None) -> list[str]:
    """The names of every model Prometheus has seen (its ``ml_model_info`` series), sorted:
    one cheap query for the model picker (:func:`mlmon_nb.queries.model_names`)."""
    frame = prom.query(model_names(), time)
    if frame.empty or "model_name" not in frame:
        return []
    return sorted(str(name) for name in frame["model_name"].dropna().unique() if name)


def with_config_thresholds(config: Any) -> dict[str, dict[str, Thresholds]]:
    """Per-model thresholds from a :class:`~mlmon_nb.config.Config` for :class:`DriftExplorer`."""
    return {m.name: thresholds_for(m) for m in config.models}

