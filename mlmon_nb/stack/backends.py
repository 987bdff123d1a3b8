"""The stack's metrics backends: which components scrape, store and evaluate the rules.

``prometheus`` (the default): one Prometheus scrapes the demo service, stores the samples,
evaluates the generated rules and sends alerts to Alertmanager.

``victoriametrics``: a single-node VictoriaMetrics stores; two ``vmagent`` shards
(``-promscrape.cluster.membersCount=2``, ``memberNum`` 0 and 1) read the same scrape
configuration, each scrapes about half of the targets, among them the demo service's two
replicas, and remote-writes into VictoriaMetrics; ``vmalert`` evaluates the same generated rule
files against it (``-datasource.url``), writes recording rules and alert state back
(``-remoteWrite.url``, restored at start by ``-remoteRead.url``) and notifies the same
Alertmanager, whose webhook reaches the runbook launcher. VictoriaMetrics serves the Prometheus
query API, so the stack's ``prometheus_url`` (what notebooks, runbooks and the launcher read)
points at it.

Everything here is pure: component lists, command lines and the scrape configuration; the
:class:`~mlmon_nb.stack.Stack` starts and stops the processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import yaml

from ..binaries import find_binary
from ..config import NODE_JOB, Config, StackConfig
from ..errors import StackError

__all__ = ["Backend", "BACKENDS", "DEFAULT_BACKEND", "VM_SHARDS", "backend",
           "all_components", "demo_replicas", "traffic_of", "render_scrape_config",
           "vm_command", "query_url", "VM_HEALTH_PATHS", "SCRAPE_FILE",
           "VM_MAX_QUERY_BYTES", "VM_MAX_UNIQUE_TIMESERIES", "vm_search_flags"]

DEFAULT_BACKEND = "prometheus"
VM_SHARDS = ("vmagent_0", "vmagent_1")
SCRAPE_FILE = "scrape.yml"  # the vmagent shards' common -promscrape.config
# VictoriaMetrics refuses queries over 16 KiB by default (rules.files.long_rules names rules over
# it; the generated ones stay under). Queries with recording rules inlined, such as the Grafana
# panels the suite checks (about 32 KiB), need more, so the stack allows it
VM_MAX_QUERY_BYTES = 256 * 1024
# VictoriaMetrics refuses a query selecting over 300,000 series by default; the drift rules select
# every feature bucket of the fleet at once (models × features × bins × replicas: 800,000 for
# 1,000 models × 20 features of the default 20 bins × 2 replicas), so the stack allows ten million
VM_MAX_UNIQUE_TIMESERIES = 10_000_000
VM_DEFAULT_QUERY_SECONDS = 30.0  # victoria-metrics -help: -search.maxQueryDuration
# the health endpoint of each VictoriaMetrics component (they all serve /health)
VM_HEALTH_PATHS = {name: "/health" for name in ("victoriametrics", *VM_SHARDS, "vmalert")}


@dataclass(frozen=True)
class Backend:
    """One way to run the stack: its components in start order and which one serves queries."""

    name: str
    components: tuple[str, ...]
    query_component: str       # its URL becomes prometheus_url (unless one is set explicitly)
    demo_replicas: tuple[str, ...]  # the demo service's processes (each a scrape target)
    # healthy before the rest start: vmalert restores alert state from VictoriaMetrics at start
    ready_first: tuple[str, ...] = ()


_COMMON_TAIL = ("launcher", "jupyter")
BACKENDS: dict[str, Backend] = {
    "prometheus": Backend(
        "prometheus",
        ("prometheus", "alertmanager", "node_exporter", "demo", "traffic", *_COMMON_TAIL),
        "prometheus", ("demo",)),
    "victoriametrics": Backend(
        "victoriametrics",
        ("victoriametrics", "alertmanager", "node_exporter", "demo", "demo_1", "traffic",
         "traffic_1", *VM_SHARDS, "vmalert", *_COMMON_TAIL),
        "victoriametrics", ("demo", "demo_1"), ready_first=("victoriametrics",)),
}


def vm_search_flags(query_seconds: float = StackConfig.drift_evaluation_interval_seconds,
                    ) -> list[str]:
    """The query limits VictoriaMetrics runs with here (the generated rules and panels need
    them). A query may run for ``query_seconds``, the drift group's interval: VictoriaMetrics
    stops one after 30 s by default, where Prometheus bounds no rule's evaluation, and at 1,000
    models one drift rule alone reads every feature bucket for 17–20 s on Prometheus, while
    vmalert runs every group at once on the same cores."""
    return [f"-search.maxQueryLen={VM_MAX_QUERY_BYTES}",
            f"-search.maxUniqueTimeseries={VM_MAX_UNIQUE_TIMESERIES}",
            f"-search.maxQueryDuration={max(VM_DEFAULT_QUERY_SECONDS, query_seconds):g}s"]


def backend(name: str) -> Backend:
    """The named backend, or a StackError listing the known ones."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise StackError(f"unknown backend {name!r}; one of {', '.join(BACKENDS)}") from None


def all_components() -> tuple[str, ...]:
    """Every component of any backend, once, in start order (what ``down`` looks for)."""
    seen: dict[str, None] = {}
    for b in BACKENDS.values():
        seen.update(dict.fromkeys(b.components))
    return tuple(seen)


def demo_replicas(components: Iterable[str]) -> list[str]:
    """The demo service's replicas among ``components``."""
    return [c for c in components if c == "demo" or c.startswith("demo_")]


def traffic_of(name: str) -> str:
    """The demo replica a traffic generator sends to: ``traffic`` → demo, ``traffic_1`` → demo_1."""
    return "demo" + name[len("traffic"):]


def demo_job(config: Config) -> str:
    """The job the stack scrapes its demo service under: the configured models' (the demo's
    ``stack/mlmon.yaml`` says ``mlmon-demo``); the one service serves every configured model."""
    return config.jobs[0]


def render_scrape_config(config: Config, components: Iterable[str]) -> str:
    """The vmagent shards' scrape configuration: every running target, split among the shards.

    The demo replicas are one job (:func:`demo_job`), as Prometheus sees the single service."""
    ports, host = config.stack.ports, config.stack.host
    components = list(components)
    jobs: dict[str, list[str]] = {
        "victoriametrics": ["victoriametrics"], NODE_JOB: ["node_exporter"],
        demo_job(config): demo_replicas(components), "mlmon-launcher": ["launcher"],
        "vmagent": list(VM_SHARDS), "vmalert": ["vmalert"]}
    scrape = []
    for job, names in jobs.items():
        targets = [f"{host}:{ports[n]}" for n in names if n in components]
        if targets:
            scrape.append({"job_name": job, "static_configs": [{"targets": targets}]})
    doc = {"global": {"scrape_interval": f"{config.stack.scrape_interval_seconds:g}s"},
           "scrape_configs": scrape}
    return yaml.safe_dump(doc, sort_keys=False)


def vm_command(name: str, config: Config, state: Path, rule_files: str) -> list[str] | None:
    """The command line of a VictoriaMetrics component, or None when ``name`` is not one.

    ``rule_files`` is the glob of the generated rule files vmalert evaluates."""
    host, ports = config.stack.host, config.stack.ports
    url = lambda component: f"http://{host}:{ports[component]}"  # noqa: E731
    listen = f"-httpListenAddr={host}:{ports[name]}" if name in ports else ""
    if name == "victoriametrics":
        # the response cache off: history imported into the past must show at once
        return [find_binary("victoria-metrics"), listen,
                f"-storageDataPath={state / 'victoriametrics'}", "-retentionPeriod=100y",
                "-search.disableCache",
                *vm_search_flags(config.stack.drift_evaluation_interval_seconds),
                "-loggerLevel=WARN"]
    if name in VM_SHARDS:
        return [find_binary("vmagent"), listen, f"-promscrape.config={state / SCRAPE_FILE}",
                f"-promscrape.cluster.membersCount={len(VM_SHARDS)}",
                f"-promscrape.cluster.memberNum={VM_SHARDS.index(name)}",
                f"-remoteWrite.url={url('victoriametrics')}/api/v1/write",
                f"-remoteWrite.tmpDataPath={state / name}", "-loggerLevel=WARN"]
    if name == "vmalert":
        return [find_binary("vmalert"), listen, f"-rule={rule_files}",
                f"-datasource.url={url('victoriametrics')}",
                f"-remoteWrite.url={url('victoriametrics')}",
                f"-remoteRead.url={url('victoriametrics')}",
                f"-notifier.url={url('alertmanager')}",
                f"-evaluationInterval={config.stack.evaluation_interval_seconds:g}s",
                f"-external.url={url('vmalert')}", "-loggerLevel=WARN"]
    return None


def query_url(config: Config, name: str) -> str:
    """The query URL of backend ``name`` for ``config`` (its query component's address)."""
    return f"http://{config.stack.host}:{config.stack.ports[backend(name).query_component]}"
