"""`mlmon-nb demo up`: everything `make demo` does after installing.

Builds the demo model's training baseline, synthesizes days of history and backfills it into the
stack's TSDB (once: a TSDB with blocks is left alone), starts the stack, executes the system
health notebook into the run store, and prints where everything is (``demo_urls``: the
incident console first).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..baseline import Baseline
from ..config import Config
from ..errors import BaselineError
from ..stack import Stack, backfill, iter_blocks
from .history import openmetrics_chunks, synthesize
from .model import MODEL_NAME, training_baseline

__all__ = ["DemoUrl", "build_demo_baseline", "demo_message", "demo_up", "demo_urls",
           "ensure_history", "prometheus_alerts_path"]


def build_demo_baseline(path: Path) -> Baseline:
    """Build (deterministically) and save the demo model's training baseline."""
    baseline = training_baseline()
    if path.exists():
        try:
            if Baseline.load(path).baseline_id == baseline.baseline_id:
                return baseline
        except BaselineError:  # a corrupt or foreign file is rebuilt
            pass
    baseline.save(path)
    return baseline


def ensure_history(config: Config, baseline: Baseline, days: float, *, seed: int = 42) -> int:
    """Backfill ``days`` of history ending now into an empty TSDB; returns the blocks written."""
    stack = Stack(config)
    if any(iter_blocks(stack.tsdb)):
        return 0
    history = synthesize(baseline, end=time.time(), days=days,
                         step=config.stack.scrape_interval_seconds, seed=seed,
                         instance=f"{config.stack.host}:{config.stack.ports['demo']}",
                         model_name=MODEL_NAME)
    return backfill(openmetrics_chunks(history), stack.tsdb)


def prometheus_alerts_path(prometheus_url: str, timeout: float = 3.0) -> str:
    """The path of the running Prometheus's alerts page: ``/classic/alerts`` on 2.x (Debian's
    build serves only the classic UI; upstream 2.x serves it too), ``/alerts`` from 3.0 (no
    classic UI). Asks the server's build info; 2.x when it does not answer."""
    try:
        with urllib.request.urlopen(f"{prometheus_url}/api/v1/status/buildinfo",
                                    timeout=timeout) as resp:
            version = str(json.load(resp)["data"]["version"])
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
        return "/classic/alerts"
    major = version.split(".", 1)[0]
    return "/alerts" if major.isdigit() and int(major) >= 3 else "/classic/alerts"


@dataclass(frozen=True)
class DemoUrl:
    """One address `demo up` prints: what it is, the URL, and a note."""

    name: str
    url: str
    note: str = ""


def demo_urls(config: Config, jupyter_token: str, alerts_path: str = "/classic/alerts"
              ) -> list[DemoUrl]:
    """Every URL `demo up` prints, the incident console first; each opens in a browser on the
    running stack. Alertmanager's is not among them (Debian's build has no web UI): its alerts
    and silences are on the console."""
    stack = Stack(config)
    launcher = config.launcher_url
    return [
        DemoUrl("Console", f"{launcher}/", "alerts firing now, their runbook runs, silences"),
        DemoUrl("Runs", f"{launcher}/runs", "executed runbooks and notebooks"),
        DemoUrl("Prometheus", f"{config.prometheus_url}{alerts_path}", "alert rules and states"),
        DemoUrl("JupyterLab", f"{config.jupyter_url}/lab?token={jupyter_token}"),
        DemoUrl("Demo service", f"{stack.url('demo')}/metrics"),
    ]


def demo_message(config: Config, urls: list[DemoUrl]) -> str:
    """What `demo up` prints once the stack runs: the URLs, then what to click."""
    width = max(len(u.name) for u in urls) + 2
    lines = "\n".join(f"  {u.name:<{width}}{u.url}" + (f"   ({u.note})" if u.note else "")
                      for u in urls)
    console, runs = urls[0].url, urls[1].url
    return f"""
mlmon-nb demo is running (state in {config.stack.state_dir}).

{lines}

What to click:
  1. The console ({console}): nothing fires yet. The run list ({runs})
     has the system health notebook you just ran.
  2. Make the demo fail:   .venv/bin/mlmon-nb demo inject errors --for 10m
     In ~6 minutes HighErrorRate fires: the console lists it with its severity, since when, and
     its runbook run (Alertmanager sends it to the launcher, which executes
     runbooks/HighErrorRate.ipynb); silence it from there while you work on it.
  3. In JupyterLab open notebooks/ to dig further, or rerun a runbook from the shell:
     .venv/bin/mlmon-nb run runbooks/HighErrorRate.ipynb -p model_name {MODEL_NAME}
  Status: .venv/bin/mlmon-nb stack status     Stop: make demo-down
"""


def demo_up(config: Config, *, days: float = 7.0, timeout: float = 90.0) -> int:
    """Baseline, history, stack, first notebook; prints the URLs. Returns an exit code."""
    t0 = time.monotonic()
    say = lambda msg: print(f"[{time.monotonic() - t0:5.1f}s] {msg}", flush=True)  # noqa: E731
    baseline_path = config.baseline_path(MODEL_NAME)
    baseline = build_demo_baseline(baseline_path)
    say(f"baseline {baseline.baseline_id} -> {baseline_path}")
    blocks = ensure_history(config, baseline, days)
    say(f"history: {blocks} blocks of {days:g} days backfilled" if blocks
        else "history: already in the TSDB")
    stack = Stack(config)
    started = stack.up(timeout=timeout)
    say(f"stack up ({', '.join(started) or 'all already running'})")
    from ..runbooks import NOTEBOOK_DIR, Registry, run_from_cli
    code = run_from_cli(config, "system_health", {"model_name": MODEL_NAME}, progress=False,
                        registry=Registry(NOTEBOOK_DIR))
    say("system health notebook executed" if code == 0 else
        "the system health notebook failed: see its run in the launcher")
    urls = demo_urls(config, stack.jupyter_token(), prometheus_alerts_path(config.prometheus_url))
    print(demo_message(config, urls))
    return 0
