"""Every URL `demo up` prints answers 200 on a running stack (real Prometheus, Alertmanager,
launcher, JupyterLab and demo service on free ports), the console first; Prometheus's alerts
page is the one the installed Prometheus serves."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from mlmon_nb.stack.demo.bootstrap import demo_message, demo_urls, prometheus_alerts_path
from mlmon_nb.stack.lifecycle import Stack, find_binary, free_port


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
    version = subprocess.run([find_binary("prometheus"), "--version"], capture_output=True,
                             text=True, timeout=30, check=True).stdout + "x"
    major = int(version.split("version ", 1)[1].split(".", 1)[0])
    assert alerts == ("/alerts" if major >= 3 else "/classic/alerts")
    urls = demo_urls(config, token, alerts)
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
    # the page `demo up` used to print is not served by this Prometheus 2
    if major < 3:
        assert httpx.get(f"{config.prometheus_url}/alerts", timeout=30).status_code == 404


def test_alerts_path_when_prometheus_does_not_answer():
    assert prometheus_alerts_path(f"http://127.0.0.1:{free_port()}") == "/classic/alerts"
