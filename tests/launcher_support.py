"""Helpers for the launcher tests: a real launcher on a free loopback port, alert payloads and
small runbooks for fault cases (a sleeping one, one that kills its kernel, one printing script)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import nbformat
import yaml

from mlmon_nb.config import Config
from mlmon_nb.stack import free_port

REPO = Path(__file__).resolve().parent.parent

# the runbooks of launcher mechanics query no Prometheus: they do not declare prometheus_url,
# so the launcher does not ask Prometheus before running them
SHARED_PARAMETERS = ('model_name: str = "sentiment_classifier"\n'
                     'severity: str = ""\nfeature: str = ""\nstarts_at: str = ""\n'
                     'alertname: str = "{alert}"\nseconds: float = 0.0\n')


def write_runbook(folder: Path, alert: str, body: str, *, queries_prometheus: bool = False) -> Path:
    """A minimal runbook: the shared parameters cell (with ``prometheus_url`` when it
    ``queries_prometheus``), then ``body``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(SHARED_PARAMETERS.replace("{alert}", alert)
                                       + ('prometheus_url: str = ""\n' if queries_prometheus
                                          else ""))
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{alert}.ipynb"
    nbformat.write(nb, path)
    return path


def fault_runbooks(folder: Path) -> Path:
    """A registry folder with small runbooks for launcher mechanics (fast, no Prometheus)."""
    write_runbook(folder, "Quick", "from mlmon_nb.investigate import record_summary\n"
                  "import time; time.sleep(seconds)\n"
                  "record_summary(f'quick run for {model_name} {starts_at}', n=1)")
    write_runbook(folder, "Sleepy", "import time; time.sleep(600)")
    write_runbook(folder, "Crash", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    write_runbook(folder, "Hostile", "from IPython.display import HTML, display\n"
                  "display(HTML('<b id=x onmouseover=alert(1)>bold</b><script>alert(2)</script>'"
                  "'<img src=x onerror=alert(3)>'))\nprint('<script>alert(4)</script>')")
    write_runbook(folder, "Failing", "raise RuntimeError('the runbook broke')")
    write_runbook(folder, "Probe", "import urllib.request\n"
                  "urllib.request.urlopen(prometheus_url + '/api/v1/query?query=1', timeout=5)",
                  queries_prometheus=True)
    return folder


def alert(name: str, *, fingerprint: str, starts_at: str = "2026-01-01T10:00:00.123456789Z",
          status: str = "firing", **labels: str) -> dict:
    return {"status": status, "labels": {"alertname": name, "model_name": "sentiment_classifier",
                                         "severity": "critical", "job": "mlmon-demo", **labels},
            "annotations": {"summary": "s", "description": "d",
                            "runbook_url": f"http://127.0.0.1/runbook/{name}?model_name=x"},
            "startsAt": starts_at,
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-01-01T11:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=x", "fingerprint": fingerprint}


def payload(*alerts: dict, status: str = "firing") -> dict:
    """An Alertmanager webhook v4 notification, as Alertmanager 0.25 sends it."""
    first = alerts[0]["labels"]
    return {"version": "4", "groupKey": '{}/{severity="critical"}:{model_name="x"}',
            "truncatedAlerts": 0, "status": status, "receiver": "launcher",
            "groupLabels": {"model_name": first.get("model_name", "")},
            "commonLabels": first, "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093", "alerts": list(alerts)}


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_models(config: Config, *names: str) -> Config:
    """``config`` with more models like its first: the launcher runs a runbook only for a
    configured model, and tests tell their runs apart by model."""
    extra = tuple(replace(config.models[0], name=name) for name in names)
    return replace(config, models=(*config.models, *extra))


def write_config(config: Config, path: Path) -> Path:
    """A YAML file for ``config`` (subprocess launchers read their config from a file), with
    its models beyond the demo's as copies of the demo's."""
    raw = yaml.safe_load((REPO / "stack" / "mlmon.yaml").read_text())
    known = {m["name"] for m in raw["models"]}
    raw["models"] += [{**raw["models"][0], "name": m.name} for m in config.models
                      if m.name not in known]
    raw["prometheus_url"] = config.prometheus_url
    raw["launcher_url"] = config.launcher_url
    raw["jupyter_url"] = config.jupyter_url
    raw["stack"]["state_dir"] = str(config.stack.state_dir)
    raw["stack"]["ports"] = dict(config.stack.ports)
    path.write_text(yaml.safe_dump(raw))
    return path


def wait_for(predicate, timeout: float = 120.0, interval: float = 0.2, what: str = "condition"):
    """Poll until ``predicate()`` is truthy; its value, or AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(interval)


class InProcessLauncher:
    """``create_app`` served by uvicorn in a thread on a free port."""

    def __init__(self, config: Config, **kw):
        import uvicorn

        from mlmon_nb.launcher import create_app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        from mlmon_nb.launcher import LauncherSettings, server_limits
        self.app = create_app(config, port=self.port, **kw)
        limits = server_limits(kw.get("settings") or LauncherSettings())
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on", **limits))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def launcher(self):
        return self.app.state.launcher

    def __enter__(self) -> InProcessLauncher:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=60, interval=0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=120)


@contextmanager
def launcher_process(config_path: Path, port: int, *extra: str, env: dict | None = None):
    """``mlmon-nb launcher`` as its own process, the way the stack starts it."""
    log = open(config_path.parent / f"launcher-{port}.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "mlmon_nb.cli", "--config", str(config_path),
                             "launcher", "--port", str(port), *extra],
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        wait_for(lambda: _healthy(port) or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, (config_path.parent / f"launcher-{port}.log").read_text()
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def snapshot(folder: Path) -> set[Path]:
    """Every file under ``folder`` (to prove nothing was written outside the run store)."""
    return {p for p in folder.rglob("*")} if folder.exists() else set()
