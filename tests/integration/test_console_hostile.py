"""The console under attack. Against its own real Alertmanager: a CSRF token with a huge or
non-ASCII stamp, cached Basic credentials in a cross-site form, and a silence with an invalid
label name are each a clear 4xx and create nothing. Against a hostile fake Alertmanager (the one
case a real one cannot play: it drips its answer a byte a second, or answers garbage) the console
renders a page naming the problem before the answer would have ended, and while 45 such loads
are stuck the webhook and ``/healthz`` still answer."""

from __future__ import annotations

import base64
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest
from launcher_support import InProcessLauncher, alert, fault_runbooks, payload, wait_for
from test_console import Forms, active_silences, alertmanager, browser_headers, console, post_alert

from mlmon_nb.launcher import LauncherSettings
from mlmon_nb.launcher.security import CsrfSigner
from mlmon_nb.runbooks import Registry
from mlmon_nb.stack import free_port

__all__ = ["alertmanager", "console"]  # fixtures of test_console, used here

pytestmark = pytest.mark.integration

DRIP_SECONDS = 40


def _read_request(conn: socket.socket) -> None:
    """Read a whole request, headers and body: a socket closed with unread bytes is reset, and
    the reset can overtake the answer sent before it (a POST's body arrives after its
    headers)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


class HostileAlertmanager:
    """A TCP server that plays a broken Alertmanager: ``drip`` sends a valid answer a byte a
    second for DRIP_SECONDS; ``deep`` a JSON list nested 100,000 deep; ``short`` a body cut
    short of its Content-Length; ``garbage`` something that is not HTTP."""

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.completed = 0   # drips sent to their end
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                _read_request(conn)
                if self.mode == "drip":
                    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" \
                             + b" " * DRIP_SECONDS
                    for byte in answer[:DRIP_SECONDS]:
                        conn.sendall(bytes([byte]))
                        time.sleep(1)
                    with self.lock:
                        self.completed += 1
                    return
                body = {"deep": b"[" * 100_000 + b"]" * 100_000,
                        "short": b'[{"labels": {"alertname": "Qu'}.get(self.mode)
                if body is None:
                    conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff garbage\r\n\r\n")
                    return
                length = len(body) + (1000 if self.mode == "short" else 0)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % length + body)
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def hostile(request, stack_config, tmp_path):
    am = HostileAlertmanager(request.param)
    cfg = replace(stack_config, prometheus_url=f"http://127.0.0.1:{free_port()}")  # nothing there
    settings = LauncherSettings(workers=1, warm_kernels=0, alertmanager_url=am.url,
                                source_timeout=5.0)
    try:
        with InProcessLauncher(cfg, settings=settings,
                               registry=Registry(fault_runbooks(tmp_path / "rb"))) as srv:
            yield srv, am
    finally:
        am.close()


def silence_form(client: httpx.Client, srv) -> dict[str, str]:
    client.get("/")  # sets the CSRF cookie
    token = srv.app.state.guard.csrf.token(client.cookies["mlmon_csrf"])
    return {"csrf_token": token, "label.alertname": "Quick", "duration": "1h",
            "comment": "c", "author": "a"}


@pytest.mark.parametrize("hostile, words", [
    ("deep", "answered garbage (an answer the console cannot read: the answer nests deeper"),
    ("short", "answered garbage (not an HTTP answer: IncompleteRead)"),
    ("garbage", "answered garbage (not an HTTP answer: BadStatusLine)"),
], indirect=["hostile"])
def test_an_alertmanager_answering_garbage_gives_a_page_that_says_so(hostile, words):
    srv, am = hostile
    with httpx.Client(base_url=srv.url, timeout=60) as client:
        page = client.get("/")
        assert page.status_code == 200, page.text
        assert f"Alertmanager at {am.url} {words}" in page.text, page.text
        assert "the alerts firing now are unknown" in page.text
        made = client.post("/silences", data=silence_form(client, srv),
                           headers=browser_headers(srv.url))
        assert made.status_code == 502, made.text
        assert f"Alertmanager at {am.url} answered garbage" in made.text
        assert "the silence was not created as far as the console knows" in made.text


@pytest.mark.parametrize("hostile", ["drip"], indirect=True)
def test_a_dripping_alertmanager_cannot_hold_the_console_or_the_silence_form(hostile):
    srv, am = hostile
    with httpx.Client(base_url=srv.url, timeout=120) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert f"Alertmanager at {am.url} is unreachable (TimeoutError: no complete answer " \
               f"within 5s)" in page.text, page.text
        made = client.post("/silences", data=silence_form(client, srv),
                           headers=browser_headers(srv.url))
        assert made.status_code == 502 and "no complete answer within 5s" in made.text
        assert "the silence was not created" in made.text
    # both answered before any of the drips (a byte a second for 40 s) had ended
    assert am.accepted >= 2 and am.completed == 0


@pytest.mark.parametrize("hostile", ["drip"], indirect=True)
def test_stuck_console_loads_never_delay_the_webhook_or_healthz(hostile):
    srv, am = hostile
    finished: list[float] = []

    def load() -> httpx.Response:
        answer = httpx.get(f"{srv.url}/", timeout=120)
        finished.append(time.monotonic())
        return answer

    with ThreadPoolExecutor(45) as pool:
        loads = [pool.submit(load) for _ in range(45)]
        wait_for(lambda: am.accepted >= 1, timeout=30, what="a console load to reach Alertmanager")
        hook = httpx.post(f"{srv.url}/alertmanager", timeout=60,
                          json=payload(alert("Quick", fingerprint="f1", status="resolved"),
                                       status="resolved"))
        health = httpx.get(f"{srv.url}/healthz", timeout=60)
        answered, still_loading = time.monotonic(), len(finished) == 0
        pages = [f.result() for f in loads]
    assert hook.status_code == 200, hook.text
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert still_loading and all(answered < t for t in finished)  # while every load was stuck
    assert all(p.status_code == 200 and "no complete answer within 5s" in p.text for p in pages)
    assert am.completed == 0


def test_a_csrf_token_with_a_huge_or_non_ascii_stamp_is_a_403_and_origin_null_needs_same_origin(
        console):
    srv, am = console
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        form = silence_form(client, srv)
        mac = form["csrf_token"].partition(".")[2]
        for stamp in ("9" * 5000, "¹²³⁴⁵⁶⁷⁸⁹⁰", "１２３４５６７８９０", "-1", ""):
            r = client.post("/silences", data={**form, "csrf_token": f"{stamp}.{mac}"},
                            headers=browser_headers(srv.url))
            assert r.status_code == 403 and "CSRF token is missing or stale" in r.text, \
                (stamp[:20], r.status_code, r.text[:200])
        assert active_silences(am) == []
        # an opaque origin is the launcher's own page only when the browser says same-origin
        assert client.get("/").headers["referrer-policy"] == "same-origin"
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        r = client.post("/silences", data=form, headers={**form_type, "Origin": "null"})
        assert r.status_code == 403 and "origin 'null'" in r.text, r.text
        r = client.post("/silences", data=form, headers={**form_type, "Origin": "null",
                                                         "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 303, r.text
    assert len(active_silences(am)) == 1


def test_an_invalid_label_name_or_silence_id_is_a_400(console):
    srv, am = console
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        form = silence_form(client, srv)
        for name in ("bad-name", "1st", "é"):
            r = client.post("/silences", data={**form, f"label.{name}": "x"},
                            headers=browser_headers(srv.url))
            assert r.status_code == 400 and "is not a label name" in r.text, r.text
        token = {"csrf_token": form["csrf_token"]}
        r = client.post("/silences/bad$id/expire", data=token, headers=browser_headers(srv.url))
        assert r.status_code == 400 and "is not a silence id" in r.text, r.text
        unknown = "00000000-0000-0000-0000-000000000000"
        r = client.post(f"/silences/{unknown}/expire", data=token,
                        headers=browser_headers(srv.url))
        # Alertmanager answers 500 "silence not found": passed on as a 502 with its reason
        assert r.status_code == 502 and "silence not found" in r.text, r.text
    assert active_silences(am) == []


@pytest.fixture
def guarded_console(alertmanager, tmp_path):
    cfg, am = alertmanager
    cfg = replace(cfg, prometheus_url=f"http://127.0.0.1:{free_port()}")
    settings = LauncherSettings(workers=1, warm_kernels=0, alertmanager_url=am,
                                token="write-secret")
    with InProcessLauncher(cfg, settings=settings,
                           registry=Registry(fault_runbooks(tmp_path / "rb"))) as srv:
        yield srv, am


def test_cached_basic_credentials_never_stand_in_for_the_csrf_token(guarded_console):
    srv, am = guarded_console
    post_alert(am, {"alertname": "Quick", "severity": "critical",
                    "model_name": "sentiment_classifier"}, {"summary": "s"})
    wait_for(lambda: "run the Quick runbook" in httpx.get(srv.url, timeout=30).text,
             timeout=30, what="the alert on the console")
    basic = "Basic " + base64.b64encode(b"oncall:write-secret").decode()
    silence = {"label.alertname": "Quick", "duration": "1h", "comment": "x", "author": "x"}
    run = {"model_name": "sentiment_classifier"}
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        for path, data in (("/silences", silence), ("/runbook/Quick", run)):
            # a cross-site form: no Origin, a foreign Referer, the browser's cached Basic login
            r = client.post(path, data=data, headers={**form_type, "Authorization": basic,
                                                      "Referer": "http://evil.example/x"})
            assert r.status_code == 403 and "evil.example" in r.text, r.text
            # no Referer either: Basic is the token, but the CSRF token is still missing
            r = client.post(path, data=data, headers={**form_type, "Authorization": basic})
            assert r.status_code == 403 and "CSRF token is missing" in r.text, r.text
        assert active_silences(am) == [] and srv.launcher.store.list(limit=10) == []

        # the console's own form with the token typed in works, and a bearer client needs no
        # CSRF token
        fields = Forms(client.get("/").text).by_action("/silences")
        r = client.post("/silences", headers=browser_headers(srv.url),
                        data={**fields, "comment": "c", "author": "a",
                              "access_token": "write-secret"})
        assert r.status_code == 303, r.text
        r = httpx.post(f"{srv.url}/runbook/Quick", data=run, timeout=30,
                       headers={**form_type, "Authorization": "Bearer write-secret"})
        assert r.status_code == 303, r.text
    assert len(active_silences(am)) == 1 and len(srv.launcher.store.list(limit=10)) == 1


def test_a_csrf_stamp_is_at_most_twelve_ascii_digits():
    signer = CsrfSigner(b"k" * 32)
    nonce = signer.nonce()
    good = signer.token(nonce)
    assert signer.valid(nonce, good)
    mac = good.partition(".")[2]
    assert not any(signer.valid(nonce, f"{s}.{mac}") for s in ("9" * 5000, "¹²³", "1" * 13))
