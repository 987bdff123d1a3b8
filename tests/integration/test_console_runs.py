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
    # no token file and no jupyter_url set: no JupyterLab is known to serve the store, no link
    assert "/lab/tree/" not in page and "open in JupyterLab" not in page
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
    assert "2026-01-01 09:00:00 UTC" in resolved and "2026-01-01T09:00:00Z" not in resolved
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


def judged_run(store: RunStore, status: str, end: str, *, source: str = "webhook",
               key: str | None = None, verdict: str = "errors from the model",
               starts_at: str = "2026-01-01T02:40:00Z"):
    """A finished run whose verdict judged its alert ``status`` at ``end``."""
    params = {"model_name": "m", **({"starts_at": starts_at} if starts_at else {})}
    run, _ = store.submit("Quick", params, source=source, dedupe_key=key, claim=True)
    summary = {"verdict": verdict, "status": status,
               "window": {"start": "2026-01-01T02:00:00+00:00", "end": end}}
    assert store.finish(run.run_id, "done", summary=summary)
    return store.get(run.run_id)


def test_a_run_page_says_when_its_verdict_was_true_and_the_alert_state_since(tmp_path):
    from mlmon_nb.launcher.pages import run_page
    store = RunStore(tmp_path / "runs")
    run = judged_run(store, "firing", "2026-01-01T02:46:10+00:00", key="k1")
    store.mark_resolved("k1", "2026-01-01T02:55:00Z")
    run = store.get(run.run_id)
    now = 1767236400.0  # 2026-01-01 03:00 UTC
    text = unescape(re.sub(r"<[^>]+>", "", run_page(run, store.run_dir(run.run_id),
                                                    "http://127.0.0.1:1", 3, now=now)))
    assert "verdict as of 2026-01-01 02:46:10 UTC (13m ago)" in text, text
    assert "was firing at 02:46 UTC, resolved 02:55 UTC" in text, text
    hand = judged_run(store, "not_firing", "2026-01-01T02:50:00+00:00", source="cli",
                      starts_at="")
    text = unescape(re.sub(r"<[^>]+>", "", run_page(hand, store.run_dir(hand.run_id),
                                                    "http://127.0.0.1:1", 3, now=now)))
    assert "was not firing at 02:50 UTC, started by hand" in text, text
    assert "Quick · m" in text and "resolved 02:55" not in text


def test_the_console_flags_a_verdict_older_than_the_alerts_latest_change(tmp_path):
    from mlmon_nb.launcher.console import AlertFeed, ConsoleAlert, parse_time
    from mlmon_nb.launcher.pages import console_page, short_text
    store = RunStore(tmp_path / "runs")
    fresh = judged_run(store, "firing", "2026-01-01T02:46:00+00:00")
    quiet = judged_run(store, "resolved", "2026-01-01T02:46:00+00:00")
    alert = ConsoleAlert({"alertname": "Quick", "model_name": "m", "severity": "critical"}, {},
                         parse_time("2026-01-01T02:40:00Z"), "active")
    again = ConsoleAlert(alert.labels, {}, parse_time("2026-01-01T02:58:00Z"), "active")
    now = 1767236400.0
    declared = {"Quick": frozenset({"model_name", "starts_at"})}

    def card(a, run):
        page = console_page(AlertFeed([a], "alertmanager", "http://am"), {0: run}, [], declared,
                            "tok", False, now)
        return page.split("<h2>Firing now", 1)[1].split("<h2>Silences", 1)[0]
    assert "as of 02:46 UTC, 14m ago" in card(alert, fresh)
    assert "verdict older" not in card(alert, fresh)
    for a, run in ((again, fresh), (alert, quiet)):
        flagged = card(a, run)
        assert "verdict older than the alert&#x27;s latest change" in flagged, flagged
        assert re.search(r"class='stale'>.*<form method='post' action='/runbook/Quick'>.*"
                         r"name='starts_at' value='2026-01-01T02:[45]\d:00Z'.*>run again</button>",
                         flagged), flagged
    words = "error_type=InjectedFault carries 100% of it " * 20
    assert short_text(words, 60).endswith("of it …") and "Inje …" not in short_text(words, 50)
