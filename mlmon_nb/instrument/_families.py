"""The contract's metric objects, created once per registry, and the fast feature histograms.

Feature histograms need other buckets per feature (each feature's baseline quantile edges), which
one prometheus-client ``Histogram`` cannot have. In one process they live in
:class:`FeatureHistograms`, a collector that counts under one lock per prediction; in multiprocess
mode each feature gets its own unregistered ``Histogram`` writing to the shared files, which the
multiprocess collector sums by label set.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily, UnknownMetricFamily
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from .. import metrics as m
from ..errors import InstrumentError

__all__ = ["Families", "families_for", "static_collectors", "FeatureHistograms", "BaselineRatios",
           "NumericSeries", "le_label"]


def le_label(edge: float) -> str:
    """An ``le`` label value exactly as prometheus-client formats histogram buckets."""
    return floatToGoString(edge)


class NumericSeries:
    """One feature's bucket counts (``le`` buckets, then ``+Inf``) and sum."""

    __slots__ = ("edges", "counts", "sum")

    def __init__(self, edges: Iterable[float]):
        self.edges = [float(e) for e in edges]
        self.counts = [0] * (len(self.edges) + 1)
        self.sum = 0.0

    def add(self, value: float) -> None:
        """Count one value (the caller holds the collector's lock)."""
        self.counts[bisect_left(self.edges, value)] += 1
        self.sum += value


class FeatureHistograms:
    """Collector of ``ml_feature_value`` with per-feature buckets."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # re-entered when a prediction brings a new feature
        self._series: dict[tuple[str, str], NumericSeries] = {}

    def series(self, model_name: str, feature: str, edges: Iterable[float]) -> NumericSeries:
        """The series of one feature (created on first use; the first edges win)."""
        key = (model_name, feature)
        with self.lock:
            found = self._series.get(key)
            if found is None:
                found = self._series[key] = NumericSeries(edges)
            return found

    def collect(self):
        family = HistogramMetricFamily(m.FEATURE_VALUE.name, m.FEATURE_VALUE.help,
                                       labels=m.FEATURE_VALUE.labels)
        with self.lock:
            snapshot = [(k, list(s.edges), list(s.counts), s.sum) for k, s in self._series.items()]
        for labels, edges, counts, total in snapshot:
            buckets, running = [], 0
            for edge, count in zip(edges, counts):
                running += count
                buckets.append((le_label(edge), running))
            buckets.append(("+Inf", running + counts[-1]))
            # add_metric() drops _count/_sum when an edge is negative; queries need both
            family.add_metric(list(labels), buckets, None)
            names = dict(zip(family._labelnames, labels))
            family.samples.append(Sample(f"{family.name}_count", names, buckets[-1][1]))
            family.samples.append(Sample(f"{family.name}_sum", dict(names), total))
        yield family


class BaselineRatios:
    """Collector of ``ml_feature_baseline_ratio``: static, so the same in every worker.

    Exposed untyped on purpose: promtool's lint reserves the ``le`` label for histograms but
    exempts untyped metrics, and PromQL treats untyped and gauge alike. ``le`` is formatted as the
    histogram's buckets are, so the two join on it.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def set(self, model_name: str, feature: str, le: str, value: float) -> None:
        with self._lock:
            self._values[(model_name, feature, le)] = float(value)

    def collect(self):
        family = UnknownMetricFamily(m.FEATURE_BASELINE_RATIO.name, m.FEATURE_BASELINE_RATIO.help,
                                     labels=m.FEATURE_BASELINE_RATIO.labels)
        with self._lock:
            for labels, value in self._values.items():
                family.add_metric(list(labels), value)
        yield family


class _MultiprocessSeries:
    """A feature's histogram in multiprocess mode: a prometheus-client child per feature."""

    __slots__ = ("child",)

    def __init__(self, model_name: str, feature: str, edges: Iterable[float]):
        hist = Histogram(m.FEATURE_VALUE.name, m.FEATURE_VALUE.help, m.FEATURE_VALUE.labels,
                         buckets=list(edges) + [float("inf")], registry=None)
        self.child = hist.labels(model_name, feature)

    def add(self, value: float) -> None:
        self.child.observe(value)


class Families:
    """Every metric object of the contract in one registry."""

    def __init__(self, registry: CollectorRegistry | None, latency_buckets: tuple[float, ...],
                 multiprocess: bool):
        kw = {"registry": registry}
        self.latency_buckets = latency_buckets
        self.multiprocess = multiprocess
        self.requests = Counter(m.REQUESTS.name, m.REQUESTS.help, m.REQUESTS.labels, **kw)
        self.errors = Counter(m.ERRORS.name, m.ERRORS.help, m.ERRORS.labels, **kw)
        self.duration = Histogram(m.REQUEST_DURATION.name, m.REQUEST_DURATION.help,
                                  m.REQUEST_DURATION.labels, buckets=latency_buckets, **kw)
        self.in_progress = Gauge(m.IN_PROGRESS.name, m.IN_PROGRESS.help, m.IN_PROGRESS.labels,
                                 multiprocess_mode="livesum", **kw)
        self.predictions = Counter(m.PREDICTIONS.name, m.PREDICTIONS.help, m.PREDICTIONS.labels,
                                   **kw)
        self.confidence = Histogram(m.CONFIDENCE.name, m.CONFIDENCE.help, m.CONFIDENCE.labels,
                                    buckets=m.CONFIDENCE_BUCKETS, **kw)
        self.low_confidence = Counter(m.LOW_CONFIDENCE.name, m.LOW_CONFIDENCE.help,
                                      m.LOW_CONFIDENCE.labels, **kw)
        self.baseline_ratio = BaselineRatios()
        registry.register(self.baseline_ratio)
        self.category = Counter(m.FEATURE_CATEGORY.name, m.FEATURE_CATEGORY.help,
                                m.FEATURE_CATEGORY.labels, **kw)
        self.invalid = Counter(m.FEATURE_INVALID.name, m.FEATURE_INVALID.help,
                               m.FEATURE_INVALID.labels, **kw)
        self.ground_truth = Counter(m.GROUND_TRUTH.name, m.GROUND_TRUTH.help, m.GROUND_TRUTH.labels,
                                    **kw)
        self.model_info = Gauge(m.MODEL_INFO.name, m.MODEL_INFO.help, m.MODEL_INFO.labels,
                                multiprocess_mode="max", **kw)
        self.overflow = Counter(m.LABEL_OVERFLOW.name, m.LABEL_OVERFLOW.help,
                                m.LABEL_OVERFLOW.labels, **kw)
        self.unmatched = Counter(m.FEEDBACK_UNMATCHED.name, m.FEEDBACK_UNMATCHED.help,
                                 m.FEEDBACK_UNMATCHED.labels, **kw)
        self.evicted = Counter(m.PENDING_EVICTED.name, m.PENDING_EVICTED.help,
                               m.PENDING_EVICTED.labels, **kw)
        self.review = Counter(m.REVIEW_SAMPLES.name, m.REVIEW_SAMPLES.help, m.REVIEW_SAMPLES.labels,
                              **kw)
        self.features = FeatureHistograms()
        if registry is not None and not multiprocess:
            registry.register(self.features)
        self.lock = self.features.lock

    def feature_series(self, model_name: str, feature: str, edges: Iterable[float]):
        """The histogram series of one numeric feature (see the module docstring)."""
        if self.multiprocess:
            return _MultiprocessSeries(model_name, feature, edges)
        return self.features.series(model_name, feature, edges)


_BY_REGISTRY: "weakref.WeakKeyDictionary[CollectorRegistry, Families]" = weakref.WeakKeyDictionary()
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
    return [fam.baseline_ratio] if fam is not None else []
