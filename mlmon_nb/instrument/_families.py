"""The contract's metric objects, created once per registry, and the hot-path families.

Every request touches seven metrics and every numeric feature its own histogram. With
prometheus-client's metrics that is a lock and a method chain per update; in one process the
hot-path metrics are instead :class:`LockedFamily` collectors: plain numbers that ModelMonitor
updates under one lock per request phase (the shared ``Families.lock``). They also let each
feature have its own buckets (the baseline's quantile edges), which one ``Histogram`` cannot.
In multiprocess mode the hot-path metrics are prometheus-client's own, writing to the shared
files that the multiprocess collector sums by label set, and the lock is not taken.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.samples import Sample

from .. import metrics as m
from ..errors import InstrumentError
from ..metrics import le_label

__all__ = ["Families", "families_for", "static_collectors", "LockedFamily", "LockedValue",
           "LockedBuckets", "BaselineSeries"]


class LockedValue:
    """A counter's or gauge's value; the caller holds its family's lock."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = value


class LockedBuckets:
    """A histogram's bucket counts (``le`` buckets, then ``+Inf``) and sum; the caller holds its
    family's lock."""

    __slots__ = ("edges", "counts", "sum")

    def __init__(self, edges: Iterable[float]):
        self.edges = [float(e) for e in edges if e != float("inf")]
        self.counts = [0] * (len(self.edges) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.edges, value)] += 1  # le: the first edge >= value
        self.sum += value


class LockedFamily:
    """A labelled counter, gauge or histogram of the contract kept as plain numbers.

    Children (``labels(...)``) have prometheus-client's ``inc``/``dec``/``set``/``observe`` but
    take no lock of their own: every update and every scrape holds ``lock``, so a request pays
    one lock, not one per metric. A histogram child may have its own ``buckets``.
    """

    def __init__(self, spec: m.MetricSpec, lock: threading.RLock,
                 buckets: Iterable[float] = ()):
        self.spec = spec
        self.lock = lock
        self.buckets = tuple(buckets)
        self._children: dict[tuple[str, ...], LockedValue | LockedBuckets] = {}

    def labels(self, *values: str, buckets: Iterable[float] | None = None):
        """The child of these label values (created on first use; the first buckets win)."""
        key = tuple(str(v) for v in values)
        if len(key) != len(self.spec.labels):
            raise ValueError(f"{self.spec.name} takes labels {self.spec.labels}, got {key}")
        with self.lock:
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = (
                    LockedBuckets(self.buckets if buckets is None else buckets)
                    if self.spec.type == "histogram" else LockedValue())
            return child

    def collect(self):
        spec = self.spec
        with self.lock:
            if spec.type == "histogram":
                snapshot = [(k, list(c.edges), list(c.counts), c.sum)
                            for k, c in self._children.items()]
            else:
                snapshot = [(k, c.value) for k, c in self._children.items()]
        if spec.type != "histogram":
            kind = CounterMetricFamily if spec.type == "counter" else GaugeMetricFamily
            family = kind(spec.name, spec.help, labels=spec.labels)
            for labels, value in snapshot:
                family.add_metric(list(labels), value)
            yield family
            return
        family = HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
        for labels, edges, counts, total in snapshot:
            buckets, running = [], 0
            for edge, count in zip(edges, counts):
                running += count
                buckets.append((le_label(edge), running))
            buckets.append(("+Inf", running + counts[-1]))
            # add_metric() drops _count/_sum when an edge is negative; queries need both
            family.add_metric(list(labels), buckets, None)
            names = dict(zip(spec.labels, labels))
            family.samples.append(Sample(f"{spec.name}_count", names, buckets[-1][1]))
            family.samples.append(Sample(f"{spec.name}_sum", dict(names), total))
        yield family


class BaselineSeries:
    """Collector of what a service exports from its baseline (:data:`metrics.BASELINE_SERIES`):
    static, so the same in every worker.

    Exposed untyped on purpose: promtool's lint reserves the ``le`` label for histograms but
    exempts untyped metrics, and PromQL treats untyped and gauge alike. ``le`` is formatted as the
    histogram's buckets are, so the two join on it.
    """

    def __init__(self) -> None:
        self._values: dict[m.MetricSpec, dict[tuple[str, ...], float]] = {
            spec: {} for spec in m.BASELINE_SERIES}
        self._lock = threading.Lock()

    def set(self, spec: m.MetricSpec, labels: tuple[str, ...], value: float) -> None:
        with self._lock:
            self._values[spec][tuple(labels)] = float(value)

    def collect(self):
        with self._lock:
            snapshot = {spec: dict(values) for spec, values in self._values.items()}
        for spec, values in snapshot.items():
            family = UnknownMetricFamily(spec.name, spec.help, labels=spec.labels)
            for labels, value in values.items():
                family.add_metric(list(labels), value)
            yield family


class _ClientFeatureHistograms:
    """``ml_feature_value`` (or another histogram whose buckets come from the baseline) in
    multiprocess mode: an unregistered prometheus-client histogram per feature, since each
    feature has its own buckets; the multiprocess collector sums them by name and labels."""

    def __init__(self, spec: m.MetricSpec = m.FEATURE_VALUE):
        self.spec = spec

    def labels(self, *values: str, buckets: Iterable[float]):
        spec = self.spec
        hist = Histogram(spec.name, spec.help, spec.labels, buckets=list(buckets) + [float("inf")],
                         registry=None)
        return hist.labels(*values)


_CLIENT_TYPES = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}


class Families:
    """Every metric object of the contract in one registry.

    The hot-path ones (requests, duration, in-flight, predictions, confidence, low confidence,
    feature values and categories) are :class:`LockedFamily` collectors updated under ``lock`` in
    one process, and prometheus-client metrics in multiprocess mode; the rest are always
    prometheus-client metrics.
    """

    def __init__(self, registry: CollectorRegistry, latency_buckets: tuple[float, ...],
                 multiprocess: bool):
        self.latency_buckets = latency_buckets
        self.lock = threading.RLock()  # re-entered when a prediction brings a new label value

        def client(spec: m.MetricSpec, **kw):
            return _CLIENT_TYPES[spec.type](spec.name, spec.help, spec.labels, registry=registry,
                                            **kw)

        def hot(spec: m.MetricSpec, buckets: Iterable[float] = (), **kw):
            if multiprocess:
                return client(spec, **({"buckets": buckets} if buckets else {}), **kw)
            family = LockedFamily(spec, self.lock, buckets)
            registry.register(family)
            return family

        self.requests = hot(m.REQUESTS)
        self.duration = hot(m.REQUEST_DURATION, latency_buckets)
        self.in_progress = hot(m.IN_PROGRESS, multiprocess_mode="livesum")
        self.predictions = hot(m.PREDICTIONS)
        self.confidence = hot(m.CONFIDENCE, m.CONFIDENCE_BUCKETS)
        self.purity = hot(m.PURITY)
        self.scaled = hot(m.SCALED_CONFIDENCE)
        self.low_confidence = hot(m.LOW_CONFIDENCE)
        self.category = hot(m.FEATURE_CATEGORY)
        self.features = _ClientFeatureHistograms() if multiprocess else hot(m.FEATURE_VALUE)
        # the multivariate check: each prediction's reconstruction error, and (sampled) each
        # feature's share of it
        self.reconstruction = (_ClientFeatureHistograms(m.RECONSTRUCTION_ERROR) if multiprocess
                               else hot(m.RECONSTRUCTION_ERROR))
        self.residual = hot(m.FEATURE_RESIDUAL)
        self.residual_samples = hot(m.RESIDUAL_SAMPLES)
        self.errors = client(m.ERRORS)
        self.invalid = client(m.FEATURE_INVALID)
        self.ground_truth = client(m.GROUND_TRUTH)
        self.model_info = client(m.MODEL_INFO, multiprocess_mode="max")
        self.overflow = client(m.LABEL_OVERFLOW)
        self.unmatched = client(m.FEEDBACK_UNMATCHED)
        self.evicted = client(m.PENDING_EVICTED)
        self.review = client(m.REVIEW_SAMPLES)
        self.baseline_series = BaselineSeries()
        registry.register(self.baseline_series)


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, Families] = weakref.WeakKeyDictionary()
_GLOBAL_LOCK = threading.Lock()


def families_for(registry: CollectorRegistry, latency_buckets: tuple[float, ...],
                 multiprocess: bool) -> Families:
    """The registry's metric objects, shared by every ModelMonitor on it."""
    with _GLOBAL_LOCK:
        fam = _BY_REGISTRY.get(registry)
        if fam is None:
            fam = _BY_REGISTRY[registry] = Families(registry, latency_buckets, multiprocess)
        elif fam.latency_buckets != latency_buckets:
            raise InstrumentError(
                f"this registry already has latency buckets {fam.latency_buckets}; every "
                f"ModelMonitor on one registry must use the same latency_buckets")
        return fam


def static_collectors(registry: CollectorRegistry) -> list:
    """Collectors of a registry that multiprocess exposition adds to the summed files."""
    fam = _BY_REGISTRY.get(registry)
    return [fam.baseline_series] if fam is not None else []
