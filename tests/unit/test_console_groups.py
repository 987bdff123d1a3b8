"""The console's grouping by model and its model filter (pure), and the run store's model
queries: one model's page of runs, counts and the model list, read through its model index."""

from __future__ import annotations

import sqlite3

import pytest

from mlmon_nb.errors import ParameterError
from mlmon_nb.launcher.console import ConsoleAlert, check_model_filter, group_by_model
from mlmon_nb.runstore import RunStore


def alert(model: str | None, severity: str, start: float, state: str = "active",
          **labels: str) -> ConsoleAlert:
    base = {"alertname": "A", "severity": severity, **labels}
    if model is not None:
        base["model_name"] = model
    return ConsoleAlert(base, {}, start, state)


def test_groups_are_one_per_model_most_urgent_first():
    alerts = [alert("calm", "info", 1.0), alert("busy", "warning", 5.0, x="1"),
              alert("busy", "warning", 6.0, x="2"), alert("burning", "critical", 9.0),
              alert("hot", "critical", 3.0, state="suppressed"), alert("hot", "warning", 4.0),
              alert(None, "critical", 2.0), alert("loud", "warning", 7.0, x="1"),
              alert("loud", "warning", 7.5, x="2"), alert("loud", "warning", 8.0, x="3")]
    groups = group_by_model(alerts)
    # critical first; among them more firing first (a silenced alert does not count), then the
    # oldest; then warnings by firing count
    assert [g.model_name for g in groups] == ["", "hot", "burning", "loud", "busy", "calm"]
    hot = groups[1]
    assert hot.worst == "critical" and hot.firing == 1 and len(hot.alerts) == 2
    assert [g.firing for g in groups] == [1, 1, 1, 3, 2, 1]
    assert [i for i, _ in groups[3].alerts] == [7, 8, 9]  # indexes into the feed
    assert group_by_model([]) == []


def test_model_filter_takes_names_and_refuses_the_rest():
    assert check_model_filter("") is None and check_model_filter(None) is None
    assert check_model_filter(" sentiment_classifier_7 ") == "sentiment_classifier_7"
    assert check_model_filter("fraud-v2.1:eu") == "fraud-v2.1:eu"
    for bad in ['x"} or {', "a b", "x" * 201, "model\tx", "m\nx"]:
        with pytest.raises(ParameterError, match="is not a model name"):
            check_model_filter(bad)


def test_run_store_pages_counts_and_lists_models_from_its_index(tmp_path):
    store = RunStore(tmp_path / "runs")
    made = {}
    for n in range(3):
        for m in ("m_a", "m_b", "m_c"):
            run, _ = store.submit("A", {"model_name": m}, source="cli", dedupe_key=f"{m}{n}")
            made.setdefault(m, []).append(run.run_id)
    store.submit("B", {}, source="cli")  # a run without a model
    assert store.models() == {"m_a": 3, "m_b": 3, "m_c": 3}
    assert store.count() == 10 and store.count(model_name="m_b") == 3
    page1 = store.list(model_name="m_b", limit=2)
    page2 = store.list(model_name="m_b", limit=2, offset=2)
    assert [r.run_id for r in page1 + page2] == made["m_b"][::-1]  # newest first, no overlap
    assert store.mark_resolved("m_c1", "2026-01-01T00:00:00Z") == 1
    assert [r.run_id for r in store.list(resolved=True)] == [made["m_c"][1]]
    assert len(store.list(model_name="m_c", resolved=False)) == 2
    db = sqlite3.connect(store.db_path)
    plans = {sql: " ".join(str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", args))
             for sql, args in [
                 ("SELECT * FROM runs WHERE model_name = ? ORDER BY created DESC, rowid DESC "
                  "LIMIT 50", ("m_a",)),
                 ("SELECT COUNT(*) FROM runs WHERE model_name = ?", ("m_a",)),
                 ("SELECT model_name, COUNT(*) FROM runs GROUP BY model_name", ())]}
    db.close()
    for sql, plan in plans.items():  # the model index, never a scan of the table or a sort
        assert "runs_model" in plan and "TEMP B-TREE" not in plan, (sql, plan)


def test_one_model_with_very_many_alerts_is_capped_too():
    from mlmon_nb.launcher.console import AlertFeed
    from mlmon_nb.launcher.pages import MAX_ALERTS_ONE_MODEL, console_page
    alerts = [alert("noisy", "warning", float(i), feature=f"f{i}") for i in range(130)]
    page = console_page(AlertFeed(alerts, "alertmanager", "http://am"), {}, [], {}, "csrf",
                        False, 1000.0, model_name="noisy", models=["noisy"])
    assert page.count("<div class='alert ") == MAX_ALERTS_ONE_MODEL
    assert f"{130 - MAX_ALERTS_ONE_MODEL} more alerts of this model" in page
    assert "Firing now (130)" in page and "only this model" not in page
    assert "label'>feature=f0<" in page and "feature=f129" not in page  # the oldest first
