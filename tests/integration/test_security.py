"""A hostile corpus against the launcher: each request gets a clear 4xx, executes nothing and
writes nothing outside the run store; with a token configured, POSTs need it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from launcher_support import InProcessLauncher, alert, fault_runbooks, payload, snapshot

from mlmon_nb.launcher import LauncherSettings
from mlmon_nb.runbooks import Registry

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def guarded(history, tmp_path_factory):
    root = tmp_path_factory.mktemp("security")
    faults = fault_runbooks(root / "runbooks")
    state = root / "state"
    cfg = replace(history.config, stack=replace(history.config.stack, state_dir=state))
    settings = LauncherSettings(workers=1, warm_kernels=0, token=TOKEN, max_body_bytes=64 << 10,
                                max_form_bytes=8 << 10)
    with InProcessLauncher(cfg, settings=settings, registry=Registry(faults)) as srv:
        yield srv, root


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def good_alert(**labels):
    return alert("Quick", fingerprint="sec", **labels)


HOSTILE_WEBHOOKS = [
    ("no token", {}, payload(good_alert()), 401),
    ("wrong token", {"Authorization": "Bearer nope"}, payload(good_alert()), 401),
    ("version 3", AUTH, {**payload(good_alert()), "version": "3"}, 400),
    ("not a list", AUTH, {**payload(good_alert()), "alerts": "x"}, 400),
    ("script in a label", AUTH, payload(good_alert(model_name="<script>alert(1)</script>")), 400),
    ("quote injection", AUTH, payload(good_alert(model_name='x"\nimport os;os.system("id")#')), 400),
    ("path in feature", AUTH, payload(good_alert(feature="../../etc/passwd")), 400),
    ("non-string label", AUTH, {**payload(good_alert()),
                                "alerts": [{**good_alert(), "labels": {"alertname": ["Quick"]}}]}, 400),
    ("unknown runbook only", AUTH, payload(alert("../../etc/passwd", fingerprint="u")), 422),
    ("reserved via label is dropped, bad starts_at refused", AUTH,
     payload({**good_alert(prometheus_url="http://evil"), "startsAt": "soon"}), 400),
    ("bad status", AUTH, payload({**good_alert(), "status": "exploding"}), 400),
]


@pytest.mark.parametrize("name,headers,body,status", HOSTILE_WEBHOOKS,
                         ids=[h[0] for h in HOSTILE_WEBHOOKS])
def test_hostile_webhooks_are_refused(guarded, name, headers, body, status):
    srv, root = guarded
    before = snapshot(root)
    r = httpx.post(f"{srv.url}/alertmanager", json=body, headers=headers, timeout=30)
    assert r.status_code == status, r.text
    assert r.json()["error"]
    assert srv.launcher.store.list() == []
    assert {p for p in snapshot(root) - before if "runs" not in p.parts} == set()


def raw_post(srv, path, content, headers):
    return httpx.post(f"{srv.url}{path}", content=content, headers=headers, timeout=30)


@pytest.mark.parametrize("name,path,content,headers,status", [
    ("malformed json", "/alertmanager", b"{not json", {**AUTH, "content-type": "application/json"}, 400),
    ("oversized body", "/alertmanager", b"{" + b" " * (65 << 10) + b"}",
     {**AUTH, "content-type": "application/json"}, 413),
    ("oversized form", "/runbook/Quick", b"model_name=" + b"a" * (9 << 10),
     {**AUTH, "content-type": "application/x-www-form-urlencoded"}, 413),
    ("json form", "/runbook/Quick", b"{}", {**AUTH, "content-type": "application/json"}, 415),
    ("undeclared parameter", "/runbook/Quick", b"model_name=m&__import__=os",
     {**AUTH, "content-type": "application/x-www-form-urlencoded"}, 400),
    ("reserved parameter", "/runbook/Probe", b"prometheus_url=http://169.254.169.254",
     {**AUTH, "content-type": "application/x-www-form-urlencoded"}, 400),
    ("duplicate parameter", "/runbook/Quick", b"model_name=a&model_name=b",
     {**AUTH, "content-type": "application/x-www-form-urlencoded"}, 400),
    ("traversal as runbook", "/runbook/..%2F..%2Fetc%2Fpasswd", b"model_name=m",
     {**AUTH, "content-type": "application/x-www-form-urlencoded"}, 404),
    ("unknown runbook", "/runbook/NoSuchAlert", b"model_name=m",
     {**AUTH, "content-type": "application/x-www-form-urlencoded"}, 404),
    ("form without token", "/runbook/Quick", b"model_name=m",
     {"content-type": "application/x-www-form-urlencoded"}, 401),
])
def test_hostile_posts_are_refused(guarded, name, path, content, headers, status):
    srv, root = guarded
    before = snapshot(root)
    r = raw_post(srv, path, content, headers)
    assert r.status_code == status, r.text
    assert srv.launcher.store.list() == []
    assert {p for p in snapshot(root) - before if "runs" not in p.parts} == set()
    assert str(root) not in r.text and "/tmp" not in r.text  # no server path in any refusal


def test_an_unknown_runbook_names_the_known_ones_not_the_servers_folders(guarded):
    srv, root = guarded
    for accept in ("text/html", "application/json"):
        r = httpx.get(f"{srv.url}/runbook/NoSuchAlert", headers={"Accept": accept}, timeout=30)
        assert r.status_code == 404 and "Quick" in r.text, r.text
        assert str(root) not in r.text and "runbooks" not in r.text.replace(
            "runbooks exist for", ""), r.text


@pytest.mark.parametrize("path", [
    "/runbook/Quick?model_name=a;rm%20-rf", "/runbook/Quick?__class__=x",
    "/runbook/Quick?baseline_path=/etc/passwd", "/runbook/Quick?model_name=a&model_name=b",
    "/runbook/..%2F..%2Fpyproject", "/runs/..%2F..%2Fetc%2Fpasswd", "/runs/../../etc/passwd",
    "/runs/20260101T000000Z-0123456789/output.ipynb", "/runs/x/output.ipynb",
])
def test_hostile_gets_are_refused_and_never_execute(guarded, path):
    srv, root = guarded
    r = httpx.get(f"{srv.url}{path}", timeout=30)
    assert 400 <= r.status_code < 500, (path, r.status_code)
    assert "root:" not in r.text
    assert srv.launcher.store.list() == []


def test_with_the_token_a_webhook_is_accepted(guarded):
    srv, root = guarded
    r = httpx.post(f"{srv.url}/alertmanager", json=payload(good_alert()), headers=AUTH, timeout=30)
    assert r.status_code == 200 and r.json()["runs"][0]["created"]
    run_dir = Path(srv.launcher.store.root)
    assert all(p.is_relative_to(run_dir) for p in snapshot(root / "state"))
