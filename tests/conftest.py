"""Shared fixtures: synthetic history backfilled into a real Prometheus on a free loopback port.

``history`` builds the demo model's baseline and two days of history with incidents;
``prometheus`` backfills it with promtool and starts Prometheus over it (session-wide, stopped
at the end). ``stack_config`` gives any test a configuration on free ports in its own state dir.
``MLMON_TEST_HISTORY_SEED`` (default 42) reseeds the history, to check that the tests hold for
other data than the usual.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from mlmon_nb.baseline import Baseline
from mlmon_nb.config import Config, load_config
from mlmon_nb.demo.history import openmetrics_chunks, synthesize
from mlmon_nb.demo.model import MODEL_NAME, training_baseline
from mlmon_nb.prom import Prometheus
from mlmon_nb.stack import COMPONENTS, Stack, backfill, free_port

REPO = Path(__file__).resolve().parent.parent

# Test tiers: `unit` (pure Python, seconds), `integration` (real Prometheus, promtool, kernels,
# servers), `slow` (the whole stack end to end). A test is integration when it uses a fixture
# that starts a real part or its module says so (`pytestmark = pytest.mark.integration`);
# `make test-fast` runs the unit tier only.
INTEGRATION_FIXTURES = frozenset({"history", "prometheus_stack", "prometheus", "victoriametrics",
                                  "backend", "live_stack", "stack_config", "free_port_config"})
# modules whose tests start real parts themselves (kernels, servers, promtool, subprocesses)
INTEGRATION_MODULES = frozenset({
    "test_alert_evidence", "test_alertmanager", "test_baseline_build", "test_bench_fleet",
    "test_cli_run", "test_config_urls", "test_console", "test_console_browser",
    "test_console_fleet", "test_console_hostile", "test_console_runs",
    "test_demo_fleet", "test_demo_service", "test_demo_urls",
    "test_grafana", "test_history", "test_instrument_multiprocess", "test_instrument_service",
    "test_kernels", "test_kubernetes", "test_launcher", "test_launcher_browser", "test_launcher_hardening",
    "test_lint", "test_notebook_slo", "test_notebooks_dashboards", "test_notebooks_drift",
    "test_packaging", "test_prom", "test_readme", "test_rules", "test_rules_promtool",
    "test_runbooks", "test_run_page", "test_security", "test_stack", "test_widgets",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # the end-to-end modules first: `make test` spreads modules over workers in this order, so
    # the longest start at once instead of last (a stable sort keeps each module together)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    for item in items:
        if item.get_closest_marker("slow"):
            continue
        real = (item.get_closest_marker("integration")
                or item.module.__name__ in INTEGRATION_MODULES
                or INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ())))
        item.add_marker(pytest.mark.integration if real else pytest.mark.unit)
HISTORY_DAYS = 2.0
HISTORY_STEP = 60.0


def config_on_free_ports(state_dir: Path) -> Config:
    """The demo configuration with every port free right now and its own state dir."""
    base = load_config(REPO / "stack" / "mlmon.yaml")
    return base.with_ports({c: free_port() for c in COMPONENTS if c != "traffic"},
                           state_dir=state_dir)


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
    end = time.time()
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
