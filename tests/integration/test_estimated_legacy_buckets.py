"""A baseline saved with the earlier 0.1-wide confidence buckets, under the committed rules
(promtool): the service exports its calibration on those buckets, and the estimated accuracy
equals the pure estimate on the same window to 1e-9 whether the live histogram has the finer
edges near 1 (a current service: they are left out, not counted twice) or lacks them (a service
from before them)."""

from __future__ import annotations

import numpy as np
import pytest
from promtool_support import MODEL, confidence_histogram, demo_baseline, info, run_promtool

from mlmon_nb.estimated.calibration import EDGES, bucket_index, fit_calibration
from mlmon_nb.estimated.rules import THIN_ROWS, thin_share
from mlmon_nb.metrics import LEGACY_CONFIDENCE_BUCKETS
from mlmon_nb.promql import number
from mlmon_nb.promql.names import estimated_accuracy

LEGACY_EDGES = (*LEGACY_CONFIDENCE_BUCKETS, float("inf"))
# a window's shares over the exporter's buckets: most of it in 0.9–1.0, spread over the finer ones
SHARES = np.array([0, 0, 0, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.15, 0.15, 0.07, 0.03, 0])
MEAN = 0.84


@pytest.fixture(scope="module")
def legacy():
    """The demo baseline with an overconfident curve on the earlier buckets (its gaps deepen
    toward 1, so counting a finer bucket twice would move the estimate)."""
    rng = np.random.default_rng(31)
    conf = rng.uniform(0.3, 1.0, 20_000)
    correct = rng.random(conf.size) < conf - 0.15 * (conf > 0.9)
    cal = fit_calibration(conf, correct, LEGACY_CONFIDENCE_BUCKETS)
    assert cal.edges == LEGACY_EDGES and cal.slope != 1.0
    return demo_baseline().with_calibration(cal)


def _legacy_shares() -> np.ndarray:
    """:data:`SHARES` summed into the earlier buckets (each finer bucket into the one holding
    its upper edge)."""
    out = np.zeros(len(LEGACY_EDGES))
    np.add.at(out, bucket_index(np.array(EDGES), LEGACY_CONFIDENCE_BUCKETS), SHARES)
    return out


def _within(record: str, expected: float) -> dict:
    """A promtool check that ``record`` is within 1e-9 of ``expected`` at 60m."""
    return {"expr": f'abs({record}{{model_name="{MODEL}"}} - {number(expected)}) < bool 1e-9',
            "eval_time": "60m", "exp_samples": [{"labels": f'{{model_name="{MODEL}"}}',
                                                   "value": 1}]}


@pytest.mark.parametrize("edges", [EDGES, LEGACY_EDGES], ids=["finer edges", "earlier edges"])
def test_a_legacy_calibration_gives_its_own_estimate(tmp_path, legacy, edges):
    cal = legacy.calibration
    counts = _legacy_shares() * 1800  # 60 a minute over 30m
    expected = cal.estimate(counts, MEAN * 1800).accuracy
    assert 0.5 < expected < MEAN - 0.02  # the curve corrects the overconfidence
    shares = list(SHARES) if edges == EDGES else list(_legacy_shares())
    inputs = info(60, baseline=legacy) + confidence_histogram([(60, 60, shares, MEAN)], edges)
    run_promtool(tmp_path, inputs, [], promql_tests=[
        _within(estimated_accuracy("30m"), expected),
        _within(thin_share("30m"), cal.thin_share(counts, THIN_ROWS))])
