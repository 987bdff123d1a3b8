"""The launcher over HTTP: webhook → exactly one run, run pages, links, forms, history, metrics,
faults (timeout, dead kernel), concurrency and a restart with runs queued."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import re
import signal
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from launcher_support import (
    InProcessLauncher,
    alert,
    fault_runbooks,
    iso,
    launcher_process,
    payload,
    wait_for,
    with_models,
    write_config,
)

from mlmon_nb.launcher import LauncherSettings
from mlmon_nb.runbooks import Registry
from mlmon_nb.runstore import RunStore
from mlmon_nb.stack import free_port


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> Path:
    return fault_runbooks(tmp_path_factory.mktemp("fault-runbooks"))


def cfg_in(history, prometheus, folder: Path):
    cfg = replace(history.config, prometheus_url=prometheus)
    return replace(cfg, stack=replace(cfg.stack, state_dir=folder))


def finished(client, run_id):
    def check():
        run = client.get(f"/runs/{run_id}", params={"format": "json"}).json()
        return run if run["status"] not in ("queued", "running") else None
    return check


def test_webhook_runs_high_error_rate_once_and_the_link_leads_to_it(history, prometheus,
                                                                    tmp_path):
    cfg = cfg_in(history, prometheus, tmp_path / "state")
    t0, t1 = history.incidents["errors"]
    firing = alert("HighErrorRate", fingerprint="a1b2c3d4", starts_at=iso(t0 + 600),
                   instance="127.0.0.1:18000")
    settings = LauncherSettings(workers=1, warm_kernels=1)
    with InProcessLauncher(cfg, settings=settings) as srv, \
            httpx.Client(base_url=srv.url, timeout=30) as client:
        first = client.post("/alertmanager", json=payload(firing))
        assert first.status_code == 200, first.text
        runs = first.json()["runs"]
        assert len(runs) == 1 and runs[0]["created"]
        again = client.post("/alertmanager", json=payload(firing))
        assert again.json()["runs"][0] == {**runs[0], "created": False}
        run = wait_for(finished(client, runs[0]["run_id"]), timeout=180)
        assert run["status"] == "done", run["error"]
        assert run["params"]["starts_at"] == iso(t0 + 600)
        assert run["params"]["prometheus_url"] == prometheus
        assert "job" not in run["params"] and "instance" not in run["params"]
        # the run judges the alert at its end, now: within 5 minutes of the history's end the
        # ratio has a value (firing or resolved); later it has none (no_data, not "resolved")
        assert run["summary"]["status"] in ("firing", "resolved", "no_data")
        page = client.get(f"/runs/{run['run_id']}")
        assert page.status_code == 200 and "Verdict" in page.text
        assert "<script" not in page.text.lower()
        # no JupyterLab serves this store (no stack token, jupyter_url not set): no dead link
        assert "/lab/tree/" not in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        # the alert's runbook_url (labels urlquery-escaped) shows that run, it does not execute
        link = client.get("/runbook/HighErrorRate",
                          params={"model_name": history.model_name, "severity": "critical"})
        assert link.status_code == 303 and link.headers["location"] == f"/runs/{run['run_id']}"
        nb = client.get(f"/runs/{run['run_id']}/output.ipynb")
        assert nb.status_code == 200 and json.loads(nb.text)["cells"]
        assert len(RunStore(tmp_path / "state" / "runs").list()) == 1
        # resolved notification marks the run
        done = client.post("/alertmanager", json=payload(
            {**firing, "status": "resolved", "endsAt": iso(t1)}, status="resolved"))
        assert done.json()["resolved"] == 1
        listed = client.get("/runs", params={"format": "json", "alertname": "HighErrorRate"})
        assert listed.json()["runs"][0]["resolved_at"] == iso(t1)


@pytest.fixture(scope="module")
def quick(faults, tmp_path_factory, history):
    """A launcher over the fault runbooks, two workers, warm kernels; shared by fast tests."""
    state = tmp_path_factory.mktemp("quick-state")
    # m1: a second configured model, so forms for it pass the configuration check (the rest:
    # the models other tests tell their runs apart by)
    cfg = with_models(replace(history.config, stack=replace(history.config.stack,
                                                            state_dir=state)),
                      "m1", "alpha", "beta", *(f"conc{i}" for i in range(10)))
    # generous: under a loaded machine a quick run can take seconds; only Sleepy (600 s) hits it
    settings = LauncherSettings(workers=2, warm_kernels=2, run_timeout=25)
    with InProcessLauncher(cfg, settings=settings, registry=Registry(faults)) as srv, \
            httpx.Client(base_url=srv.url, timeout=60) as client:
        yield srv, client, state


def test_link_get_never_executes_and_the_form_needs_its_csrf_token(quick):
    srv, client, state = quick
    before = len(srv.launcher.store.list(alertname="Quick"))
    form = client.get("/runbook/Quick", params={"model_name": "m1", "starts_at": "2026-01-01T00:00:00Z"})
    assert form.status_code == 200 and "<form" in form.text and "value='m1'" in form.text
    assert "prometheus_url" not in form.text  # set from the config, never from a request
    assert len(srv.launcher.store.list(alertname="Quick")) == before
    cookie = client.cookies.get("mlmon_csrf")
    csrf = re.search(r"name='csrf_token' value='([^']+)'", form.text).group(1)
    assert csrf != cookie  # the form's token is signed by the server, not a copy of the cookie
    fields = {"model_name": "m1", "starts_at": "2026-01-01T00:00:00Z"}
    refused = httpx.post(f"{srv.url}/runbook/Quick", data=fields)  # no cookie, no token
    assert refused.status_code == 403 and "CSRF" in refused.text
    forged = httpx.post(f"{srv.url}/runbook/Quick", data={**fields, "csrf_token": "guess"},
                        cookies={"mlmon_csrf": "other"})
    assert forged.status_code == 403
    copied = client.post("/runbook/Quick", data={**fields, "csrf_token": cookie})
    assert copied.status_code == 403  # the cookie alone (plantable from another port) is not enough
    assert len(srv.launcher.store.list(alertname="Quick")) == before
    ok = client.post("/runbook/Quick", data={**fields, "csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    run = wait_for(finished(client, ok.headers["location"].rsplit("/", 1)[1]))
    assert run["status"] == "done" and run["source"] == "link"
    assert run["summary"]["verdict"] == "quick run for m1 2026-01-01T00:00:00Z"
    # now the same link shows that run
    again = client.get("/runbook/Quick", params={"model_name": "m1"}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == ok.headers["location"]
    # no JupyterLab serves this launcher's run store (no stack token, no jupyter_url set): the
    # run page offers no link that would not open
    page = client.get(ok.headers["location"])
    assert page.status_code == 200 and "download .ipynb" in page.text
    assert "open in JupyterLab" not in page.text


def test_a_form_for_a_model_the_configuration_lacks_is_refused(quick):
    # as `mlmon-nb run` does (the same check_against_config, whose feature check the CLI tests
    # cover): a 400 naming what exists, and no run
    srv, client, state = quick
    before = len(srv.launcher.store.list())
    # rerun=1: the form even where a run for m1 exists (an earlier test made one)
    form = client.get("/runbook/Quick", params={"model_name": "m1", "rerun": "1"})
    csrf = re.search(r"name='csrf_token' value='([^']+)'", form.text).group(1)
    r = client.post("/runbook/Quick", data={"model_name": "nope", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 400, (r.status_code, r.text)
    assert "model 'nope' is not configured" in r.text and "sentiment_classifier, m1" in r.text
    assert len(srv.launcher.store.list()) == before


def test_run_history_filters_and_metrics(quick):
    srv, client, state = quick
    client.post("/alertmanager", json=payload(alert("Quick", fingerprint="hist1",
                                                    model_name="alpha"))).raise_for_status()
    client.post("/alertmanager", json=payload(alert("Failing", fingerprint="hist2",
                                                    model_name="beta"))).raise_for_status()
    wait_for(lambda: all(r["status"] not in ("queued", "running") for r in
                         client.get("/runs", params={"format": "json"}).json()["runs"]))
    alpha = client.get("/runs", params={"format": "json", "model_name": "alpha"}).json()["runs"]
    assert [r["model_name"] for r in alpha] == ["alpha"]
    failed = client.get("/runs", params={"format": "json", "status": "failed"}).json()["runs"]
    assert [r["alertname"] for r in failed] == ["Failing"]
    assert "the runbook broke" in failed[0]["error"]
    assert client.get("/runs", params={"status": "nonsense"}).status_code == 400
    assert client.get("/runs", params={"offset": "9" * 30}).status_code == 200  # past the end
    assert client.get(f"/runs/{alpha[0]['run_id']}%0A").status_code == 404  # ids match whole
    page = client.get("/runs", params={"alertname": "Failing"})
    table = page.text.split("<table>", 1)[1]  # (the model filter suggests every model)
    assert "Failing" in table and "alpha" not in table
    text = client.get("/metrics").text
    assert 'mlmon_launcher_runs_total{alertname="Failing",status="failed"} 1.0' in text
    assert "mlmon_launcher_queue_depth 0.0" in text
    assert "mlmon_launcher_run_duration_seconds_count" in text
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["runbooks"] == 6


def test_timeout_and_dead_kernel_are_reported(quick):
    srv, client, state = quick
    body = payload(alert("Sleepy", fingerprint="slow1"), alert("Crash", fingerprint="crash1"))
    runs = client.post("/alertmanager", json=body).json()["runs"]
    outcome = {r["alertname"]: wait_for(finished(client, r["run_id"]), timeout=120)
               for r in runs}
    assert outcome["Sleepy"]["status"] == "timeout"
    assert "timeout of 25s" in outcome["Sleepy"]["error"]
    assert outcome["Crash"]["status"] == "dead_kernel"
    # the workers survive both
    again = client.post("/alertmanager", json=payload(alert("Quick", fingerprint="after")))
    assert wait_for(finished(client, again.json()["runs"][0]["run_id"]))["status"] == "done"


def test_script_in_outputs_and_labels_is_sanitized(quick):
    srv, client, state = quick
    run_id = client.post("/alertmanager", json=payload(alert("Hostile", fingerprint="xss1"))
                         ).json()["runs"][0]["run_id"]
    assert wait_for(finished(client, run_id))["status"] == "done"
    page = client.get(f"/runs/{run_id}").text
    assert "bold" in page and "alert(4)" in page  # printed text stays, escaped
    assert "<script" not in page.lower()
    # the handlers survive only as escaped text, never as attributes of a tag
    assert not re.search(r"<[a-z][^>]*\son\w+\s*=", page, re.IGNORECASE)
    assert "<b>bold</b>" in page


def test_fifty_concurrent_webhooks_run_each_alert_exactly_once(quick):
    srv, client, state = quick
    alerts = [alert("Quick", fingerprint=f"conc{i:02d}", model_name=f"conc{i}") for i in range(10)]
    # 50 notifications: each alert re-sent five times, alone and grouped with others
    bodies = [payload(alerts[i % 10]) if i % 2 else payload(alerts[i % 10], alerts[(i + 3) % 10])
              for i in range(50)]
    with cf.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: httpx.post(f"{srv.url}/alertmanager", json=b, timeout=60),
                                bodies))
    assert all(a.status_code == 200 for a in answers)
    created = [r["run_id"] for a in answers for r in a.json()["runs"] if r["created"]]
    assert len(created) == 10 == len(set(created))
    runs = [r for r in client.get("/runs", params={"format": "json", "alertname": "Quick"}).json()["runs"]
            if r["model_name"].startswith("conc")]
    assert len(runs) == 10
    done = [wait_for(finished(client, r["run_id"]), timeout=180) for r in runs]
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in done), \
        [(r["status"], r["attempts"], r["error"][:200]) for r in done]


def test_launcher_killed_with_runs_queued_loses_none(history, faults, tmp_path):
    from mlmon_nb.config import load_config
    state = tmp_path / "state"
    cfg = with_models(replace(history.config, stack=replace(history.config.stack,
                                                            state_dir=state)),
                      *(f"r{i}" for i in range(6)))
    port = free_port()
    path = write_config(cfg, tmp_path / "mlmon.yaml")
    assert load_config(path).stack.state_dir == state
    env = {"MLMON_RUNBOOK_DIR": str(faults)}
    alerts = [alert("Quick", fingerprint=f"restart{i}", model_name=f"r{i}") for i in range(6)]
    with launcher_process(path, port, "--workers", "1", "--warm-kernels", "0", "--lease", "5s",
                          env=env) as proc:
        for a in alerts:  # each run sleeps 2s: most are still queued when the launcher dies
            a["labels"]["seconds"] = "2"
            r = httpx.post(f"http://127.0.0.1:{port}/alertmanager", json=payload(a), timeout=30)
            assert r.status_code == 200, r.text
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    store = RunStore(state / "runs")
    assert store.counts().get("queued", 0) >= 3
    with launcher_process(path, port, "--workers", "2", "--warm-kernels", "0", "--lease", "5s",
                          env=env):
        wait_for(lambda: store.counts().get("done", 0) == 6, timeout=240)
        # a re-send after the restart still runs nothing new
        r = httpx.post(f"http://127.0.0.1:{port}/alertmanager", json=payload(alerts[0]), timeout=30)
        assert r.json()["runs"][0]["created"] is False
    runs = store.list()
    assert len(runs) == 6 and {r.model_name for r in runs} == {f"r{i}" for i in range(6)}


def test_a_queued_run_against_an_unreachable_prometheus_fails_without_a_kernel(history, faults,
                                                                              tmp_path):
    """A webhook's run of a runbook that queries Prometheus (it declares prometheus_url), with
    the configured Prometheus on a closed port: the run fails with one line naming that URL, and
    papermill never ran (no notebook written); a runbook that queries none still runs."""
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cfg = replace(history.config, prometheus_url=closed)
    cfg = replace(cfg, stack=replace(cfg.stack, state_dir=tmp_path / "state"))
    settings = LauncherSettings(workers=1, warm_kernels=0)  # a kernel would be started cold
    with InProcessLauncher(cfg, settings=settings, registry=Registry(faults)) as srv, \
            httpx.Client(base_url=srv.url, timeout=30) as client:
        r = client.post("/alertmanager", json=payload(alert("Probe", fingerprint="probe1")))
        assert r.status_code == 200, r.text
        run = wait_for(finished(client, r.json()["runs"][0]["run_id"]), timeout=60)
        assert run["status"] == "failed", run
        error = run["error"]
        assert f"Prometheus is unreachable at {closed} (" in error and "\n" not in error, error
        assert "no kernel was started" in error and "prometheus_url" in error
        assert run["params"]["prometheus_url"] == closed
        folder = tmp_path / "state" / "runs" / run["run_id"]
        assert not (folder / "output.ipynb").exists()  # no kernel executed the notebook
        page = client.get(f"/runs/{run['run_id']}")
        assert page.status_code == 200 and closed in page.text
        quick = client.post("/alertmanager", json=payload(alert("Quick", fingerprint="quick1")))
        done = wait_for(finished(client, quick.json()["runs"][0]["run_id"]), timeout=120)
        assert done["status"] == "done", done["error"]


def test_a_webhook_for_a_model_or_feature_the_configuration_lacks_fails_without_a_kernel(
        quick, history):
    """Alertmanager's notification is accepted (a 4xx would drop every runbook in it), but the
    run ends as failed with what exists, before a kernel, as the form and `mlmon-nb run` refuse
    it: never a kernel failing on it, nor another feature investigated in its place."""
    srv, client, state = quick
    history.baseline.save(srv.launcher.config.baseline_path("m1"))
    r = client.post("/alertmanager", json=payload(
        alert("Quick", fingerprint="unconf1", model_name="unconfigured"),
        alert("Quick", fingerprint="unconf2", model_name="m1", feature="no_such_feature")))
    assert r.status_code == 200, r.text
    for run in r.json()["runs"]:
        done = wait_for(finished(client, run["run_id"]), timeout=60)
        assert done["status"] == "failed" and "no kernel was started" in done["error"], done
        assert not (state / "runs" / run["run_id"] / "output.ipynb").exists()
    errors = sorted(wait_for(finished(client, run["run_id"]))["error"]
                    for run in r.json()["runs"])
    assert "model 'unconfigured' is not configured" in errors[1]
    assert "'no_such_feature' is not a feature of the baseline of m1" in errors[0]
