"""Serving-side instrumentation: :class:`ModelMonitor` and its ASGI adapters.

Light on purpose: it imports prometheus-client and the standard library only (the baseline is
passed in as an object), so a model service pays nothing for the notebook side of mlmon_nb.
"""

from __future__ import annotations

from ..metrics import le_label
from ._asgi import MetricsApp, MetricsMiddleware, mount_metrics
from ._baseline import (
    ServingBaseline,
    baseline_series,
    content_id,
    load_baseline,
    serving_of,
    valid_shares,
)
from ._labels import LabelCap
from ._monitor import DEFAULT_SEGMENT, INVALID_REASONS, RESIDUAL_STRIDE, ModelMonitor
from ._multiprocess import exposition_registry, is_multiprocess, mark_process_dead
from ._pending import PendingStore, SharedPendingStore
from ._reconstruction import JointStructure, reconstruction_error, residuals, standardize
from ._review import GroundTruthSampler, JsonLinesSink, ReviewItem

__all__ = [
    "ModelMonitor",
    "load_baseline",
    "content_id",
    "valid_shares",
    "ServingBaseline",
    "serving_of",
    "baseline_series",
    "GroundTruthSampler",
    "JsonLinesSink",
    "ReviewItem",
    "MetricsMiddleware",
    "MetricsApp",
    "mount_metrics",
    "exposition_registry",
    "is_multiprocess",
    "mark_process_dead",
    "LabelCap",
    "PendingStore",
    "SharedPendingStore",
    "le_label",
    "DEFAULT_SEGMENT",
    "INVALID_REASONS",
    "RESIDUAL_STRIDE",
    "JointStructure",
    "reconstruction_error",
    "residuals",
    "standardize",
]
