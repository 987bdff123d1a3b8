"""The console's actions clicked in headless Chromium against a real Alertmanager: the model
filter, "run the runbook", "run again" and its form, a silence created and then expired from the
console (Alertmanager holds it, then does not); a silenced alert is told from an inhibited one;
the same forms served from another site and submitted there are refused, and nothing is
created."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from browser_support import browser
from launcher_support import InProcessLauncher, fault_runbooks, wait_for
from test_console import active_silences, alertmanager, am_get, console, post_alert

from mlmon_nb.launcher import LauncherSettings
from mlmon_nb.runbooks import Registry
from mlmon_nb.stack import free_port

__all__ = ["alertmanager", "console"]  # fixtures of test_console, used here

pytestmark = pytest.mark.integration

LABELS = {"alertname": "Quick", "model_name": "sentiment_classifier", "job": "mlmon-demo"}
CRITICAL = ".alert.sev-critical"


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_every_console_action_works_when_clicked(console, tmp_path):
    srv, am = console
    store = srv.launcher.store
    post_alert(am, {**LABELS, "severity": "critical"}, {"summary": "error ratio above 5%"})
    post_alert(am, {**LABELS, "severity": "warning"}, {"summary": "error ratio above 1%"})
    wait_for(lambda: any(a["status"]["inhibitedBy"] for a in am_get(am, "/api/v2/alerts")),
             timeout=60, what="the warning to be inhibited by the critical alert")

    with browser(tmp_path / "chromium") as page:
        page.goto(f"{srv.url}/")
        text = page.text()
        assert "Firing now (2) · 1 of them silenced or inhibited" in text, text
        assert "inhibited by Quick" in text, text
        assert "suppressed by silence" not in text and "No silence is active." in text

        # the model filter (a GET form): typed in and submitted, it keeps the model in the URL
        page.fill("form.model-filter input[name=model_name]", "sentiment_classifier")
        page.click_and_wait("form.model-filter button")
        assert page.evaluate("location.search") == "?model_name=sentiment_classifier"
        assert "Firing now (2)" in page.text()
        page.goto(f"{srv.url}/")

        # "run the Quick runbook" on the critical alert: a run page, and the run exists
        page.click_and_wait(f"{CRITICAL} form[action='/runbook/Quick'] button")
        first = path_of(page.evaluate("location.href"))
        assert re.fullmatch(r"/runs/[0-9A-Za-z-]+", first), (first, page.text())
        run = store.get(first.rsplit("/", 1)[1])
        assert run is not None and run.alertname == "Quick" and run.source == "link"
        assert run.params["severity"] == "critical"
        wait_for(lambda: store.get(run.run_id).status == "done", timeout=180,
                 what="the clicked run to finish")

        # the run page says when its verdict was true, and the alert's state since
        page.goto(f"{srv.url}{first}")
        assert re.search(r"verdict as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \((just now|\d+m ago)\)",
                         page.text()), page.text()
        assert "run by hand for the alert that started at" in page.text()  # from the console
        # the console shows the run's verdict with its time, whole, and nothing stale
        page.goto(f"{srv.url}/")
        card = page.evaluate(f"document.querySelector('{CRITICAL} .run').innerText")
        assert re.search(r"done \(as of \d\d:\d\d UTC, (just now|\d+m ago)\) — quick run for "
                         r"sentiment_classifier", card), card
        assert "verdict older" not in card

        # "run again" on the run page: its form, then "Run": a second run of the same alert
        page.goto(f"{srv.url}{first}")
        page.click_and_wait("a.rerun")
        assert path_of(page.evaluate("location.href")) == "/runbook/Quick", page.text()
        page.click_and_wait("form[action='/runbook/Quick'] button[type=submit]")
        second = path_of(page.evaluate("location.href"))
        assert re.fullmatch(r"/runs/[0-9A-Za-z-]+", second) and second != first, page.text()
        again = store.get(second.rsplit("/", 1)[1])
        assert again is not None and again.params["model_name"] == "sentiment_classifier"

        # a silence from the console's form, filled and submitted like a person would
        page.goto(f"{srv.url}/")
        page.click(f"{CRITICAL} details summary")
        page.fill(f"{CRITICAL} input[name=comment]", "looking into it")
        page.fill(f"{CRITICAL} input[name=author]", "oncall")
        page.fill(f"{CRITICAL} input[name=duration]", "90m")
        page.click_and_wait(f"{CRITICAL} form[action='/silences'] button")
        made = active_silences(am)
        assert len(made) == 1, page.text()
        silence = made[0]
        assert silence["createdBy"] == "oncall" and silence["comment"] == "looking into it"
        assert {m["name"]: m["value"] for m in silence["matchers"]} == {**LABELS,
                                                                      "severity": "critical"}
        assert f"Silence {silence['id']} created in Alertmanager." in page.text()

        # the console lists it (who, why, until when) and says which alert it holds
        wait_for(lambda: any(a["status"]["silencedBy"] for a in am_get(am, "/api/v2/alerts")),
                 timeout=30, what="the critical alert to be silenced")
        page.goto(f"{srv.url}/")
        text = page.text()
        assert "Silences (1)" in text and "looking into it" in text, text
        row = page.evaluate(f"document.querySelector(\"tr[data-silence='{silence['id']}']\")"
                            f".innerText")
        assert "oncall" in row and "looking into it" in row and "UTC" in row, row
        assert f"suppressed by silence {silence['id']} by oncall: looking into it" in text, text

        # expired from the console: gone from Alertmanager's active silences
        page.click_and_wait(f"tr[data-silence='{silence['id']}'] button")
        assert f"Silence {silence['id']} expired in Alertmanager." in page.text()
        assert active_silences(am) == []
        assert "No silence is active." in page.text()


@pytest.fixture
def live_console(alertmanager, tmp_path):
    """The console of ``console`` refreshing itself every second."""
    cfg, am = alertmanager
    cfg = replace(cfg, prometheus_url=f"http://127.0.0.1:{free_port()}")
    settings = LauncherSettings(workers=1, warm_kernels=0, alertmanager_url=am,
                                console_refresh=1.0)
    with InProcessLauncher(cfg, settings=settings,
                           registry=Registry(fault_runbooks(tmp_path / "runbooks"))) as srv:
        yield srv, am


def test_the_console_refreshes_itself_but_never_under_a_form_being_typed(live_console, tmp_path):
    srv, am = live_console
    post_alert(am, {**LABELS, "severity": "critical"}, {"summary": "error ratio above 5%"})
    wait_for(lambda: am_get(am, "/api/v2/alerts"), timeout=30, what="the alert")
    asof = "document.querySelector('#live .asof-time').innerText"
    with browser(tmp_path / "chromium") as page:
        page.goto(f"{srv.url}/")
        assert "Firing now (1)" in page.text() and "refreshes itself every 1s" in page.text()
        first = page.evaluate(asof)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", first), first
        # refreshed in place (the "as of" time moves on) without reloading the document
        page.evaluate("window.__same_document = true")
        page.wait_for(f"{asof} !== {first!r}", timeout=30)
        assert page.evaluate("window.__same_document") is True

        # a silence form opened and typed in: a new alert arrives, the form is kept
        page.click(f"{CRITICAL} details summary")
        page.fill(f"{CRITICAL} input[name=comment]", "half a sentence")
        typed_at = page.evaluate(asof)
        post_alert(am, {**LABELS, "alertname": "Other", "severity": "warning"}, {"summary": "s"})
        wait_for(lambda: len(am_get(am, "/api/v2/alerts")) == 2, timeout=30, what="2 alerts")
        time.sleep(4)  # four refresh periods pass while the field holds what was typed
        assert page.evaluate(f"document.querySelector('{CRITICAL} input[name=comment]').value") \
            == "half a sentence"
        assert page.evaluate(asof) == typed_at and "Firing now (1)" in page.text()

        # the form left alone (cleared, closed, unfocused): the next refresh shows both alerts
        page.evaluate(f"(() => {{ const f = document.querySelector('{CRITICAL} input[name=comment]');"
                      f" f.value = ''; f.blur(); f.closest('details').open = false; }})()")
        page.wait_for("document.body.innerText.includes('Firing now (2)')", timeout=30)
        assert page.evaluate("window.__same_document") is True


class _Hostile(BaseHTTPRequestHandler):
    """Another site's page: the console's own forms, pointed at the launcher."""

    page = b""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args):
        pass


def test_the_same_forms_from_another_site_are_refused_in_chromium(console, tmp_path):
    srv, am = console
    post_alert(am, {**LABELS, "severity": "critical"}, {"summary": "s"})
    wait_for(lambda: am_get(am, "/api/v2/alerts"), timeout=30, what="the alert")
    runs_before = len(srv.launcher.store.list(limit=100))
    with browser(tmp_path / "chromium") as page:
        page.goto(f"{srv.url}/")  # the browser holds the launcher's CSRF cookie now
        console_html = page.evaluate("document.documentElement.outerHTML")
        csrf = re.search(r"name=\"csrf_token\" value=\"([^\"]+)\"", console_html)
        assert csrf, console_html[:2000]
        hostile = (
            f"<form id=silence method=post action='{srv.url}/silences'>"
            f"<input name=csrf_token value='{csrf.group(1)}'>"
            f"<input name=label.alertname value=Quick><input name=comment value=x>"
            f"<input name=author value=x><button>silence</button></form>"
            f"<form id=run method=post action='{srv.url}/runbook/Quick'>"
            f"<input name=csrf_token value='{csrf.group(1)}'>"
            f"<input name=model_name value=sentiment_classifier><button>run</button></form>")
        _Hostile.page = hostile.encode()
        server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Hostile)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            other_site = f"http://localhost:{server.server_address[1]}/"  # not 127.0.0.1's site
            for form in ("silence", "run"):
                page.goto(other_site)
                page.click_and_wait(f"#{form} button")
                text = page.text()
                assert "refused a cross-site request" in text, text
        finally:
            server.shutdown()
            server.server_close()
    assert active_silences(am) == []
    assert len(srv.launcher.store.list(limit=100)) == runs_before


def test_a_failed_run_says_why_on_the_console_and_runs_again_when_clicked(console, tmp_path):
    srv, am = console
    store = srv.launcher.store
    labels = {**LABELS, "alertname": "Failing", "severity": "critical"}
    post_alert(am, labels, {"summary": "the runbook of this alert fails"})
    wait_for(lambda: am_get(am, "/api/v2/alerts"), timeout=60, what="the alert in Alertmanager")

    with browser(tmp_path / "chromium") as page:
        page.goto(f"{srv.url}/")
        page.click_and_wait(f"{CRITICAL} form[action='/runbook/Failing'] button")
        first = path_of(page.evaluate("location.href")).rsplit("/", 1)[1]
        wait_for(lambda: store.get(first).status == "failed", timeout=180,
                 what="the clicked run to fail")

        page.goto(f"{srv.url}/")
        card = page.evaluate(f"document.querySelector('{CRITICAL} .run').innerText")
        assert "failed" in card and "the runbook broke" in card, card  # the reason, not a status
        page.click_and_wait(f"{CRITICAL} .failed-reason form[action='/runbook/Failing'] button")
        second = path_of(page.evaluate("location.href")).rsplit("/", 1)[1]
        assert second != first, page.text()
        again = store.get(second)
        assert again is not None and again.params["model_name"] == LABELS["model_name"]
