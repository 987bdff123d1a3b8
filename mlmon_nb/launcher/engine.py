"""The launcher's engine without HTTP: the run store, the registry, the kernel pool and the
workers that claim runs under a lease, execute them and record the outcome."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..config import Config
from ..errors import ParameterError, PrometheusError
from ..runbooks import (
    KernelPool,
    Registry,
    execute_run,
    kernel_dir,
    kernel_env,
    server_defaults,
    validate_parameters,
)
from ..runbooks.cli import check_prometheus
from ..runbooks.parameters import check_against_config, declared_default
from ..runstore import Run, RunStatus, RunStore
from .security import RequestError
from .settings import LauncherSettings
from .webhook import (
    LINK_PRIORITY,
    Planned,
    dedupe_key,
    group_key,
    priority,
    webhook_alerts,
)

__all__ = ["Launcher"]

log = logging.getLogger("mlmon_nb.launcher")
# labels a service or a rule sets freely: one that fails its parameter's check is dropped
# (the run goes ahead without it), never the alert
OPTIONAL_LABELS = frozenset({"model_version", "severity"})


class Launcher:
    """The run store, the registry, the kernel pool and the workers, without HTTP."""

    def __init__(self, config: Config, settings: LauncherSettings | None = None,
                 registry: Registry | None = None):
        self.config = config
        self.settings = settings or LauncherSettings()
        self.registry = registry or Registry.for_config(config)
        self.store = RunStore(config.stack.state_dir / "runs",
                              lease_seconds=self.settings.lease_seconds,
                              max_attempts=self.settings.max_attempts)
        self.pool = KernelPool(self.settings.warm_kernels, cwd=self.store.root,
                               env=kernel_env(config),
                               connection_dir=kernel_dir(config.stack.state_dir))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self.metrics = CollectorRegistry()
        self.runs_total = Counter("mlmon_launcher_runs", "Runs finished, by alert and status.",
                                  ["alertname", "status"], registry=self.metrics)
        self.run_seconds = Histogram("mlmon_launcher_run_duration_seconds",
                                     "Run duration from start to finish.", ["alertname"],
                                     buckets=(0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 120, 300, 600),
                                     registry=self.metrics)
        self.wait_seconds = Histogram("mlmon_launcher_queue_wait_seconds",
                                      "Seconds from acceptance to start.",
                                      buckets=(0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
                                      registry=self.metrics)
        self.webhooks_total = Counter("mlmon_launcher_webhooks", "Webhook notifications, by outcome.",
                                      ["outcome"], registry=self.metrics)
        self.accepted_total = Counter("mlmon_launcher_runs_accepted", "Runs queued, by source.",
                                      ["source"], registry=self.metrics)
        depth = Gauge("mlmon_launcher_queue_depth", "Runs waiting to execute.",
                      registry=self.metrics)
        depth.set_function(lambda: self.store.counts().get("queued", 0))
        warm = Gauge("mlmon_launcher_warm_kernels", "Kernels started and ready.",
                     registry=self.metrics)
        warm.set_function(lambda: self.pool.ready())

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Release runs whose owner died (expired leases), start the pool and the workers."""
        released = self.store.requeue_interrupted()
        if released:
            log.warning("requeued %d run(s) whose owner stopped renewing its lease", released)
        self.pool.start()
        self._counts = self.store.counts()
        watcher = threading.Thread(target=self._watch_counts, name="mlmon-queue-watch", daemon=True)
        watcher.start()
        for i in range(max(1, self.settings.workers)):
            thread = threading.Thread(target=self._work, name=f"mlmon-runner-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._wake.set()

    def stop(self, drain_timeout: float | None = None) -> None:
        """Stop taking runs, wait up to ``drain_timeout`` seconds for the running ones, shut
        the kernels down. Queued runs stay for the next start; runs still running when the
        time is up keep their lease until it expires, then any launcher takes them over."""
        drain = self.settings.drain_timeout if drain_timeout is None else drain_timeout
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + max(0.0, drain)
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        left = [t for t in self._threads if t.is_alive()]
        self.store.stop_heartbeat()
        if left:
            log.warning("stopping with %d run(s) still executing (%s); they are taken over "
                        "after their lease expires (%gs)", len(self.store.held()),
                        ", ".join(sorted(self.store.held())), self.settings.lease_seconds)
        self.pool.shutdown()

    def counts(self) -> dict[str, int]:
        """Runs per status as of the last second (what /healthz answers from memory: a health
        probe never waits for the index or for a thread)."""
        return dict(self._counts)

    def _watch_counts(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self._counts = self.store.counts()
            except sqlite3.Error:  # busy index: keep the last counts, try again in a second
                continue

    def busy(self) -> int:
        """Workers executing a run right now."""
        return self._busy

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                run = self.store.claim_next()
            except Exception as exc:  # the index was busy or broken: wait, never lose a worker
                log.warning("could not claim a run: %s", exc)
                self._stop.wait(1.0)
                continue
            if run is None:
                self._wake.wait(timeout=0.5)
                self._wake.clear()
                continue
            with self._busy_lock:
                self._busy += 1
            try:
                self._execute(run)
            except Exception as exc:  # its outcome could not be recorded: never lose a worker
                log.error("run %s: its outcome could not be recorded (%s); it runs again once "
                          "its lease lapses", run.run_id, exc)
                self.store.release(run.run_id)
            finally:
                with self._busy_lock:
                    self._busy -= 1

    def _execute(self, run: Run) -> None:
        self.wait_seconds.observe(max(0.0, (run.started or time.time()) - run.created))
        if self._refused(run) or self._prometheus_missing(run):
            self.runs_total.labels(run.alertname, RunStatus.FAILED.value).inc()
            log.warning("run %s of %s for %s: failed before a kernel", run.run_id, run.alertname,
                        run.model_name or "-")
            return
        try:
            outcome = execute_run(self.store, self.registry, self.config, run,
                                  kernel=self.pool.acquire(), timeout=self.settings.run_timeout)
            status, duration = str(outcome.status), outcome.duration
        except Exception as exc:  # never lose a worker; record and go on
            self.store.finish(run.run_id, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
            status, duration = RunStatus.FAILED.value, 0.0
        log.info("run %s of %s for %s: %s in %.1fs", run.run_id, run.alertname,
                 run.model_name or "-", status, duration)
        self.runs_total.labels(run.alertname, status).inc()
        self.run_seconds.labels(run.alertname).observe(duration)

    def _refused(self, run: Run) -> bool:
        """An alert's model that this launcher's configuration lacks, or a feature its baseline
        lacks, ends the run as failed with one line naming what exists, before any kernel: the
        webhook accepts the notification (refusing it would drop every runbook in it), but a
        kernel would only fail on it, or investigate another feature in its place. (A form's
        or the CLI's run was checked when it was asked for.)"""
        if run.source != "webhook":
            return False
        try:
            check_against_config(self.config, run.params)
        except ParameterError as exc:
            self.store.finish(run.run_id, RunStatus.FAILED, error=f"{exc}; no kernel was started")
            return True
        return False

    def _prometheus_missing(self, run: Run) -> bool:
        """A runbook that queries Prometheus (it declares ``prometheus_url``) asks it for one
        value before a kernel is taken from the pool or started: when nothing answers there
        within a second, the run ends as failed with one line naming the URL it would use."""
        url = run.params.get("prometheus_url")
        if not url:
            return False
        try:
            check_prometheus(str(url), outcome="no kernel was started",
                             elsewhere="set prometheus_url in the launcher's configuration")
        except PrometheusError as exc:
            self.store.finish(run.run_id, RunStatus.FAILED, error=str(exc))
            return True
        return False

    # -- accepting work -------------------------------------------------------------------------

    def submit(self, alertname: str, raw: dict[str, Any], *, source: str,
               dedupe_key: str | None = None, ignore_undeclared: bool = False) -> tuple[Run, bool]:
        """Validate and queue one run (RunbookError/ParameterError when refused)."""
        runbook = self.registry.get(alertname)
        params = validate_parameters(runbook, raw, untrusted=True,
                                     ignore_undeclared=ignore_undeclared)
        # the same refusal as `mlmon-nb run` (docs/runbooks.md): an unconfigured model or a
        # feature the baseline lacks is a 400 naming what exists, not a failed (or silently
        # substituted) run
        check_against_config(self.config, params,
                             declared_model=declared_default(runbook, "model_name"))
        return self._queue(Planned(alertname, params, dedupe_key or "", LINK_PRIORITY, ""),
                           source)

    def _queue(self, plan: Planned, source: str) -> tuple[Run, bool]:
        runbook = self.registry.get(plan.alertname)
        run, created = self.store.submit(runbook.alertname,
                                         server_defaults(runbook, self.config, plan.params),
                                         source=source, dedupe_key=plan.dedupe_key or None,
                                         priority=plan.priority, group_key=plan.group_key)
        if created:
            self.accepted_total.labels(source).inc()
            self._wake.set()
        return run, created

    def accept_webhook(self, payload: Any) -> dict[str, Any]:
        """Queue the runbook of each firing alert once; mark resolved ones. An alert whose
        labels its runbook refuses is left out, logged and listed (``refused``) with the
        reason; the others still run: Alertmanager does not resend a notification refused with
        a 4xx, so refusing all of it would drop every runbook in it."""
        alerts = webhook_alerts(payload, self.settings.max_alerts)
        group = group_key(payload)
        planned: list[Planned] = []
        resolved, skipped, refused = [], [], []
        for alert in alerts:
            labels = alert["labels"]
            name = labels.get("alertname", "")
            key = dedupe_key(alert)
            if alert["status"] == "resolved":
                resolved.append((key, str(alert.get("endsAt", ""))[:64]))
                continue
            if name not in self.registry:
                skipped.append(name[:100])
                continue
            runbook = self.registry.get(name)
            raw = {**labels, "starts_at": alert["startsAt"], "alertname": name}
            # refusing the notification (400) would mean Alertmanager drops it: no runbook runs
            for optional in OPTIONAL_LABELS & raw.keys():
                try:
                    validate_parameters(runbook, {optional: raw[optional]}, untrusted=True,
                                        ignore_undeclared=True)
                except ParameterError as exc:
                    log.warning("alert %s: label dropped: %s", name, exc)
                    del raw[optional]
            try:
                params = validate_parameters(runbook, raw, untrusted=True, ignore_undeclared=True)
            except ParameterError as exc:
                log.warning("alert %s: refused: %s", name, exc)
                refused.append({"alertname": name, "error": str(exc)})
                continue
            planned.append(Planned(name, params, key, priority(labels), group))
        if refused and not planned and not resolved:
            raise RequestError("; ".join(r["error"] for r in refused)[:2000], 400)
        if not planned and not resolved:
            raise RequestError(f"no alert in this notification has a runbook (alerts: "
                               f"{', '.join(sorted(set(skipped)))[:200]}); runbooks exist for: "
                               f"{', '.join(self.registry.names())}", 422)
        runs = []
        for plan in planned:
            run, created = self._queue(plan, "webhook")
            runs.append({"run_id": run.run_id, "alertname": run.alertname, "created": created})
        marked = sum(self.store.mark_resolved(key, ends) for key, ends in resolved)
        return {"runs": runs, "resolved": marked, "skipped": skipped, "refused": refused}
