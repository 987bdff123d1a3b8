"""Estimated accuracy from Prometheus: the recording rules' values (the estimate, its band's
half-width and the share of the window on a thin curve) equal the Python rerun and the pure
``Calibration.estimate`` on the same counts, and the estimate follows the covariate shift.

Recording rules do not evaluate over backfilled history, so each generated rule's expression is
evaluated as an instant query at the window's end, the recorded series it reads inlined:
exactly the value Prometheus would have recorded at that evaluation (as in test_drift_prom). The
rules are written once for every model; the calibration comes from the series the service exports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from promql_inline import inline

from mlmon_nb.errors import BaselineError
from mlmon_nb.estimated import accuracy as performance
from mlmon_nb.estimated.calibration import N_BUCKETS
from mlmon_nb.estimated.rules import THIN_ROWS, thin_share
from mlmon_nb.promql.names import (
    ESTIMATED_ACCURACY_WINDOWS,
    estimated_accuracy,
    estimated_accuracy_margin,
    prediction_count,
)
from mlmon_nb.promql.rule import groups_to_dicts
from mlmon_nb.rules import drift_groups


def _value(prom, expr: str, at: float) -> float:
    frame = prom.query(expr, time=at)
    assert len(frame) == 1, f"expected one series, got {frame}"
    return float(frame["value"].iloc[0])


@pytest.mark.parametrize("phase", ["before", "during"])
def test_rule_equals_python_rerun_and_the_pure_estimate(prom, history, phase):
    start, end = history.incidents["covariate_shift"]
    at = start - 3 * 3600 if phase == "before" else end - 600
    generated = [r for g in groups_to_dicts(drift_groups(history.config)) for r in g["rules"]]
    rules = {r["record"]: r for r in generated}
    for window in ESTIMATED_ACCURACY_WINDOWS:
        rule = _value(prom, inline(rules[estimated_accuracy(window)]["expr"], generated), at)
        rerun = performance.estimated_accuracy(prom, history.baseline, window=window, time=at)
        counts = performance.window_confidence_counts(prom, history.model_name, window=window,
                                                      time=at)
        total = performance.window_confidence_sum(prom, history.model_name, window=window,
                                                  time=at)
        pure = history.baseline.calibration.estimate(counts, total)
        assert counts.shape == (N_BUCKETS,) and counts.sum() > 0
        assert rule == pytest.approx(rerun.accuracy, rel=1e-9, abs=1e-12), window
        assert rerun.accuracy == pure.accuracy and rerun.n == pure.n
        # the band's half-width: the curve's uncertainty and the window's noise, the same
        margin = _value(prom, inline(rules[estimated_accuracy_margin(window)]["expr"], generated),
                        at)
        assert margin == pytest.approx(rerun.margin, rel=1e-9), window
        assert rerun.margin == pure.margin > 1.96 * np.sqrt(pure.accuracy * (1 - pure.accuracy)
                                                            / pure.n)
        # the share of the window on thin parts of the curve: the runbook's, as a series
        thin = _value(prom, inline(rules[thin_share(window)]["expr"], generated), at)
        assert thin == pytest.approx(history.baseline.calibration.thin_share(counts, THIN_ROWS),
                                     abs=1e-12), window
        count_record = prediction_count(window)
        expr = rules[count_record]["expr"] if count_record in rules else None
        if expr is not None:  # the event count behind the estimate (every prediction has one)
            assert _value(prom, expr, at) == pytest.approx(float(counts.sum()), rel=1e-9)


def test_the_estimate_falls_with_the_covariate_shift_and_labels_confirm_it(prom, history):
    start, end = history.incidents["covariate_shift"]
    calm = performance.estimated_accuracy(prom, history.baseline, window="1h", time=start - 3600)
    shifted = performance.estimated_accuracy(prom, history.baseline, window="1h", time=end - 60)
    reference = history.baseline.calibration.reference_accuracy
    assert abs(calm.accuracy - reference) < 0.03, (calm, reference)
    assert shifted.accuracy < calm.accuracy - 0.15 and shifted.n > 1000
    table = performance.accuracy_comparison(prom, history.baseline, start - 4 * 3600, end,
                                            step="1h")
    assert {"estimated", "realized", "gap", "n", "n_labels"} <= set(table.columns)
    stamps = table["timestamp"].map(lambda t: pd.Timestamp(t).timestamp())
    during = table[(stamps > start + 3600) & (stamps <= end)]
    before = table[stamps <= start]
    assert (during["realized"] < before["realized"].min()).all()
    # no concept shift in the fixture: the realized accuracy lies near the estimate
    assert np.abs(table["gap"].dropna()).max() < 0.1, table


def test_a_range_series_has_one_point_per_step(prom, history):
    start, end = history.incidents["covariate_shift"]
    series = performance.estimated_accuracy_series(prom, history.baseline, start - 3600, end,
                                                   step="30m")
    assert len(series) == 7 and (series["n"] > 0).all()
    assert series["estimated"].between(0, 1).all() and (series["stderr"] > 0).all()


def test_a_baseline_without_calibration_is_one_clear_error(prom, history):
    plain = history.baseline.with_calibration(None)
    with pytest.raises(BaselineError, match="has no calibration.*label="):
        performance.estimated_accuracy(prom, plain, window="1h", time=history.end)
