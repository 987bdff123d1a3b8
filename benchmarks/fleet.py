"""Synthetic fleets for the rule-cost benchmark (``bench_fleet.py``): baselines, a configuration
listing the models, and hours of history of every model's replicas.

Baselines are built with ``Baseline.from_frame`` on synthetic training data (every feature
numeric, the default bins) and carry a reliability curve (``fit_calibration``), so the
estimated-accuracy rules are generated too. The history follows the metric contract exactly as a
service exports it: the series and their static values (``ml_feature_baseline_ratio``,
``ml_model_info``, gauges, ``_created``) are read from a real exposition of
``mlmon_nb.instrument.ModelMonitor`` built with the model's baseline on a fresh registry, so
series the contract gains later are included without a change here; only the counters and
histograms are synthesized over time (Poisson traffic, feature values drawn from the baseline's
own bucket shares). Every series carries the scrape labels ``job`` and ``instance``, one
instance per replica. Deterministic from the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlmon_nb import metrics as m
from mlmon_nb.baseline import Baseline
from mlmon_nb.estimated.calibration import fit_calibration
from mlmon_nb.instrument import ModelMonitor
from mlmon_nb.stack.demo.history import Series, SyntheticHistory
from mlmon_nb.stack.demo.model import DEMO_JOB as SERVICE_JOB

__all__ = ["CLASSES", "ENDPOINTS", "ExportedSeries", "model_names", "fleet_baseline",
           "write_fleet", "exported_series", "synthesize_fleet", "series_per_replica"]

CLASSES = ("negative", "neutral", "positive")
ENDPOINTS = ("/predict", "/feedback")
ERROR_TYPE = "ValueError"
MODEL_VERSION = "1.0.0"
TRAINING_ROWS = 4000
BASE_RPS = 5.0
ERROR_SHARE = 0.003
FEEDBACK_SHARE = 0.2
ACCURACY = 0.85


def model_names(count: int) -> list[str]:
    """``model_0000`` … : sortable names of a fleet of ``count`` models."""
    return [f"model_{i:04d}" for i in range(count)]


def fleet_baseline(name: str, features: int, seed: int) -> Baseline:
    """A model's baseline of ``features`` numeric features, with a reliability curve.

    Each feature has its own location and scale, so bucket edges differ between features and
    models as they would in a fleet.
    """
    rng = np.random.default_rng(seed)
    cols = {f"feature_{j:02d}": rng.normal(rng.uniform(-5, 5), rng.uniform(0.5, 3), TRAINING_ROWS)
            for j in range(features)}
    confidence = rng.beta(12, 2, TRAINING_ROWS)  # a healthy model: 6% under 0.7, none alerting
    frame = pd.DataFrame({**cols, "prediction": rng.choice(CLASSES, TRAINING_ROWS),
                          "confidence": confidence})
    base = Baseline.from_frame(frame, name, prediction="prediction", confidence="confidence",
                               source="benchmarks/fleet.py synthetic training data")
    correct = rng.uniform(size=TRAINING_ROWS) < confidence
    return base.with_calibration(fit_calibration(confidence, correct))


def write_fleet(directory: Path, models: int, features: int, seed: int = 7
                ) -> tuple[Path, dict[str, Baseline]]:
    """Baseline files under ``directory/baselines`` and ``directory/mlmon.yaml`` listing the
    models (every other setting at its default); returns the config path and the baselines."""
    directory = Path(directory)
    (directory / "baselines").mkdir(parents=True, exist_ok=True)
    baselines, entries = {}, []
    for i, name in enumerate(model_names(models)):
        baseline = fleet_baseline(name, features, seed=seed * 100_003 + i)
        baseline.save(directory / "baselines" / f"{name}.json")
        baselines[name] = baseline
        entries.append({"name": name, "version": MODEL_VERSION,
                        "baseline": f"baselines/{name}.json"})
    # the groups' own intervals at their defaults: the benchmark evaluates every group every
    # 15 s and weighs each back by its interval (rule_cost)
    doc = {"version": 1, "stack": {"state_dir": "state"}, "models": entries}
    path = directory / "mlmon.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path, baselines


@dataclass(frozen=True)
class ExportedSeries:
    """One series of a real exposition: its family, type, sample name, labels and value."""

    family: str
    type: str
    name: str
    labels: dict[str, str]
    value: float


def exported_series(baseline: Baseline) -> list[ExportedSeries]:
    """Every series a ``ModelMonitor`` with ``baseline`` exports before its first request, read
    from its text exposition (what a scrape reads) on a fresh registry; series of known
    endpoints, error types and classes start at zero, as a service declaring them exports them.
    Untyped families are written ``unknown``, their OpenMetrics name."""
    registry = CollectorRegistry()
    ModelMonitor(baseline.model_name, model_version=MODEL_VERSION, baseline=baseline,
                 registry=registry, endpoints=ENDPOINTS, error_types=(ERROR_TYPE,),
                 classes=CLASSES, segments=())
    text = generate_latest(registry).decode()
    return [ExportedSeries(family.name, "unknown" if family.type == "untyped" else family.type,
                           s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text) for s in family.samples]


def series_per_replica(features: int) -> int:
    """How many series one replica of a model with ``features`` features exports (plus ``up``)."""
    return len(exported_series(fleet_baseline("probe", features, seed=0))) + 1


def _lognormal_shares(edges: np.ndarray, median: float, sigma: float) -> np.ndarray:
    """Shares of a log-normal latency in the buckets ``le`` = edges…, then ``+Inf``."""
    cdf = np.array([0.5 * (1 + math.erf(math.log(e / median) / (sigma * math.sqrt(2))))
                    if e > 0 else 0.0 for e in edges])
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


class _Replica:
    """The traffic of one replica over time: events per step, drawn once, read by family."""

    def __init__(self, baseline: Baseline, steps: int, step: float, rng: np.random.Generator,
                 threshold: float):
        self.baseline, self.rng = baseline, rng
        rate = BASE_RPS * rng.lognormal(0, 0.3) * rng.lognormal(0, 0.08, steps)
        self.requests = rng.poisson(rate * step)
        self.errors = rng.binomial(self.requests, ERROR_SHARE)
        self.served = self.requests - self.errors
        self.feedback = rng.binomial(self.served, FEEDBACK_SHARE)
        self.confidence = np.asarray(baseline.confidence_fractions)  # fleet baselines have one
        low = sum(s for e, s in zip(m.CONFIDENCE_BUCKETS, self.confidence) if e <= threshold)
        self.low = rng.binomial(self.served, low)
        self.correct = rng.binomial(self.feedback, ACCURACY)
        self.classes = dict(zip(baseline.prediction_classes,
                                rng.multinomial(self.served, baseline.prediction_fractions).T))

    def counter(self, family: str, labels: dict[str, str]) -> np.ndarray | None:
        """Events per step of a counter's series; None: it stays at its exported value."""
        endpoint = labels.get("endpoint")
        if family == m.REQUESTS.name:
            return {ENDPOINTS[0]: self.requests, ENDPOINTS[1]: self.feedback}.get(endpoint)
        if family == m.ERRORS.name and endpoint == ENDPOINTS[0]:
            return self.errors
        if family == m.PREDICTIONS.name:
            return self.classes.get(labels.get("predicted_class", ""))
        if family == m.LOW_CONFIDENCE.name:
            return self.low
        if family == m.GROUND_TRUTH.name:
            return {"correct": self.correct,
                    "incorrect": self.feedback - self.correct}.get(labels.get("outcome", ""))
        return None

    def histogram(self, family: str, labels: dict[str, str], edges: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-step bucket counts (non-cumulative, ``+Inf`` last) and value sums of a
        histogram's series; None: it stays at its exported values."""
        if family == m.FEATURE_VALUE.name:
            feature = self.baseline.numeric.get(labels.get("feature", ""))
            if feature is None:
                return None
            counts = self.rng.multinomial(self.served, feature.fractions)
            return counts, self.served * float(feature.reference.quantile(np.array([0.5]))[0])
        if family == m.CONFIDENCE.name:
            counts = self.rng.multinomial(self.served, self.confidence)
            return counts, self.served * 0.75
        if family == m.REQUEST_DURATION.name:
            n = {ENDPOINTS[0]: self.requests, ENDPOINTS[1]: self.feedback}.get(
                labels.get("endpoint", ""))
            if n is None:
                return None
            median = 0.045 if labels.get("endpoint") == ENDPOINTS[0] else 0.004
            shares = _lognormal_shares(edges, median, 0.45)
            return self.rng.multinomial(n, shares), n * median * math.exp(0.45 ** 2 / 2)
        return None


def _replica_series(exported: list[ExportedSeries], replica: _Replica, steps: int,
                    scrape: dict[str, str]) -> list[Series]:
    """The series of one replica: exported values held flat, counters and histograms grown."""
    out: list[Series] = []
    histograms: dict[tuple, list[ExportedSeries]] = {}
    for s in exported:
        if s.type == "histogram":
            key = (s.family, tuple(sorted((k, v) for k, v in s.labels.items() if k != "le")))
            histograms.setdefault(key, []).append(s)
    grown: dict[tuple[str, tuple], np.ndarray] = {}
    for (family, key), samples in histograms.items():
        labels = dict(key)
        les = [s.labels["le"] for s in samples if s.name.endswith("_bucket")]
        edges = np.array([float(le) for le in les if le != "+Inf"])
        drawn = replica.histogram(family, labels, edges)
        if drawn is None:
            continue
        counts, sums = drawn
        cumulative = np.cumsum(np.cumsum(counts, axis=1), axis=0)  # over le, then over time
        for i, le in enumerate(les):
            grown[(f"{family}_bucket", tuple(sorted({**labels, "le": le}.items())))] = cumulative[:, i]
        grown[(f"{family}_count", key)] = cumulative[:, -1]
        grown[(f"{family}_sum", key)] = np.cumsum(sums)
    for s in exported:
        values = grown.get((s.name, tuple(sorted(s.labels.items()))))
        if values is None and s.type == "counter" and s.name.endswith("_total"):
            events = replica.counter(s.family, s.labels)
            values = None if events is None else s.value + np.cumsum(events)
        if values is None:
            values = np.full(steps, s.value)
        out.append(Series(s.family, s.type, s.name, {**scrape, **s.labels},
                          np.asarray(values, dtype=float)))
    out.append(Series("up", "gauge", "up", dict(scrape), np.ones(steps)))
    return out


def synthesize_fleet(baselines: dict[str, Baseline], *, end: float, hours: float, step: float,
                     replicas: int = 2, seed: int = 42, low_confidence_threshold: float = 0.7
                     ) -> SyntheticHistory:
    """``hours`` of history ending at ``end`` (unix seconds), one point per ``step``, of
    ``replicas`` instances of every model; ``openmetrics_chunks`` writes it for promtool."""
    end = float(np.floor(end / step) * step)
    ts = np.arange(end - hours * 3600, end + step / 2, step)
    history = SyntheticHistory(float(ts[0]), float(ts[-1]), step, ts)
    for i, (_, baseline) in enumerate(sorted(baselines.items())):
        exported = exported_series(baseline)
        for r in range(replicas):
            rng = np.random.default_rng([seed, i, r])
            replica = _Replica(baseline, ts.size, step, rng, low_confidence_threshold)
            scrape = {"job": SERVICE_JOB, "instance": f"10.0.{i // 250}.{i % 250}:{8000 + r}"}
            history.series.extend(_replica_series(exported, replica, ts.size, scrape))
    return history
