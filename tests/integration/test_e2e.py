"""The walking skeleton end to end, on real parts and free loopback ports.

`demo up` (baseline, backfilled history, every component, the system health notebook), then
`demo inject errors` and `demo inject latency`: HighErrorRate fires in Prometheus after its 5
minutes, reaches Alertmanager, whose webhook makes the launcher execute
runbooks/HighErrorRate.ipynb with the alert's labels; the run page shows the executed notebook and
the alert's runbook_url leads to it. HighLatencyP95 pages after its 10 minutes and its runbook
runs too. This takes about thirteen minutes, most of it the alerts' own `for`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest
from launcher_support import wait_for

from mlmon_nb.runstore import RunStore
from mlmon_nb.stack.demo.bootstrap import demo_up
from mlmon_nb.stack.lifecycle import COMPONENTS, Stack, _proc_start_time

pytestmark = pytest.mark.slow


def _get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _cli(stack: Stack, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlmon_nb.cli", "--config",
                           str(stack.config_file), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "MLMON_CONFIG": ""})


@pytest.fixture(scope="module")
def demo(tmp_path_factory, free_port_config):
    config = free_port_config(tmp_path_factory.mktemp("e2e") / "state")
    stack = Stack(config)
    try:
        assert demo_up(config, days=1.0, timeout=180) == 0
        yield stack
    finally:
        stack.down()


def test_every_component_is_healthy(demo):
    status = {s.name: s for s in demo.status()}
    assert all(status[c].healthy for c in COMPONENTS), demo.format_status()
    cli = _cli(demo, "stack", "status", timeout=60)
    assert cli.returncode == 0, cli.stdout + cli.stderr


def test_up_again_starts_nothing(demo):
    assert demo.up(timeout=60) == []


def test_demo_executed_the_system_health_notebook(demo):
    runs = RunStore(demo.state / "runs").list()
    assert any(r.alertname == "system_health" and r.status == "done" for r in runs), runs


def test_cli_run_writes_notebook_and_html(demo):
    result = _cli(demo, "run", "runbooks/HighErrorRate.ipynb", "-p", "model_name",
                  "sentiment_classifier", "--no-progress")
    assert result.returncode == 0, result.stderr
    paths = [w for w in result.stdout.split() if w.endswith((".ipynb", ".html"))]
    assert {p.rsplit(".", 1)[1] for p in paths} == {"ipynb", "html"}, result.stdout
    for p in paths:
        assert os.path.getsize(p) > 0 and str(demo.state / "runs") in p


def _firing(demo: Stack, alertname: str, severity: str) -> list[dict]:
    _, body = _get(demo.url("prometheus") + "/api/v1/alerts")
    return [a for a in json.loads(body)["data"]["alerts"]
            if a["labels"].get("alertname") == alertname
            and a["labels"].get("severity") == severity and a["state"] == "firing"]


def _webhook_run(store: RunStore, before: set[str], alertname: str, severity: str):
    """The webhook-launched, finished run of this alert and severity, once there is one."""
    runs = [r for r in store.list(alertname=alertname)
            if r.run_id not in before and r.source == "webhook" and r.status in ("done", "failed")
            and r.params.get("severity") in (None, severity)]
    return runs[0] if runs else None


@pytest.mark.timeout(1500)  # the alerts' own `for` (5m errors, 10m latency), group_wait, the runs
def test_injected_errors_and_latency_fire_alerts_that_land_in_executed_runbooks(demo):
    store = RunStore(demo.state / "runs")
    before = {r.run_id for r in store.list()}
    for fault in ("errors", "latency"):
        injected = _cli(demo, "demo", "inject", fault, "--for", "20m")
        assert injected.returncode == 0, injected.stderr

    alert = wait_for(lambda: _firing(demo, "HighErrorRate", "critical"), timeout=600, interval=3,
                     what="HighErrorRate firing")[0]
    assert alert["labels"]["model_name"] == "sentiment_classifier"
    run = wait_for(lambda: _webhook_run(store, before, "HighErrorRate", "critical"), timeout=240,
                   interval=3, what="the launcher executing the HighErrorRate runbook")
    assert run.status == "done", run
    assert run.params.get("model_name") == "sentiment_classifier"
    assert run.summary.get("status") == "firing", run.summary  # the evidence, not "resolved"

    status, page = _get(f"{demo.url('launcher')}/runs/{run.run_id}")
    assert status == 200 and "HighErrorRate" in page and "<script>" not in page.lower()

    # the alert's link is the run page for that alert and its labels; a GET never executes
    runbook_url = alert["annotations"]["runbook_url"]
    assert runbook_url.startswith(demo.url("launcher") + "/runbook/HighErrorRate?")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(runbook_url).query)
    assert query["model_name"] == ["sentiment_classifier"]
    count = len(store.list(alertname="HighErrorRate"))
    status, page = _get(runbook_url)
    assert status == 200 and run.run_id in page
    assert len(store.list(alertname="HighErrorRate")) == count

    # the latency fault: P95 above 2x the SLO for 10m pages, and its runbook runs as well
    wait_for(lambda: _firing(demo, "HighLatencyP95", "critical"), timeout=720, interval=5,
             what="HighLatencyP95 (critical) firing")
    run = wait_for(lambda: _webhook_run(store, before, "HighLatencyP95", "critical"),
                   timeout=240, interval=3, what="the launcher executing the HighLatencyP95 runbook")
    assert run.status == "done", run
    assert run.params.get("model_name") == "sentiment_classifier"
    assert run.summary.get("status") == "firing", run.summary


def test_down_stops_exactly_what_up_started(demo):
    pids = {s.name: s.pid for s in demo.status() if s.pid}
    assert set(pids) == set(COMPONENTS)
    assert sorted(demo.down()) == sorted(COMPONENTS)
    for pid in pids.values():
        assert _proc_start_time(pid) is None or \
            open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    assert all(not s.running for s in demo.status())
