"""Multiprocess mode: several worker processes (gunicorn, ``uvicorn --workers``) behind one port.

prometheus-client keeps each worker's values in memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR``; any worker's ``/metrics`` sums them. The variable must be set before
the workers start and the directory wiped between runs of the service; a missing directory is
created by the first :class:`ModelMonitor` (see :func:`ensure_multiprocess_dir`).

The sum is made by :class:`WorkerFilesCollector`, not prometheus-client's own collector, because
``/metrics`` must answer while workers start and die. A starting worker creates each file empty
and sizes it a moment later; prometheus-client's collector fails the whole scrape on such a file
(``struct.error``: an HTTP 500), and forever if the worker was killed in between. Here an empty
file counts as a worker with no values yet, a file that cannot be read is left out of that scrape
(counted in ``ml_metric_files_unreadable``, named once in the log), and the live gauges of a
worker that is no longer running are left out, as gunicorn's ``child_exit`` hook calling
:func:`mark_process_dead` would do, so ``uvicorn --workers`` (which has no such hook) reports the
in-flight requests of live workers only. Counters and histograms of a dead worker stay in the sum:
its files stay, so no counter goes backwards when a worker dies.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

from .. import metrics as m
from ..errors import InstrumentError

__all__ = ["is_multiprocess", "multiprocess_dir", "ensure_multiprocess_dir",
           "exposition_registry", "mark_process_dead", "WorkerFilesCollector", "WorkerFile",
           "worker_file", "ENV"]

ENV = "PROMETHEUS_MULTIPROC_DIR"

log = logging.getLogger("mlmon_nb")

_TYPES = frozenset({"counter", "gauge", "histogram", "summary"})
_GAUGE_MODES = frozenset(Gauge._MULTIPROC_MODES)
_HEADER = 8  # bytes: prometheus-client's "used" integer and its padding


def is_multiprocess() -> bool:
    """Whether this process writes its metrics for multiprocess aggregation.

    prometheus-client decides at its import (from the environment); ask it, not the environment,
    so a variable set later cannot make the two disagree.
    """
    from prometheus_client import values

    return bool(getattr(values.ValueClass, "_multiprocess", False))


def multiprocess_dir() -> Path:
    """The directory the workers share (prometheus-client also reads the legacy lower-case name)."""
    return Path(os.environ.get(ENV) or os.environ["prometheus_multiproc_dir"])


def ensure_multiprocess_dir() -> Path:
    """The multiprocess directory, created if missing (workers racing to create it is fine).

    Without it every metric write fails with ``FileNotFoundError`` and a server restarts its
    workers in a loop; a path that cannot be used is one :class:`InstrumentError` instead.
    """
    path = multiprocess_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstrumentError(f"{ENV}={path} cannot be created ({exc.strerror or exc}); point it "
                              f"at a writable directory, e.g. rm -rf /tmp/mlmon-mp && "
                              f"mkdir -p /tmp/mlmon-mp") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InstrumentError(f"{ENV}={path} is not writable by this process; point it at a "
                              f"writable directory")
    return path


@dataclass(frozen=True)
class WorkerFile:
    """One of prometheus-client's per-process files: ``<type>_<pid>.db`` or
    ``gauge_<mode>_<pid>.db``."""

    path: str
    type: str  # counter | gauge | histogram | summary
    mode: str  # a gauge's multiprocess mode (sum, livesum, max, ...); "" for the other types
    pid: str  # the process identifier in the name: a pid unless the service chose another

    @property
    def live(self) -> bool:
        """A gauge that counts only while its process runs (``mark_process_dead`` removes it)."""
        return self.mode.startswith("live")


def worker_file(path: str) -> WorkerFile | None:
    """What prometheus-client's name of ``path`` says, or None for a name it does not write."""
    parts = os.path.basename(path).removesuffix(".db").split("_")
    if parts[0] == "gauge":
        if len(parts) >= 3 and parts[1] in _GAUGE_MODES:
            return WorkerFile(path, "gauge", parts[1], "_".join(parts[2:]))
    elif parts[0] in _TYPES and len(parts) >= 2:
        return WorkerFile(path, parts[0], "", "_".join(parts[1:]))
    return None


def pid_running(pid: str) -> bool:
    """Whether the process is running here (a zombie is not); a non-numeric identifier counts
    as running, since nothing can be known of it."""
    if not pid.isdigit() or int(pid) <= 0:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs under another user
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:  # no procfs: a zombie counts as running until its parent reaps it
        return True
    return stat.rpartition(b")")[2].split()[:1] != [b"Z"]


# (metric name, sample name, sorted labels, help) of one mmap key
_Key = tuple[str, str, tuple[tuple[str, str], ...], str]
_Sample = tuple[_Key, float, float]


def _parse_key(key: str, cache: dict[str, _Key]) -> _Key:
    parsed = cache.get(key)
    if parsed is None:
        metric_name, name, labels, help_text = json.loads(key)
        parsed = cache[key] = (metric_name, name, tuple(sorted(labels.items())), help_text)
    return parsed


def _read_once(path: str, cache: dict[str, _Key]) -> list[_Sample]:
    return [(_parse_key(key, cache), value, timestamp)
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(path)]


_READ_ERRORS = (OSError, struct.error, RuntimeError, ValueError, TypeError, AttributeError)


def _unsized(path: str) -> bool:
    """Gone, or shorter than the header: a file a worker has created and not yet sized."""
    try:
        return os.path.getsize(path) < _HEADER
    except FileNotFoundError:
        return True


def read_worker_file(path: str, cache: dict[str, _Key]) -> list[_Sample]:
    """Every sample of one file, all or nothing; raises what a damaged file raises.

    A file that is gone (a dead worker's live gauges, removed by ``mark_process_dead``) or not
    yet sized has no samples. Any other failure is read once more before it counts: a damaged
    file fails again, a read that met a change in progress does not.
    """
    try:
        return _read_once(path, cache)
    except FileNotFoundError:
        return []
    except _READ_ERRORS:
        if _unsized(path):
            return []
    try:
        return _read_once(path, cache)
    except FileNotFoundError:
        return []


_warned: set[str] = set()


def _warn_once(path: str, message: str) -> None:
    """Each path once per process: a scrape repeats every few seconds."""
    if path in _warned or len(_warned) >= 1000:
        return
    _warned.add(path)
    log.warning("mlmon_nb: %s", message)


def merge_samples(files: Iterable[tuple[WorkerFile, list[_Sample]]]) -> list[Metric]:
    """The workers' samples summed as prometheus-client sums them (its own accumulation:
    counters and histograms added, gauges by their multiprocess mode)."""
    metrics: dict[str, Metric] = {}
    for wf, samples in files:
        for (metric_name, name, labels, help_text), value, timestamp in samples:
            metric = metrics.get(metric_name)
            if metric is None:
                metric = metrics[metric_name] = Metric(metric_name, help_text, wf.type)
            if wf.type == "gauge":
                metric._multiprocess_mode = wf.mode  # type: ignore[attr-defined]
                metric.add_sample(name, labels + (("pid", wf.pid),), value,  # type: ignore[arg-type]
                                  timestamp)
            else:  # labels as a tuple: the accumulation turns them into a dict
                metric.add_sample(name, labels, value)  # type: ignore[arg-type]
    return list(MultiProcessCollector._accumulate_metrics(metrics, True))


class WorkerFilesCollector:
    """The sum of every worker's metric files in ``path``, which always answers.

    Left out of a scrape: the live gauges of workers no longer running, and files that cannot
    be read (``ml_metric_files_unreadable`` counts them, the log names each once). Whether a
    worker runs is asked by its pid, so the workers must share the scraping process's pid
    namespace, as they do under gunicorn and uvicorn (prometheus-client's file names assume it).
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else multiprocess_dir()

    def collect(self) -> list[Metric]:
        cache: dict[str, _Key] = {}
        running: dict[str, bool] = {}
        read: list[tuple[WorkerFile, list[_Sample]]] = []
        unreadable = 0
        if not self.path.is_dir():
            _warn_once(str(self.path), f"{ENV}={self.path} is gone, and the workers' metric "
                                       f"values with it; it must stay while the service runs: "
                                       f"restart the service")
        for path in sorted(glob.glob(os.path.join(self.path, "*.db"))):
            wf = worker_file(path)
            if wf is None:
                unreadable += 1
                _warn_once(path, f"{path} is left out of /metrics: prometheus-client writes no "
                                 f"file of that name; keep other files out of {ENV}")
                continue
            if wf.live:
                if wf.pid not in running:
                    running[wf.pid] = pid_running(wf.pid)
                if not running[wf.pid]:
                    continue
            try:
                samples = read_worker_file(path, cache)
            except Exception as exc:  # one damaged file must not fail the scrape
                unreadable += 1
                _warn_once(path, f"{path} is left out of /metrics: it cannot be read "
                                 f"({type(exc).__name__}: {exc}), damaged by a full disk or by "
                                 f"another program; to clear it, stop the service, wipe {ENV} "
                                 f"and start it again")
                continue
            if samples:
                read.append((wf, samples))
        spec = m.METRIC_FILES_UNREADABLE
        return [*merge_samples(read), GaugeMetricFamily(spec.name, spec.help, value=unreadable)]


def exposition_registry(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """The registry ``/metrics`` should render: in multiprocess mode, all workers summed."""
    if is_multiprocess() or (registry is None and os.environ.get(ENV)):
        from ._families import static_collectors

        merged = CollectorRegistry()
        merged.register(WorkerFilesCollector())
        from prometheus_client import REGISTRY

        for collector in static_collectors(REGISTRY if registry is None else registry):
            merged.register(collector)
        return merged
    if registry is None:
        from prometheus_client import REGISTRY
        return REGISTRY
    return registry


def mark_process_dead(pid: int) -> None:
    """Remove a dead worker's live gauge files (call from gunicorn's ``child_exit`` hook).

    Scrapes already leave out the live gauges of workers that are not running; removing the
    files also keeps a later process that gets the same pid from starting at their values.
    """
    if is_multiprocess():
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid)
