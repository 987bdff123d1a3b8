"""Which web pages the server builds the suite knows serve, pinned from what they were seen to
serve, so that tests check the project's page probe against the builds rather than against the
probe's own rule."""

from __future__ import annotations

import re
from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class WebPages:
    graph: bool  # /graph opens (directly or through its redirect)
    alerts: str | None  # the path of the alerts page, None where there is none


def known_web_pages(url: str) -> WebPages | None:
    """The pages of the build answering at ``url``, or None for a build not pinned here.

    - Debian's VictoriaMetrics (bookworm's 1.79, built with an empty version): no vmui, so
      ``/graph`` redirects to a 404, and no alerts page.
    - Prometheus 2.x: ``/graph`` always; Debian's builds carry only the classic UI
      (``/classic/alerts``, ``/alerts`` is a 404), upstream's the React one (``/alerts``).
    - Debian's Prometheus 3.x: built without any web UI."""
    metrics = requests.get(f"{url}/metrics", timeout=30).text
    vm = re.search(r'vm_app_version\{version="([^"]*)"', metrics)
    if vm:
        return WebPages(graph=False, alerts=None) if vm.group(1) == "" else None
    info = requests.get(f"{url}/api/v1/status/buildinfo", timeout=30).json()["data"]
    major, debian = info["version"].split(".")[0], "debian" in info.get("buildUser", "")
    if major == "2":
        return WebPages(graph=True, alerts="/classic/alerts" if debian else "/alerts")
    if major == "3" and debian:
        return WebPages(graph=False, alerts=None)
    return None


def opens(url: str) -> bool:
    """True when ``url`` answers 200 with a page (redirects followed)."""
    try:
        answer = requests.get(url, timeout=30)
    except requests.RequestException:
        return False
    return answer.status_code == 200 and "html" in answer.headers.get("Content-Type", "")
