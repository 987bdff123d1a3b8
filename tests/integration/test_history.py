"""Synthetic history: deterministic, on the metric contract, and read back by a real Prometheus."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mlmon_nb import metrics as m
from mlmon_nb.stack.demo.history import openmetrics_chunks, synthesize

SCRAPE_LABELS = {"job", "instance"}


@pytest.fixture(scope="module")
def small(history):
    return synthesize(history.baseline, end=history.end, days=0.25, step=60, seed=3)


def test_same_seed_same_history(history, small):
    again = synthesize(history.baseline, end=history.end, days=0.25, step=60, seed=3)
    other = synthesize(history.baseline, end=history.end, days=0.25, step=60, seed=4)
    assert list(openmetrics_chunks(small)) == list(openmetrics_chunks(again))
    assert list(openmetrics_chunks(small)) != list(openmetrics_chunks(other))


def test_every_series_follows_the_contract(small):
    specs = {spec.name: spec for spec in m.CONTRACT}
    seen = set()
    for s in small.series:
        if s.family == "up":
            continue
        spec = specs[s.family]
        seen.add(spec.name)
        extra = {"le"} if s.name.endswith("_bucket") else set()
        assert set(s.labels) == set(spec.labels) | SCRAPE_LABELS | extra, s.name
        if spec.type == "counter":
            assert s.name == spec.sample and np.all(np.diff(s.values) >= 0), s.name
    # a curve fitted without the class scores (the demo's) exports none of the scored series
    scored = {spec.name for spec in m.SCORED_CALIBRATION_SERIES}
    assert not seen & scored
    assert seen == set(specs) - scored, f"missing from history: {set(specs) - scored - seen}"


def test_histogram_buckets_are_the_baseline_edges(history, small):
    for feature, spec in history.baseline.numeric.items():
        les = [s.labels["le"] for s in small.series
               if s.name == "ml_feature_value_bucket" and s.labels["feature"] == feature]
        assert les[:-1] == [m.le_label(x) for x in spec.edges] and les[-1] == "+Inf"




def test_chunks_stay_inside_two_hour_blocks(small):
    for start, text in openmetrics_chunks(small):
        stamps = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line and not line.startswith("#")]
        assert min(stamps) >= start and max(stamps) < start + 7200
        assert text.endswith("# EOF\n")
        assert re.search(r"^# TYPE ml_requests counter$", text, re.M)


def _at(prom, promql, t):
    return prom.scalar(promql, time=t)


def test_prometheus_reads_back_the_counters(history, prom):
    total = _at(prom, 'sum(ml_requests_total{endpoint="/predict"})', history.end)
    day = _at(prom, 'sum(increase(ml_requests_total{endpoint="/predict"}[1d]))', history.end)
    assert total > 0 and 0.3 * total < day <= total * 1.01


@pytest.mark.parametrize("incident, promql, inside, outside", [
    ("errors", 'sum(rate(ml_errors_total[5m])) / sum(rate(ml_requests_total{endpoint="/predict"}[5m]))',
     lambda v: v > 0.2, lambda v: v < 0.02),
    ("latency", 'histogram_quantile(0.95, sum by (le) (rate(ml_request_duration_seconds_bucket'
                '{endpoint="/predict"}[5m])))', lambda v: v > 0.5, lambda v: v < 0.25),
    ("low_confidence", 'sum(rate(ml_low_confidence_predictions_total[10m])) / '
                       'sum(rate(ml_predictions_total[10m]))', lambda v: v > 0.2, lambda v: v < 0.1),
    ("accuracy", 'sum(rate(ml_ground_truth_total{outcome="correct"}[30m])) / '
                 'sum(rate(ml_ground_truth_total[30m]))', lambda v: v < 0.7, lambda v: v > 0.8),
])
def test_incidents_are_where_history_says(history, prom, incident, promql, inside, outside):
    start, end = history.incidents[incident]
    during = _at(prom, promql, (start + end) / 2)
    before = _at(prom, promql, start - 3 * 3600)
    assert inside(during), f"{incident}: {during} during the incident"
    assert outside(before), f"{incident}: {before} before the incident"
