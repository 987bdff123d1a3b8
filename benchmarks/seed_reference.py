"""The seed prototype's instrumentation, reconstructed: the anchor of bench_instrument.py only.

We do not have the seed's code; this is a faithful minimal reconstruction of what its Sections
1-3 did inside the model service, as its description says: a ``monitor_ml_endpoint`` decorator
(labelled counters, a latency histogram and an in-flight gauge, with ``.labels()`` looked up on
every call), a ``DataDriftDetector`` that keeps the last ``window_size`` (1000) requests' features
and runs ``scipy.stats.ks_2samp`` against the training data inline, on the request that fills
the window, for every feature, and a ``GroundTruthSampler`` that keeps sampled predictions in an
unbounded list. Not part of mlmon_nb; do not import it from the package.
"""

from __future__ import annotations

import functools
import random
import time

import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from scipy import stats

__all__ = ["SeedMetrics", "monitor_ml_endpoint", "DataDriftDetector", "GroundTruthSampler"]


class SeedMetrics:
    """The seed's module-level metrics, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None):
        registry = registry or CollectorRegistry()
        self.requests = Counter("ml_requests_total", "Total requests",
                                ["model_name", "model_version", "endpoint"], registry=registry)
        self.errors = Counter("ml_errors_total", "Total errors",
                              ["model_name", "model_version", "error_type"], registry=registry)
        self.latency = Histogram("ml_request_duration_seconds", "Request latency",
                                 ["model_name", "endpoint"], registry=registry)
        self.active = Gauge("ml_requests_in_progress", "In-flight requests", ["model_name"],
                            registry=registry)
        self.predictions = Counter("ml_predictions_total", "Predictions",
                                   ["model_name", "predicted_class"], registry=registry)
        self.confidence = Histogram("ml_prediction_confidence", "Confidence", ["model_name"],
                                    buckets=[i / 10 for i in range(1, 11)], registry=registry)
        self.drift = Gauge("ml_data_drift_score", "KS statistic per feature",
                           ["model_name", "feature"], registry=registry)


def monitor_ml_endpoint(metrics: SeedMetrics, model_name: str, model_version: str, endpoint: str):
    """The seed's decorator: counts, times and tracks in-flight requests."""
    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            metrics.requests.labels(model_name=model_name, model_version=model_version,
                                    endpoint=endpoint).inc()
            metrics.active.labels(model_name=model_name).inc()
            start = time.time()
            try:
                return func(*args, **kwargs)
            except Exception as e:
                metrics.errors.labels(model_name=model_name, model_version=model_version,
                                      error_type=type(e).__name__).inc()
                raise
            finally:
                metrics.latency.labels(model_name=model_name, endpoint=endpoint).observe(
                    time.time() - start)
                metrics.active.labels(model_name=model_name).dec()
        return wrapper
    return decorator


class DataDriftDetector:
    """The seed's detector: ``ks_2samp`` per feature, inline, every ``window_size`` requests."""

    def __init__(self, metrics: SeedMetrics, model_name: str, reference_data: pd.DataFrame,
                 window_size: int = 1000, threshold: float = 0.05):
        self.metrics = metrics
        self.model_name = model_name
        self.reference_data = reference_data
        self.window_size = window_size
        self.threshold = threshold
        self.current_window: list[dict] = []
        self.drift_detected: dict[str, bool] = {}

    def add_sample(self, features: dict) -> None:
        self.current_window.append(features)
        if len(self.current_window) >= self.window_size:
            self.detect_drift()
            self.current_window = []

    def detect_drift(self) -> None:
        current = pd.DataFrame(self.current_window)
        for column in self.reference_data.select_dtypes("number").columns:
            if column in current.columns:
                statistic, p_value = stats.ks_2samp(self.reference_data[column], current[column])
                self.metrics.drift.labels(model_name=self.model_name, feature=column).set(statistic)
                self.drift_detected[column] = p_value < self.threshold


class GroundTruthSampler:
    """The seed's sampler: keeps a share of predictions in memory for later labelling."""

    def __init__(self, sampling_rate: float = 0.1):
        self.sampling_rate = sampling_rate
        self.samples: list[dict] = []

    def maybe_sample(self, request_id: str, features: dict, prediction: str) -> None:
        if random.random() < self.sampling_rate:
            self.samples.append({"request_id": request_id, "features": features,
                                 "prediction": prediction, "timestamp": time.time()})
