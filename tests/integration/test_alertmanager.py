"""Alertmanager routing: amtool checks, routes per severity, and a real Alertmanager delivering
a critical alert to a webhook and inhibiting the warning of the same alert."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlmon_nb import rules
from mlmon_nb.config import load_config
from mlmon_nb.stack import Stack, free_port

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "stack" / "alertmanager.yml"
DEMO = load_config(REPO / "stack" / "mlmon.yaml")


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["amtool", *args], capture_output=True, text=True, timeout=60)


def test_amtool_check_config_committed():
    proc = amtool("check-config", str(COMMITTED))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 receivers" in proc.stdout and "4 inhibit rules" in proc.stdout


def test_amtool_check_config_with_every_integration_configured(tmp_path):
    secrets = {name: tmp_path / name for name in ("pd-key", "slack-url", "token")}
    for path in secrets.values():
        path.write_text("placeholder-secret\n")
    env = {"MLMON_PAGERDUTY_ROUTING_KEY_FILE": str(secrets["pd-key"]),
           "MLMON_SLACK_API_URL_FILE": str(secrets["slack-url"]),
           "MLMON_SLACK_CHANNEL": "#oncall-ml",
           "MLMON_LAUNCHER_TOKEN_FILE": str(secrets["token"])}
    text = rules.render_alertmanager(DEMO, **rules.receivers_from_env(env))
    assert "placeholder-secret" not in text  # secrets are referenced by path, never inlined
    config = tmp_path / "am.yml"
    config.write_text(text)
    proc = amtool("check-config", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for field in ("routing_key_file", "api_url_file", "credentials_file", "#oncall-ml"):
        assert field in text


@pytest.mark.parametrize("severity, receivers", [
    ("critical", "pager,launcher"),
    ("warning", "chat,launcher"),
    ("info", "log"),
])
def test_routes_per_severity(severity, receivers):
    proc = amtool("config", "routes", "test", f"--config.file={COMMITTED}",
                  f"--verify.receivers={receivers}", f"severity={severity}",
                  "alertname=HighErrorRate", "model_name=sentiment_classifier")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == receivers


def test_routes_reject_a_wrong_expectation():
    proc = amtool("config", "routes", "test", f"--config.file={COMMITTED}",
                  "--verify.receivers=log", "severity=critical", "model_name=m")
    assert proc.returncode != 0


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append({"path": self.path, "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Webhook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Webhook.received
    server.shutdown()
    server.server_close()


@pytest.fixture
def alertmanager(tmp_path, webhook):
    """A real Alertmanager started by the stack, its launcher port pointing at the webhook."""
    url, received = webhook
    config = DEMO.with_ports({"alertmanager": free_port(), "launcher": int(url.rsplit(":", 1)[1])},
                             state_dir=tmp_path / "state")
    stack = Stack(config)
    stack.up(["alertmanager"], timeout=30)
    try:
        yield stack.url("alertmanager"), received
    finally:
        stack.down()


def _post_alerts(base: str, alerts: list[dict]) -> None:
    req = urllib.request.Request(f"{base}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=5)


def _alert(alertname: str, severity: str) -> dict:
    return {"labels": {"alertname": alertname, "severity": severity,
                       "model_name": "sentiment_classifier"},
            "annotations": {"summary": "s", "runbook_url": "http://127.0.0.1/runbook/x"}}


def test_real_alertmanager_delivers_critical_to_launcher_and_inhibits_warning(alertmanager):
    base, received = alertmanager
    _post_alerts(base, [_alert("HighLatencyP95", "critical"), _alert("HighLatencyP95", "warning"),
                        _alert("LowThroughput", "warning")])
    # inhibition is visible at once: the warning of the same alert and model is suppressed,
    # the warning of another alert is not
    states = {}
    for _ in range(50):
        with urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=5) as resp:
            states = {(a["labels"]["alertname"], a["labels"]["severity"]): a["status"]
                      for a in json.load(resp)}
        if len(states) == 3 and states[("HighLatencyP95", "warning")]["inhibitedBy"]:
            break
        time.sleep(0.2)
    assert states[("HighLatencyP95", "warning")]["state"] == "suppressed"
    assert states[("HighLatencyP95", "critical")]["state"] == "active"
    assert states[("LowThroughput", "warning")]["state"] == "active"
    # delivery after group_wait (30s): one v4 payload per alert at the launcher's webhook path;
    # the suppressed warning is not delivered
    _wait_for_deliveries(received, 2)
    by_alert = {(r["body"]["groupLabels"]["alertname"], r["body"]["groupLabels"]["severity"]): r
                for r in received}
    assert set(by_alert) == {("HighLatencyP95", "critical"), ("LowThroughput", "warning")}
    for r in received:
        assert r["path"] == "/alertmanager"
        assert r["body"]["version"] == "4"
        assert r["body"]["receiver"] == "launcher"
        assert len(r["body"]["alerts"]) == 1
    # a later critical alert of the same model has its own group at the launcher: its runbook
    # starts after group_wait, not after the 5m group_interval of the (model, severity) group
    posted = time.monotonic()
    _post_alerts(base, [_alert("HighErrorRate", "critical")])
    _wait_for_deliveries(received, 3)
    assert time.monotonic() - posted < 120  # group_wait 30s; group_interval would be 300s
    assert received[-1]["body"]["groupLabels"]["alertname"] == "HighErrorRate"


def _wait_for_deliveries(received: list, n: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(received) < n:
        time.sleep(0.5)
    assert len(received) == n, received


def test_real_alertmanager_inhibits_a_canarys_alert_only_by_the_same_version(alertmanager):
    """LowModelAccuracy silences EstimatedAccuracyDrop of the same model and version: the
    model-wide alert silences the model-wide one, a version's the same version's, and neither
    the other's."""
    base, _ = alertmanager

    def alert(alertname: str, version: str = "") -> dict:
        out = _alert(alertname, "warning")
        out["labels"].update({"model_version": version} if version else {})
        return out
    _post_alerts(base, [alert("LowModelAccuracy"), alert("LowModelAccuracy", "3"),
                        alert("EstimatedAccuracyDrop"), alert("EstimatedAccuracyDrop", "2"),
                        alert("EstimatedAccuracyDrop", "3")])
    states: dict = {}
    for _ in range(50):
        with urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=5) as resp:
            states = {(a["labels"]["alertname"], a["labels"].get("model_version", "")):
                      a["status"]["state"] for a in json.load(resp)}
        if len(states) == 5 and list(states.values()).count("suppressed") == 2:
            break
        time.sleep(0.2)
    assert states == {("LowModelAccuracy", ""): "active", ("LowModelAccuracy", "3"): "active",
                      ("EstimatedAccuracyDrop", ""): "suppressed",
                      ("EstimatedAccuracyDrop", "2"): "active",
                      ("EstimatedAccuracyDrop", "3"): "suppressed"}, states
