"""The console and the run list with a fleet of 100 models, in headless Chromium at 1280 px.

A real Alertmanager holds alerts of 100 models (one model with twelve), a run store holds three
runs per model; the console groups the alerts by model (the most urgent first, 25 groups and 8
alerts per group drawn, the rest counted), the run list shows one page and how many more, and
the model filter — typed into its box, or clicked from a group or a row — narrows both to one
model, server-side (Alertmanager's matcher, the run store's model index).
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace

import httpx
import pytest
from browser_support import ARTIFACTS, browser
from launcher_support import InProcessLauncher, fault_runbooks, wait_for

from mlmon_nb.config import Config
from mlmon_nb.launcher import LauncherSettings
from mlmon_nb.launcher.pages import MAX_ALERTS_PER_GROUP, MAX_GROUPS
from mlmon_nb.runbooks import Registry
from mlmon_nb.runstore import RunStore
from mlmon_nb.stack import Stack, free_port

MODELS = [f"model_{i:03d}" for i in range(100)]
BUSY = "model_042"          # twelve alerts, one of them critical: the most urgent model
RUNS_PER_MODEL = 3


def severity(i: int) -> str:
    return "critical" if i % 10 == 0 else "warning" if i % 3 else "info"


def fleet_alerts() -> list[dict]:
    """One HighErrorRate per model (critical for every tenth), eleven drift alerts for BUSY."""
    alerts = [{"labels": {"alertname": "HighErrorRate", "severity": severity(i), "model_name": m,
                          "job": "mlmon-demo"},
               "annotations": {"summary": f"error ratio of {m} above 5%"}}
              for i, m in enumerate(MODELS)]
    alerts += [{"labels": {"alertname": "DataDriftDetected", "model_name": BUSY,
                           "feature": f"feature_{j:02d}",
                           "severity": "critical" if j == 0 else "warning"},
                "annotations": {"summary": f"feature_{j:02d} drifted"}} for j in range(11)]
    return alerts


def post_alerts(base: str, alerts: list[dict]) -> None:
    req = urllib.request.Request(f"{base}/api/v2/alerts", method="POST",
                                 data=json.dumps(alerts).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).close()


@pytest.fixture
def fleet(stack_config: Config, tmp_path):
    """Alertmanager with the fleet's alerts, a run store with runs of every model (made after
    the alerts started, so the console links them), and a launcher over both."""
    stack = Stack(stack_config)
    stack.up(["alertmanager"], timeout=60)
    try:
        am = stack.url("alertmanager")
        post_alerts(am, fleet_alerts())
        wait_for(lambda: len(json.load(urllib.request.urlopen(f"{am}/api/v2/alerts",
                                                              timeout=10))) == 111,
                 timeout=30, what="111 alerts in Alertmanager")
        store = RunStore(stack_config.stack.state_dir / "runs")
        newest = {}
        for n in range(RUNS_PER_MODEL):
            for m in MODELS:
                run, _ = store.submit("HighErrorRate", {"model_name": m}, source="link",
                                      claim=True)
                assert store.finish(run.run_id, "done", summary={"verdict": f"{m} run {n}"})
                newest[m] = run.run_id
        store.stop_heartbeat()
        cfg = replace(stack_config, prometheus_url=f"http://127.0.0.1:{free_port()}")
        settings = LauncherSettings(workers=1, warm_kernels=0, alertmanager_url=am)
        registry = Registry(fault_runbooks(tmp_path / "runbooks"))
        with InProcessLauncher(cfg, settings=settings, registry=registry) as srv:
            yield srv, newest
    finally:
        stack.down()


GROUPS = """JSON.stringify([...document.querySelectorAll('details.model-group')].map(d => ({
  model: d.dataset.model, open: d.open, summary: d.querySelector('summary').innerText,
  cards: d.querySelectorAll('.alert').length,
  visible: [...d.querySelectorAll('.alert')].filter(a => a.checkVisibility())
           .length,
  more: (d.querySelector('p.more') || {}).innerText || ''})))"""

ROWS = """JSON.stringify([...document.querySelectorAll('table tr')].slice(1).map(tr =>
  tr.querySelectorAll('td')[3].innerText))"""


def loaded(page, search: str) -> None:
    """Wait until the page at ``search`` (its query string) has loaded."""
    page.wait_for(f"location.search === {json.dumps(search)} && "
                  f"document.readyState === 'complete' && document.querySelector('h1') !== null",
                  timeout=60)


def use_filter(page, model: str) -> None:
    """Type a model name into the page's model filter and click its button."""
    page.click("form.model-filter input[name=model_name]")
    page.type_text(model)
    page.click("form.model-filter button")


def test_console_groups_a_fleet_by_model_and_filters_to_one(fleet, tmp_path):
    srv, newest = fleet
    ARTIFACTS.mkdir(exist_ok=True)
    with browser(tmp_path / "profile") as page:
        page.goto(f"{srv.url}/")
        assert page.evaluate("document.documentElement.clientWidth") == 1280
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        text = page.evaluate("document.body.innerText")
        assert "Firing now (111) in 100 models" in text
        groups = json.loads(page.evaluate(GROUPS))
        assert len(groups) == MAX_GROUPS
        # the most urgent first: the critical model with twelve alerts, then the critical ones
        first = groups[0]
        assert first["model"] == BUSY and first["open"]
        assert "critical" in first["summary"] and "12 firing" in first["summary"]
        assert first["cards"] == first["visible"] == MAX_ALERTS_PER_GROUP
        assert first["more"].startswith(f"{12 - MAX_ALERTS_PER_GROUP} more alerts of this model")
        assert [g["model"] for g in groups[1:11]] == [f"model_{i:03d}" for i in range(0, 100, 10)]
        assert all("critical" in g["summary"] and "1 firing" in g["summary"]
                   for g in groups[1:11])
        assert "warning" in groups[11]["summary"]  # then the warnings
        assert not groups[1]["open"] and groups[1]["visible"] == 0  # collapsed: nothing shown
        assert f"{100 - MAX_GROUPS} more models with {100 - MAX_GROUPS} alerts" in text
        page.screenshot(ARTIFACTS / "console-fleet.png")

        # a click opens a collapsed model's section
        page.click("details.model-group[data-model='model_000'] > summary")
        page.wait_for("document.querySelector(\"details[data-model='model_000']\").open")
        opened = [g for g in json.loads(page.evaluate(GROUPS)) if g["model"] == "model_000"][0]
        assert opened["visible"] == 1

        # typed into the filter: that model only, its alert with its newest run
        use_filter(page, "model_007")
        loaded(page, "?model_name=model_007")
        groups = json.loads(page.evaluate(GROUPS))
        assert [g["model"] for g in groups] == ["model_007"] and groups[0]["visible"] == 1
        text = page.evaluate("document.body.innerText")
        assert "Firing now (1)" in text and "model_042" not in text and "all models" in text
        assert newest["model_007"] in text  # the card links the model's newest run
        assert page.evaluate("document.querySelector('form.model-filter input').value") \
            == "model_007"  # the filter stays in the box (and the URL)
        page.screenshot(ARTIFACTS / "console-fleet-one-model.png")

        # "only this model" from the busiest group: all twelve alerts, nothing left out
        page.goto(f"{srv.url}/")
        page.click(f"details.model-group[data-model='{BUSY}'] a.only")
        loaded(page, f"?model_name={BUSY}")
        groups = json.loads(page.evaluate(GROUPS))
        assert len(groups) == 1 and groups[0]["visible"] == 12 and groups[0]["more"] == ""

        # a misspelt model is said to be unknown, not shown as an all-clear
        page.goto(f"{srv.url}/")
        use_filter(page, "model_0077")
        loaded(page, "?model_name=model_0077")
        text = page.evaluate("document.body.innerText")
        assert ("No alert is firing for model model_0077, and no configured model, alert or "
                "run has that name" in text), text

    # a name that cannot be a model is refused with the reason
    bad = httpx.get(f"{srv.url}/", params={"model_name": 'x"} or {'}, timeout=30)
    assert bad.status_code == 400 and "is not a model name" in bad.text


def test_run_list_pages_a_fleets_runs_and_filters_by_model(fleet, tmp_path):
    srv, newest = fleet
    total = len(MODELS) * RUNS_PER_MODEL
    with browser(tmp_path / "profile") as page:
        page.goto(f"{srv.url}/runs")
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        rows = json.loads(page.evaluate(ROWS))
        assert len(rows) == 200 and len(set(rows)) == len(MODELS)
        text = page.evaluate("document.body.innerText")
        assert f"runs 1–200 of {total}" in text and f"{total - 200} more" in text
        suggestions = page.evaluate("document.querySelectorAll('#model-names option').length")
        assert suggestions == len(MODELS)
        page.screenshot(ARTIFACTS / "runs-fleet.png")

        page.click("a.next")
        loaded(page, "?offset=200&limit=200")
        rows = json.loads(page.evaluate(ROWS))
        assert len(rows) == total - 200
        assert f"runs 201–{total} of {total}" in page.evaluate("document.body.innerText")

        page.goto(f"{srv.url}/runs")
        use_filter(page, "model_013")
        loaded(page, "?model_name=model_013")
        rows = json.loads(page.evaluate(ROWS))
        assert rows == ["model_013"] * RUNS_PER_MODEL
        text = page.evaluate("document.body.innerText")
        assert f"runs 1–{RUNS_PER_MODEL} of {RUNS_PER_MODEL} of model model_013" in text
        assert "more" not in text.split("runs 1–")[1].split("\n")[0]  # nothing beyond this page
        assert newest["model_013"] in text
        page.screenshot(ARTIFACTS / "runs-fleet-one-model.png")

        # a model's name in a row is a link to its runs
        page.goto(f"{srv.url}/runs")
        first = json.loads(page.evaluate(ROWS))[0]
        page.click("table td a.model")
        loaded(page, f"?model_name={first}")
        assert json.loads(page.evaluate(ROWS)) == [first] * RUNS_PER_MODEL
