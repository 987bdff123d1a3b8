"""A multiclass model's estimated accuracy with its class scores, from a real Prometheus.

A 3-class model whose scores are underconfident (its logits × 0.7; labels drawn from the true
posterior, so each prediction's chance of being right is known), calibrated on 20,000 labelled
rows with every class's score (``fit_calibration(..., scores=)``), serves three hours from two
replicas and two versions (a 10% canary), its inputs pulled toward the classes' meeting point
for the last hour (covariate shift), its predictions counted by a real ``ModelMonitor`` given
each prediction's scores under the baseline (``ml_prediction_purity_total`` and, the curve
scaling the scores by the temperature the rows chose, ``ml_prediction_scaled_confidence_total``
beside the confidence histogram), scraped and backfilled.

The generated rules (their recorded inputs inlined, as in test_estimated_accuracy_prom) equal
the Python rerun and the pure estimate on the same counts, sums and purity sums, per model and
per version; the scaled top scores are weighed (the curve's temperature is near the model's
0.7) and the estimate is within a point of the truth; a model whose curve was fitted with scores
but whose service exports no purity and no scaled sum gets no estimate (not a wrong one), and the
rerun says why.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from promql_inline import inline
from promtool_support import overconfident_baseline
from scores_support import softmax

from mlmon_nb import ModelMonitor
from mlmon_nb import metrics as m
from mlmon_nb.errors import DriftError
from mlmon_nb.estimated import accuracy as performance
from mlmon_nb.estimated.calibration import (
    bucket_sums,
    calibration_of_sums,
    fit_calibration,
    purity,
)
from mlmon_nb.instrument import baseline_series, serving_of
from mlmon_nb.metrics import CONFIDENCE_BUCKETS
from mlmon_nb.promql.histograms import confidence_buckets_record
from mlmon_nb.promql.names import estimated_accuracy, estimated_accuracy_margin, versioned
from mlmon_nb.promql.rule import groups_to_dicts
from mlmon_nb.rules import drift_groups
from mlmon_nb.stack.demo.history import Series, SyntheticHistory
from mlmon_nb.stack.demo.model import MODEL_NAME

STEP = 60.0
HOURS = 3
SHIFT_MINUTES = 60
SHIFT = 0.45  # the inputs pulled this far toward the classes' meeting point
RATES = {"1": 360, "2": 40}  # predictions a minute per version
REPLICAS = 2
SHARPNESS = 0.7  # the scores' logits × this: underconfident
UNSCORED = "unscored_model"  # a curve with scores, a service without the purity counter
UNSCALED = "unscaled_model"  # a scaled curve, a service counting purity but no scaled scores
CLASSES = ("a", "b", "c")
COUNTED = (m.PURITY.name, m.SCALED_CONFIDENCE.name, m.CONFIDENCE.name)


class Model:
    """Three Gaussian classes on four features; ``scores`` the model's, ``posterior`` the
    truth."""

    def __init__(self, seed: int = 3):
        rng = np.random.default_rng(seed)
        angles = np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3])
        self.centers = np.zeros((3, 4))
        self.centers[:, 0], self.centers[:, 1] = 2.3 * np.cos(angles), 2.3 * np.sin(angles)
        self.rng = rng

    def draw(self, n: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores, true labels, the true chance each prediction is right) of ``n`` inputs."""
        label = self.rng.integers(0, 3, n)
        x = (self.centers[label] + self.rng.normal(size=(n, 4))) * (1 - shift)
        logits = -0.5 * ((x[:, None, :] - self.centers[None]) ** 2).sum(axis=2)
        posterior = softmax(logits)
        # a label per row from its posterior: the first class whose cumulative share passes a draw
        truth = (self.rng.random(n)[:, None] > posterior.cumsum(axis=1)[:, :-1]).sum(axis=1)
        scores = softmax(SHARPNESS * logits)
        return scores, truth, posterior[np.arange(n), scores.argmax(axis=1)]



def _scraped(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    """Every sample of the purity and scaled-confidence counters and the confidence histogram,
    by name and labels."""
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        if family.name in COUNTED:
            for s in family.samples:
                if not s.name.endswith("_created"):
                    out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _history(baseline, end: float) -> tuple[SyntheticHistory, float]:
    """Each replica's and version's counters as a real ModelMonitor exported them minute by
    minute, the baseline's series (and the unscored model's, without its purity counter); and
    the realized accuracy of the last 30 minutes' predictions."""
    model = Model()
    ts = np.arange(end - HOURS * 3600, end + STEP / 2, STEP)
    out = SyntheticHistory(ts[0], ts[-1], STEP, ts)
    monitors = {}
    for replica in range(REPLICAS):
        for version in RATES:
            registry = CollectorRegistry()
            monitors[(replica, version)] = (registry, ModelMonitor(
                MODEL_NAME, model_version=version, registry=registry, baseline=baseline))
    values: dict[tuple[str, tuple], list[float]] = {}
    right = seen = 0
    for i, t in enumerate(ts):
        shifted = t > ts[-1] - SHIFT_MINUTES * 60
        for (replica, version), (registry, monitor) in monitors.items():
            scores, truth, _ = model.draw(RATES[version] // REPLICAS, SHIFT if shifted else 0.0)
            for row, label in zip(scores, truth):
                top = int(row.argmax())
                monitor.record_prediction(CLASSES[top], float(row[top]), scores=row.tolist())
                if t > ts[-1] - 30 * 60:
                    right, seen = right + (top == label), seen + 1
            for key, value in _scraped(registry).items():
                name, labels = key
                values.setdefault((name, labels + (("instance", f"r{replica}"),)),
                                  [np.nan] * i).append(value)
    for (name, labels), series in values.items():
        family = next(f for f in COUNTED if name.startswith(f))
        kind = "histogram" if family == m.CONFIDENCE.name else "counter"
        out.series.append(Series(family, kind, name, {"job": "scored", **dict(labels)},
                                 np.array(series)))
    for name in (MODEL_NAME, UNSCORED, UNSCALED):
        for spec, labels, value in baseline_series(serving_of(baseline)):
            out.series.append(Series(spec.name, "gauge", spec.name,
                                     {"job": "scored", "instance": "r0",
                                      **dict(zip(spec.labels, labels)), "model_name": name},
                                     np.full(ts.size, value)))
    # the unscored model's service: the confidence histogram without the purity and
    # scaled-confidence counters
    # scaled-confidence counters; the unscaled model's: with the purity counter
    for s in [s for s in out.series if s.family in (m.CONFIDENCE.name, m.PURITY.name)
              and s.labels["model_name"] == MODEL_NAME and s.labels["instance"] == "r0"
              and s.labels["model_version"] == "1"]:
        for name in (UNSCORED, UNSCALED)[s.family == m.PURITY.name:]:
            out.series.append(Series(s.family, s.type, s.name, {**s.labels, "model_name": name},
                                     s.values))
    out.series.sort(key=lambda s: s.family)
    return out, right / seen


@pytest.fixture(scope="module")
def scored(free_port_config, prometheus_over, tmp_path_factory):
    """(configuration, baseline, Prometheus client, the end, the last 30 minutes' realized
    accuracy, the curve over the confidence alone)."""
    model = Model(seed=5)
    scores, truth, _ = model.draw(20_000, 0.0)
    conf, correct = scores.max(axis=1), scores.argmax(axis=1) == truth
    baseline = overconfident_baseline().with_calibration(
        fit_calibration(conf, correct, scores=scores))
    config = free_port_config(tmp_path_factory.mktemp("scored-state"))
    baseline.save(config.baseline_path(MODEL_NAME))
    end = float(np.floor(time.time() / STEP) * STEP)
    history, realized = _history(baseline, end)
    with prometheus_over(config, history) as (config, prom):
        yield config, baseline, prom, end, realized, fit_calibration(conf, correct)


def _by(prom, expr: str, at: float, label: str) -> dict[str, float]:
    frame = prom.query(expr, time=at)
    return dict(zip(frame[label].astype(str), frame["value"].astype(float))) \
        if not frame.empty else {}


def test_the_scaling_and_the_purity_slope_are_exported_and_fitted():
    scores, truth, _ = Model(seed=5).draw(20_000, 0.0)
    conf, correct = scores.max(axis=1), scores.argmax(axis=1) == truth
    curve = fit_calibration(conf, correct, scores=scores)
    assert 0.6 < curve.scaling < 0.8  # the model's logits × 0.7, scaled back
    exported = {spec.name: value for spec, _, value in baseline_series(serving_of(
        overconfident_baseline().with_calibration(curve)))}
    assert exported[m.CALIBRATION_SCALING.name] == curve.scaling
    assert exported[m.CALIBRATION_PURITY_SLOPE.name] == curve.purity_slope
    # unscaled, at one confidence, a purer score vector is one with the rest on a single
    # runner-up: a closer contest, which an underconfident model loses more often than its
    # scores say, and the purity slope sees it
    unscaled = calibration_of_sums(bucket_sums(conf, correct, purities=purity(scores)),
                                   CONFIDENCE_BUCKETS, 3)
    assert unscaled.purity_slope < -0.1
    # purity: 1 for a one-hot score vector, 1/K for an even one, and between them otherwise
    np.testing.assert_allclose(purity(np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])),
                               [1.0, 1 / 3])
    assert np.all((purity(scores) >= 1 / 3 - 1e-12) & (purity(scores) <= 1.0))


def test_rules_equal_the_rerun_and_weigh_the_scores(scored):
    config, baseline, prom, end, realized, unscored_curve = scored
    at = end - 60
    generated = [r for g in groups_to_dicts(drift_groups(config)) for r in g["rules"]]
    rules = {r["record"]: r["expr"] for r in generated}
    cal = baseline.calibration
    estimate = _by(prom, inline(rules[estimated_accuracy("30m")], generated), at, "model_name")
    margin = _by(prom, inline(rules[estimated_accuracy_margin("30m")], generated), at,
                 "model_name")
    # the unscored model's curve has a purity slope, its service no purity; the unscaled
    # model's a scaling, its service no scaled sum: no estimate
    assert set(estimate) == set(margin) == {MODEL_NAME}
    rerun = performance.estimated_accuracy(prom, baseline, window="30m", time=at)
    counts = performance.window_confidence_counts(prom, MODEL_NAME, window="30m", time=at)
    total = performance.window_scaled_sum(prom, MODEL_NAME, window="30m", time=at)
    raw = performance.window_confidence_sum(prom, MODEL_NAME, window="30m", time=at)
    assert total is not None and total > raw  # underconfident: its scaled scores are higher
    purities = performance.window_purity_sum(prom, MODEL_NAME, window="30m", time=at)
    assert purities is not None and 0 < purities < counts.sum()
    pure = cal.estimate(counts, total, purities)
    assert estimate[MODEL_NAME] == pytest.approx(rerun.accuracy, rel=1e-9, abs=1e-12)
    assert margin[MODEL_NAME] == pytest.approx(rerun.margin, rel=1e-9)
    assert (rerun.accuracy, rerun.margin, rerun.n) == (pure.accuracy, pure.margin, pure.n)
    assert rerun.n == 30 * sum(RATES.values())
    # the scores are scaled by the temperature the rows chose (the model's logits × 0.7), and
    # both curves (with and without the scores) are near the truth
    assert 0.6 < cal.scaling < 0.8
    alone = unscored_curve.estimate(counts, raw).accuracy
    assert rerun.accuracy != pytest.approx(alone, abs=1e-6)
    assert abs(rerun.accuracy - realized) < 0.01 and abs(alone - realized) < 0.01
    with pytest.raises(DriftError, match="no ml_prediction_purity_total"):
        performance.estimated_accuracy(prom, baseline, window="30m", time=at,
                                       model_name=UNSCORED)
    with pytest.raises(DriftError, match="no ml_prediction_scaled_confidence_total"):
        performance.estimated_accuracy(prom, baseline, window="30m", time=at,
                                       model_name=UNSCALED)


def test_each_versions_rule_weighs_its_own_purity(scored):
    config, baseline, prom, end, _, _ = scored
    at = end - 60
    generated = [r for g in groups_to_dicts(drift_groups(config)) for r in g["rules"]]
    rules = {r["record"]: r["expr"] for r in generated}
    # the versions' buckets are inlined without the restriction to models running several
    # (this one runs two; test_estimated_canary_prom says why)
    buckets = versioned(confidence_buckets_record("30m"))
    only = " and on (model_name) ("
    generated = [{**r, "expr": r["expr"].split(only)[0]} if r.get("record") == buckets else r
                 for r in generated]
    estimate = _by(prom, inline(rules[versioned(estimated_accuracy("30m"))], generated), at,
                   "model_version")
    assert set(estimate) == set(RATES)
    for version in RATES:
        rerun = performance.estimated_accuracy(prom, baseline, window="30m", time=at,
                                               model_version=version)
        assert rerun.n == 30 * RATES[version]
        assert estimate[version] == pytest.approx(rerun.accuracy, rel=1e-9, abs=1e-12), version


def test_the_series_over_a_range_weighs_purity_too(scored):
    config, baseline, prom, end, _, _ = scored
    table = performance.accuracy_comparison(prom, baseline, end - 7200, end - 60, "30m",
                                            window="30m")
    assert len(table) >= 4 and table["estimated"].notna().all()
    last = table.iloc[-1]
    at = pd.Timestamp(last["timestamp"]).timestamp()
    point = performance.estimated_accuracy(prom, baseline, window="30m", time=at)
    assert last["estimated"] == pytest.approx(point.accuracy, rel=1e-9)
    assert last["upper"] - last["lower"] == pytest.approx(2 * point.margin, rel=1e-9)
    with pytest.raises(DriftError, match="no ml_prediction_purity_total"):
        performance.estimated_accuracy_series(prom, baseline, end - 7200, end - 60, "30m",
                                              model_name=UNSCORED)
