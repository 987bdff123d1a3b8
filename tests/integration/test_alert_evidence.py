"""Alerts you can trust: no page without evidence (promtool scenarios against the committed rules).

Each scenario is a situation in which nothing is wrong, or too little is known to say so: a new
model's first requests, a one-minute spike, an idle replica restarted, a fresh stack, a quiet night
as quiet as last week's. None of them may fire an alert. The incidents the rules were written for
still fire on time: see test_rules_promtool.py and the firing cases below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from alert_scenarios import SCENARIOS, first_firing
from promtool_support import (
    MODEL,
    alert,
    confidence_histogram,
    counter,
    demo_baseline,
    errors,
    explicit,
    firing,
    gauge,
    generated_rules,
    info,
    random_traffic,
    requests,
    run_promtool,
    series,
    url,
)

from mlmon_nb.config import parse_config, parse_duration
from mlmon_nb.errors import ConfigError
from mlmon_nb.metrics import CONFIDENCE_BUCKETS, le_label
from mlmon_nb.promql.evidence import wilson_interval, z_of

PAGES_AND_TICKETS = ("HighErrorRate", "ElevatedErrorRate", "SLOErrorBudgetBurn",
                     "DataDriftDetected", "ConceptDriftDetected", "LowModelAccuracy",
                     "HighLowConfidencePredictions", "ModelMetricsAbsent", "MLServiceDown")


def quiet(*names: str, at: tuple[str, ...]) -> list[dict]:
    return [alert(name, t) for name in names for t in at]


def test_a_new_model_with_three_requests_pages_nothing(tmp_path):
    # counters exported at zero from the start; at minute 10 three requests arrive, one fails
    minutes = 80
    inputs = (info(minutes) + requests([(10, 0), (1, 3), (minutes - 11, 0)])
              + errors([(10, 0), (1, 1), (minutes - 11, 0)]))
    run_promtool(tmp_path, inputs, quiet(*PAGES_AND_TICKETS, at=("11m", "15m", "30m", "70m")))


def _past(expr: str, at: str) -> dict:
    """A promtool check that ``expr`` (a model's recorded value compared with ``bool``) is 1 at
    ``at``: the value is past its threshold, so only the missing evidence keeps the alert quiet."""
    return {"expr": expr, "eval_time": at,
            "exp_samples": [{"labels": f'{{model_name="{MODEL}"}}', "value": 1}]}


def test_a_new_model_with_one_of_two_requests_failing_pages_nothing(tmp_path):
    # two requests at minute 10, one fails: a 50% error ratio over 5m and 30m, on 2 requests
    minutes = 60
    inputs = (info(minutes) + requests([(10, 0), (1, 2), (minutes - 11, 0)])
              + errors([(10, 0), (1, 1), (minutes - 11, 0)]))
    run_promtool(tmp_path, inputs, quiet(*PAGES_AND_TICKETS, at=("11m", "16m", "25m", "40m")),
                 promql_tests=[_past("model_name:ml_errors_per_ml_requests:ratio_rate5m "
                                     "> bool 0.05", "12m")])


def test_eight_predictions_an_hour_page_no_accuracy_or_low_confidence_alert(tmp_path):
    # 8 predictions an hour, each labelled: 5 right (62.5%, under the 70% floor) and 2 under
    # the confidence threshold (25%, over the 20% share). 8 an hour is under the floor of 10 in
    # the 1h and 30m windows; over 6h, 30 of 48 right is at most 73% with 95% confidence, and
    # over 2h 4 of 16 unsure at least 12%: chance explains both, for hours
    minutes = 400
    per_minute = 8 / 60
    inputs = info(minutes) + [
        series("ml_predictions_total", counter((minutes, per_minute)), predicted_class="positive"),
        series("ml_low_confidence_predictions_total", counter((minutes, 2 / 60))),
        series("ml_ground_truth_total", counter((minutes, 5 / 60)), segment="web",
               outcome="correct"),
        series("ml_ground_truth_total", counter((minutes, 3 / 60)), segment="web",
               outcome="incorrect")]
    run_promtool(tmp_path, inputs,
                 quiet("LowModelAccuracy", "HighLowConfidencePredictions",
                       at=("1h", "2h", "3h", "4h", "6h", "6h30m")),
                 promql_tests=[
                     _past("model_name:ml_accuracy:ratio_rate1h < bool 0.7", "2h"),
                     _past("model_name:ml_low_confidence_predictions_per_ml_predictions:"
                           "ratio_rate30m > bool 0.2", "2h")])


def test_three_slow_requests_at_night_do_not_page(tmp_path):
    # at night, 3 requests every 5 minutes, each taking 2s: the 5m P95 is far above the 0.5s
    # critical threshold for an hour, but 3 requests a window are under the floor of 10
    minutes = 70
    per_minute = 3 / 5
    edges = ("0.1", "0.25", "0.5", "1", "2.5", "+Inf")
    inputs = info(minutes) + [
        series("ml_request_duration_seconds_bucket",
               counter((minutes, per_minute if le in ("2.5", "+Inf") else 0)),
               endpoint="/predict", le=le) for le in edges] + [
        series("ml_request_duration_seconds_count", counter((minutes, per_minute)),
               endpoint="/predict")]
    run_promtool(tmp_path, inputs,
                 quiet("HighLatencyP95", at=("20m", "30m", "45m", "60m", "70m")),
                 promql_tests=[_past("model_name:ml_request_duration_seconds:p95_rate5m "
                                     "> bool 0.5", "30m")])


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
    baseline = demo_baseline()
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


# -- the firing counterparts: with evidence, every incident still fires on time -----------------


@pytest.mark.parametrize("scenario", SCENARIOS,
                         ids=lambda s: f"{s.alert}-{s.severity}-{s.labels.get('long_window', '')}")
def test_every_incident_fires_within_for_and_two_evaluations(tmp_path, scenario):
    fired = first_firing(scenario, tmp_path)
    assert fired is not None, f"{scenario.alert} never fired in: {scenario.name}"
    latency = fired - parse_duration(scenario.start)
    assert parse_duration(scenario.for_) <= latency <= scenario.bound_seconds(), latency


def test_a_new_model_pages_once_chance_cannot_explain_its_errors(tmp_path):
    # 6 requests a minute, half failing: from 2m the 5m window holds 12 requests (over the
    # floor of 10) and half of 12 failing is far beyond 5% (lower bound 29%): pending from 2m,
    # firing 5m later; the statistic needs no 30 requests
    inputs = info(30) + requests([(30, 6)]) + errors([(30, 3)])
    run_promtool(tmp_path, inputs, [alert("HighErrorRate", "6m")],
                 promql_tests=[firing("HighErrorRate", "7m", {"severity": "critical"})])
    # 1.8 requests a minute, one in eighteen failing (5.6%): 9 requests in a 5m window, under
    # the floor; 3 of 54 in 30m, which chance at 5% explains (lower bound 1.9%)
    inputs = info(30) + requests([(30, 1.8)]) + errors([(30, 0.1)])
    run_promtool(tmp_path, inputs, quiet("HighErrorRate", "SLOErrorBudgetBurn",
                                         at=("10m", "20m", "30m")))


@pytest.mark.parametrize("minutes", [3, 6])
def test_an_error_burst_pages_only_when_it_lasts_longer_than_for(tmp_path, minutes):
    # 15s scrapes, 60 requests a minute, all failing for `minutes` from minute 20: three
    # minutes never fire (the 1m ratio falls back within a minute of the end); six do, 5m
    # after the 5m ratio passed 5%
    steps, at = 60 * 4, 20 * 4
    inputs = (info(steps) + requests([(steps, 15)])
              + errors([(at, 0), (4 * minutes, 15), (steps - at - 4 * minutes, 0)]))
    if minutes == 3:
        times = tuple(f"{(at + k) * 15}s" for k in range(1, 60))
        run_promtool(tmp_path, inputs, quiet("HighErrorRate", at=times), interval="15s")
    else:
        # one failed scrape is 15 of the 5m window's 300 requests: 5%, not above it; pending
        # from the second (both ratios above 5%), firing 5m later
        fire = (at + 2 + 20) * 15
        run_promtool(tmp_path, inputs, [alert("HighErrorRate", f"{fire - 15}s")],
                     promql_tests=[firing("HighErrorRate", f"{fire}s", {"severity": "critical"})],
                     interval="15s")


def test_a_minute_without_requests_inside_an_error_incident_neither_confirms_nor_resets(
        tmp_path):
    # as the 6-minute burst above (15s scrapes, 60 requests a minute, all failing from minute
    # 20), for 10 minutes, but minute 22 has no request at all: its 1m window has no ratio, so
    # it does not reset the `for`, and the alert fires when it would without the gap
    steps, at = 60 * 4, 20 * 4
    gap = at + 8  # minute 22: four scrapes without a request
    inputs = (info(steps) + requests([(gap, 15), (4, 0), (steps - gap - 4, 15)])
              + errors([(at, 0), (8, 15), (4, 0), (28, 15), (steps - at - 40, 0)]))
    fire = (at + 2 + 20) * 15
    run_promtool(tmp_path, inputs, [alert("HighErrorRate", f"{fire - 15}s")],
                 promql_tests=[firing("HighErrorRate", f"{fire}s", {"severity": "critical"})],
                 interval="15s")


def test_a_down_target_pages_once_for_the_model_it_serves(tmp_path):
    # two models; target A serves sentiment_classifier, target B ranker (their ml_model_info),
    # target C is labelled model_name=ranker in the scrape configuration. B and C go down at 11m:
    # MLServiceDown fires for ranker, once per target, and never for sentiment_classifier.
    config = parse_config({"version": 1, "models": [{"name": MODEL}, {"name": "ranker"}]})
    rules_dir = generated_rules(config, tmp_path)
    a, b, c = "10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000"
    inputs = [series("ml_model_info", gauge(1, 30), model_version="1", baseline_id="none",
                     job="mlmon-demo", instance=a),
              {"series": f'ml_model_info{{model_name="ranker",model_version="1",'
                         f'baseline_id="none",job="mlmon-demo",instance="{b}"}}',
               "values": "1x10"},
              {"series": f'up{{job="mlmon-demo",instance="{a}"}}', "values": gauge(1, 30)},
              {"series": f'up{{job="mlmon-demo",instance="{b}"}}', "values": "1x10 0x20"},
              {"series": f'up{{job="mlmon-demo",instance="{c}",model_name="ranker"}}',
               "values": "1x10 0x20"}]

    def down(instance: str) -> dict:
        return {"exp_labels": {"model_name": "ranker", "severity": "critical",
                               "job": "mlmon-demo", "instance": instance},
                "exp_annotations": {
                    "summary": "ranker: the model service is down",
                    "description": f"Prometheus cannot scrape {instance} (job mlmon-demo) "
                                   "serving ranker: up is 0 (threshold: up == 0, for 1m).",
                    "runbook_url": f"{config.launcher_url}/runbook/MLServiceDown?"
                                   "model_name=ranker&severity=critical"}}
    run_promtool(tmp_path, inputs, [alert("MLServiceDown", "11m"),
                                    alert("MLServiceDown", "12m", down(b), down(c)),
                                    alert("MLServiceDown", "30m", down(b), down(c))],
                 rules_dir=rules_dir)


def test_burn_windows_count_once_history_covers_90_percent_of_them(tmp_path):
    # 10% errors from the start (5m steps of 3000 requests): the 1h/5m page needs 54 minutes of
    # history, the 6h/30m page 324 minutes (the history age has 5m resolution)
    inputs = info(70) + requests([(70, 3000)]) + errors([(70, 300)])

    def page(long: str, short: str) -> dict:
        return {"severity": "critical", "slo": "availability", "long_window": long,
                "short_window": short}
    run_promtool(tmp_path, inputs, [alert("SLOErrorBudgetBurn", "50m")], promql_tests=[
        firing("SLOErrorBudgetBurn", "55m", page("1h", "5m")),
        firing("SLOErrorBudgetBurn", "320m", page("1h", "5m")),
        firing("SLOErrorBudgetBurn", "325m", page("1h", "5m"), page("6h", "30m")),
    ], interval="5m")


def test_a_thin_window_with_one_error_does_not_reset_the_evidence_of_thirty_minutes(tmp_path):
    # 4 requests a minute; after 30 clean minutes two of every five minutes have one failing
    # request (10%), but the one at minute 57 is missing. No 5m window holds the 3 errors of 20
    # a 5m bound needs; the 30m one does from 53m (11 of 120: at least 5.7% with 95%
    # confidence). The 5m windows that hold minute 57 have 1 error of 20 (5%, not above the
    # threshold), which chance also gives at 10% (its upper bound is 21%): they neither confirm
    # nor reset. So the alert is pending from 53m and fires at 58m, where a raw-ratio reset
    # would hold it back to 68m
    err = [0] * 30 + [1 if m % 5 in (0, 2) else 0 for m in range(60)]
    err[57] = 0
    inputs = info(90) + requests([(90, 4)]) + [
        series("ml_errors_total", explicit(err), model_version="1.0.0", endpoint="/predict",
               error_type="ValueError")]
    run_promtool(tmp_path, inputs, [alert("HighErrorRate", "57m")],
                 promql_tests=[firing("HighErrorRate", "58m", {"severity": "critical"})])


def test_a_burn_page_holds_through_a_short_window_without_requests(tmp_path):
    # bursts of 40 requests every 7 minutes, 12 of each failing (30%, over the 1h page's 7.2%):
    # at 76m the 5m window (71m-76m] has no request, so its ratio is no evidence either way and
    # the page stays firing, instead of resolving and firing again at the next burst
    minutes = 90
    burst = [40 if m % 7 == 6 else 0 for m in range(minutes)]
    inputs = info(minutes) + [
        series("ml_requests_total", explicit(burst), model_version="1.0.0",
               endpoint="/predict"),
        series("ml_errors_total", explicit([0.3 * b for b in burst]), model_version="1.0.0",
               endpoint="/predict", error_type="ValueError")]
    page = {"severity": "critical", "slo": "availability", "long_window": "1h",
            "short_window": "5m"}
    run_promtool(tmp_path, inputs, [], promql_tests=[
        firing("SLOErrorBudgetBurn", at, page) for at in ("70m", "74m", "76m")])


def test_a_trickle_missing_its_few_requests_is_not_low_throughput(tmp_path):
    # a week at one request every 5 minutes (under the 0.5/s floor), then none for an hour:
    # half of last week's same moment is 0.5 requests in 5m, and 0 requests are what chance
    # gives for that (its upper bound is 2.7 with 95% confidence), so nothing pages. The
    # firing counterpart, 2/s falling to 0.2/s, is the test above
    week = 7 * 24 * 60 // 5
    inputs = info(week + 12) + requests([(week, 1), (12, 0)])  # per 5m step
    times = ("7d20m", "7d40m", "7d1h")
    run_promtool(tmp_path, inputs, quiet("LowThroughput", at=times), interval="5m")


def _daily_idle_hour(days: int) -> list[dict]:
    """1 request/s, but none from 02:00 to 03:00 every day (5m steps)."""
    per_step = [0.0 if 24 <= k % 288 < 36 else 300.0 for k in range(days * 288)]
    cumulative, total = ["0"], 0.0
    for inc in per_step:
        total += inc
        cumulative.append(f"{total:g}")
    return info(days * 288) + [series("ml_requests_total", " ".join(cumulative),
                                      model_version="1.0.0", endpoint="/predict")]


def test_a_recurring_idle_hour_does_not_page_every_night(tmp_path):
    # idle 02:00-03:00 every day: compared with the same moment of the last weeks (from day 7)
    # or of the last days (in its first week), the idle hour is what this model does at night
    times = tuple(f"{d}d{t}" for d in (1, 3, 7) for t in ("2h10m", "2h30m", "2h55m", "3h5m"))
    run_promtool(tmp_path, _daily_idle_hour(8), quiet("LowThroughput", at=times),
                 interval="5m")


def test_a_healthy_model_pages_nothing_for_a_week(tmp_path):
    # 0.5 requests/s with 1% failing at random, 90% accuracy on 20 labels an hour and 10%
    # low-confidence predictions, for a simulated week (5m steps, seeded): nothing pages. 1%
    # errors spend the 99.5% availability SLO's budget twice as fast as it allows, so the slow
    # 3d burn ticket is the one alert, as it should be
    steps = 7 * 288
    inputs = info(steps) + random_traffic(np.random.default_rng(7), steps, 150, errors=0.01,
                                          labels=20 / 12, accuracy=0.9, low_confidence=0.1)
    ever = ('count by (alertname, severity, long_window) '
            '(max_over_time(ALERTS{alertstate="firing"}[7d:5m]))')
    ticket = '{alertname="SLOErrorBudgetBurn",severity="warning",long_window="3d"}'
    run_promtool(tmp_path, inputs, [], interval="5m", promql_tests=[
        {"expr": ever, "eval_time": "7d", "exp_samples": [{"labels": ticket, "value": 1}]}],
        roots={"HighErrorRate", "ElevatedErrorRate", "LowModelAccuracy",
               "HighLowConfidencePredictions", "SLOErrorBudgetBurn", "LowThroughput"})


def test_a_quiet_night_quieter_than_last_week_is_low_throughput(tmp_path):
    # a week at 2 requests/s, then 0.2/s: under the 0.5/s floor and under half of last week's
    # rate at the same time, so LowThroughput fires 15m after the drop shows in the 5m rate
    week = 7 * 24 * 60 // 5
    inputs = info(week + 6) + requests([(week, 600), (6, 60)])  # per 5m step
    run_promtool(tmp_path, inputs, [alert("LowThroughput", "7d15m")],
                 promql_tests=[firing("LowThroughput", "7d20m", {"severity": "warning"})],
                 interval="5m")


def _label_bursts(minutes: int, correct: int, incorrect: int) -> list[dict]:
    """Ground truth in bursts: ``correct`` and ``incorrect`` outcomes at minute 10 of every
    two hours, none between."""
    def cumulative(n: int) -> str:
        return explicit([n if m % 120 == 10 else 0 for m in range(1, minutes + 1)])
    return [series("ml_ground_truth_total", cumulative(correct), segment="web",
                   outcome="correct"),
            series("ml_ground_truth_total", cumulative(incorrect), segment="web",
                   outcome="incorrect")]


def test_an_accuracy_alert_between_label_bursts_names_the_window_with_labels(tmp_path):
    # 40 labels every two hours, half right: each burst alone is evidence under 70% (at most
    # 62.6% with 95% confidence), so the alert fires 30m after the first; from 70 minutes after a
    # burst the 1h window has no label (accuracy 0/0) and the alert stays firing on the 6h
    # window. Its description then says the 1h window has none, not "NaN% of 0 outcomes"
    minutes = 400
    inputs = info(minutes) + _label_bursts(minutes, 20, 20)

    def described(text: str) -> dict:
        return {"exp_labels": {"model_name": MODEL, "severity": "critical"},
                "exp_annotations": {"summary": f"{MODEL}: accuracy below 70%",
                                    "description": text,
                                    "runbook_url": url("LowModelAccuracy",
                                                       severity="critical")}}
    terms = "(threshold 70% for 30m, the bound under it over 1h or 6h; at least 10 outcomes)."
    z = z_of(0.05)
    most = {n: f"{wilson_interval(0.5, n, z)[1] * 100:.4g}%" for n in (40, 120)}
    run_promtool(tmp_path, inputs, [
        alert("LowModelAccuracy", "50m", described(
            f"Accuracy of {MODEL} on the 40 ground-truth outcomes of the last 1h is 50%. Chance "
            f"alone does not explain it: 50% of 40 outcomes over 1h, at most {most[40]} with 95% "
            f"confidence; 50% of 40 outcomes over 6h, at most {most[40]} with 95% confidence "
            f"{terms}")),
        alert("LowModelAccuracy", "320m", described(
            f"No ground-truth outcome of {MODEL} arrived over the last 1h; it fires on its 6h "
            "look-back. Chance alone does not explain it: no outcomes over 1h; 50% of 120 "
            f"outcomes over 6h, at most {most[120]} with 95% confidence {terms}"))])


def test_a_drift_with_evidence_pages(tmp_path):
    # 100 values a minute of every feature, all beyond the baseline's last edge: KS 0.95 on
    # thousands of values, far above both thresholds and what chance gives, for an hour
    baseline = demo_baseline()
    inputs = info(70)
    for feature, spec in baseline.numeric.items():
        for le in [le_label(e) for e in spec.edges] + ["+Inf"]:
            inputs.append(series("ml_feature_value_bucket",
                                 counter((70, 100 if le == "+Inf" else 0)), feature=feature,
                                 le=le, model_version="1.0.0"))
    run_promtool(tmp_path, inputs, [], promql_tests=[{
        "expr": 'count by (severity) (ALERTS{alertname="DataDriftDetected",alertstate="firing"})',
        "eval_time": "61m",
        "exp_samples": [{"labels": '{severity="warning"}', "value": len(baseline.numeric)},
                        {"labels": '{severity="critical"}', "value": len(baseline.numeric)}]}])


def test_the_evidence_settings_are_read_checked_and_documented():
    raw = {"version": 1, "models": [{"name": "m", "alerts": {"min_events": {"requests": 100}},
                                     "drift": {"alpha": 0.05},
                                     "slos": {"throughput": {"min_share_of_last_week": 0.3}}}]}
    model = parse_config(raw).models[0]
    assert model.alerts.min_events.requests == 100
    assert model.alerts.min_events.ground_truth == 10  # the default floor
    assert model.alerts.min_events.feature_values == 30 and model.alerts.alpha == 0.05
    assert model.drift_alpha == 0.05 and model.slo.throughput_min_share_of_last_week == 0.3
    raw["models"][0]["alerts"]["min_events"] = {"request": 100}
    with pytest.raises(ConfigError, match=r"unknown key models\[0\]\.alerts\.min_events\.request; "
                                          r"did you mean `requests`"):
        parse_config(raw)
    raw["models"][0]["alerts"] = {"alpha": 1.5}
    with pytest.raises(ConfigError, match="alerts.alpha is a significance level"):
        parse_config(raw)
    raw["models"][0]["alerts"] = {}
    raw["models"][0]["drift"]["alpha"] = 5
    with pytest.raises(ConfigError, match="drift.alpha is a significance level"):
        parse_config(raw)
    import mlmon_nb.config as config_module
    for key in ("min_events:", "alpha:", "min_share_of_last_week:"):
        assert key in config_module.__doc__


def test_what_chance_gives_for_three_values_is_far_above_any_threshold():
    # the trickle: KS 0.26 of three values, PSI up to 6 through the 0.0001 floor; chance alone
    # gives KS 0.94 and PSI 12 for three values against a baseline of 20,000 (alpha 0.01)
    from mlmon_nb.drift import ks_critical, psi_critical
    assert ks_critical(3, 20_000) == pytest.approx(1.6276 * (1 / 3 + 1 / 20_000) ** 0.5, rel=1e-4)
    assert ks_critical(3, 20_000) > 0.9 and psi_critical(3, 20_000, bins=20) > 12
    assert ks_critical(10_000, 20_000) < 0.025  # thousands of values: the threshold decides
    assert ks_critical(0, 20_000) == float("inf")


# -- EstimatedAccuracyDrop: the accuracy the confidences promise, with evidence -----------------


@dataclass(frozen=True)
class Confidences:
    """The demo model's confidences on generated texts: shares per bucket, and their mean."""

    shares: list[float]
    mean: float

    def estimate(self, calibration, n: int = 1800):
        """The estimate of a window of ``n`` such predictions (a 30m window at 60 a minute)."""
        return calibration.estimate(np.array(self.shares) * n, self.mean * n)


def _predictions(seed: int, **shift: float) -> tuple[np.ndarray, np.ndarray]:
    """The demo model's confidences on 2000 generated texts and whether each was right;
    ``shift``: the ``generate_texts`` options."""
    from mlmon_nb.stack.demo.model import SentimentModel, generate_texts
    model = SentimentModel()
    texts = generate_texts(2000, np.random.default_rng(seed), **shift)
    predictions = [model.predict(t.text, t.channel) for t in texts]
    return (np.array([p.confidence for p in predictions]),
            np.array([p.label == t.true_label for p, t in zip(predictions, texts)]))


def _confidences(**shift: float) -> Confidences:
    from mlmon_nb.estimated.calibration import bucket_counts
    conf, _ = _predictions(5, **shift)
    counts = bucket_counts(conf)
    return Confidences(list(counts / counts.sum()), float(conf.mean()))


@pytest.fixture(scope="module")
def covering():
    """The demo baseline with a calibrated curve fitted on 20,000 labelled rows at every
    confidence from 0.3 up: narrow where the shifted confidences fall. (The demo's own curve is
    thin there, and its shifted texts mix in label noise, a curve fitted on them is steep.)"""
    from mlmon_nb.estimated.calibration import fit_calibration
    rng = np.random.default_rng(23)
    conf = rng.uniform(0.3, 1.0, 20_000)
    return demo_baseline().with_calibration(fit_calibration(conf, rng.random(conf.size)
                                                                < conf))


def _confidence_history(segments: list[tuple[int, float, Confidences]]) -> list[dict]:
    """The confidence histogram and prediction counter over ``(minutes, predictions a minute,
    confidences)`` segments."""
    return confidence_histogram([(minutes, rate, c.shares, c.mean) for minutes, rate, c in segments])


def _estimated_drop_firing(at: str) -> dict:
    """A promtool check that EstimatedAccuracyDrop fires at ``at`` (value-independent)."""
    return {"expr": f'ALERTS{{alertname="EstimatedAccuracyDrop",alertstate="firing",'
                    f'model_name="{MODEL}"}}', "eval_time": at,
            "exp_samples": [{"labels": f'ALERTS{{alertname="EstimatedAccuracyDrop",'
                                       f'alertstate="firing",model_name="{MODEL}",'
                                       f'severity="warning"}}', "value": 1}]}


LIMIT = parse_config({"version": 1, "models": [{"name": MODEL}]}).models[0].alerts.accuracy_min


@pytest.fixture(scope="module")
def shares(covering) -> dict[str, Confidences]:
    from mlmon_nb.stack.demo.model import COVARIATE_SHIFT
    out = {"reference": _confidences(), "shifted": _confidences(**COVARIATE_SHIFT)}
    # the premise: through a curve that covers them, the shifted confidences promise less than
    # accuracy_min, the whole band under it; the reference more
    assert out["shifted"].estimate(covering.calibration).upper < LIMIT - 0.01
    assert out["reference"].estimate(demo_baseline().calibration).lower > LIMIT + 0.1
    return out


def test_a_covariate_shift_with_evidence_fires_estimated_accuracy_drop(tmp_path, shares, covering):
    # 60 predictions a minute of the shifted inputs, through a curve that covers them: the 30m
    # band is under 70% from the first minutes; 15m later it fires
    inputs = info(60, baseline=covering) + _confidence_history([(60, 60, shares["shifted"])])
    run_promtool(tmp_path, inputs, quiet("EstimatedAccuracyDrop", at=("10m",)),
                 promql_tests=[_estimated_drop_firing("30m"), _estimated_drop_firing("60m")])


def test_a_shift_onto_a_thin_curve_fires_nothing(tmp_path, shares):
    # the demo's own curve has (almost) no labelled rows under 0.6, where half of the shifted
    # confidences fall: the estimate is under 70 %, but its band reaches above, so no alert
    thin = demo_baseline().calibration
    estimate = shares["shifted"].estimate(thin)
    assert estimate.accuracy < LIMIT < estimate.upper
    inputs = info(90) + _confidence_history([(20, 60, shares["reference"]),
                                             (70, 60, shares["shifted"])])
    run_promtool(tmp_path, inputs, quiet("EstimatedAccuracyDrop", at=("50m", "75m", "90m")))


def test_a_covariate_shift_on_too_few_predictions_fires_nothing(tmp_path, shares, covering):
    # the same shift on 0.3 predictions a minute: 9 in any 30m window, under the floor of 10
    inputs = info(90, baseline=covering) + _confidence_history([(90, 0.3, shares["shifted"])])
    run_promtool(tmp_path, inputs, quiet("EstimatedAccuracyDrop", at=("50m", "75m", "90m")))


def test_the_reference_distribution_fires_nothing(tmp_path, shares):
    inputs = info(90) + _confidence_history([(90, 60, shares["reference"])])
    run_promtool(tmp_path, inputs, quiet("EstimatedAccuracyDrop",
                                         at=("30m", "50m", "75m", "90m")))


def test_an_error_alert_between_bursts_names_the_window_with_requests(tmp_path):
    # 60 requests every 8 minutes, 18 of them failing: between bursts the 5m window has no
    # request (its ratio 0/0) while HighErrorRate fires on its 30m look-back. Its description
    # says the 5m window had none, not "NaN% of 0 requests"
    minutes = 90
    burst = [1 if m % 8 == 1 else 0 for m in range(1, minutes + 1)]
    inputs = info(minutes) + [
        series("ml_requests_total", explicit([60 * b for b in burst]), model_version="1.0.0",
               endpoint="/predict"),
        series("ml_errors_total", explicit([18 * b for b in burst]), model_version="1.0.0",
               endpoint="/predict", error_type="ValueError")]
    z = z_of(0.05)
    least = f"{wilson_interval(0.3, 180, z)[0] * 100:.4g}%"  # bursts at 57, 65 and 73m
    terms = ("(threshold 5% for 5m, the bound past it over 5m or 30m; a 1m window resets it "
             "only when its own requests show the ratio under 5%; at least 10 requests).")
    run_promtool(tmp_path, inputs, [alert("HighErrorRate", "80m", {
        "exp_labels": {"model_name": MODEL, "severity": "critical"},
        "exp_annotations": {
            "summary": f"{MODEL}: error ratio above 5%",
            "description": f"{MODEL}'s last 5m had no requests; it fires on its 30m look-back. "
                           f"Chance alone does not explain it: no requests over 5m; 30% of 180 "
                           f"requests over 30m, at least {least} with 95% confidence {terms}",
            "runbook_url": url("HighErrorRate", severity="critical")}})])
