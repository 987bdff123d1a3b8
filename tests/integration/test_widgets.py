"""The drift explorer's views and callbacks, without a browser, against the fixture Prometheus;
and the explorer notebook executed by papermill, whose output must show its first view."""

from __future__ import annotations

import base64
import re
import struct
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill as pm
import pytest

from mlmon_nb import drift
from mlmon_nb.errors import DriftError
from mlmon_nb.queries import model_names
from mlmon_nb.runbooks.html import notebook_html
from mlmon_nb.widgets import (
    FIGURE_WIDTH_PX,
    DriftExplorer,
    Selection,
    drift_table_html,
    explore,
    fleet_models,
    history_figure,
    status_text,
    view_distribution_figure,
    with_config_thresholds,
)

REPO = Path(__file__).resolve().parents[2]


def _ts(unix: float) -> pd.Timestamp:
    return pd.Timestamp(unix, unit="s", tz="UTC")


@pytest.fixture(scope="module")
def incident(history):
    start, end = history.incidents["drift"]
    return _ts(start + 1800), _ts(end - 1800)


def test_explore_against_baseline_matches_window_drift(prom, history, incident):
    start, end = incident
    sel = Selection(history.model_name, "text_length", start, end, "baseline", "ks")
    view = explore(prom, history.baseline, sel)
    rerun = drift.window_drift(prom, history.baseline, time=end,
                               window=sel.window, tests=("ks",))
    expected = rerun.set_index("feature")["statistic"]
    got = view.table.set_index("feature")["statistic"]
    assert set(got.index) == set(history.baseline.numeric)  # KS only for binned numerics
    for feature in got.index:
        assert got[feature] == pytest.approx(expected[feature], rel=1e-12)
    assert view.table.iloc[0]["severity"] == "critical"  # most drifted first
    assert view.distribution["reference"].sum() == pytest.approx(1.0)
    assert view.distribution["current"].sum() == pytest.approx(1.0)
    assert len(view.history) >= 4 and (view.history["n"] > 0).all()
    assert view_distribution_figure(view).axes and history_figure(view).axes


def test_previous_window_as_reference_differs_from_baseline(prom, history, incident):
    start, end = incident
    against_base = explore(prom, history.baseline,
                           Selection(history.model_name, "sentiment_score", start, end))
    against_prev = explore(prom, history.baseline,
                           Selection(history.model_name, "sentiment_score", start, end,
                                     "previous"))
    a = against_base.table.set_index("feature")
    b = against_prev.table.set_index("feature")
    assert a.loc["sentiment_score", "statistic"] != b.loc["sentiment_score", "statistic"]
    assert b["n_reference"].notna().all() and a["n_reference"].isna().all()
    # the window before the incident is normal traffic, so the drift shows against it too
    assert b.loc["sentiment_score", "severity"] in ("warning", "critical")


def test_selection_rejects_bad_input(history, incident):
    start, end = incident
    with pytest.raises(DriftError, match="choose"):
        Selection(history.model_name, "text_length", start, end, "yesterday")
    with pytest.raises(DriftError, match="not before"):
        Selection(history.model_name, "text_length", end, start)
    # the explorer's tests are the registry's binned ones
    with pytest.raises(DriftError, match=r"'wasserstein' is not available.*\['ks', 'psi', 'js'\]"):
        Selection(history.model_name, "text_length", start, end, test="wasserstein")


def test_explorer_callbacks_update_in_place(prom, history, incident):
    start, end = incident
    explorer = DriftExplorer(prom, {history.model_name: history.baseline}, start=start, end=end,
                             thresholds=with_config_thresholds(history.config))
    first = explorer.view
    assert first is not None and first.selection.feature == "text_length"
    table, image = explorer.table.value, explorer.distribution.value
    assert "<table" in table and image[:4] == b"\x89PNG"

    explorer.feature.value = "channel"  # the observer runs the callback
    assert explorer.view.selection.feature == "channel"
    assert list(explorer.view.distribution["label"])[-1] == "__other__"
    assert explorer.distribution.value != image

    explorer.test.value = "ks"  # the chosen categorical feature stays, by the test that applies
    tests = explorer.view.table.set_index("feature")["test"]
    assert tests["channel"] == "psi" and set(tests.drop("channel")) == {"ks"}

    explorer.start.value = "not a date"
    assert "Cannot show this" in explorer.status.value
    assert explorer.view.selection.test == "ks"  # the last good view stays

    quiet = explorer.set(start=_ts(history.incidents["drift"][0] - 5 * 3600),
                         end=_ts(history.incidents["drift"][0] - 3600), test="psi",
                         feature="text_length")
    assert quiet.table.set_index("feature").loc["text_length", "severity"] == "none"


def _png_width(png: bytes) -> int:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">I", png[16:20])[0]  # IHDR: width, then height


def _legend(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_ks_on_a_categorical_feature_shows_psi_with_a_note(prom, history, incident):
    start, end = incident
    view = explore(prom, history.baseline,
                   Selection(history.model_name, "channel", start, end, "baseline", "ks"))
    assert view.shown_test == "psi"
    assert "KS does not apply to categorical features" in view.note
    assert len(view.history) >= 4 and np.isfinite(view.history["statistic"]).all()
    fig = history_figure(view)
    title = fig.axes[0].get_title(loc="left")
    assert title.startswith("channel: psi per 1h vs baseline") and "KS does not apply" in title
    assert any(len(line.get_xdata()) >= 4 for line in fig.axes[0].lines)  # a drawn series
    assert not [t for t in fig.axes[0].texts if "no data" in t.get_text()]
    assert "KS does not apply" in status_text(view)
    # the same PSI as asking for it directly; the table keeps the chosen categorical feature,
    # judged by PSI and named so, next to the numeric features' KS
    direct = explore(prom, history.baseline,
                     Selection(history.model_name, "channel", start, end, "baseline", "psi"))
    assert np.allclose(view.history["statistic"], direct.history["statistic"])
    assert direct.note == "" and set(view.table["kind"]) == {"numeric", "categorical"}
    chosen = view.table.set_index("feature").loc["channel"]
    assert chosen["test"] == "psi" and set(view.table[view.table["kind"] == "numeric"]["test"]) \
        == {"ks"}
    assert chosen["statistic"] == pytest.approx(
        direct.table.set_index("feature").loc["channel", "statistic"], rel=1e-12)
    # the table as a person reads it: no six decimals, no nan, counts with separators
    shown = drift_table_html(view.table)
    assert "channel" in shown and ">PSI<" in shown and ">KS<" in shown
    # more than three significant digits after the leading zeros: 0.924135, 0.007900
    assert not re.search(r"\d\.0*[1-9]\d{3,}|>nan<|\.000000", shown), shown
    assert re.search(r">\d{1,3}(,\d{3})+<", shown) and ">—<" in shown  # n_reference: none
    # the confidence histogram (concept drift) is not numeric either
    concept = explore(prom, history.baseline,
                      Selection(history.model_name, "confidence", start, end, "baseline", "ks"))
    assert concept.shown_test == "psi" and len(concept.history) >= 4


def test_legend_and_titles_name_the_reference_and_step(prom, history, incident):
    start, end = incident
    hours = int((end - start).total_seconds() // 3600)
    base = explore(prom, history.baseline,
                   Selection(history.model_name, "sentiment_score", start, end, "baseline", "psi"))
    prev = explore(prom, history.baseline,
                   Selection(history.model_name, "sentiment_score", start, end, "previous", "psi"))
    assert "psi vs baseline" in _legend(history_figure(base))
    prev_legend = _legend(history_figure(prev))
    assert not [t for t in prev_legend if "baseline" in t]
    assert prev.selection.reference_label == f"previous {hours}h"
    assert f"psi vs previous {hours}h" in prev_legend
    assert "previous" in view_distribution_figure(prev).axes[0].get_title(loc="left")
    assert "previous" in _legend(view_distribution_figure(prev))[0]
    # the history is against the chosen reference, not always the baseline
    joined = base.history.merge(prev.history, on="timestamp")
    assert len(joined) >= 4 and not np.allclose(joined["statistic_x"], joined["statistic_y"])
    assert "per 1h" in status_text(base) and "5m" not in status_text(base)
    assert f"against the previous {hours}h" in status_text(prev)


def test_panels_fit_a_notebook_column_stacked(prom, history, incident):
    start, end = incident
    explorer = DriftExplorer(prom, {history.model_name: history.baseline}, start=start, end=end,
                             thresholds=with_config_thresholds(history.config))
    for png in (explorer.distribution.value, explorer.history.value):
        assert 600 <= _png_width(png) <= FIGURE_WIDTH_PX <= 1000
    import ipywidgets as w
    rows = [c for c in explorer.widget.children if isinstance(c, w.HBox)]
    images = (explorer.distribution, explorer.history)
    assert not [r for r in rows if any(i in r.children for i in images)]  # never side by side
    assert all(i in explorer.widget.children for i in images)
    # the snapshot: the same view as static outputs (HTML table, the two panels as PNGs)
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    InteractiveShell.instance()
    with capture_output() as shown:
        explorer.snapshot()
    data = [o.data for o in shown.outputs]
    assert "<table" in data[0]["text/html"] and explorer.status.value in data[0]["text/html"]
    assert [base64.b64decode(d["image/png"]) if isinstance(d["image/png"], str) else d["image/png"]
            for d in data[1:]] == [explorer.distribution.value, explorer.history.value]


def test_explorer_takes_relative_times_and_refuses_unknown_features(prom, history):
    explorer = DriftExplorer(prom, {history.model_name: history.baseline}, start="now-6h",
                             end="now")
    sel = explorer.view.selection
    assert (sel.end - sel.start) == pd.Timedelta(hours=6)
    explorer.start.value = "now-2h"
    assert explorer.view.selection.end - explorer.view.selection.start < pd.Timedelta(hours=3)
    with pytest.raises(DriftError, match=r"'nope' is not in the baseline.*text_length"):
        DriftExplorer(prom, {history.model_name: history.baseline}, start="now-6h", end="now",
                      feature="nope")


def test_notebook_executed_headless_shows_its_first_view(prometheus, history, tmp_path):
    start, end = history.incidents["drift"]
    out = tmp_path / "explorer.ipynb"
    pm.execute_notebook(str(REPO / "notebooks" / "drift_explorer.ipynb"), str(out),
                        parameters=dict(model_name=history.model_name, prometheus_url=prometheus,
                                        start=_ts(start).isoformat(), end=_ts(end).isoformat(),
                                        baseline_path=str(history.baseline_path)),
                        kernel_name="python3", progress_bar=False, cwd=str(REPO))
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    header = "".join(o["data"].get("text/markdown", "") for o in outputs if "data" in o)
    assert "drift per 1h" in header and "step" not in header
    widget = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widget) == 1  # the explorer itself
    tables = [o["data"]["text/html"] for o in outputs
              if "<table" in o.get("data", {}).get("text/html", "")]
    assert tables and "sentiment_score" in tables[-1] and "per 1h" in tables[-1]
    pngs = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 2 and all(_png_width(base64.b64decode(p)) <= FIGURE_WIDTH_PX for p in pngs)
    page = notebook_html(nb)  # what the launcher and an HTML export show
    assert page.count("data:image/png;base64,") >= 2 and "text_length" in page


class Recording:
    """A query source that records every PromQL it is asked (and asks the real one)."""

    def __init__(self, prom):
        self.prom, self.asked = prom, []

    def query(self, promql, time=None):
        self.asked.append(promql)
        return self.prom.query(promql, time)

    def range(self, promql, start, end, step):
        self.asked.append(promql)
        return self.prom.range(promql, start, end, step)


def test_model_picker_lists_the_fleet_from_one_query_and_reads_one_model(prom, history, incident):
    start, end = incident
    source = Recording(prom)
    assert fleet_models(source, end) == [history.model_name]  # one series per model
    assert source.asked == [model_names()]
    fleet = [history.model_name] + [f"fleet_model_{i:03d}" for i in range(99)]
    loaded: list[str] = []

    def load(name: str):
        loaded.append(name)
        if name == "fleet_model_007":
            return history.baseline
        raise FileNotFoundError(f"no such file: {name}.json")

    source.asked.clear()
    explorer = DriftExplorer(source, {history.model_name: history.baseline}, start=start, end=end,
                             models=fleet, load_baseline=load)
    assert list(explorer.model.options) == fleet and loaded == []  # nothing read up front
    assert explorer.view is not None and source.asked
    # every query of the first view reads the shown model's series only
    assert all(f'model_name="{history.model_name}"' in q for q in source.asked), source.asked
    explorer.model.value = "fleet_model_013"
    assert loaded == ["fleet_model_013"] and explorer.view is None
    assert "Cannot show this" in explorer.status.value and "fleet_model_013" in explorer.status.value
    source.asked.clear()
    explorer.model.value = "fleet_model_007"  # read when picked, then its series only
    assert loaded == ["fleet_model_013", "fleet_model_007"]
    assert source.asked and all('model_name="fleet_model_007"' in q for q in source.asked)
    assert "no data" in explorer.status.value  # it has no series here: said, not raised
