"""The multivariate check from Prometheus: the recording rules equal the Python rerun on the same
counts, and the history's correlation break is found by it while every feature alone is quiet.

As in ``test_drift_prom``, recording rules do not evaluate over backfilled history, so each
generated rule's expression is evaluated at the window's end with the recorded series it reads
inlined (``promql_inline``); the rerun (``window_reconstruction``) reads the raw bucket increases
and computes in Python from the baseline file.
"""

from __future__ import annotations

import math

import pytest
from promql_inline import inline

from mlmon_nb import drift

pytestmark = pytest.mark.integration


def _value(prom, expr: str, at: float) -> float:
    frame = prom.query(expr, time=at)
    assert len(frame) == 1, f"expected one series, got {frame}"
    return float(frame["value"].iloc[0])


@pytest.mark.parametrize("phase", ["before", "during"])
def test_rules_equal_the_python_rerun_at_the_window_end(prom, history, phase):
    start, end = history.incidents["correlation_break"]
    at = start - 3 * 3600 if phase == "before" else end - 600
    alphas = ((0.01, ()),)
    rules = drift.multivariate_rules.multivariate_rules(("1h",), alphas=alphas)
    by_record = {r["record"]: r for r in rules}
    rerun = drift.window_reconstruction(prom, history.baseline, time=at, window="1h", alpha=0.01)
    mv = drift.multivariate_rules
    pairs = ((mv.MV_KS_RULE, rerun.ks), (mv.MV_N_RULE, rerun.n), (mv.MV_MEAN_RULE, rerun.mean),
             (mv.MV_KS_CRITICAL_RULE, rerun.critical), (mv.MV_MEAN_CRITICAL_RULE, rerun.mean_critical))
    for record, ours in pairs:
        value = _value(prom, inline(by_record[record]["expr"], rules), at)
        assert value == pytest.approx(ours, rel=1e-9, abs=1e-12), record
    assert rerun.n > 1000 and rerun.m == history.baseline.multivariate.n  # the sizes behind it


def test_the_correlation_break_is_multivariate_drift_and_no_feature_drift(prom, history):
    start, end = history.incidents["correlation_break"]
    model = history.config.models[0]
    least = model.alerts.min_events.feature_values
    during = drift.window_reconstruction(prom, history.baseline, time=end - 600, window="1h",
                                         alpha=model.drift_alpha)
    before = drift.window_reconstruction(prom, history.baseline, time=start - 3 * 3600,
                                         window="1h", alpha=model.drift_alpha)
    assert during.drifted(model.ks.warning, least), during
    # before the break the check is quiet; its KS alone is a 1%-level test that chance passes one
    # run in a hundred (the history's traffic follows the clock), so quiet means not drifted and
    # far under the break's own KS
    assert not before.drifted(model.ks.warning, least), before
    assert before.ks < model.ks.warning / 3 and before.ks < during.ks / 5, (before, during)
    assert during.mean > 2 * during.reference_mean and math.isfinite(before.mean)
    # every marginal as usual: no feature's KS is past its threshold or past chance
    features = drift.window_drift(prom, history.baseline, time=end - 600, window="1h",
                                  thresholds=drift.thresholds_for(model), alpha=model.drift_alpha)
    ks = features[(features["test"] == "ks") & (features["kind"] == "numeric")]
    assert len(ks) == len(history.baseline.numeric)
    assert (ks["statistic"] < model.ks.warning).all(), ks
