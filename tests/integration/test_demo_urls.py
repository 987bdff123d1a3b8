"""Every URL `demo up` prints answers 200 on a running stack (real Prometheus, Alertmanager,
launcher, JupyterLab and demo service on free ports), the console first; Prometheus's alerts
page is the one the installed Prometheus serves, and is left out where it serves no web UI."""

from __future__ import annotations

import httpx
import pytest

from mlmon_nb.stack.demo.bootstrap import ALERTS_PAGES, demo_message, demo_urls, prometheus_alerts_path
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
    served = {path: httpx.get(f"{config.prometheus_url}{path}", timeout=30).status_code
              for path in ALERTS_PAGES}
    # the first page this build serves (Debian's 2.x: the classic one; its 3.x: none)
    assert alerts == next((path for path in ALERTS_PAGES if served[path] == 200), None), served
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


def test_alerts_path_when_prometheus_does_not_answer():
    assert prometheus_alerts_path(f"http://127.0.0.1:{free_port()}") is None


def test_no_prometheus_line_without_its_web_ui(stack_config):
    urls = demo_urls(stack_config, "token", None)
    assert [u.name for u in urls] == ["Console", "Runs", "JupyterLab", "Demo service"]
    assert "Prometheus" not in demo_message(stack_config, urls).split("What to click")[0]
