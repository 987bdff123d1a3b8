"""Multiprocess mode: several worker processes (gunicorn, ``uvicorn --workers``) behind one port.

prometheus-client keeps each worker's values in memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR``; any worker's ``/metrics`` sums them. The directory must be set (and
empty) before the workers start, and wiped between runs of the service.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry

__all__ = ["is_multiprocess", "multiprocess_dir", "exposition_registry", "mark_process_dead", "ENV"]

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
