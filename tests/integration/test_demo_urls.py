"""Every URL `demo up` prints answers 200 on a running stack (real Prometheus, Alertmanager,
launcher, JupyterLab and demo service on free ports), the console first; Prometheus's alerts
page is the one the installed Prometheus serves, and is left out where it serves no web UI."""

from __future__ import annotations

import re

import httpx
import pytest
from browser_support import browser
from web_pages_support import known_web_pages, opens

from mlmon_nb.stack.demo.bootstrap import ALERTS_PAGES, demo_message, demo_urls, prometheus_alerts_path
from mlmon_nb.stack.demo.model import MODEL_NAME
from mlmon_nb.stack.lifecycle import Stack, free_port


@pytest.fixture
def running_stack(stack_config):
    stack = Stack(stack_config)
    stack.up(["prometheus", "alertmanager", "demo", "launcher", "jupyter"], timeout=180)
    try:
        yield stack_config, stack
    finally:
        stack.down()


def test_every_printed_url_answers_200_on_a_running_stack(running_stack):
    config, stack = running_stack
    token = stack.jupyter_token()
    alerts = prometheus_alerts_path(config.prometheus_url)
    known = known_web_pages(config.prometheus_url)
    if known is not None:  # the builds the suite installs: pinned (Debian's 2.x: the classic UI)
        assert alerts == known.alerts, known
    else:  # another build: the page it names opens, and an earlier candidate does not
        assert all(not opens(f"{config.prometheus_url}{p}")
                   for p in ALERTS_PAGES[:ALERTS_PAGES.index(alerts) if alerts else None])
    urls = demo_urls(config, token, alerts)
    assert ("Prometheus" in [u.name for u in urls]) == (alerts is not None)
    assert urls[0].name == "Console" and urls[0].url == f"{config.launcher_url}/"
    assert all(stack.url("alertmanager") not in u.url for u in urls)  # no web UI to open
    message = demo_message(config, urls)
    for u in urls:
        assert u.url in message
        answer = httpx.get(u.url, follow_redirects=True, timeout=30,
                           headers={"Accept": "text/html"})
        assert answer.status_code == 200, (u, answer.status_code, answer.text[:300])
        assert answer.url.path != "/login"  # JupyterLab took the token
    # the console on the running stack reads the stack's Alertmanager
    console = httpx.get(f"{config.launcher_url}/", timeout=30).text
    assert f"Alerts from Alertmanager {stack.url('alertmanager')}" in console


def test_every_url_stack_status_prints_opens(running_stack, tmp_path):
    # each running component's address and the URLs the configuration derives: a page answers
    # at each, the demo service's its own (what it serves, where); Prometheus's base where the
    # build has a web UI (Debian's 3.x has none). A stopped component's address is only that.
    config, stack = running_stack
    statuses = stack.status()
    printed = re.findall(r"http://\S+", stack.format_status(statuses))
    stopped = {s.url for s in statuses if not s.running}
    assert stack.url("demo") in printed and config.prometheus_url in printed
    known = known_web_pages(config.prometheus_url)
    for url in dict.fromkeys(u for u in printed if u not in stopped):
        if url == config.prometheus_url:
            if known is not None:
                assert opens(url) == known.graph, url
            continue
        assert opens(url), (url, stack.format_status(statuses))
    with browser(tmp_path / "chromium") as page:
        page.goto(f"{stack.url('demo')}/")
        text = page.text()
        assert "mlmon-nb demo model service" in text and MODEL_NAME in text, text
        assert "/predict" in text and "/feedback" in text, text
        page.click_and_wait("a[href='/metrics']")
        assert "ml_requests_total" in page.text()  # the link leads to the metrics


def test_alerts_path_when_prometheus_does_not_answer():
    assert prometheus_alerts_path(f"http://127.0.0.1:{free_port()}") is None


def test_no_prometheus_line_without_its_web_ui(stack_config):
    urls = demo_urls(stack_config, "token", None)
    assert [u.name for u in urls] == ["Console", "Runs", "JupyterLab", "Demo service"]
    assert "Prometheus" not in demo_message(stack_config, urls).split("What to click")[0]
