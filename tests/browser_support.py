"""Headless Chromium for the tests: one-shot runs (`browse`) for static pages, and a DevTools
session (`Browser`) for single-page apps such as JupyterLab, which are done when something is
visible, not when a fixed budget of virtual time has run out."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import websocket

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WIDTH, HEIGHT = 1280, 1000
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is needed: `make test-deps` (Debian: apt-get install chromium)"
    return found


def browse(url: str, profile: Path, *args: str, width: int = WIDTH,
           height: int = HEIGHT) -> subprocess.CompletedProcess:
    """One headless run over ``url`` (``--dump-dom``, ``--screenshot=…``)."""
    cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
           *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


# What DevTools answers when an evaluation meets a document being replaced: "not yet", not a failure.
NAVIGATING = ("Inspected target navigated or closed", "Execution context was destroyed",
              "Cannot find context with specified id")


class DevToolsError(AssertionError):
    """A DevTools command answered with an error."""


class Browser:
    """One page of a headless Chromium, driven over the DevTools protocol."""

    def __init__(self, ws_url: str) -> None:
        self._ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self._ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict:
        call = next(self._ids)
        self._ws.send(json.dumps({"id": call, "method": method, "params": params}))
        while True:
            reply = json.loads(self._ws.recv())
            if reply.get("id") == call:
                if "error" in reply:
                    raise DevToolsError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url: str) -> None:
        self.send("Page.enable")
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str, settle: float = 10) -> Any:
        """``expression``'s value in the page; evaluated again on the next document when the
        page is being replaced (a click's navigation, a refresh), for up to ``settle`` seconds."""
        deadline = time.monotonic() + settle
        while True:
            try:
                result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
            except DevToolsError as error:
                if time.monotonic() > deadline or not any(w in str(error) for w in NAVIGATING):
                    raise
                time.sleep(0.2)
                continue
            return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 150) -> Any:
        """Poll ``expression`` until it is truthy; fail with the page's text if it never is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.5)
        title = self.evaluate("document.title")
        text = self.evaluate("document.body ? document.body.innerText : ''") or ""
        raise AssertionError(f"not visible after {timeout:.0f}s: {expression}\n"
                             f"title: {title!r}\n{text[-2000:]}")

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) in the middle of the first element matching
        ``selector``, scrolled into view first."""
        where = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            f" if (!e) return null; e.scrollIntoView({{block: 'center'}});"
            f" const b = e.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2];"
            f" }})()")
        assert where, f"nothing to click: {selector}"
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=where[0], y=where[1],
                      button="left", clickCount=1)

    def goto(self, url: str, timeout: float = 60) -> None:
        """Open ``url`` and wait until its document has loaded."""
        self.navigate(lambda: self.open(url), timeout)

    def navigate(self, action, timeout: float = 60) -> None:
        """Run ``action`` (a click, a submit) and wait until it has loaded a new document: the
        old document's marker is gone and the new one is complete."""
        self.evaluate("window.__mlmon_old_document = true")
        action()
        self.wait_for("!window.__mlmon_old_document && document.readyState === 'complete'",
                      timeout=timeout)

    def click_and_wait(self, selector: str, timeout: float = 60) -> None:
        """Click ``selector`` (a submit button, a link) and wait for the page it leads to."""
        self.navigate(lambda: self.click(selector), timeout)

    def fill(self, selector: str, text: str) -> None:
        """Focus the field ``selector``, clear it and type ``text`` into it."""
        found = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            f" if (!e) return false; e.scrollIntoView({{block: 'center'}}); e.focus();"
            f" e.select && e.select(); return true; }})()")
        assert found, f"no field to fill: {selector}"
        self.type_text(text)

    def text(self) -> str:
        """The visible text of the page."""
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def type_text(self, text: str) -> None:
        """Type ``text`` into the focused element, as a keyboard would."""
        self.send("Input.insertText", text=text)

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self._ws.close()


@contextmanager
def browser(profile: Path, width: int = WIDTH, height: int = HEIGHT) -> Iterator[Browser]:
    """A headless Chromium on a loopback DevTools port it picks itself (read back from the
    profile's DevToolsActivePort), closed on exit."""
    profile.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, f"chromium exited with {proc.returncode}"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=30).json()
        page = next(t for t in targets if t["type"] == "page")
        session = Browser(page["webSocketDebuggerUrl"])
        session.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                     deviceScaleFactor=1, mobile=False)
        try:
            yield session
        finally:
            session.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
