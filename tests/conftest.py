"""Shared fixtures: synthetic history backfilled into a real Prometheus on a free loopback port.

``history`` builds the demo model's baseline and two days of history with incidents;
``prometheus`` backfills it with promtool and starts Prometheus over it (session-wide, stopped
at the end). ``stack_config`` gives any test a configuration on free ports in its own state dir.
``MLMON_TEST_HISTORY_SEED`` (default 42) reseeds the history, to check that the tests hold for
other data than the usual. ``MLMON_TEST_HISTORY_END`` (unix seconds, default now) ends it at
another moment: the incidents and the daily traffic curve fall on other minutes and hours, so a
failure that depends on when the suite ran can be rerun as it happened (the tests that read
"now" expect an end within the last few minutes).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import pytest

from mlmon_nb.baseline import Baseline
from mlmon_nb.config import Config, load_config
from mlmon_nb.prom import Prometheus
from mlmon_nb.stack import COMPONENTS, Stack, backfill, free_ports
from mlmon_nb.stack.demo.history import SyntheticHistory, openmetrics_chunks, synthesize
from mlmon_nb.stack.demo.model import MODEL_NAME, training_baseline

REPO = Path(__file__).resolve().parent.parent

# Test tiers are folders: tests/unit (pure Python, seconds; `make test-fast`) and
# tests/integration (real Prometheus, promtool, kernels, servers); `slow` marks the end-to-end
# modules that start the whole stack. A unit test that asks for a fixture starting a real part is
# a mistake in its folder, and collection says so.
INTEGRATION_FIXTURES = frozenset({"history", "prometheus_stack", "prometheus", "victoriametrics",
                                  "backend", "live_stack", "stack_config", "free_port_config",
                                  "prometheus_over"})


# After the end-to-end modules, the longest of the others, longest first (their wall time in a
# full `make test` on two cores, `--durations=0` summed by module: 8 minutes down to 1): one of them
# started last would set the end of the run alone, while short modules fill the workers' tails.
LONGEST_MODULES = ("test_runbooks.py", "test_alert_evidence.py", "test_notebooks_dashboards.py",
                   "test_rules_promtool.py", "test_launcher_hardening.py", "test_launcher.py",
                   "test_readme.py", "test_run_page_browser.py", "test_bench_fleet.py",
                   "test_outside_tree.py", "test_launcher_browser.py", "test_rules_vmalert.py",
                   "test_notebooks_drift.py", "test_drift_figures.py")


def _order(item: pytest.Item) -> tuple[bool, int]:
    name = Path(str(item.fspath)).name
    long = LONGEST_MODULES.index(name) if name in LONGEST_MODULES else len(LONGEST_MODULES)
    return item.get_closest_marker("slow") is None, long


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # the end-to-end modules first, then the longest others: `make test` spreads modules over
    # workers in this order (--no-loadscope-reorder; xdist would order them by their number of
    # tests), so the longest start at once instead of last (a stable sort keeps each module
    # together)
    items.sort(key=_order)
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier == "unit":
            real = INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            if real:
                raise pytest.UsageError(f"{item.nodeid} uses {sorted(real)}, which start real "
                                        "parts: move its module to tests/integration")
            item.add_marker(pytest.mark.unit)
        elif not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.integration)


HISTORY_DAYS = 2.0
HISTORY_STEP = 60.0


def config_on_free_ports(state_dir: Path) -> Config:
    """The demo configuration with every port free right now and its own state dir."""
    base = load_config(REPO / "stack" / "mlmon.yaml")
    names = [c for c in COMPONENTS if c != "traffic"]
    return base.with_ports(dict(zip(names, free_ports(len(names)))), state_dir=state_dir)


@dataclass(frozen=True)
class History:
    """What the `history` fixture made: its span, incidents, baseline and configuration."""

    start: float
    end: float
    step: float
    incidents: dict[str, tuple[float, float]]
    baseline: Baseline
    baseline_path: Path
    config: Config
    model_name: str
    chunks: tuple[tuple[float, str], ...]


@pytest.fixture(scope="session")
def history(tmp_path_factory) -> History:
    state = tmp_path_factory.mktemp("history-state")
    config = config_on_free_ports(state)
    baseline = training_baseline()
    path = baseline.save(config.baseline_path(MODEL_NAME))
    end = float(os.environ.get("MLMON_TEST_HISTORY_END") or time.time())
    seed = int(os.environ.get("MLMON_TEST_HISTORY_SEED", "42"))
    synthetic = synthesize(baseline, end=end, days=HISTORY_DAYS, step=HISTORY_STEP, seed=seed,
                           instance=f"127.0.0.1:{config.stack.ports['demo']}")
    return History(synthetic.start, synthetic.end, synthetic.step, synthetic.incidents, baseline,
                   path, config, MODEL_NAME, tuple(openmetrics_chunks(synthetic)))


@pytest.fixture(scope="session")
def prometheus_stack(history):
    """A real Prometheus over the backfilled history; yields the Stack."""
    stack = Stack(history.config)
    backfill(history.chunks, stack.tsdb)
    stack.up(["prometheus"], timeout=60)
    yield stack
    stack.down()


@pytest.fixture(scope="session")
def prometheus(prometheus_stack) -> str:
    """The URL of a real Prometheus over the backfilled history."""
    return prometheus_stack.url("prometheus")


@pytest.fixture(scope="module")
def prom(prometheus) -> Iterator[Prometheus]:
    """A client of that Prometheus (a module may define its own ``prom`` over other backends)."""
    with Prometheus(prometheus, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def free_port_config() -> Callable[[Path], Config]:
    """``config_on_free_ports`` for tests that make their own state dir (module-scoped stacks)."""
    return config_on_free_ports


@contextmanager
def _prometheus_over(config: Config, history: SyntheticHistory
                     ) -> Iterator[tuple[Config, Prometheus]]:
    """A real Prometheus over ``history`` backfilled into ``config``'s state dir: the
    configuration pointing at it and a client (stopped on exit)."""
    stack = Stack(config)
    backfill(openmetrics_chunks(history), stack.tsdb)
    stack.up(["prometheus"], timeout=60)
    try:
        url = stack.url("prometheus")
        with Prometheus(url, timeout=30) as prom:
            yield replace(config, prometheus_url=url), prom
    finally:
        stack.down()


@pytest.fixture(scope="session")
def prometheus_over() -> Callable:
    """``with prometheus_over(config, history) as (config, prom)``: a module's own history in
    its own real Prometheus."""
    return _prometheus_over


@pytest.fixture
def stack_config(tmp_path) -> Config:
    """The demo configuration on free ports, in a fresh state dir."""
    return config_on_free_ports(tmp_path / "state")


# --- VictoriaMetrics: the same history in a second, Prometheus-compatible backend (issue 5) ---
@dataclass(frozen=True)
class Backend:
    """A query backend of the suite: its name and URL."""

    name: str  # prometheus | victoriametrics
    url: str


@pytest.fixture(scope="session")
def victoriametrics(history, tmp_path_factory) -> str:
    """The URL of a real VictoriaMetrics over the same history as `prometheus`."""
    from victoria_support import running_victoriametrics
    with running_victoriametrics(history.chunks, tmp_path_factory.mktemp("victoriametrics"),
                                 history.end) as url:
        yield url


@pytest.fixture(scope="session", params=["prometheus", "victoriametrics"])
def backend(request) -> Backend:
    """Each query backend in turn, over the same history (tests use it to run on both)."""
    return Backend(request.param, request.getfixturevalue(request.param))


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory) -> Iterator[Stack]:
    """Prometheus scraping a real node exporter and itself every second (one for the session).

    Prometheus's own process metrics stand in for the service's (the same process collector)."""
    from dataclasses import replace

    from launcher_support import wait_for

    from mlmon_nb import Prometheus

    config = config_on_free_ports(tmp_path_factory.mktemp("live-state"))
    config = replace(config, stack=replace(config.stack, scrape_interval_seconds=1.0,
                                           evaluation_interval_seconds=1.0))
    stack = Stack(config)
    stack.up(["prometheus", "node_exporter"], timeout=90)
    try:
        prom = Prometheus(stack.url("prometheus"))
        ready = ('count_over_time(process_cpu_seconds_total{job="prometheus"}[1m]) >= 8 and on() '
                 'count_over_time(node_cpu_seconds_total{job="node",mode="idle"}[1m]) >= 8')
        wait_for(lambda: not prom.query(ready).empty, timeout=60, interval=0.5,
                 what="8 s of node exporter and Prometheus samples")
        yield stack
    finally:
        stack.down()
