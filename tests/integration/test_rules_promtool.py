"""`promtool test rules` unit tests of the committed rule files (stack/rules/, the demo config).

Each test writes a promtool test file with synthetic counters at a 1m scrape interval and
asserts which alerts are firing (with labels and annotations) at chosen times: an alert fires at
the expected time, not before its `for`, and not below its threshold.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import yaml
from promtool_support import (
    CONFIG,
    MODEL,
    RULES,
    M,
    alert,
    baseline_inputs,
    counter,
    demo_baseline,
    errors,
    firing,
    gauge,
    generated_rules,
    info,
    pruned_rules,
    requests,
    run_promtool,
    series,
    url,
)

from mlmon_nb.baseline import bin_fractions
from mlmon_nb.metrics import le_label
from mlmon_nb.stack.demo.model import SentimentModel, generate_texts


def _rules(rules_dir):
    return [r for path in sorted(rules_dir.glob("*.yml"))
            for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


@pytest.mark.parametrize("name", sorted({r["alert"] for r in _rules(RULES) if "alert" in r}))
def test_the_rules_a_test_evaluates_are_closed_under_what_they_read(tmp_path, name):
    # the promtool tests evaluate only an alert's own rules: every recording rule the kept rules
    # read (expression or annotation query) must be kept, or an alert would be silent for lack
    # of input rather than for lack of evidence
    records = {r["record"] for r in _rules(RULES) if "record" in r}
    kept = _rules(pruned_rules(RULES, {name}, tmp_path))
    read = {t for r in kept for t in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", yaml.safe_dump(r))}
    assert name in {r.get("alert") for r in kept}
    assert read & records <= {r.get("record") for r in kept}
    assert len(kept) < len(_rules(RULES))


# -- HighErrorRate (walking skeleton) -----------------------------------------------------------

Z95 = 1.6448536269514722  # the demo's alerts.alpha 0.05, one-sided


def pct(value: float) -> str:
    """A ratio as Prometheus' humanizePercentage writes it."""
    return f"{value * 100:.4g}%"


def wilson(p: float, n: float, side: str = "lower") -> float:
    """The Wilson score bound the rules record (mlmon_nb.promql.evidence), here in Python."""
    a = Z95 ** 2 / n
    half = Z95 * (p * (1 - p) / n + a / (4 * n)) ** 0.5
    return min(1.0, max(0.0, (p + a / 2 + (half if side == "upper" else -half)) / (1 + a)))


def window(p: float, n: int, span: str, events: str, side: str = "lower") -> str:
    word = "at least" if side == "lower" else "at most"
    return f"{pct(p)} of {n} {events} over {span}, {word} {pct(wilson(p, n, side))} with 95% confidence"


def error_alert(severity: str, threshold: str, for_: str, p: float, n5: int, n30: int) -> dict:
    alertname = "HighErrorRate" if severity == "critical" else "ElevatedErrorRate"
    return {"exp_labels": {**M, "severity": severity}, "exp_annotations": {
        "summary": f"{MODEL}: error ratio above {threshold}",
        "description": f"{pct(p)} of {MODEL}'s {n5} requests failed over the last 5m. Chance alone "
                       f"does not explain it: {window(p, n5, '5m', 'requests')}; "
                       f"{window(p, n30, '30m', 'requests')} (threshold {threshold} for {for_}, "
                       f"the bound past it over 5m or 30m; a 1m window resets it only when its "
                       f"own requests show the ratio under {threshold}; at least 10 requests).",
        "runbook_url": url(alertname, severity=severity)}}


def test_high_error_rate_fires_after_5m_above_5_percent(tmp_path):
    # 60 requests/min, 6 of them failing (10%) from the start: the 5m error ratio is known from
    # 1m on, and 6 of 60 failing already is beyond chance at 5% (lower bound 5.3%), so the
    # alert is pending from 1m and fires at 6m (for: 5m), not at 5m; the description says the
    # ratio, its events and its bound over both windows
    run_promtool(tmp_path, requests([(30, 60)]) + errors([(30, 6)]), [
        alert("HighErrorRate", "5m"),
        alert("HighErrorRate", "6m", error_alert("critical", "5%", "5m", 0.1, 300, 360)),
        alert("HighErrorRate", "20m", error_alert("critical", "5%", "5m", 0.1, 300, 1200)),
    ])


def test_high_error_rate_does_not_fire_below_5_percent(tmp_path):
    # 4% errors for 30 minutes: above the warning threshold (2%) but below the critical one.
    run_promtool(tmp_path, requests([(30, 100)]) + errors([(30, 4)]), [
        alert("HighErrorRate", "30m"),
        alert("ElevatedErrorRate", "30m",
              error_alert("warning", "2%", "10m", 0.04, 500, 3000)),
    ])


def test_high_error_rate_resolves_when_errors_stop(tmp_path):
    # 10% errors for 15m, then none: the 5m ratio falls below 5% within a few minutes.
    run_promtool(tmp_path, requests([(40, 60)]) + errors([(15, 6), (25, 0)]), [
        alert("HighErrorRate", "14m", error_alert("critical", "5%", "5m", 0.1, 300, 840)),
        alert("HighErrorRate", "25m"),
    ])


def test_error_ratio_sums_replicas_and_error_types(tmp_path):
    # Two endpoints' requests and two error types aggregate into one traffic-weighted ratio:
    # 10 + 2 errors out of 100 + 20 requests per minute = 10%.
    inputs = (requests([(20, 100)]) + requests([(20, 20)], endpoint="/batch")
              + errors([(20, 10)]) + errors([(20, 2)], error_type="TimeoutError"))
    run_promtool(tmp_path, inputs, [], promql_tests=[{
        "expr": f'model_name:ml_errors_per_ml_requests:ratio_rate5m{{model_name="{MODEL}"}}',
        "eval_time": "10m",
        "exp_samples": [{"labels": f'model_name:ml_errors_per_ml_requests:ratio_rate5m'
                                   f'{{model_name="{MODEL}"}}', "value": 0.1}],
    }])


# -- the rest of the catalogue -----------------------------------------------------------------

def latency(minutes: int, per_minute: float, edges_le: dict[str, float]) -> list[dict]:
    """Latency histogram: ``edges_le`` maps ``le`` to the share of requests at or under it."""
    out = [series("ml_request_duration_seconds_bucket", counter((minutes, per_minute * share)),
                  endpoint="/predict", le=le) for le, share in edges_le.items()]
    out.append(series("ml_request_duration_seconds_bucket", counter((minutes, per_minute)),
                      endpoint="/predict", le="+Inf"))
    out.append(series("ml_request_duration_seconds_count", counter((minutes, per_minute)),
                      endpoint="/predict"))
    return out


def annotated(severity: str, summary: str, description: str, runbook: str, **labels) -> dict:
    return {"exp_labels": {**M, "severity": severity, **labels},
            "exp_annotations": {"summary": summary, "description": description,
                                "runbook_url": runbook}}


def test_high_latency_p95_critical_after_10m_warning_after_15m(tmp_path):
    # every request between 0.5s and 0.75s: P95 = 0.5 + 0.95 * 0.25 = 0.7375s (> 0.5s and 0.375s)
    inputs = latency(40, 60, {"0.25": 0, "0.5": 0, "0.75": 1})
    crit = annotated("critical", f"{MODEL}: P95 latency above 2x the SLO",
                     f"P95 latency of {MODEL} is 737.5ms over the last 5m's 300 requests "
                     "(threshold 0.5s = 2 x the 0.25s latency SLO, for 10m; at least 10 "
                     "requests).", url("HighLatencyP95", severity="critical"))
    warn = annotated("warning", f"{MODEL}: P95 latency above 1.5x the SLO",
                     f"P95 latency of {MODEL} is 737.5ms over the last 5m's 300 requests "
                     "(threshold 0.375s = 1.5 x the 0.25s latency SLO, for 15m; at least 10 "
                     "requests).", url("HighLatencyP95", severity="warning"))
    run_promtool(tmp_path, inputs, [
        alert("HighLatencyP95", "10m"),
        alert("HighLatencyP95", "11m", crit),
        alert("HighLatencyP95", "15m", crit),
        alert("HighLatencyP95", "16m", crit, warn),
    ])


def test_high_latency_p95_warning_only_between_the_thresholds(tmp_path):
    # every request between 0.3s and 0.4s: P95 = 0.395s, above 1.5x (0.375s), below 2x (0.5s)
    inputs = latency(30, 60, {"0.25": 0, "0.3": 0, "0.4": 1})
    run_promtool(tmp_path, inputs, [alert("HighLatencyP95", "25m", annotated(
        "warning", f"{MODEL}: P95 latency above 1.5x the SLO",
        f"P95 latency of {MODEL} is 395ms over the last 5m's 300 requests (threshold 0.375s = "
        "1.5 x the 0.25s latency SLO, for 15m; at least 10 requests).",
        url("HighLatencyP95", severity="warning")))])


def test_ml_service_down_after_1m_of_failed_scrapes(tmp_path):
    # the target served the model (its ml_model_info) until it went down at 11m
    up = {"series": 'up{job="mlmon-demo",instance="127.0.0.1:18000"}', "values": "1x10 0x10"}
    info = series("ml_model_info", "1x10", model_version="1.0.0", baseline_id="b1",
                  job="mlmon-demo", instance="127.0.0.1:18000")
    other = {"series": 'up{job="node",instance="127.0.0.1:19100"}', "values": "0x20"}
    expected = {"exp_labels": {**M, "severity": "critical", "job": "mlmon-demo",
                               "instance": "127.0.0.1:18000"},
                "exp_annotations": {
                    "summary": f"{MODEL}: the model service is down",
                    "description": f"Prometheus cannot scrape 127.0.0.1:18000 (job mlmon-demo) "
                                   f"serving {MODEL}: up is 0 (threshold: up == 0, for 1m).",
                    "runbook_url": url("MLServiceDown", severity="critical")}}
    run_promtool(tmp_path, [up, info, other], [
        alert("MLServiceDown", "10m"),
        alert("MLServiceDown", "11m"),
        alert("MLServiceDown", "12m", expected),
    ])


def ground_truth(minutes: int, correct: float, incorrect: float) -> list[dict]:
    return [series("ml_ground_truth_total", counter((minutes, correct)), segment="web",
                   outcome="correct"),
            series("ml_ground_truth_total", counter((minutes, incorrect)), segment="web",
                   outcome="incorrect")]


def test_low_model_accuracy_after_30m_below_70_percent(tmp_path):
    # 30 outcomes a minute, 60% correct: after one minute, 18 of 30 correct could still be
    # chance at 70% (upper bound 73%); from the second, 36 of 60 cannot (69.8%): pending from
    # 2m, firing 30m later
    expected = annotated("critical", f"{MODEL}: accuracy below 70%",
                         f"Accuracy of {MODEL} on the 960 ground-truth outcomes of the last 1h "
                         f"is 60%. Chance alone does not explain it: "
                         f"{window(0.6, 960, '1h', 'outcomes', 'upper')}; "
                         f"{window(0.6, 960, '6h', 'outcomes', 'upper')} (threshold 70% for "
                         "30m, the bound under it over 1h or 6h; at least 10 outcomes).",
                         url("LowModelAccuracy", severity="critical"))
    run_promtool(tmp_path, ground_truth(40, 18, 12), [
        alert("LowModelAccuracy", "31m"),
        alert("LowModelAccuracy", "32m", expected),
    ])


def test_low_model_accuracy_silent_above_70_percent(tmp_path):
    run_promtool(tmp_path, ground_truth(40, 7.5, 2.5), [alert("LowModelAccuracy", "40m")])


def test_high_low_confidence_predictions_after_1h_above_20_percent(tmp_path):
    inputs = [series("ml_predictions_total", counter((70, 45)), predicted_class="positive"),
              series("ml_predictions_total", counter((70, 15)), predicted_class="negative"),
              series("ml_low_confidence_predictions_total", counter((70, 15)))]
    # 25% of 60 predictions a minute: from 3m (45 of 180) chance at 20% cannot explain it
    # (lower bound 20.1%; 30 of 120 at 2m could be chance): pending from 3m, firing 1h later
    expected = annotated("info", f"{MODEL}: many low-confidence predictions",
                         f"25% of {MODEL}'s 1800 predictions over the last 30m had confidence "
                         f"under 0.7: {window(0.25, 1800, '30m', 'predictions')}; "
                         f"{window(0.25, 3780, '2h', 'predictions')} (threshold 20% for 1h, the "
                         "bound past it over 30m or 2h; at least 10 predictions).",
                         url("HighLowConfidencePredictions", severity="info"))
    run_promtool(tmp_path, inputs, [
        alert("HighLowConfidencePredictions", "62m"),
        alert("HighLowConfidencePredictions", "63m", expected),
    ])


def test_high_low_confidence_predictions_silent_at_15_percent(tmp_path):
    inputs = [series("ml_predictions_total", counter((70, 60)), predicted_class="positive"),
              series("ml_low_confidence_predictions_total", counter((70, 9)))]
    run_promtool(tmp_path, inputs, [alert("HighLowConfidencePredictions", "70m")])


def test_low_throughput_after_15m_under_the_minimum(tmp_path):
    # 12 requests/min = 0.2/s, under the 0.5/s minimum of the throughput SLO: 60 requests in
    # 5m, whose Poisson upper bound at 95% is (60 + 1.35 + 1.645 * sqrt(60.68)) / 300 = 0.247/s
    expected = annotated("warning", f"{MODEL}: throughput below 0.5 requests/s",
                         f"{MODEL} served 200m requests/s over the last 5m: 60 requests, at "
                         "most 247.2m requests/s with 95% confidence (threshold 0.5 requests/s "
                         "and, where there is history, 50% of the quietest same moment of the "
                         "last four weeks, or of the last six days in its first week; for 15m; "
                         "beyond chance: that upper bound, of the 5m count, under both).",
                         url("LowThroughput", severity="warning"))
    run_promtool(tmp_path, requests([(30, 12)]), [
        alert("LowThroughput", "15m"),
        alert("LowThroughput", "16m", expected),
    ])
    run_promtool(tmp_path, requests([(30, 60)]), [alert("LowThroughput", "30m")])


def test_model_metrics_absent_after_10m(tmp_path):
    other = [{"series": 'ml_requests_total{model_name="other",model_version="1",endpoint="/p"}',
              "values": counter((20, 60))}]
    expected = {"exp_labels": {**M, "severity": "warning"}, "exp_annotations": {
        "summary": f"{MODEL}: model metrics are absent",
        "description": f"Prometheus has no ml_model_info for {MODEL} (value 1, threshold: "
                       "absent for 10m); the service or its instrumentation is not being "
                       "scraped.",
        "runbook_url": url("ModelMetricsAbsent", severity="warning")}}
    run_promtool(tmp_path, other, [
        alert("ModelMetricsAbsent", "9m"),
        alert("ModelMetricsAbsent", "10m", expected),
    ])
    present = requests([(20, 60)]) + [series("ml_model_info", gauge(1, 20), model_version="1.0.0",
                                             baseline_id="abc")]
    run_promtool(tmp_path, present, [alert("ModelMetricsAbsent", "20m")])


# -- SLO burn-rate alerts -----------------------------------------------------------------------

# (long, short, severity, factor) for a 30d period; thresholds = factor x budget
BURN = [("1h", "5m", "critical", "14.4"), ("6h", "30m", "critical", "6"),
        ("1d", "2h", "warning", "3"), ("3d", "6h", "warning", "1")]
OBJECTIVES = {"availability": (0.995, "99.5%", "0.5%"), "latency": (0.99, "99%", "1%"),
              "accuracy": (0.85, "85%", "15%")}


def burn(slo: str, long: str, value: float, events: int, model: str = MODEL) -> dict:
    """The expected SLOErrorBudgetBurn alert of one window pair of ``model``, its long-window
    ratio shown with the number of events behind it."""
    short, severity, factor = next((s, sev, f) for lw, s, sev, f in BURN if lw == long)
    objective, objective_text, budget_text = OBJECTIVES[slo]
    threshold = f"{float(factor) * (1 - objective) * 100:.6g}%"
    kind = "page" if severity == "critical" else "ticket"
    labels = {"severity": severity, "slo": slo, "long_window": long, "short_window": short}
    return {"exp_labels": {"model_name": model, **labels}, "exp_annotations": {
        "summary": f"{model}: {slo} SLO burns its error budget {factor}x too fast ({kind})",
        "description": f"The {slo} error ratio of {model} is {pct(value)} of {events} events "
                       f"over {long}, and not shown under the threshold over {short} (a "
                       f"{short} window resets it only when its own events show the ratio "
                       f"under the threshold) (threshold "
                       f"{threshold} = {factor} x the {budget_text} error budget of the "
                       f"{objective_text} objective; {window(value, events, long, 'events')}; at "
                       f"least 10 events and 90% of {long} of history).",
        "runbook_url": url("SLOErrorBudgetBurn", model_name=model, **labels)}}


def model_info(samples: int) -> list[dict]:
    """The running service's ml_model_info: the history age the burn windows need comes from it
    (or from the request counter)."""
    return [series("ml_model_info", gauge(1, samples), model_version="1.0.0", baseline_id="b1")]


# Burn windows count only with history covering 90% of them: the constant-ratio scenarios run
# three days, sampled and evaluated every 5m (per-step counts are per 5 minutes).
DAYS3 = 4320 // 5  # samples of three days at 5m
EVENTS = {"1h": 12, "6h": 72, "1d": 288, "3d": 864}  # 5m steps per long window


# errors per 1,000 requests -> the long windows whose burn alert fires at that constant ratio
CONSTANT_RATIOS = {
    100: ["1h", "6h", "1d", "3d"],  # 10%: above 7.2% (14.4 x 0.5%)
    40: ["6h", "1d", "3d"],         # 4%: above 3% (6x), below 7.2%
    20: ["1d", "3d"],               # 2%: above 1.5% (3x), below 3%
    10: ["3d"],                     # 1%: above 0.5% (1x), below 1.5%
    4: [],                          # 0.4%: within the budget's pace
}


def test_availability_burn_windows_fire_only_above_their_threshold(tmp_path):
    # a constant error ratio for three days, one model per ratio (each configured like the
    # demo's, in one promtool run): every window sees the same ratio, and each model's windows
    # fire exactly where that ratio is above their threshold
    demo = CONFIG.models[0]
    models = {per_1000: f"{MODEL}_{per_1000}" for per_1000 in CONSTANT_RATIOS}
    config = dataclasses.replace(CONFIG, models=tuple(
        dataclasses.replace(demo, name=name) for name in models.values()))
    inputs, expected = [], []
    for per_1000, model in models.items():
        inputs += (requests([(DAYS3 + 1, 5000)], model_name=model)
                   + errors([(DAYS3 + 1, per_1000 * 5)], model_name=model))
        expected += [burn("availability", w, per_1000 / 1000, EVENTS[w] * 5000, model)
                     for w in CONSTANT_RATIOS[per_1000]]
    run_promtool(tmp_path, inputs, [alert("SLOErrorBudgetBurn", "3d", *expected)],
                 interval="5m", rules_dir=generated_rules(config, tmp_path))


def test_burn_alerts_fire_when_the_long_window_reaches_its_threshold(tmp_path):
    # 3 clean days, then every request fails; samples and evaluations every 5m (3 days at 1m
    # would take promtool a minute). The long window's ratio is minutes_bad / window: 1h: 5/60 >
    # 7.2% at +5m; 6h: 15/360 > 3% at +15m (10/360 is not); 1d: 25/1440 > 1.5% and 3d: 25/4320 >
    # 0.5% at +25m (20/1440 and 20/4320 are not). The short windows are all errors by then.
    clean = DAYS3  # samples
    inputs = requests([(clean + 10, 300)]) + errors([(clean, 0), (10, 300)])
    t = lambda minutes: f"{clean * 5 + minutes}m"  # noqa: E731
    n = {w: steps * 300 for w, steps in EVENTS.items()}
    run_promtool(tmp_path, inputs, [
        alert("SLOErrorBudgetBurn", t(0)),
        alert("SLOErrorBudgetBurn", t(5), burn("availability", "1h", 5 / 60, n["1h"])),
        alert("SLOErrorBudgetBurn", t(10), burn("availability", "1h", 10 / 60, n["1h"])),
        alert("SLOErrorBudgetBurn", t(15), burn("availability", "1h", 15 / 60, n["1h"]),
              burn("availability", "6h", 15 / 360, n["6h"])),
        alert("SLOErrorBudgetBurn", t(20), burn("availability", "1h", 20 / 60, n["1h"]),
              burn("availability", "6h", 20 / 360, n["6h"])),
        alert("SLOErrorBudgetBurn", t(25), burn("availability", "1h", 25 / 60, n["1h"]),
              burn("availability", "6h", 25 / 360, n["6h"]),
              burn("availability", "1d", 25 / 1440, n["1d"]),
              burn("availability", "3d", 25 / 4320, n["3d"])),
    ], interval="5m")


def test_short_window_resets_the_page_once_errors_stop(tmp_path):
    # 6 clean hours, 10% errors for 2h, then none (5m steps, 3000 requests each). At 8h both
    # pages fire (1h: 10%; 6h: 2h of 10% = 3.33% > 3%); 1d and 3d lack the history. 10 minutes
    # after the errors stop the 1h ratio is still 8.3% (> 7.2%) but the 5m ratio is 0, so the
    # 1h/5m page stops; the 6h/30m page (30m ratio 6.7% > 3%) goes on.
    inputs = requests([(100, 3000)]) + errors([(72, 0), (24, 300), (4, 0)])
    run_promtool(tmp_path, inputs, [
        alert("SLOErrorBudgetBurn", "8h", burn("availability", "1h", 0.1, 36000),
              burn("availability", "6h", 24 / 720, 216000)),
        alert("SLOErrorBudgetBurn", "490m", burn("availability", "6h", 24 / 720, 216000)),
    ], interval="5m")


def test_latency_burn_counts_requests_over_the_slo_threshold(tmp_path):
    # 5% of requests slower than 0.25s for three days: above 3% (3 x 1%), below 6% (6 x 1%)
    inputs = latency(DAYS3 + 1, 5000, {"0.25": 0.95, "0.5": 1}) + model_info(DAYS3 + 1)
    run_promtool(tmp_path, inputs, [alert(
        "SLOErrorBudgetBurn", "3d", burn("latency", "1d", 0.05, EVENTS["1d"] * 5000),
        burn("latency", "3d", 0.05, EVENTS["3d"] * 5000))], interval="5m")


def test_accuracy_burn_has_no_page_that_could_never_fire(tmp_path):
    # 50% incorrect for three days: above 45% (3 x 15%) and 15%, below 90% (6 x 15%); 14.4 x 15%
    # > 100% is left out of the rules
    run_promtool(tmp_path, ground_truth(DAYS3 + 1, 25, 25) + model_info(DAYS3 + 1), [alert(
        "SLOErrorBudgetBurn", "3d", burn("accuracy", "1d", 0.5, EVENTS["1d"] * 50),
        burn("accuracy", "3d", 0.5, EVENTS["3d"] * 50))], interval="5m")


# -- drift (on the drift engine's recording-rule names) ------------------------------------------

KS = "model_name_feature:ml_feature_drift_ks:1h"
KS_N = "model_name_feature:ml_feature_drift_n:1h"
PSI = "model_name:ml_concept_drift_psi:1h"
PSI_N = "model_name:ml_concept_drift_n:1h"


def ks_inputs(feature: str, ks: float, n: float, minutes: int = 80) -> list[dict]:
    """The KS and count series of a feature; the drift rules compute its critical value from
    the count (c(0.01)·sqrt((n + 20000) / (n · 20000)) for the demo baseline's 20,000 values)."""
    return [series(KS, gauge(ks, minutes), feature=feature),
            series(KS_N, gauge(n, minutes), feature=feature)]


def drift_run(tmp_path, inputs: list[dict], alerts: list[dict]) -> None:
    """Run the drift alerts on ``inputs`` with the demo baseline's series, which the generic
    critical-value rules read (its bins and value counts)."""
    run_promtool(tmp_path, inputs + baseline_inputs(80), alerts)


def test_data_drift_warning_then_critical_per_feature(tmp_path):
    # the drift engine's 1h KS of one feature at 0.2 (warning > 0.15) and of another at 0.3
    # (critical > 0.25, and so warning too), both on 1000 values, far above what chance gives
    # (0.053); a third at 0.1 stays silent
    inputs = (ks_inputs("text_length", 0.2, 1000) + ks_inputs("sentiment_score", 0.3, 1000)
              + ks_inputs("other", 0.1, 1000))

    def drift(severity: str, feature: str, value: str, threshold: str) -> dict:
        return {"exp_labels": {**M, "severity": severity, "feature": feature},
                "exp_annotations": {
                    "summary": f"{MODEL}: input drift on {feature}",
                    "description": f"Binned KS of feature {feature} against the training "
                                   f"baseline is {value} over the last 1h's 1000 values "
                                   f"(threshold {threshold}, and above 0.053, what chance gives "
                                   "for as many values at alpha 0.01; at least 30 values; for "
                                   "1h).",
                    "runbook_url": url("DataDriftDetected", severity=severity, feature=feature)}}
    drift_run(tmp_path, inputs, [
        alert("DataDriftDetected", "59m"),
        alert("DataDriftDetected", "60m", drift("warning", "text_length", "0.200", "0.15"),
              drift("warning", "sentiment_score", "0.300", "0.15"),
              drift("critical", "sentiment_score", "0.300", "0.25")),
    ])


def test_data_drift_needs_the_effect_beyond_chance_and_enough_values(tmp_path):
    # KS 0.2 on 40 values: above the warning threshold, but chance alone gives 0.258 for 40
    # values; KS 0.9 on 20 values: beyond chance (0.364), but fewer than the 30 values needed
    inputs = ks_inputs("text_length", 0.2, 40) + ks_inputs("sentiment_score", 0.9, 20)
    drift_run(tmp_path, inputs, [alert("DataDriftDetected", "80m")])


def test_concept_drift_after_1h_above_psi_02(tmp_path):
    expected = annotated("warning", f"{MODEL}: prediction confidence drifted",
                         "PSI of the prediction confidence against the training baseline is "
                         "0.240 over the last 1h's 1000 predictions (threshold 0.2, and above "
                         "0.029, what chance gives for as many predictions at alpha 0.01; at "
                         "least 10 predictions; for 1h).",
                         url("ConceptDriftDetected", severity="warning"))
    evidence = [series(PSI_N, gauge(1000, 80))]  # the rules compute the critical PSI, 0.029
    drift_run(tmp_path, [series(PSI, gauge(0.24, 80))] + evidence, [
        alert("ConceptDriftDetected", "59m"),
        alert("ConceptDriftDetected", "60m", expected),
    ])
    drift_run(tmp_path, [series(PSI, gauge(0.18, 80))] + evidence,
              [alert("ConceptDriftDetected", "80m")])
    # above the threshold, but not above what chance gives for 50 predictions (0.555)
    drift_run(tmp_path, [series(PSI, gauge(0.24, 80)), series(PSI_N, gauge(50, 80))],
              [alert("ConceptDriftDetected", "80m")])


# -- multivariate drift: the correlation break ----------------------------------------------------

def _buckets(name: str, edges, segments: list[tuple[int, float, list[float]]], **labels) -> list[dict]:
    """A histogram's cumulative buckets over ``(minutes, values a minute, share per bucket)``
    segments (the ``+Inf`` bucket last)."""
    out = []
    les = [le_label(e) for e in edges] + ["+Inf"]
    for i, le in enumerate(les):
        out.append(series(name, counter(*[(minutes, round(rate * sum(shares[:i + 1]), 6))
                                          for minutes, rate, shares in segments]),
                          le=le, **labels))
    return out


def test_a_correlation_break_fires_multivariate_drift_and_no_data_drift(tmp_path):
    # 20 minutes as on the baseline, then word_count from another request (the demo's
    # correlation-break fault): every feature's buckets keep the baseline's shares, only the
    # reconstruction error's move; 100 predictions a minute
    base = demo_baseline()
    joint = base.multivariate
    model, rng = SentimentModel(), np.random.default_rng(5)
    rows = np.array([[model.features(t.text)[f] for f in joint.features]
                     for t in generate_texts(2000, rng)])
    rows[:, joint.features.index("word_count")] = rng.permutation(
        rows[:, joint.features.index("word_count")])
    broken = list(bin_fractions(joint.errors(rows), joint.edges))
    normal = list(joint.fractions)
    v = {"model_version": "1.0.0"}
    inputs = info(150) + _buckets("ml_reconstruction_error_bucket", joint.edges,
                                  [(20, 100, normal), (130, 100, broken)], **v)
    for feature, spec in base.numeric.items():
        inputs += _buckets("ml_feature_value_bucket", spec.edges,
                           [(150, 100, list(spec.fractions))], feature=feature, **v)
    run_promtool(tmp_path, inputs, [alert("MultivariateDriftDetected", "60m"),
                                    alert("DataDriftDetected", "150m")],
                 promql_tests=[firing("MultivariateDriftDetected", "150m", {"severity": "warning"})])


def test_a_chained_window_counts_only_as_far_as_its_chain_covers_it(tmp_path):
    # the model has been known for three days (ml_model_info), but its counts reached the
    # rules only an hour ago (a rule set deployed over backfilled history, a counter renamed):
    # the chained 1d and 3d ratios are that hour's 2%, over their 1.5% and 0.5% thresholds, but
    # the chain covers 12 of their 288 and 864 steps, so neither ticket fires; the raw 1h and 6h
    # ratios (2%, under 7.2% and 3%) do not either
    recent = 13  # samples: the last hour at 5m
    gap = f"_x{DAYS3 + 1 - recent}"
    inputs = model_info(DAYS3 + 1) + [
        series("ml_requests_total", f"{gap} 0+5000x{recent - 1}", model_version="1.0.0",
               endpoint="/predict"),
        series("ml_errors_total", f"{gap} 0+100x{recent - 1}", model_version="1.0.0",
               endpoint="/predict", error_type="ValueError")]
    coverage = "model_name_slo:ml_slo_events:increase5m_chain_coverage{}"
    run_promtool(tmp_path, inputs, [alert("SLOErrorBudgetBurn", "3d")], promql_tests=[
        {"expr": f'{coverage.format(w)}{{slo="availability"}} < 0.1', "eval_time": "3d",
         "exp_samples": [{"labels": f'{coverage.format(w)}{{model_name="{MODEL}",'
                                    f'slo="availability"}}', "value": value}]}
        for w, value in (("1d", 12 / 288), ("3d", 12 / 864))], interval="5m")
