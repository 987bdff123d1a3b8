"""The local stack: start, stop and inspect its processes.

Components: Prometheus, Alertmanager, node exporter, the demo model service, its traffic
generator, the runbook launcher and JupyterLab, all on loopback ports from the configuration.
With the ``victoriametrics`` backend (``stack up --backend victoriametrics``; see
:mod:`mlmon_nb.stack.backends`) VictoriaMetrics, two vmagent shards and vmalert take
Prometheus's place, the demo service runs as two replicas, and ``prometheus_url`` points at
VictoriaMetrics. The backend ``up`` started is recorded in the state dir, so ``status``, ``logs``
and ``down`` cover its components.
A state directory holds the generated configs, the TSDB, logs and one pid file per component;
``down`` stops exactly the processes ``up`` started (pid plus process start time), and ``up``
leaves healthy components alone. Binaries can be overridden by environment
(``MLMON_PROMETHEUS_BIN``, ``MLMON_ALERTMANAGER_BIN``, ``MLMON_NODE_EXPORTER_BIN``,
``MLMON_PROMTOOL_BIN``, ``MLMON_AMTOOL_BIN``, ``MLMON_VICTORIAMETRICS_BIN``,
``MLMON_VMAGENT_BIN``, ``MLMON_VMALERT_BIN``).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from ..binaries import find_binary
from ..config import NODE_JOB, Config, shipped_dir
from ..errors import StackError
from .backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    SCRAPE_FILE,
    VM_HEALTH_PATHS,
    VM_SHARDS,
    all_components,
    demo_job,
    query_url,
    render_scrape_config,
    traffic_of,
    vm_command,
)
from .backends import backend as find_backend

__all__ = [
    "Stack",
    "ComponentStatus",
    "COMPONENTS",
    "free_port",
    "free_ports",
    "backfill",
    "render_prometheus_config",
    "effective_config_yaml",
    "iter_blocks",
]

# the default (prometheus) backend's components, in start order
COMPONENTS = BACKENDS[DEFAULT_BACKEND].components

def port_taken(host: str, port: int) -> bool:
    """Whether a process listens on ``host``:``port`` (a server binding there would fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is free
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1", avoid: Iterable[int] = ()) -> list[int]:
    """``count`` distinct TCP ports free on ``host`` right now, none of ``avoid`` (ports given
    out earlier and not yet listened on): each socket is held until all are bound, as ports
    asked for one at a time can repeat once the first is released."""
    avoid = set(avoid)
    with ExitStack() as held:
        ports: list[int] = []
        while len(ports) < count:
            s = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind((host, 0))
            if s.getsockname()[1] not in avoid:
                ports.append(s.getsockname()[1])
        return ports


def backfill(chunks: Iterable[tuple[float, str]], tsdb_dir: Path, workers: int = 2) -> int:
    """Write OpenMetrics chunks (one per 2h block) into a TSDB with promtool; returns blocks."""
    promtool = find_binary("promtool")
    tsdb_dir = Path(tsdb_dir)
    tsdb_dir.mkdir(parents=True, exist_ok=True)

    def one(item: tuple[float, str]) -> None:
        start, text = item
        with tempfile.NamedTemporaryFile("w", suffix=".om", dir=tsdb_dir.parent,
                                         delete=False) as f:
            f.write(text)
        try:
            result = subprocess.run(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", f.name,
                 str(tsdb_dir)], capture_output=True, text=True, timeout=300)
        finally:
            os.unlink(f.name)
        if result.returncode != 0:
            raise StackError(f"promtool could not backfill the block at {start:.0f}: "
                             f"{result.stderr.strip()[-400:]}")

    count = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(one, chunks):
            count += 1
    return count


def render_prometheus_config(config: Config, components: Iterable[str] = COMPONENTS) -> str:
    """prometheus.yml for the stack: scrape what runs, load the rules, alert to Alertmanager."""
    ports, host = config.stack.ports, config.stack.host
    components = set(components)
    targets = {"prometheus": "prometheus", NODE_JOB: "node_exporter", demo_job(config): "demo",
               "mlmon-launcher": "launcher"}
    scrape = []
    for job, component in targets.items():
        if component in components:
            scrape.append({"job_name": job,
                           "static_configs": [{"targets": [f"{host}:{ports[component]}"]}]})
    doc = {
        "global": {"scrape_interval": f"{config.stack.scrape_interval_seconds:g}s",
                   "evaluation_interval": f"{config.stack.evaluation_interval_seconds:g}s"},
        "rule_files": ["rules/*.yml"],
        "scrape_configs": scrape,
    }
    if "alertmanager" in components:
        doc["alerting"] = {"alertmanagers": [
            {"static_configs": [{"targets": [f"{host}:{ports['alertmanager']}"]}]}]}
    return yaml.safe_dump(doc, sort_keys=False)


def effective_config_yaml(config: Config) -> str:
    """The configuration file as the stack runs it: actual ports, URLs, absolute paths."""
    raw = yaml.safe_load(config.path.read_text()) if config.path else {"version": 1}
    raw = dict(raw or {})
    raw["prometheus_url"] = config.prometheus_url
    raw["launcher_url"] = config.launcher_url
    raw["jupyter_url"] = config.jupyter_url
    stack = dict(raw.get("stack") or {})
    stack.update(state_dir=str(config.stack.state_dir), ports=dict(config.stack.ports),
                 host=config.stack.host)
    raw["stack"] = stack
    if config.runbook_dirs:
        raw["runbook_dirs"] = [str(d) for d in config.runbook_dirs]
    raw["models"] = [{**m, "baseline": str(config.baseline_path(m["name"]))}
                     for m in raw.get("models") or []]
    return yaml.safe_dump(raw, sort_keys=False)


@dataclass(frozen=True)
class ComponentStatus:
    """What `stack status` shows for one component."""

    name: str
    running: bool
    healthy: bool
    pid: int | None
    url: str
    log: Path


def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime


def _http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Stack:
    """The local stack described by a configuration.

    ``backend`` (``prometheus`` or ``victoriametrics``) defaults to the one the running stack was
    started with, else ``prometheus``. A ``prometheus_url`` derived from the ports (not set
    explicitly) follows the backend's query component."""

    def __init__(self, config: Config, backend: str | None = None):
        self.state = Path(config.stack.state_dir)
        self.backend = find_backend(backend or self.recorded_backend() or DEFAULT_BACKEND)
        derived = f"http://{config.stack.host}:{config.stack.ports['prometheus']}"
        if self.backend.query_component != "prometheus" and config.prometheus_url == derived:
            config = replace(config, prometheus_url=query_url(config, self.backend.name))
        self.config = config
        self.host = config.stack.host
        self.ports = config.stack.ports

    @property
    def components(self) -> tuple[str, ...]:
        """This backend's components, in start order."""
        return self.backend.components

    def _backend_path(self) -> Path:
        return self.state / "pids" / "backend"

    def recorded_backend(self) -> str | None:
        """The backend the stack in this state dir was started with (None when stopped)."""
        try:
            return self._backend_path().read_text().strip() or None
        except OSError:
            return None

    def replica_urls(self) -> list[str]:
        """The URLs of the demo service's replicas in this backend."""
        return [self.url(name) for name in self.backend.demo_replicas]

    # -- paths ---------------------------------------------------------------------------------

    def log_path(self, name: str) -> Path:
        return self.state / "logs" / f"{name}.log"

    def _pid_path(self, name: str) -> Path:
        return self.state / "pids" / f"{name}.json"

    @property
    def tsdb(self) -> Path:
        return self.state / "tsdb"

    @property
    def config_file(self) -> Path:
        return self.state / "mlmon.yaml"

    @property
    def _lab_settings(self) -> Path:
        return self.state / ".jupyterlab" / "user-settings"

    def jupyter_token(self) -> str:
        path = self.state / "jupyter_token"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(24))
            path.chmod(0o600)
        return path.read_text().strip()

    # -- components ----------------------------------------------------------------------------

    def url(self, name: str) -> str:
        port = self.ports.get(name)
        return f"http://{self.host}:{port}" if port else ""

    def _health_url(self, name: str) -> str | None:
        paths = {"prometheus": "/-/ready", "alertmanager": "/-/ready", "node_exporter": "/metrics",
                 "demo": "/health", "launcher": "/healthz", "jupyter": "/api", **VM_HEALTH_PATHS}
        paths.update({r: "/health" for r in self.backend.demo_replicas})
        return self.url(name) + paths[name] if name in paths else None

    def _command(self, name: str) -> list[str]:
        # the rule machinery (pandas, scipy: seconds of imports) loads only where a stack starts,
        # so the commands that talk to a running one (status, inject, logs) answer at once
        from ..rules.files import ALERTMANAGER_FILE, RULES_DIR

        h, p, s = self.host, self.ports, self.state
        py = [sys.executable, "-m", "mlmon_nb.cli", "--config", str(self.config_file)]
        if name == "prometheus":
            return [find_binary("prometheus"), f"--config.file={s / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.tsdb}", f"--web.listen-address={h}:{p['prometheus']}",
                    "--storage.tsdb.retention.time=60d", "--web.enable-lifecycle",
                    f"--web.external-url=http://{h}:{p['prometheus']}/"]
        if name == "alertmanager":
            return [find_binary("alertmanager"), f"--config.file={s / ALERTMANAGER_FILE}",
                    f"--storage.path={s / 'alertmanager'}",
                    f"--web.listen-address={h}:{p['alertmanager']}", "--cluster.listen-address=",
                    f"--web.external-url=http://{h}:{p['alertmanager']}/"]
        if name == "node_exporter":
            return [find_binary("node_exporter"), f"--web.listen-address={h}:{p['node_exporter']}"]
        if name in self.backend.demo_replicas:
            return py + ["demo", "serve", "--port", str(p[name])]
        if name.startswith("traffic") and traffic_of(name) in self.backend.demo_replicas:
            replicas = len(self.backend.demo_replicas)  # the demo's 5 requests/s, shared
            return py + ["demo", "traffic", "--url", self.url(traffic_of(name))] + (
                ["--rps", f"{5.0 / replicas:g}"] if replicas > 1 else [])
        vm = vm_command(name, self.config, s, str(s / RULES_DIR / "*.yml"))
        if vm is not None:
            return vm
        if name == "launcher":
            return py + ["launcher", "--port", str(p["launcher"])]
        if name == "jupyter":
            return [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                    f"--ServerApp.ip={h}", f"--ServerApp.port={p['jupyter']}",
                    "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.jupyter_token()}",
                    f"--ServerApp.root_dir={s}", "--ServerApp.open_browser=False",
                    f"--LabApp.user_settings_dir={self._lab_settings}",
                    # a run's output.ipynb is a record: opening it starts no kernel (so no
                    # notebook here does; pick one from the toolbar to run cells)
                    "--LabApp.notebook_starts_kernel=False",
                    # JupyterLab's defaults, and the token and launcher secret out of its files
                    "--ContentsManager.hide_globs=['__pycache__','*.pyc','*.pyo','.DS_Store',"
                    "'*~','*.so','*.dylib','jupyter_token','launcher-secret']",
                    # the stack stays on loopback: no news feed, no update check
                    "--LabApp.news_url=None",
                    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        raise StackError(f"unknown component {name!r}; components: {', '.join(self.components)}")

    def _read_pid(self, name: str) -> dict | None:
        try:
            record = json.loads(self._pid_path(name).read_text())
        except (OSError, ValueError):
            return None
        pid = record.get("pid", -1)
        if _proc_start_time(pid) != record.get("start_time") or _is_zombie(pid):
            return None  # gone, or the pid now belongs to another process
        return record

    def _running(self, name: str) -> int | None:
        record = self._read_pid(name)
        return record["pid"] if record else None

    def _healthy(self, name: str) -> bool:
        return bool(self._running(name)) and self._answers(name)

    def _answers(self, name: str) -> bool:
        """Whether the component's health endpoint answers (true when it has none)."""
        health = self._health_url(name)
        return _http_ok(health) if health else True

    # -- configuration files -------------------------------------------------------------------

    def write_configs(self, components: Iterable[str]) -> None:
        """Generate every file the components read, for the actual ports."""
        components = tuple(components)
        for sub in ("logs", "pids", "rules", "runs", "baselines"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(effective_config_yaml(self.config))
        if "prometheus" in self.components:
            (self.state / "prometheus.yml").write_text(
                render_prometheus_config(self.config, components))
        else:  # the vmagent shards' common scrape configuration
            (self.state / SCRAPE_FILE).write_text(render_scrape_config(self.config, components))
        # the rules and routing, generated from the configuration; Prometheus loads rules/*.yml
        # whole, so any other file there goes
        from ..rules.alertmanager import receivers_from_env
        from ..rules.files import write_generated

        receivers: dict[str, Any] = dict(receivers_from_env())
        write_generated(self.config, self.state, remove_other=True, **receivers)
        if "jupyter" in components:
            self._write_lab_settings()
        for folder in ("notebooks", "runbooks"):  # visible in JupyterLab, whose root is the state
            link, target = self.state / folder, shipped_dir(folder)
            if not link.exists() and not link.is_symlink() and target.is_dir():
                link.symlink_to(target)

    def _write_lab_settings(self) -> None:
        """JupyterLab's settings for the stack, once: the on-call engineer opening a run's
        notebook is not first asked about Jupyter news (their later changes are kept)."""
        path = self._lab_settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}, indent=2))

    # -- lifecycle -----------------------------------------------------------------------------

    def up(self, components: Iterable[str] | None = None, timeout: float = 60.0) -> list[str]:
        """Start what is not running, wait until all are healthy; returns what was started."""
        wanted = [c for c in self.components if components is None or c in set(components)]
        self._refuse_other_backend()
        self._refuse_taken_ports(wanted)
        for name in wanted:  # a missing binary is one clear line before anything starts
            self._command(name)
        self.write_configs(wanted)
        self._backend_path().write_text(self.backend.name)
        started = []
        deadline = time.monotonic() + timeout
        for name in wanted:
            if self._running(name):
                continue
            self._start(name)
            started.append(name)
            if name in self.backend.ready_first:
                self._wait_healthy(name, deadline)
        if self._running("prometheus") and "prometheus" not in started:
            self._reload_prometheus()
        for name in (*VM_SHARDS, "vmalert"):  # they re-read scrape config and rules on SIGHUP
            pid = self._running(name)
            if pid and name not in started:
                os.kill(pid, signal.SIGHUP)
        for name in wanted:
            self._wait_healthy(name, deadline)
        return started

    def _refuse_other_backend(self) -> None:
        """One clear error when the state dir runs the other backend's components."""
        recorded = self.recorded_backend()
        if not recorded or recorded == self.backend.name:
            return
        running = [c for c in all_components() if c not in self.components and self._running(c)]
        if running:
            raise StackError(f"the stack in {self.state} runs the {recorded} backend "
                             f"({', '.join(running)}); stop it first with `mlmon-nb stack down`")

    def _refuse_taken_ports(self, wanted: list[str]) -> None:
        """One clear error before anything starts when two components are given one port, or
        a component's port is held by a process this stack did not start."""
        ports, host = self.config.stack.ports, self.config.stack.host
        where = self.config.path or "the configuration"
        owners: dict[int, list[str]] = {}
        for name in self.components:
            if name in ports:
                owners.setdefault(ports[name], []).append(name)
        for port, names in owners.items():
            if len(names) > 1:
                raise StackError(f"stack.ports gives {' and '.join(names)} the same port {port}; "
                                 f"give each its own in {where}")
        for name in wanted:
            if name in ports and not self._running(name) and port_taken(host, ports[name]):
                raise StackError(
                    f"port {ports[name]} on {host}, {name}'s, is held by another process; stop "
                    f"it, or set stack.ports.{name} in {where} (a stack started from another "
                    f"state folder stops with `mlmon-nb stack down` there)")

    def _reload_prometheus(self) -> None:
        """Make a running Prometheus read the regenerated configuration and rules."""
        try:
            urllib.request.urlopen(urllib.request.Request(
                self.url("prometheus") + "/-/reload", method="POST"), timeout=10).close()
        except urllib.error.HTTPError as exc:  # it answered: the new files do not load
            detail = exc.read().decode("utf-8", "replace").strip()
            raise StackError(f"prometheus refused to reload {self.state / 'prometheus.yml'}: "
                             f"{detail}; see its log {self.log_path('prometheus')}") from exc
        except (urllib.error.URLError, OSError):
            pass  # not answering yet: the health wait below reports it

    def _start(self, name: str) -> None:
        log = self.log_path(name)
        command = self._command(name)
        env = {**os.environ, "MLMON_CONFIG": str(self.config_file), "PYTHONUNBUFFERED": "1"}
        with open(log, "ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}\n".encode())
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.state, env=env,
                                    start_new_session=True)
        for _ in range(50):  # /proc/<pid>/stat appears at once; be patient on a loaded machine
            start_time = _proc_start_time(proc.pid)
            if start_time:
                break
            time.sleep(0.01)
        self._pid_path(name).write_text(json.dumps(
            {"pid": proc.pid, "start_time": start_time, "command": command}))

    def _wait_healthy(self, name: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            if not self._running(name):
                break
            if self._healthy(name):
                return
            time.sleep(0.2)
        state = "exited" if not self._running(name) else "is not healthy"
        tail = self.logs(name, 5).strip().replace("\n", "\n    ")
        raise StackError(f"{name} {state} (health: {self._health_url(name) or 'process'}); "
                         f"see its log {self.log_path(name)}:\n    {tail}")

    def down(self) -> list[str]:
        """Stop exactly the processes `up` started; returns their names."""
        stopped = []
        others = [c for c in all_components() if c not in self.components]
        for name in [*reversed(self.components), *others]:  # any backend's leftovers too
            record = self._read_pid(name)
            if record:
                _terminate(record["pid"])
                stopped.append(name)
            self._pid_path(name).unlink(missing_ok=True)
        self._backend_path().unlink(missing_ok=True)
        return stopped

    def status(self) -> list[ComponentStatus]:
        """Each component: running (its pid), healthy (its health endpoint answers)."""
        out = []
        for name in self.components:
            pid = self._running(name)
            out.append(ComponentStatus(name, bool(pid), bool(pid) and self._answers(name), pid,
                                       self.url(name), self.log_path(name)))
        return out

    def format_status(self, statuses: list[ComponentStatus] | None = None) -> str:
        """A table of ``statuses`` (default: probe them now)."""
        statuses = self.status() if statuses is None else statuses
        width = max([14, *(len(s.name) + 1 for s in statuses)])
        rows = [f"{'component':<{width}}{'state':<10}{'pid':<9}url"]
        for s in statuses:
            state = "healthy" if s.healthy else ("unhealthy" if s.running else "stopped")
            rows.append(f"{s.name:<{width}}{state:<10}{s.pid or '-':<9}{s.url}")
        # what queries, runbook links and the webhook use (derived from the ports unless set)
        urls = {**self.config.urls(), "backend": self.backend.name}
        rows += [""] + [f"{key:<15} {url}" for key, url in urls.items()]  # a space at least
        return "\n".join(rows)

    def logs(self, name: str | None = None, lines: int = 40) -> str:
        names = [name] if name else list(self.components)
        out = []
        for n in names:
            if n not in all_components():
                raise StackError(f"unknown component {n!r}; components: "
                                 f"{', '.join(self.components)}")
            path = self.log_path(n)
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            out.append((f"== {n} ({path})\n" if not name else "") + "\n".join(text))
        return "\n".join(out)


def _terminate(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if _proc_start_time(pid) is None or _is_zombie(pid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def iter_blocks(tsdb: Path) -> Iterator[Path]:
    """The TSDB's persisted blocks (folders with a meta.json)."""
    return (p.parent for p in Path(tsdb).glob("*/meta.json"))
