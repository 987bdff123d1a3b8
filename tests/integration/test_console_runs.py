"""The run list and run pages an on-call person meets from the console: a state badge tells a
firing alert's run from a resolved one and from a manual run; "run again" works for runbooks and
is a shell command for dashboard notebooks; "open in JupyterLab" carries JupyterLab's token (and
never the launcher's secret); the console lists resolved runs."""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape

import httpx
import pytest
from launcher_support import InProcessLauncher, fault_runbooks
from test_launcher_browser import ARTIFACTS, browse

from mlmon_nb.launcher import LauncherSettings
from mlmon_nb.runbooks import Registry
from mlmon_nb.runstore import RunStore
from mlmon_nb.stack import free_port


def finished_run(store: RunStore, alertname: str, params: dict, *, source: str,
                 key: str | None = None, verdict: str = ""):
    run, _ = store.submit(alertname, params, source=source, dedupe_key=key, claim=True)
    assert store.finish(run.run_id, "done", summary={"verdict": verdict} if verdict else None)
    return run


@pytest.fixture
def launched(stack_config, tmp_path):
    cfg = replace(stack_config, prometheus_url=f"http://127.0.0.1:{free_port()}")
    store = RunStore(cfg.stack.state_dir / "runs")
    model = {"model_name": "sentiment_classifier", "severity": "critical"}
    runs = {
        "firing": finished_run(store, "Quick", {**model, "starts_at": "2026-01-01T10:00:00Z"},
                               source="webhook", key="a1:one", verdict="errors from the model"),
        "resolved": finished_run(store, "Quick", {**model, "starts_at": "2026-01-01T08:00:00Z"},
                                 source="webhook", key="a1:two", verdict="it recovered"),
        "notebook": finished_run(store, "system_health", {"model_name": "sentiment_classifier"},
                                 source="cli"),
    }
    assert store.mark_resolved("a1:two", "2026-01-01T09:00:00Z") == 1
    store.stop_heartbeat()
    settings = LauncherSettings(workers=1, warm_kernels=0,
                                alertmanager_url=f"http://127.0.0.1:{free_port()}")
    registry = Registry(fault_runbooks(tmp_path / "runbooks"))
    with InProcessLauncher(cfg, settings=settings, registry=registry) as srv:
        yield srv, cfg, runs


def test_run_list_shows_each_runs_alert_state(launched, tmp_path):
    srv, _, runs = launched
    page = httpx.get(f"{srv.url}/runs", timeout=30).text
    for state, run in runs.items():
        row = re.search(rf"<tr class='run-(\w+)'><td><a href='/runs/{run.run_id}'>.*?</tr>", page)
        assert row, page
        expected = {"firing": "firing", "resolved": "resolved", "notebook": "manual"}[state]
        assert row.group(1) == expected
        assert f"badge state-{expected}'" in row.group(0)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "runs-state-badges.png"
    shot.unlink(missing_ok=True)
    browse(f"{srv.url}/runs", tmp_path / "p", f"--screenshot={shot}", "--window-size=1280,800")
    assert shot.exists() and shot.stat().st_size > 10_000
    dom = browse(f"{srv.url}/runs", tmp_path / "p2", "--dump-dom").stdout
    assert ">firing<" in dom and ">resolved<" in dom and ">manual<" in dom


def test_run_again_works_for_runbooks_and_is_a_command_for_notebooks(launched):
    srv, _, runs = launched
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        page = client.get(f"/runs/{runs['firing'].run_id}").text
        link = unescape(re.search(r"<a class='rerun' href='([^']+)'>run again</a>", page).group(1))
        assert link.startswith("/runbook/Quick?") and "rerun=1" in link
        form = client.get(link)
        assert form.status_code == 200 and "Run the Quick runbook" in form.text
        assert "value='sentiment_classifier'" in form.text

        page = client.get(f"/runs/{runs['notebook'].run_id}").text
        assert "/runbook/system_health" not in page  # the launcher does not serve notebooks
        assert ("mlmon-nb run notebooks/system_health.ipynb -p model_name sentiment_classifier"
                in page)
        assert client.get("/runbook/system_health").status_code == 404  # why there is no link


def test_open_in_jupyterlab_carries_jupyterlabs_token_only(launched):
    srv, cfg, runs = launched
    run_id = runs["firing"].run_id
    lab = f"{cfg.jupyter_url}/lab/tree/runs/{run_id}/output.ipynb"
    page = httpx.get(f"{srv.url}/runs/{run_id}", timeout=30).text
    assert f"href='{lab}'" in page  # no token file: the bare link
    (cfg.stack.state_dir / "jupyter_token").write_text("0123abcd" * 6 + "\n")
    page = httpx.get(f"{srv.url}/runs/{run_id}", timeout=30).text
    assert f"href='{lab}?token={'0123abcd' * 6}'" in page
    secret = (cfg.stack.state_dir / "runs" / "launcher-secret").read_bytes()
    for leak in (secret.hex(), secret.decode("latin-1")):
        assert leak not in page


def test_console_lists_recently_resolved_runs(launched):
    srv, _, runs = launched
    page = httpx.get(f"{srv.url}/", timeout=30).text
    resolved = page.split("<h2>Recently resolved</h2>", 1)[1]
    assert f"/runs/{runs['resolved'].run_id}" in resolved and "it recovered" in resolved
    assert "2026-01-01T09:00:00Z" in resolved
    assert runs["firing"].run_id not in resolved and runs["notebook"].run_id not in resolved


def test_a_run_page_carries_the_run_style_and_shows_the_verdict_once(tmp_path):
    from mlmon_nb.launcher.pages import run_page
    from mlmon_nb.runbooks import RUN_CSS
    store = RunStore(tmp_path / "runs")
    run = finished_run(store, "Quick", {"model_name": "m"}, source="cli", verdict="all quiet")
    run = store.get(run.run_id)
    store.run_dir(run.run_id).mkdir(parents=True, exist_ok=True)
    (store.run_dir(run.run_id) / "output.html").write_text(
        "<html><head><style>body{display:none}</style></head><body><div class='mlmon-run'>"
        "<div class='card'>all quiet</div><script>alert(1)</script></div></body></html>")
    html = run_page(run, store.run_dir(run.run_id), "http://127.0.0.1:1", 3)
    assert RUN_CSS in html  # the package's style, in the head
    assert "display:none" not in html and "<script" not in html  # never the stored file's
    assert html.count("all quiet") == 1  # the card is the verdict: no second copy above it
