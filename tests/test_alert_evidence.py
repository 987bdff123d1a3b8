"""Alerts you can trust: no page without evidence (promtool scenarios against the committed rules).

Each scenario is a situation in which nothing is wrong, or too little is known to say so: a new
model's first requests, a one-minute spike, an idle replica restarted, a fresh stack, a quiet night
as quiet as last week's. None of them may fire an alert. The incidents the rules were written for
still fire on time: see test_rules_promtool.py and the firing cases below.
"""

from __future__ import annotations

import pytest

from mlmon_nb.demo.model import training_baseline
from mlmon_nb.metrics import CONFIDENCE_BUCKETS, le_label
from promtool_support import M, alert, counter, errors, gauge, requests, run_promtool, series

PAGES_AND_TICKETS = ("HighErrorRate", "ElevatedErrorRate", "SLOErrorBudgetBurn",
                     "DataDriftDetected", "ConceptDriftDetected", "LowModelAccuracy",
                     "HighLowConfidencePredictions", "ModelMetricsAbsent", "MLServiceDown")


def info(minutes: int) -> list[dict]:
    return [series("ml_model_info", gauge(1, minutes), model_version="1.0.0", baseline_id="b1",
                   job="mlmon-demo", instance="127.0.0.1:18000"),
            {"series": 'up{job="mlmon-demo",instance="127.0.0.1:18000"}', "values": gauge(1, minutes)}]


def quiet(*names: str, at: tuple[str, ...]) -> list[dict]:
    return [alert(name, t) for name in names for t in at]


def test_a_new_model_with_three_requests_pages_nothing(tmp_path):
    # counters exported at zero from the start; at minute 10 three requests arrive, one fails
    minutes = 80
    inputs = (info(minutes) + requests([(10, 0), (1, 3), (minutes - 11, 0)])
              + errors([(10, 0), (1, 1), (minutes - 11, 0)]))
    run_promtool(tmp_path, inputs, quiet(*PAGES_AND_TICKETS, at=("11m", "15m", "30m", "70m")))


def _histogram(name: str, edges, value: float, count: int, minutes: int, **labels) -> list[dict]:
    """A histogram counter whose ``count`` observations of ``value`` all arrive at minute 10."""
    out = []
    for le in [le_label(e) for e in edges] + ["+Inf"]:
        n = count if le == "+Inf" or value <= float(le) else 0
        out.append(series(f"{name}_bucket", counter((10, 0), (1, n), (minutes - 11, 0)), le=le,
                          **labels))
    return out


def test_a_trickle_of_three_values_an_hour_shows_no_drift(tmp_path):
    # a new model gets one request every 20 minutes, its feature values far from the training
    # data: the 1h KS of three values is large and PSI explodes through its floor, for hours,
    # but three values an hour are no evidence of drift
    baseline = training_baseline()
    minutes = 200
    inputs = info(minutes)
    for feature, spec in baseline.numeric.items():
        inputs += _trickle("ml_feature_value", spec.edges, float(spec.edges[-1]) + 1, minutes,
                           feature=feature)
    inputs += _trickle("ml_prediction_confidence", CONFIDENCE_BUCKETS, 0.99, minutes)
    run_promtool(tmp_path, inputs, quiet("DataDriftDetected", "ConceptDriftDetected",
                                         at=("70m", "130m", "190m")))


def _trickle(name: str, edges, value: float, minutes: int, **labels) -> list[dict]:
    """A histogram of one observation of ``value`` every 20 minutes."""
    out = []
    for le in [le_label(e) for e in edges] + ["+Inf"]:
        per_minute = 0.05 if le == "+Inf" or value <= float(le) else 0
        out.append(series(f"{name}_bucket", counter((minutes, per_minute)), le=le, **labels))
    return out


@pytest.mark.parametrize("spike_minute", [20, 33])
def test_a_one_minute_error_spike_does_not_page(tmp_path, spike_minute):
    # scraped every 15s, 60 requests a minute; for one minute all of them fail. The 5m average
    # then stays above 5% for more than five minutes, but errors were above 5% for one minute.
    steps = 60 * 4
    at = spike_minute * 4
    inputs = (info(steps) + requests([(steps, 15)])
              + errors([(at, 0), (4, 15), (steps - at - 4, 0)]))
    times = tuple(f"{(at + k) * 15}s" for k in range(1, 48))  # every evaluation for 12 minutes
    run_promtool(tmp_path, inputs, quiet("HighErrorRate", "ElevatedErrorRate", at=times),
                 interval="15s")


def test_an_idle_replica_restarted_is_not_absent(tmp_path):
    # up and exporting ml_model_info, but no request yet since the restart
    run_promtool(tmp_path, info(40), quiet("ModelMetricsAbsent", "MLServiceDown",
                                           at=("10m", "11m", "20m", "40m")))


def test_a_fresh_stack_gets_no_burn_alert_from_a_short_burst(tmp_path):
    # 30 minutes of history: 60 requests a minute, 10% failing from minute 10 to 20. Over the
    # history that exists the 6h, 1d and 3d ratios are above their thresholds, but the windows
    # are nearly empty: a burn rate over 6h, 1d or 3d needs most of 6h, 1d or 3d of data.
    inputs = info(40) + requests([(40, 60)]) + errors([(10, 0), (10, 6), (20, 0)])
    run_promtool(tmp_path, inputs, quiet("SLOErrorBudgetBurn", at=("20m", "25m", "30m", "40m")))


def test_a_quiet_night_as_quiet_as_last_week_is_not_low_throughput(tmp_path):
    # eight days at 0.2 requests/s (below the 0.5/s floor), exactly as quiet as a week before
    minutes = 8 * 24 * 60
    inputs = info(minutes // 5) + requests([(minutes // 5, 60)])  # per 5m step: 0.2/s
    times = tuple(f"{d}d" for d in (7, 8)) + ("7d12h",)
    run_promtool(tmp_path, inputs, quiet("LowThroughput", at=times), interval="5m")
