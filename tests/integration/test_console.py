"""The incident console against a real Alertmanager: an alert posted to its API v2 is listed in
headless Chromium with its severity and a run button, the button's form runs the runbook and the
console then links the run; a silence made from the console reaches Alertmanager, and is refused
without its CSRF token or from a foreign origin; unreachable sources give a clear page."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from browser_support import ARTIFACTS, browse
from launcher_support import InProcessLauncher, fault_runbooks, wait_for

from mlmon_nb.config import Config
from mlmon_nb.launcher import LauncherSettings
from mlmon_nb.launcher.console import alertmanager_url, parse_time, relative_time
from mlmon_nb.runbooks import Registry
from mlmon_nb.stack import Stack, free_port


class Forms(HTMLParser):
    """Every form of a page: its action and its named inputs' values."""

    def __init__(self, text: str):
        super().__init__()
        self.forms: list[dict] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""

    def by_action(self, action: str) -> dict:
        found = [f for f in self.forms if f["action"] == action]
        assert len(found) == 1, [f["action"] for f in self.forms]
        return found[0]["fields"]


def am_get(base: str, path: str):
    with urllib.request.urlopen(f"{base}{path}", timeout=10) as resp:
        return json.load(resp)


def post_alert(base: str, labels: dict, annotations: dict) -> None:
    req = urllib.request.Request(f"{base}/api/v2/alerts", method="POST",
                                 data=json.dumps([{"labels": labels,
                                                   "annotations": annotations}]).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).close()


def active_silences(base: str) -> list[dict]:
    return [s for s in am_get(base, "/api/v2/silences") if s["status"]["state"] == "active"]


@pytest.fixture
def alertmanager(stack_config: Config):
    """A real Alertmanager started by the stack on a free port; its webhook points at a port
    nobody listens on, so runs in these tests come from the console only."""
    stack = Stack(stack_config)
    stack.up(["alertmanager"], timeout=60)
    try:
        yield stack_config, stack.url("alertmanager")
    finally:
        stack.down()


@pytest.fixture
def console(alertmanager, tmp_path):
    cfg, am = alertmanager
    cfg = replace(cfg, prometheus_url=f"http://127.0.0.1:{free_port()}")  # nothing there
    registry = Registry(fault_runbooks(tmp_path / "runbooks"))
    settings = LauncherSettings(workers=1, warm_kernels=0, alertmanager_url=am)
    with InProcessLauncher(cfg, settings=settings, registry=registry) as srv:
        yield srv, am


def browser_headers(url: str) -> dict[str, str]:
    """What a browser sends with a form POST from the launcher's own page."""
    return {"Origin": url, "Sec-Fetch-Site": "same-origin",
            "Content-Type": "application/x-www-form-urlencoded"}


def shot(url: str, name: str, profile: Path) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.unlink(missing_ok=True)
    browse(url, profile, f"--screenshot={path}", height=800)
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000  # a rendered page, not a blank one
    return path


def test_console_lists_a_firing_alert_runs_its_runbook_and_silences_it(console, tmp_path):
    srv, am = console
    labels = {"alertname": "Quick", "severity": "critical", "model_name": "sentiment_classifier",
              "job": "mlmon-demo"}
    post_alert(am, labels, {"summary": "error ratio above 5%",
                            "runbook_url": f"{srv.url}/runbook/Quick?model_name=x"})
    wait_for(lambda: am_get(am, "/api/v2/alerts"), timeout=30, what="alert in Alertmanager")

    dom = browse(f"{srv.url}/", tmp_path / "p1", "--dump-dom").stdout
    assert "Incident console" in dom and "Firing now (1)" in dom, dom[-2000:]
    assert "badge sev-critical" in dom and ">critical<" in dom
    assert "firing since" in dom and ("just now" in dom or "m ago" in dom)
    assert "run the Quick runbook" in dom and "error ratio above 5%" in dom
    assert f"href=\"{srv.url}/runbook/Quick?model_name=x\"" in dom  # runbook_url is a link
    assert "Alerts from Alertmanager" in dom
    shot(f"{srv.url}/", "console-firing.png", tmp_path / "p2")

    with httpx.Client(base_url=srv.url, timeout=30) as client:
        page = client.get("/")
        form = Forms(page.text).by_action("/runbook/Quick")
        assert form["model_name"] == "sentiment_classifier" and form["severity"] == "critical"
        ran = client.post("/runbook/Quick", data=form, headers=browser_headers(srv.url))
        assert ran.status_code == 303, ran.text
        run_id = ran.headers["location"].rsplit("/", 1)[1]
        wait_for(lambda: client.get(f"/runs/{run_id}", params={"format": "json"})
                 .json()["status"] == "done", timeout=180, what="the run to finish")

        dom = browse(f"{srv.url}/", tmp_path / "p3", "--dump-dom").stdout
        assert f"/runs/{run_id}" in dom and "run the Quick runbook" not in dom
        assert "quick run for sentiment_classifier" in dom  # the run's verdict
        shot(f"{srv.url}/", "console-with-run.png", tmp_path / "p4")

        # silences: refused without the CSRF token, with a wrong one, or from another origin
        silence = Forms(client.get("/").text).by_action("/silences")
        assert silence["label.alertname"] == "Quick" and silence["duration"] == "2h"
        filled = {**silence, "comment": "looking into it", "author": "oncall"}
        refusals = [
            ({k: v for k, v in filled.items() if k != "csrf_token"}, browser_headers(srv.url)),
            ({**filled, "csrf_token": filled["csrf_token"][:-4] + "0000"},
             browser_headers(srv.url)),
            (filled, {**browser_headers(srv.url), "Origin": "http://evil.example"}),
            (filled, {**browser_headers(srv.url), "Sec-Fetch-Site": "cross-site"}),
        ]
        for data, headers in refusals:
            r = client.post("/silences", data=data, headers=headers)
            assert r.status_code == 403, r.text
        fresh = httpx.post(f"{srv.url}/silences", data=filled, headers=browser_headers(srv.url))
        assert fresh.status_code == 403  # the token without its cookie
        assert active_silences(am) == []

        made = client.post("/silences", data=filled, headers=browser_headers(srv.url))
        assert made.status_code == 303, made.text
        silence_id = made.headers["location"].split("silenced=", 1)[1]
    silences = active_silences(am)
    assert [s["id"] for s in silences] == [silence_id]
    matchers = {m["name"]: m["value"] for m in silences[0]["matchers"]}
    assert matchers == labels and silences[0]["createdBy"] == "oncall"
    assert silences[0]["comment"] == "looking into it"
    ends, starts = parse_time(silences[0]["endsAt"]), parse_time(silences[0]["startsAt"])
    assert ends is not None and starts is not None and abs((ends - starts) - 7200) < 5
    wait_for(lambda: am_get(am, "/api/v2/alerts")[0]["status"]["state"] == "suppressed",
             timeout=30, what="the alert to be silenced")
    dom = browse(f"{srv.url}/?silenced={silence_id}", tmp_path / "p5", "--dump-dom").stdout
    assert f"Silence {silence_id} created" in dom and "suppressed" in dom


def test_bad_silence_forms_are_refused_with_a_reason(console):
    srv, am = console
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        csrf = Forms(client.get("/").text)  # no alert: no POST form, but the cookie is set
        assert [f["action"] for f in csrf.forms] == ["/"]  # only the model filter (a GET)
        token = srv.app.state.guard.csrf.token(client.cookies["mlmon_csrf"])
        base = {"csrf_token": token, "label.alertname": "Quick", "comment": "c", "author": "a"}
        for data, words in [({**base, "duration": "forever"}, "not a duration"),
                            ({**base, "duration": "30d"}, "between 1m and 14d"),
                            ({**base, "comment": ""}, "needs a comment"),
                            ({k: v for k, v in base.items() if k != "label.alertname"},
                             "alertname")]:
            r = client.post("/silences", data=data, headers=browser_headers(srv.url))
            assert r.status_code == 400 and words in r.text, r.text
    assert active_silences(am) == []


def test_unreachable_alertmanager_and_prometheus_give_a_clear_page(stack_config, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = replace(stack_config, prometheus_url=f"http://127.0.0.1:{free_port()}")
    settings = LauncherSettings(workers=1, warm_kernels=0, alertmanager_url=dead)
    registry = Registry(fault_runbooks(tmp_path / "runbooks"))
    with InProcessLauncher(cfg, settings=settings, registry=registry) as srv, \
            httpx.Client(base_url=srv.url, timeout=30) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert f"Alertmanager at {dead} is unreachable" in page.text
        assert f"Prometheus at {cfg.prometheus_url} is unreachable" in page.text
        assert "the alerts firing now are unknown" in page.text
        token = srv.app.state.guard.csrf.token(client.cookies["mlmon_csrf"])
        r = client.post("/silences", headers=browser_headers(srv.url),
                        data={"csrf_token": token, "label.alertname": "Quick", "duration": "1h",
                              "comment": "c", "author": "a"})
        assert r.status_code == 502 and "unreachable" in r.text and "not created" in r.text
        dom = browse(f"{srv.url}/", tmp_path / "p", "--dump-dom").stdout
        assert "is unreachable" in dom


def test_console_falls_back_to_prometheus_alerts(stack_config, tmp_path):
    """No Alertmanager configured: the alerts come from a real Prometheus's alerts API."""
    stack = Stack(stack_config)
    stack.up(["prometheus"], timeout=60)
    try:
        settings = LauncherSettings(workers=1, warm_kernels=0, alertmanager_url="")
        with InProcessLauncher(stack_config, settings=settings,
                               registry=Registry(fault_runbooks(tmp_path / "rb"))) as srv:
            page = httpx.get(f"{srv.url}/", timeout=30)
    finally:
        stack.down()
    assert page.status_code == 200
    assert f"Alerts from Prometheus (no Alertmanager: silences are not available) " \
           f"{stack_config.prometheus_url}" in page.text
    assert "No alert is firing." in page.text and "unreachable" not in page.text


def test_alertmanager_url_from_setting_env_or_stack(stack_config):
    port = stack_config.stack.ports["alertmanager"]
    assert alertmanager_url(stack_config, environ={}) == f"http://127.0.0.1:{port}"
    assert alertmanager_url(stack_config, environ={"MLMON_ALERTMANAGER_URL": "http://am:9093/"}) \
        == "http://am:9093"
    assert alertmanager_url(stack_config, "http://set:1", {"MLMON_ALERTMANAGER_URL": "x"}) \
        == "http://set:1"
    assert alertmanager_url(stack_config, environ={"MLMON_ALERTMANAGER_URL": ""}) == ""


def test_relative_and_parsed_times():
    assert parse_time("2026-01-01T10:00:00.123456789Z") == pytest.approx(1767261600.123456)
    assert parse_time("0001-01-01T00:00:00Z") is None and parse_time("nonsense") is None
    now = 1767261600.0
    assert [relative_time(now - s, now) for s in (5, 12 * 60, 3 * 3600 + 300, 2 * 86400 + 7200)] \
        == ["just now", "12m ago", "3h 5m ago", "2d 2h ago"]
