"""The launcher under attack and across processes, against real servers on loopback ports:
cross-site and rebinding requests, deep JSON, slow and vanishing clients, signed CSRF, token
files, run leases (one owner per run, takeover after a dead owner, bounded attempts), fair
queueing, dedupe keys bound to the alert, and a bounded drain at SIGTERM."""

from __future__ import annotations

import base64
import json
import multiprocessing as mp
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from launcher_support import (
    REPO,
    InProcessLauncher,
    alert,
    fault_runbooks,
    launcher_process,
    payload,
    wait_for,
    with_models,
    write_config,
    write_runbook,
)

from mlmon_nb.errors import ConfigError
from mlmon_nb.launcher import Launcher, LauncherSettings, create_app
from mlmon_nb.launcher.security import RequestError, json_depth
from mlmon_nb.runbooks import Registry
from mlmon_nb.runstore import RUN_STATUSES, RunClaimed, RunStatus, RunStore
from mlmon_nb.stack import free_port

READ_TOKEN = "read-only-token"


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> Path:
    return fault_runbooks(tmp_path_factory.mktemp("hardening-runbooks"))


def cfg_at(history, state: Path):
    """The history's configuration with the models these tests name (a webhook's run for a
    model the configuration lacks fails before a kernel)."""
    return with_models(replace(history.config, stack=replace(history.config.stack,
                                                             state_dir=state)),
                       "real-model", "decoy", "d0", "d1", "d2")


@pytest.fixture(scope="module")
def open_launcher(history, faults, tmp_path_factory):
    """No token (the default and the demo's setup); no workers busy with anything slow."""
    state = tmp_path_factory.mktemp("open-state")
    settings = LauncherSettings(workers=1, warm_kernels=0, body_timeout=1.5, header_timeout=1.5)
    with InProcessLauncher(cfg_at(history, state), settings=settings,
                           registry=Registry(faults)) as srv:
        yield srv


def runs_of(srv) -> list:
    return srv.launcher.store.list()


# -- cross-site requests --------------------------------------------------------------------------

BODY = json.dumps(payload(alert("Quick", fingerprint="xsite"))).encode()


@pytest.mark.parametrize("name,headers,status", [
    # what `fetch(url, {method: "POST", mode: "no-cors", body})` sends from any page: no preflight
    ("no-cors text/plain from a foreign page", {"content-type": "text/plain;charset=UTF-8",
                                                "origin": "http://evil.example",
                                                "sec-fetch-site": "cross-site"}, 403),
    ("text/plain without browser headers", {"content-type": "text/plain"}, 415),
    ("form body", {"content-type": "application/x-www-form-urlencoded"}, 415),
    ("multipart body", {"content-type": "multipart/form-data; boundary=x"}, 415),
    ("json from a foreign origin", {"content-type": "application/json",
                                    "origin": "http://evil.example"}, 403),
    ("json marked cross-site", {"content-type": "application/json",
                                "sec-fetch-site": "cross-site"}, 403),
    ("json marked same-site (another port)", {"content-type": "application/json",
                                              "sec-fetch-site": "same-site"}, 403),
    ("opaque origin", {"content-type": "application/json", "origin": "null"}, 403),
])
def test_cross_site_webhooks_are_refused_without_a_token(open_launcher, name, headers, status):
    r = httpx.post(f"{open_launcher.url}/alertmanager", content=BODY, headers=headers, timeout=30)
    assert r.status_code == status, r.text
    assert runs_of(open_launcher) == []


def test_cross_site_form_posts_are_refused(open_launcher):
    r = httpx.post(f"{open_launcher.url}/runbook/Quick", data={"model_name": "m"},
                   headers={"origin": "http://evil.example", "sec-fetch-site": "cross-site"},
                   timeout=30)
    assert r.status_code == 403
    assert runs_of(open_launcher) == []


# -- DNS rebinding --------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [("GET", "/runs"), ("GET", "/runs?format=json"),
                                         ("GET", "/healthz"), ("GET", "/runbook/Quick"),
                                         ("POST", "/alertmanager")])
def test_a_foreign_host_header_is_refused(open_launcher, method, path):
    r = httpx.request(method, f"{open_launcher.url}{path}", content=BODY if method == "POST" else None,
                      headers={"host": "evil.example", "content-type": "application/json"},
                      timeout=30)
    assert r.status_code == 421, r.text
    assert runs_of(open_launcher) == []
    # the launcher's own names are served
    for host in (f"127.0.0.1:{open_launcher.port}", f"localhost:{open_launcher.port}"):
        assert httpx.get(f"{open_launcher.url}/healthz", headers={"host": host}).status_code == 200


def test_read_routes_need_the_read_token_when_one_is_set(history, faults, tmp_path):
    settings = LauncherSettings(workers=1, warm_kernels=0, token="write-token",
                                read_token=READ_TOKEN)
    with InProcessLauncher(cfg_at(history, tmp_path / "state"), settings=settings,
                           registry=Registry(faults)) as srv:
        for path in ("/runs", "/runs?format=json", "/runbook/Quick",
                     "/runs/20260101T000000Z-0123456789"):
            r = httpx.get(f"{srv.url}{path}", timeout=30)
            assert r.status_code == 401 and "Basic" in r.headers["www-authenticate"], path
        basic = base64.b64encode(f"anyone:{READ_TOKEN}".encode()).decode()
        assert httpx.get(f"{srv.url}/runs", headers={"authorization": f"Basic {basic}"}
                         ).status_code == 200
        for token in (READ_TOKEN, "write-token"):
            assert httpx.get(f"{srv.url}/runs", headers={"authorization": f"Bearer {token}"}
                             ).status_code == 200
        # the read token does not start runs; health and metrics stay open for probes
        r = httpx.post(f"{srv.url}/alertmanager", json=payload(alert("Quick", fingerprint="r")),
                       headers={"authorization": f"Bearer {READ_TOKEN}"})
        assert r.status_code == 401
        assert httpx.get(f"{srv.url}/healthz").status_code == 200
        assert httpx.get(f"{srv.url}/metrics").status_code == 200


# -- deep JSON ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,body", [
    ("100k nested arrays", b"[" * 100_000 + b"]" * 100_000),
    ("nested objects in labels", json.dumps(payload(alert("Quick", fingerprint="deep")))
     .encode().replace(b'"job": "mlmon-demo"', b'"job": ' + b'{"a":' * 50_000 + b"1"
                       + b"}" * 50_000)),
    ("deep but unclosed", b'{"alerts": ' + b"[" * 200_000),
])
def test_deeply_nested_json_is_a_clear_400(open_launcher, name, body):
    r = httpx.post(f"{open_launcher.url}/alertmanager", content=body,
                   headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 400, r.text
    assert "nests" in r.json()["error"]
    assert runs_of(open_launcher) == []
    assert httpx.get(f"{open_launcher.url}/healthz").status_code == 200


# -- slow and vanishing clients -------------------------------------------------------------------

def _raw(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(data)
    return sock


def test_a_slow_body_gets_408_and_slow_headers_are_closed(open_launcher):
    head = (f"POST /alertmanager HTTP/1.1\r\nHost: 127.0.0.1:{open_launcher.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode()
    with _raw(open_launcher.port, head + b'{"version"') as sock:
        answer = sock.recv(4096)  # arrives after the body deadline, without more bytes sent
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    with _raw(open_launcher.port, b"GET /runs HTTP/1.1\r\nHost: 127.0.0.1\r\n") as sock:
        assert sock.recv(4096) == b""  # closed by the header deadline, headers never finished
    assert runs_of(open_launcher) == []


def test_a_client_vanishing_mid_body_is_one_log_line(history, faults, tmp_path):
    state = tmp_path / "state"
    path = write_config(cfg_at(history, state), tmp_path / "mlmon.yaml")
    port = free_port()
    env = {"MLMON_RUNBOOK_DIR": str(faults)}
    with launcher_process(path, port, "--workers", "1", "--warm-kernels", "0", env=env):
        for _ in range(3):
            sock = _raw(port, (f"POST /alertmanager HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                               f"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
                               f"{{\"version\": \"4\"").encode())
            time.sleep(0.3)
            sock.close()
        assert _wait_healthy(port)
        assert RunStore(state / "runs").list() == []
        # what the launcher decides reaches its log, one line each
        url = f"http://127.0.0.1:{port}/alertmanager"
        assert httpx.post(url, json=payload(alert("NoSuchAlert", fingerprint="n1")),
                          timeout=30).status_code == 422
        assert httpx.post(url, json=payload(alert("Quick", fingerprint="q1")),
                          timeout=30).status_code == 200
        wait_for(lambda: RunStore(state / "runs").counts().get("done") == 1, timeout=120)
        wait_for(lambda: ": done in " in (tmp_path / f"launcher-{port}.log").read_text(),
                 timeout=30)
    log = (tmp_path / f"launcher-{port}.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    assert log.count("disconnected before its POST /alertmanager body arrived") == 3, log[-3000:]
    assert "webhook refused (422): no alert in this notification has a runbook" in log
    assert "webhook: 1 run(s) queued" in log
    assert re.search(r"run \S+ of Quick for sentiment_classifier: done in ", log), log[-3000:]


def _wait_healthy(port: int) -> bool:
    return wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5
                                      ).status_code == 200, timeout=30)


# -- CSRF and tokens ------------------------------------------------------------------------------

def test_a_planted_csrf_cookie_is_not_enough(open_launcher):
    fields = {"model_name": "m", "starts_at": "2026-01-01T00:00:00Z"}
    nonce = "A" * 32  # another service on 127.0.0.1 can set any cookie for this host
    for token in (nonce, f"{int(time.time())}.{'0' * 64}"):
        r = httpx.post(f"{open_launcher.url}/runbook/Quick", data={**fields, "csrf_token": token},
                       cookies={"mlmon_csrf": nonce}, timeout=30)
        assert r.status_code == 403, r.text
    assert runs_of(open_launcher) == []


def test_an_empty_token_file_is_an_error_at_start(history, faults, tmp_path, monkeypatch):
    empty = tmp_path / "token"
    empty.write_text("\n")
    monkeypatch.setenv("MLMON_LAUNCHER_TOKEN_FILE", str(empty))
    with pytest.raises(ConfigError, match="empty"):
        create_app(cfg_at(history, tmp_path / "state"), registry=Registry(faults))
    path = write_config(cfg_at(history, tmp_path / "state"), tmp_path / "mlmon.yaml")
    proc = subprocess.run([sys.executable, "-m", "mlmon_nb.cli", "--config", str(path),
                           "launcher", "--port", str(free_port())], cwd=REPO, timeout=120,
                          capture_output=True, text=True,
                          env={**os.environ, "MLMON_LAUNCHER_TOKEN_FILE": str(empty)})
    assert proc.returncode != 0 and "empty" in proc.stdout + proc.stderr


# -- one owner per run ----------------------------------------------------------------------------

def _claim_all(root: str, out, barrier) -> None:
    store = RunStore(Path(root))
    barrier.wait()
    got = []
    while (run := store.claim_next()) is not None:
        got.append(run.run_id)
        store.finish(run.run_id, "done")
    out.put(got)


def test_processes_racing_for_the_queue_take_each_run_once(tmp_path):
    store = RunStore(tmp_path / "runs")
    ids = {store.submit("Quick", {"model_name": f"m{i}"}, source="webhook")[0].run_id
           for i in range(120)}
    ctx = mp.get_context("spawn")
    out, barrier = ctx.Queue(), ctx.Barrier(4)
    procs = [ctx.Process(target=_claim_all, args=(str(tmp_path / "runs"), out, barrier))
             for _ in range(4)]
    for p in procs:
        p.start()
    claimed = [r for _ in procs for r in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    assert sorted(claimed) == sorted(ids)  # every run once, none twice
    assert all(r.attempts == 1 and r.status == RunStatus.DONE for r in store.list(limit=1000))


def test_the_cli_and_a_launcher_never_both_run_one(tmp_path):
    launcher, cli = RunStore(tmp_path / "runs"), RunStore(tmp_path / "runs")
    run, _ = cli.submit("Quick", {"model_name": "m"}, source="cli")
    assert launcher.claim_next().run_id == run.run_id
    with pytest.raises(RunClaimed, match="another process"):
        cli.start(run.run_id)
    # the other order: the CLI claims first, the launcher finds nothing
    other, _ = cli.submit("Quick", {"model_name": "n"}, source="cli")
    assert cli.start(other.run_id).owner == cli.owner
    assert launcher.claim_next() is None
    # or submits already claimed (what `mlmon-nb run` should do)
    third, created = cli.submit("Quick", {"model_name": "o"}, source="cli", claim=True)
    assert created and third.status == RunStatus.RUNNING and launcher.claim_next() is None
    assert cli.start(third.run_id).attempts == 1


def test_a_dead_owners_run_is_taken_over_and_attempts_are_bounded(tmp_path):
    a = RunStore(tmp_path / "runs", lease_seconds=0.5, max_attempts=2)
    b = RunStore(tmp_path / "runs", lease_seconds=0.5, max_attempts=2)
    run, _ = a.submit("Quick", {"model_name": "m"}, source="webhook")
    assert a.claim_next().run_id == run.run_id
    time.sleep(1.0)
    assert b.claim_next() is None  # a is alive: its heartbeat renews the lease
    a.stop_heartbeat()              # now a is "dead"
    time.sleep(1.0)
    taken = wait_for(b.claim_next, timeout=10, interval=0.1)
    assert taken.run_id == run.run_id and taken.attempts == 2 and taken.owner == b.owner
    assert a.finish(run.run_id, "done") is False  # the old owner cannot overwrite
    assert b.get(run.run_id).status == RunStatus.RUNNING
    b.stop_heartbeat()
    time.sleep(1.0)
    c = RunStore(tmp_path / "runs", lease_seconds=0.5, max_attempts=2)
    assert c.claim_next() is None
    gone = c.get(run.run_id)
    assert gone.status == RunStatus.FAILED and "given up after 2 attempts" in gone.error
    assert set(RUN_STATUSES) == {s.value for s in RunStatus}


# -- fair queueing and dedupe keys ----------------------------------------------------------------

def test_a_storm_cannot_starve_a_critical_alert(history, faults, tmp_path):
    engine = Launcher(cfg_at(history, tmp_path / "state"), LauncherSettings(warm_kernels=0),
                      Registry(faults))
    storm = payload(*[alert("Quick", fingerprint=f"storm{i}", model_name=f"s{i}",
                            severity="warning") for i in range(200)])
    engine.accept_webhook({**storm, "groupKey": "storm"})
    engine.accept_webhook({**payload(alert("Quick", fingerprint="other", model_name="w2",
                                           severity="warning")), "groupKey": "other"})
    engine.accept_webhook({**payload(alert("Quick", fingerprint="crit", model_name="c1",
                                           severity="critical")), "groupKey": "crit"})
    order = [engine.store.claim_next().model_name for _ in range(4)]
    assert order[0] == "c1"                  # critical first
    assert set(order[1:3]) == {"s0", "w2"}   # then the head of each warning group
    assert order[3] == "s1"


def test_a_label_the_service_sets_freely_never_costs_the_alert_its_runbook(history, tmp_path):
    # a model_version such as "release/2.1" fails the parameter's check; refusing the
    # notification would make Alertmanager drop it, so the label is dropped and the run queued
    folder = tmp_path / "runbooks"
    write_runbook(folder, "Versioned", "pass")
    nb = nbformat.read(folder / "Versioned.ipynb", as_version=4)
    nb.cells[0].source += 'model_version: str = ""\n'
    nbformat.write(nb, folder / "Versioned.ipynb")
    engine = Launcher(cfg_at(history, tmp_path / "state"), LauncherSettings(warm_kernels=0),
                      Registry(folder))
    engine.accept_webhook(payload(alert("Versioned", fingerprint="v1", model_version="1.2.0"),
                                  alert("Versioned", fingerprint="v2", model_name="other",
                                        model_version="release/2.1 rc1")))
    params = {r.params["model_name"]: r.params.get("model_version")
              for r in engine.store.list()}
    assert params == {"sentiment_classifier": "1.2.0", "other": None}
    # a time out of range is the usual 400-class refusal, not a crash
    with pytest.raises(RequestError, match="out of range"):
        engine.accept_webhook(payload(alert("Versioned", fingerprint="v3",
                                            starts_at="now-99999999h")))


def test_a_reused_fingerprint_cannot_preclaim_a_real_alert(open_launcher):
    real = alert("Quick", fingerprint="f00d", model_name="real-model")
    forged = alert("Quick", fingerprint="f00d", model_name="decoy")
    first = httpx.post(f"{open_launcher.url}/alertmanager", json=payload(forged), timeout=30)
    second = httpx.post(f"{open_launcher.url}/alertmanager", json=payload(real), timeout=30)
    assert first.json()["runs"][0]["created"] and second.json()["runs"][0]["created"]
    again = httpx.post(f"{open_launcher.url}/alertmanager", json=payload(real), timeout=30)
    assert again.json()["runs"][0] == {**second.json()["runs"][0], "created": False}
    models = {r.model_name for r in runs_of(open_launcher)}
    assert {"real-model", "decoy"} <= models


# -- shutdown -------------------------------------------------------------------------------------

def test_sigterm_drains_within_its_bound_and_the_next_start_finishes_the_work(history, faults,
                                                                                 tmp_path):
    state = tmp_path / "state"
    path = write_config(cfg_at(history, state), tmp_path / "mlmon.yaml")
    port, env = free_port(), {"MLMON_RUNBOOK_DIR": str(faults)}
    store = RunStore(state / "runs")
    args = ("--workers", "1", "--warm-kernels", "0", "--drain-timeout", "2s", "--lease", "3s")
    with launcher_process(path, port, *args, env=env) as proc:
        for i in range(3):
            a = alert("Quick", fingerprint=f"drain{i}", model_name=f"d{i}")
            a["labels"]["seconds"] = "25"
            assert httpx.post(f"http://127.0.0.1:{port}/alertmanager", json=payload(a),
                              timeout=30).status_code == 200
        wait_for(lambda: store.counts().get("running", 0) == 1, timeout=120)
        began = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        stopped_in = time.monotonic() - began
    print(f"SIGTERM with a 25 s run executing: stopped in {stopped_in:.1f} s (drain bound 2 s)")
    assert stopped_in < 25  # it did not wait for the run; generous bound, not a timing test
    counts = store.counts()
    assert counts.get("queued", 0) == 2 and counts.get("running", 0) == 1
    with launcher_process(path, port, *args[:-2], "--lease", "3s", env=env):
        wait_for(lambda: store.counts().get("done", 0) == 3, timeout=240)
    runs = {r.model_name: r for r in store.list()}
    assert sorted(r.attempts for r in runs.values()) == [1, 1, 2]


# -- the depth pre-scan agrees with the parser ----------------------------------------------------

def _true_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_true_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_true_depth(v) for v in value), default=0)
    return 0


_TEXT = st.text(alphabet=st.sampled_from(list('ab"\\[]{}\n é')), max_size=12)
_JSON = st.recursive(st.none() | st.integers() | _TEXT,
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=30)


@given(_JSON, st.booleans())
@settings(max_examples=300, deadline=None)
def test_the_depth_prescan_matches_the_parsed_depth(value, ascii_only):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json_depth(raw) == _true_depth(json.loads(raw))


# -- one alert's bad labels, and an index that stays locked ----------------------------------------

def test_one_refused_alert_leaves_the_rest_of_its_notification_running(history, faults,
                                                                       tmp_path):
    """Alertmanager does not resend a notification answered with a 4xx: refusing all of it for
    one alert's labels would drop every runbook in it."""
    engine = Launcher(cfg_at(history, tmp_path / "state"), LauncherSettings(warm_kernels=0),
                      Registry(faults))
    answer = engine.accept_webhook(payload(
        alert("Quick", fingerprint="ok1", model_name="decoy"),
        alert("Quick", fingerprint="p1", model_name="d0", severity="P1"),  # dropped, not refused
        alert("Quick", fingerprint="bad1", model_name="../../etc")))
    assert sorted(r.model_name for r in engine.store.list()) == ["d0", "decoy"]
    assert len(answer["runs"]) == 2 and "severity" not in engine.store.list(
        model_name="d0")[0].params
    [refused] = answer["refused"]
    assert refused["alertname"] == "Quick" and "parameter 'model_name'" in refused["error"]
    with pytest.raises(RequestError, match="parameter 'model_name'") as caught:
        engine.accept_webhook(payload(alert("Quick", fingerprint="bad2", model_name="a b")))
    assert caught.value.status == 400
    assert len(engine.store.list()) == 2


def test_a_worker_outlives_an_index_it_cannot_write_and_lets_the_run_go(history, faults,
                                                                       tmp_path, monkeypatch):
    """A run whose outcome cannot be recorded is released (its lease is no longer renewed, so
    it runs again once the lease lapses), and the worker takes the next run."""
    engine = Launcher(cfg_at(history, tmp_path / "state"),
                      LauncherSettings(workers=1, warm_kernels=0), Registry(faults))
    real = engine.store.finish
    broken = {"calls": 0}

    def locked(run_id, status, **kw):
        broken["calls"] += 1
        if broken["calls"] <= 2:  # the outcome, then the failure recorded in its place
            raise sqlite3.OperationalError("database is locked")
        return real(run_id, status, **kw)

    monkeypatch.setattr(engine.store, "finish", locked)
    first = engine.accept_webhook(payload(alert("Quick", fingerprint="lk1")))["runs"][0]
    engine.start()
    try:
        wait_for(lambda: broken["calls"] >= 2, timeout=120)
        wait_for(lambda: first["run_id"] not in engine.store.held(), timeout=30)
        second = engine.accept_webhook(payload(alert("Quick", fingerprint="lk2",
                                                     model_name="decoy")))["runs"][0]
        wait_for(lambda: engine.store.get(second["run_id"]).status == "done", timeout=120)
    finally:
        engine.stop()
    assert engine.store.get(first["run_id"]).status == "running"  # until its lease lapses
