"""`MultivariateDriftDetected` needs evidence as the univariate drift alerts do (promtool, the
committed rules): enough errors, a KS past what chance gives, and then either the KS past
``ks.warning`` or the mean error past chance; a mean far off on too few errors, or a KS over the
threshold that chance explains, fires nothing."""

from __future__ import annotations

import numpy as np
import pytest
from promtool_support import (
    alert,
    baseline_inputs,
    counter,
    demo_baseline,
    firing,
    info,
    run_promtool,
    series,
)

from mlmon_nb.drift.multivariate_rules import reconstruction_n_expr
from mlmon_nb.metrics import le_label
from mlmon_nb.promql import matcher

pytestmark = pytest.mark.integration


def _errors(per_minute: float, shares, mean: float, *, normal_minutes: int = 20,
            drift_minutes: int = 130) -> list[dict]:
    """The error histogram (buckets, count, sum) of a service: ``normal_minutes`` as on the
    baseline, then ``drift_minutes`` with bucket ``shares`` (the ``+Inf`` one last) and mean
    error ``mean``, at ``per_minute`` errors a minute."""
    joint = demo_baseline().multivariate
    normal = list(joint.fractions)
    segments = [(normal_minutes, per_minute, normal, joint.reference_mean),
                (drift_minutes, per_minute, list(shares), mean)]
    v = {"model_version": "1.0.0"}
    les = [le_label(e) for e in joint.edges] + ["+Inf"]
    out = [series("ml_reconstruction_error_bucket",
                  counter(*[(m, rate * sum(s[:i + 1])) for m, rate, s, _ in segments]),
                  le=le, **v) for i, le in enumerate(les)]
    out.append(series("ml_reconstruction_error_count",
                      counter(*[(m, rate) for m, rate, _, _ in segments]), **v))
    out.append(series("ml_reconstruction_error_sum",
                      counter(*[(m, rate * mu) for m, rate, _, mu in segments]), **v))
    return info(150) + out


def _moved(share: float) -> list[float]:
    """The baseline's bucket shares with ``share`` moved from the lowest buckets to ``+Inf``:
    a KS of ``share``."""
    out = np.array(demo_baseline().multivariate.fractions, dtype=float)
    left = share
    for i in range(out.size - 1):
        take = min(out[i], left)
        out[i] -= take
        left -= take
    out[-1] += share
    return list(out)


def test_a_far_off_window_on_too_few_errors_fires_nothing(tmp_path):
    # 18 errors an hour, every one beyond the last edge: under min_feature_values (30)
    inputs = _errors(0.3, _moved(0.95), mean=50.0)
    run_promtool(tmp_path, inputs, [alert("MultivariateDriftDetected", "150m")])


def test_a_ks_over_the_threshold_that_chance_explains_fires_nothing(tmp_path):
    # 48 errors an hour: a KS of 0.2 is over ks.warning (0.15) but under the 0.24 chance gives
    # at alpha 0.01; the mean far off does not make up for it
    inputs = _errors(0.8, _moved(0.2), mean=50.0)
    run_promtool(tmp_path, inputs, [alert("MultivariateDriftDetected", "150m")])


@pytest.mark.parametrize("mean_factor,fires", [(1.0, False), (2.0, True)])
def test_a_small_ks_past_chance_fires_only_with_the_mean_past_chance(tmp_path, mean_factor,
                                                                     fires):
    # 6,000 errors an hour: a KS of 0.06 is past chance (about 0.025) and under ks.warning; the
    # alert fires when the mean error is past chance too (a new segment), after its `for: 1h`
    joint = demo_baseline().multivariate
    inputs = _errors(100, _moved(0.06), mean=joint.reference_mean * mean_factor)
    expected = [firing("MultivariateDriftDetected", "150m", {"severity": "warning"})] if fires \
        else []
    run_promtool(tmp_path, inputs, [alert("MultivariateDriftDetected", "60m")] + (
        [] if fires else [alert("MultivariateDriftDetected", "150m")]), promql_tests=expected)


def test_the_runbooks_count_is_the_rules_the_versions_serving_a_baseline(tmp_path):
    # version 1, retired (its service exports no baseline now), still has errors in the hour;
    # version 2 serves the baseline: the runbook's sample of predictions is version 2's 600,
    # the count the rule's KS rests on, not the 1,800 of both
    inputs = baseline_inputs(90, model_version="2") + [
        series("ml_model_info", "1+0x90", model_version="2", baseline_id="b2")]
    for version, per_minute in (("1", 20), ("2", 10)):
        inputs.append(series("ml_reconstruction_error_bucket", counter((90, per_minute)),
                             model_version=version, le="+Inf"))
    n = f'sum({reconstruction_n_expr("1h", matcher("model_name", "sentiment_classifier"))})'
    run_promtool(tmp_path, inputs, [], promql_tests=[
        {"expr": n, "eval_time": "90m", "exp_samples": [{"labels": "{}", "value": 600}]},
        {"expr": "sum(model_name:ml_reconstruction_error_n:1h)", "eval_time": "90m",
         "exp_samples": [{"labels": "{}", "value": 600}]}])
