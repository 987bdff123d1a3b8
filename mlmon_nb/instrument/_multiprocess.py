"""Multiprocess mode: several worker processes (gunicorn, ``uvicorn --workers``) behind one port.

prometheus-client keeps each worker's values in memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR``; any worker's ``/metrics`` sums them. The variable must be set before
the workers start and the directory wiped between runs of the service; a missing directory is
created by the first :class:`ModelMonitor` (see :func:`ensure_multiprocess_dir`).
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry

from ..errors import InstrumentError

__all__ = ["is_multiprocess", "multiprocess_dir", "ensure_multiprocess_dir",
           "exposition_registry", "mark_process_dead", "ENV"]

ENV = "PROMETHEUS_MULTIPROC_DIR"


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


def exposition_registry(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """The registry ``/metrics`` should render: in multiprocess mode, all workers summed."""
    if is_multiprocess() or (registry is None and os.environ.get(ENV)):
        from prometheus_client import multiprocess

        from ._families import static_collectors

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        from prometheus_client import REGISTRY

        for collector in static_collectors(REGISTRY if registry is None else registry):
            merged.register(collector)
        return merged
    if registry is None:
        from prometheus_client import REGISTRY
        return REGISTRY
    return registry


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (call from gunicorn's ``child_exit`` hook)."""
    if is_multiprocess():
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid)
