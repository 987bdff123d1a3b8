"""The drift explorer's views and callbacks, without a browser, against the fixture Prometheus."""

from __future__ import annotations

import pandas as pd
import pytest

from mlmon_nb import drift
from mlmon_nb.errors import DriftError
from mlmon_nb.prom import Prometheus
from mlmon_nb.widgets import (DriftExplorer, Selection, explore, history_figure,
                              view_distribution_figure, with_config_thresholds)


@pytest.fixture(scope="module")
def prom(prometheus):
    with Prometheus(prometheus, timeout=30) as client:
        yield client


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

    explorer.test.value = "ks"
    assert set(explorer.view.table["test"]) == {"ks"}

    explorer.start.value = "not a date"
    assert "Cannot show this" in explorer.status.value
    assert explorer.view.selection.test == "ks"  # the last good view stays

    quiet = explorer.set(start=_ts(history.incidents["drift"][0] - 5 * 3600),
                         end=_ts(history.incidents["drift"][0] - 3600), test="psi",
                         feature="text_length")
    assert quiet.table.set_index("feature").loc["text_length", "severity"] == "none"
