"""`mlmon-nb demo up`: everything `make demo` does after installing.

Builds the demo model's training baseline, synthesizes days of history and backfills it into the
stack's TSDB (once: a TSDB with blocks is left alone), starts the stack, executes the system
health notebook into the run store, and prints where everything is (``demo_urls``: the
incident console first).

``--models N`` makes it a fleet: ``fleet_config`` writes a configuration listing N models (the
demo model and ``sentiment_classifier_2`` … ``_N``, copies of its settings) into the state dir,
as ``mlmon.fleet.yaml`` — the committed configuration is never changed — and everything after
runs on it: a baseline per model, rules for every model, one demo service serving all of them,
the traffic generator spreading its requests over them. The history is the demo model's only;
the other models' series start with the traffic.
"""

from __future__ import annotations

import copy
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from ...baseline import Baseline
from ...config import Config, load_config
from ...errors import BaselineError, ConfigError
from ...prom import Prometheus
from ..lifecycle import Stack, backfill, iter_blocks
from .history import openmetrics_chunks, synthesize
from .model import MODEL_NAME, fleet_baseline, fleet_names, training_baseline

__all__ = ["ALERTS_PAGES", "FLEET_CONFIG", "MAX_FLEET", "DemoUrl", "build_demo_baseline",
           "build_fleet_baselines", "demo_message", "demo_up", "demo_urls", "ensure_history", "fleet_config",
           "prometheus_alerts_path"]

FLEET_CONFIG = "mlmon.fleet.yaml"  # in the state dir
MAX_FLEET = 500


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


def build_fleet_baselines(config: Config, names: list[str]) -> list[Baseline]:
    """A baseline for every model of the fleet in ``names`` (the demo model's built, the others
    its copies under their own names, see :func:`~mlmon_nb.stack.demo.model.fleet_baseline`); files
    already holding the same baseline are left alone."""
    demo = build_demo_baseline(config.baseline_path(MODEL_NAME))
    made = [demo]
    for name in names:
        if name == MODEL_NAME:
            continue
        baseline, path = fleet_baseline(demo, name), config.baseline_path(name)
        try:
            same = path.exists() and Baseline.load(path).baseline_id == baseline.baseline_id
        except BaselineError:
            same = False
        if not same:
            baseline.save(path)
        made.append(baseline)
    return made


def fleet_config(config: Config, models: int) -> Config:
    """The configuration of a demo fleet of ``models`` models: ``config`` itself for one;
    else ``config`` with the demo model's entry copied for ``sentiment_classifier_2`` …
    ``_<models>``, written to ``<state_dir>/mlmon.fleet.yaml`` and loaded from there (the
    committed file is left alone). The traffic generator's rate is shared by the fleet, so each
    model's throughput SLO floor (``min_rps``) is divided by the fleet's size."""
    if not 1 <= models <= MAX_FLEET:
        raise ConfigError(f"--models must be between 1 and {MAX_FLEET}, not {models}")
    if models == 1:
        return config
    raw = yaml.safe_load(config.path.read_text()) if config.path else None
    entries = list((raw or {}).get("models") or [])
    template = next((m for m in entries if m.get("name") == MODEL_NAME), None)
    if template is None:
        raise ConfigError(f"a demo fleet copies the model {MODEL_NAME!r}, which this "
                          f"configuration does not list; use the demo's stack/mlmon.yaml",
                          str(config.path) if config.path else None)
    names = fleet_names(models)
    taken = {m.get("name") for m in entries} - {MODEL_NAME}
    clash = sorted(taken & set(names))
    if clash:
        raise ConfigError(f"the configuration already lists {', '.join(clash)}; a demo fleet "
                          f"names its models {names[1]} … {names[-1]}", str(config.path))
    fleet = []
    for name in names:
        entry = copy.deepcopy(template)
        entry["name"] = name
        if name != MODEL_NAME:
            entry.pop("baseline", None)  # each model's own, in the state dir
        throughput = (entry.get("slos") or {}).get("throughput")
        if isinstance(throughput, dict) and "min_rps" in throughput:
            throughput["min_rps"] = float(throughput["min_rps"]) / models
        fleet.append(entry)
    raw = dict(raw or {})
    raw["models"] = [m for m in entries if m.get("name") != MODEL_NAME] + fleet
    stack = dict(raw.get("stack") or {})
    # as this configuration runs it; the state dir absolute: the file lives in it
    stack.update(state_dir=str(config.stack.state_dir), host=config.stack.host,
                 ports=dict(config.stack.ports),
                 scrape_interval=f"{config.stack.scrape_interval_seconds:g}s",
                 evaluation_interval=f"{config.stack.evaluation_interval_seconds:g}s")
    raw["stack"] = stack
    for key, value in config.urls().items():  # explicit URLs stay; derived ones follow the ports
        if raw.get(key):
            raw[key] = value
    path = config.stack.state_dir / FLEET_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# A demo fleet of {models} models, written by `mlmon-nb demo up --models "
                    f"{models}` from {config.path}; pass it to other commands with --config.\n"
                    + yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)


def ensure_history(config: Config, baseline: Baseline, days: float, *, seed: int = 42) -> int:
    """Backfill ``days`` of history ending now into an empty TSDB; returns the blocks written."""
    stack = Stack(config)
    if any(iter_blocks(stack.tsdb)):
        return 0
    history = synthesize(baseline, end=time.time(), days=days,
                         step=config.stack.scrape_interval_seconds, seed=seed,
                         instance=f"{config.stack.host}:{config.stack.ports['demo']}",
                         job=config.model(MODEL_NAME).job, model_name=MODEL_NAME)
    return backfill(openmetrics_chunks(history), stack.tsdb)


# Prometheus's alerts page by UI: the React UI (upstream 2.x and 3.x), then the classic one
# (Debian's 2.x serves only that). Debian's 3.x serves no web UI at all.
ALERTS_PAGES = ("/alerts", "/classic/alerts")


def prometheus_alerts_path(prometheus_url: str, timeout: float = 3.0) -> str | None:
    """The path of the running Prometheus's alerts page: the first of :data:`ALERTS_PAGES` it
    serves; ``None`` when it serves none (or does not answer), so that no URL is printed that
    would not open."""
    with Prometheus(prometheus_url, timeout=timeout) as prom:
        return next((path for path in ALERTS_PAGES if prom.serves_page(path)), None)


@dataclass(frozen=True)
class DemoUrl:
    """One address `demo up` prints: what it is, the URL, and a note."""

    name: str
    url: str
    note: str = ""


def demo_urls(config: Config, jupyter_token: str, alerts_path: str | None = "/classic/alerts"
              ) -> list[DemoUrl]:
    """Every URL `demo up` prints, the incident console first; each opens in a browser on the
    running stack. Alertmanager's is not among them (Debian's build has no web UI): its alerts
    and silences are on the console; nor is Prometheus's when ``alerts_path`` is ``None`` (a
    build without a web UI)."""
    stack = Stack(config)
    launcher = config.launcher_url
    prometheus = [DemoUrl("Prometheus", f"{config.prometheus_url}{alerts_path}",
                          "alert rules and states")] if alerts_path else []
    return [
        DemoUrl("Console", f"{launcher}/", "alerts firing now, their runbook runs, silences"),
        DemoUrl("Runs", f"{launcher}/runs", "executed runbooks and notebooks"),
        *prometheus,
        DemoUrl("JupyterLab", f"{config.jupyter_url}/lab?token={jupyter_token}"),
        DemoUrl("Demo service", f"{stack.url('demo')}/metrics"),
    ]


# how `make demo` runs it, from the clone's root
CLONE_PROGRAM = ".venv/bin/mlmon-nb"


def invoked_as(argv0: str | None = None) -> str:
    """The command that runs this mlmon-nb again from the folder it was run in: the path it was
    run by (``.venv/bin/mlmon-nb`` from ``make demo``), else ``mlmon-nb`` where the one on
    ``PATH`` is this one, else this one's absolute path."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    found = shutil.which("mlmon-nb")
    on_path = Path(found).resolve() if found else None
    ran = Path(argv0)
    if ran.name == "mlmon-nb" and ran.is_file():
        if ran.is_absolute() and ran.resolve() == on_path:
            return "mlmon-nb"
        return shlex.quote(argv0 if os.sep in argv0 else str(ran.resolve()))
    mine = Path(sys.executable).with_name("mlmon-nb")  # run otherwise (python -c, a test)
    if on_path is not None and (not mine.is_file() or mine.resolve() == on_path):
        return "mlmon-nb"
    return shlex.quote(str(mine.resolve())) if mine.is_file() else "mlmon-nb"


def _in_clone() -> bool:
    """Whether the current folder is this project's clone (its Makefile has ``demo-down``)."""
    try:
        return "\ndemo-down:" in Path("Makefile").read_text()
    except (OSError, UnicodeDecodeError):
        return False


def demo_commands(config: Config, program: str | None = None) -> tuple[str, str]:
    """The command line that reaches this stack again, and the one that stops it: what was set
    for `demo up` (``MLMON_STATE_DIR``, a fleet's ``--config``) goes with them, so a pasted
    command never acts on another state folder; ``program`` (default :func:`invoked_as`) is
    the mlmon-nb that was run, so the commands work where it was run (``make demo-down`` from
    the clone that ran ``make demo``)."""
    program = invoked_as() if program is None else program
    state = os.environ.get("MLMON_STATE_DIR")
    env = f"MLMON_STATE_DIR={shlex.quote(state)} " if state else ""
    flag = f" --config {shlex.quote(str(config.path))}" if len(config.models) > 1 else ""
    stop = (f"{env}make demo-down" if program == CLONE_PROGRAM and not flag and _in_clone()
            else f"{env}{program}{flag} stack down")
    return f"{env}{program}{flag}", stop


def demo_message(config: Config, urls: list[DemoUrl], program: str | None = None) -> str:
    """What `demo up` prints once the stack runs: the URLs, then what to click (the commands
    run ``program``, default the mlmon-nb that was run)."""
    width = max(len(u.name) for u in urls) + 2
    lines = "\n".join(f"  {u.name:<{width}}{u.url}" + (f"   ({u.note})" if u.note else "")
                      for u in urls)
    console, runs = urls[0].url, urls[1].url
    cli, stop = demo_commands(config, program)
    fleet = ""
    if len(config.models) > 1:
        other = config.models[-1].name
        fleet = (f"\nA fleet of {len(config.models)} models: the console groups what fires by "
                 f"model and both pages filter by model\n(?model_name=…). Give other commands "
                 f"its configuration: --config {config.path}\nMake one model fail: "
                 f"{cli} demo inject errors --model {other} --for 10m\n")
    return f"""
mlmon-nb demo is running (state in {config.stack.state_dir}).
{fleet}
{lines}

What to click:
  1. The console ({console}): nothing fires yet. The run list ({runs})
     has the system health notebook you just ran.
  2. Make the demo fail:   {cli} demo inject errors --for 10m
     In ~6 minutes HighErrorRate fires: the console lists it with its severity, since when, and
     its runbook run (Alertmanager sends it to the launcher, which executes
     runbooks/HighErrorRate.ipynb); silence it from there while you work on it.
  3. In JupyterLab open notebooks/ to dig further, or rerun a runbook from the shell:
     {cli} run runbooks/HighErrorRate.ipynb -p model_name {MODEL_NAME}
  Status: {cli} stack status     Stop: {stop}
"""


def demo_up(config: Config, *, days: float = 7.0, timeout: float = 90.0, models: int = 1) -> int:
    """Baseline(s), history, stack, first notebook; prints the URLs. Returns an exit code.
    ``models`` > 1 runs a fleet on the configuration :func:`fleet_config` writes."""
    t0 = time.monotonic()
    say = lambda msg: print(f"[{time.monotonic() - t0:5.1f}s] {msg}", flush=True)  # noqa: E731
    config = fleet_config(config, models)
    names = fleet_names(models)
    if models > 1:
        say(f"a fleet of {models} models ({names[1]} … {names[-1]} besides {MODEL_NAME}): "
            f"configuration {config.path}")
    baseline, *_ = build_fleet_baselines(config, names)
    say(f"baseline {baseline.baseline_id} -> {config.baseline_path(MODEL_NAME)}"
        + (f" (and {models - 1} more in {config.baseline_path(MODEL_NAME).parent})"
           if models > 1 else ""))
    blocks = ensure_history(config, baseline, days)
    say(f"history: {blocks} blocks of {days:g} days backfilled" if blocks
        else "history: already in the TSDB")
    stack = Stack(config)
    started = stack.up(timeout=timeout)
    say(f"stack up ({', '.join(started) or 'all already running'})")
    from ...runbooks import NOTEBOOK_DIR, Registry, run_from_cli
    code = run_from_cli(config, "system_health", {"model_name": MODEL_NAME}, progress=False,
                        registry=Registry(NOTEBOOK_DIR))
    say("system health notebook executed" if code == 0 else
        "the system health notebook failed: see its run in the launcher")
    urls = demo_urls(config, stack.jupyter_token(), prometheus_alerts_path(config.prometheus_url))
    print(demo_message(config, urls))
    return 0
