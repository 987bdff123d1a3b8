"""`mlmon-nb demo up`: everything `make demo` does after installing.

Builds the demo model's training baseline, synthesizes days of history and backfills it into the
stack's TSDB (once: a TSDB with blocks is left alone), starts the stack, executes the system
health notebook into the run store, and prints where everything is.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..baseline import Baseline
from ..config import Config
from ..errors import BaselineError
from ..stack import Stack, backfill, iter_blocks
from .history import openmetrics_chunks, synthesize
from .model import MODEL_NAME, training_baseline

__all__ = ["build_demo_baseline", "demo_up", "ensure_history"]


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
    token = stack.jupyter_token()
    print(f"""
mlmon-nb demo is running (state in {config.stack.state_dir}).

  Prometheus    {config.prometheus_url}   (alerts: {config.prometheus_url}/alerts)
  Alertmanager  {stack.url('alertmanager')}
  Launcher      {config.launcher_url}/runs   (executed runbooks and notebooks)
  JupyterLab    {config.jupyter_url}/lab?token={token}
  Demo service  {stack.url('demo')}/metrics

What to click:
  1. The launcher's run list: the system health notebook you just ran is there.
  2. Make the demo fail:   .venv/bin/mlmon-nb demo inject errors --for 10m
     In ~6 minutes HighErrorRate fires ({config.prometheus_url}/alerts); Alertmanager sends it to
     the launcher, which executes runbooks/HighErrorRate.ipynb: open it from the run list, or
     follow the alert's runbook_url.
  3. In JupyterLab open notebooks/ to dig further, or rerun a runbook from the shell:
     .venv/bin/mlmon-nb run runbooks/HighErrorRate.ipynb -p model_name {MODEL_NAME}
  Status: .venv/bin/mlmon-nb stack status     Stop: make demo-down
""")
    return 0
