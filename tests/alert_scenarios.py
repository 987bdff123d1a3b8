"""Incident scenarios, one or more per alert: synthetic series in which the alert's incident starts
at a known time, and a promtool query for when the alert first fired.

The suite (test_alert_evidence.py) checks every incident fires within its ``for`` plus two
evaluation intervals of its condition; benchmarks/alert_latency.py runs the same scenarios
against today's and another set of rule files and prints the detection-latency table.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import yaml
from promtool_support import (
    RULES,
    _group_order,
    confidence_histogram,
    counter,
    demo_baseline,
    errors,
    explicit,
    info,
    pruned_rules,
    requests,
    series,
)

from mlmon_nb.config import parse_duration
from mlmon_nb.estimated.calibration import N_BUCKETS, bucket_index
from mlmon_nb.metrics import CONFIDENCE_BUCKETS, le_label

__all__ = ["Scenario", "SCENARIOS", "first_firing", "info"]


@dataclass(frozen=True)
class Scenario:
    """An incident: ``inputs`` (promtool input series) in which the incident starts at
    ``start``; once its events are evidence (``evidence`` later: what the statistic needs on
    sparse or slow traffic, 0 where the first window already is) the alert should fire
    ``for_`` later (+ at most two ``interval``s)."""

    name: str
    alert: str
    severity: str
    inputs: Callable[[], list[dict]] = field(repr=False)
    start: str  # when the incident starts
    for_: str
    end: str  # evaluate until here
    interval: str = "1m"
    labels: dict[str, str] = field(default_factory=dict)
    evidence: str = "0s"  # how long after ``start`` chance alone stops explaining it

    def bound_seconds(self) -> float:
        """The latest acceptable latency: evidence, ``for`` and two evaluation intervals."""
        return (parse_duration(self.evidence) + parse_duration(self.for_)
                + 2 * parse_duration(self.interval))


def _latency(minutes: int, per_minute: float, edges_le: dict[str, float],
             start: int = 0) -> list[dict]:
    """Latency histogram: fast (all under 0.1s) until ``start``, then ``edges_le`` shares."""
    out = []
    for le in ("0.1", *edges_le, "+Inf"):
        share = 1.0 if le in ("0.1", "+Inf") else 0.0
        after = 1.0 if le == "+Inf" else edges_le.get(le, 0.0)
        segments = [(start, per_minute * share)] if start else []
        out.append(series("ml_request_duration_seconds_bucket",
                          counter(*segments, (minutes - start, per_minute * after)),
                          endpoint="/predict", le=le))
    out.append(series("ml_request_duration_seconds_count",
                      counter((minutes, per_minute)), endpoint="/predict"))
    return out


def _far_off_features(minutes: int, per_minute: float) -> list[dict]:
    """Every feature's values beyond the baseline's last edge, ``per_minute`` of them."""
    out = []
    for feature, spec in demo_baseline().numeric.items():
        for le in [le_label(e) for e in spec.edges] + ["+Inf"]:
            n = per_minute if le == "+Inf" else 0
            out.append(series("ml_feature_value_bucket", counter((minutes, n)), feature=feature,
                              le=le, model_version="1.0.0"))
    return out


def _low_confidences(minutes: int, per_minute: float) -> list[dict]:
    """Every prediction's confidence under 0.1 (the baseline has almost none there)."""
    return [series("ml_prediction_confidence_bucket", counter((minutes, per_minute)), le=le)
            for le in [le_label(e) for e in CONFIDENCE_BUCKETS] + ["+Inf"]]


def _unsure_predictions(minutes: int, per_minute: float, confidence: float) -> list[dict]:
    """Every prediction at ``confidence``, ``per_minute`` of them."""
    shares = [float(i == bucket_index(confidence)) for i in range(N_BUCKETS)]
    return confidence_histogram([(minutes, per_minute, shares, confidence)])


def _ground_truth(minutes: int, correct: float, incorrect: float) -> list[dict]:
    return [series("ml_ground_truth_total", counter((minutes, correct)), segment="web",
                   outcome="correct"),
            series("ml_ground_truth_total", counter((minutes, incorrect)), segment="web",
                   outcome="incorrect")]


_DAYS3 = 4320 // 5  # 5m samples of three days


def _sparse_labels() -> list[dict]:
    """20 ground-truth outcomes an hour: 3h at 90% correct, then 2h at 50%, then 90% again."""
    per_min = 20 / 60
    return info(360) + [
        series("ml_ground_truth_total", counter((180, 0.9 * per_min), (120, 0.5 * per_min),
                                                (60, 0.9 * per_min)),
               segment="web", outcome="correct"),
        series("ml_ground_truth_total", counter((180, 0.1 * per_min), (120, 0.5 * per_min),
                                                (60, 0.1 * per_min)),
               segment="web", outcome="incorrect")]


def _bursty_errors() -> list[dict]:
    """15s scrapes; a burst of 20 requests once a minute (one scrape in four sees it); from
    20m on, 2 of each burst fail (10%) for 25 minutes."""
    steps = 60 * 4
    bursts = [20.0 if k % 4 == 3 else 0.0 for k in range(steps)]
    failed = [2.0 if k % 4 == 3 and 80 <= k < 180 else 0.0 for k in range(steps)]
    return info(steps) + [
        series("ml_requests_total", explicit(bursts), model_version="1.0.0",
               endpoint="/predict"),
        series("ml_errors_total", explicit(failed), model_version="1.0.0",
               endpoint="/predict", error_type="ValueError")]


def _slow_steady_errors() -> list[dict]:
    """One request every 10 s (6 a minute); after 20 clean minutes 10% fail for 40 minutes,
    drawn at random (seeded): most minutes see no error, some one or two."""
    rng = np.random.default_rng(22)
    failed = [0.0] * 20 + [float(x) for x in rng.binomial(6, 0.1, 40)] + [0.0] * 20
    return info(80) + requests([(80, 6)]) + [
        series("ml_errors_total", explicit(failed), model_version="1.0.0",
               endpoint="/predict", error_type="ValueError")]


def _burn_inputs() -> list[dict]:
    """Three clean days, then every request fails (5m steps of 300 requests)."""
    return requests([(_DAYS3 + 12, 300)]) + errors([(_DAYS3, 0), (12, 300)])


def _latency_inputs() -> list[dict]:
    return info(50) + _latency(50, 60, {"0.25": 0, "0.5": 0, "0.75": 1}, start=20)


def _drift_inputs() -> list[dict]:
    return info(80) + _far_off_features(80, 100)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("10% errors at 1 req/s after 20 clean minutes", "HighErrorRate", "critical",
             lambda: info(40) + requests([(40, 60)]) + errors([(20, 0), (20, 6)]),
             "23m", "5m", "40m"),  # errors from 20m; the 5m ratio passes 5% at 23m
    Scenario("30% errors at 5 req/s, 15 s scrapes", "HighErrorRate", "critical",
             lambda: info(160) + requests([(160, 75)]) + errors([(40, 0), (120, 22.5)]),
             "660s", "5m", "40m", interval="15s"),  # 4 scrapes of errors: 6% over 5m
    Scenario("4% errors at 1.7 req/s after 20 clean minutes", "ElevatedErrorRate", "warning",
             lambda: info(50) + requests([(50, 100)]) + errors([(20, 0), (30, 4)]),
             "23m", "10m", "50m"),  # the 5m ratio passes 2% at 23m
    Scenario("P95 0.74s after 20 fast minutes", "HighLatencyP95", "critical",
             _latency_inputs,
             "21m", "10m", "50m"),
    Scenario("P95 0.74s after 20 fast minutes", "HighLatencyP95", "warning",
             _latency_inputs,
             "21m", "15m", "50m"),
    Scenario("the target stops answering at 11m", "MLServiceDown", "critical",
             lambda: [series("ml_model_info", "1x10", model_version="1.0.0", baseline_id="b1",
                             job="mlmon-demo", instance="127.0.0.1:18000"),
                      {"series": 'up{job="mlmon-demo",instance="127.0.0.1:18000"}',
                       "values": "1x10 0x20"}],
             "11m", "1m", "30m"),
    Scenario("every feature value beyond the baseline, 100/min", "DataDriftDetected", "warning",
             _drift_inputs, "1m", "1h", "80m"),
    Scenario("every feature value beyond the baseline, 100/min", "DataDriftDetected", "critical",
             _drift_inputs, "1m", "1h", "80m"),
    Scenario("every confidence under 0.1, 100/min", "ConceptDriftDetected", "warning",
             lambda: info(80) + _low_confidences(80, 100), "1m", "1h", "80m"),
    Scenario("60% accuracy on 30 outcomes a minute", "LowModelAccuracy", "critical",
             lambda: info(40) + _ground_truth(40, 18, 12), "1m", "30m", "40m"),
    Scenario("every prediction at confidence 0.35, 100/min, no label", "EstimatedAccuracyDrop",
             "warning", lambda: info(40) + _unsure_predictions(40, 100, 0.35), "1m", "15m", "40m"),
    Scenario("25% low-confidence predictions at 1/s", "HighLowConfidencePredictions", "info",
             lambda: info(70) + [
                 series("ml_predictions_total", counter((70, 60)), predicted_class="positive"),
                 series("ml_low_confidence_predictions_total", counter((70, 15)))],
             "1m", "1h", "70m"),
    # evidence as a statistic: sparse, bursty and slow traffic still page
    Scenario("20 labels an hour, accuracy 90% then 50% for 2h", "LowModelAccuracy", "critical",
             _sparse_labels, "180m", "30m", "300m", evidence="56m"),
    Scenario("10% errors in 10s bursts once a minute, 15s scrapes", "HighErrorRate",
             "critical", _bursty_errors, "1200s", "5m", "3600s", interval="15s",
             evidence="5m"),
    Scenario("10% errors at one request per 10s, 40 minutes", "HighErrorRate", "critical",
             _slow_steady_errors, "20m", "5m", "80m", evidence="30m"),
    Scenario("0.2 req/s, no history a week ago", "LowThroughput", "warning",
             lambda: info(30) + requests([(30, 12)]), "1m", "15m", "30m"),
    Scenario("ml_model_info gone at 11m", "ModelMetricsAbsent", "warning",
             lambda: [series("ml_model_info", "1x10", model_version="1.0.0", baseline_id="b1")]
             + requests([(10, 60)]),
             "16m", "10m", "40m"),  # absent() holds once the last sample is out of lookback
    Scenario("a second replica of the version serves another baseline from 10m",
             "BaselineConflict", "warning",
             lambda: info(40) + [series("ml_model_info", "_x10 1x30", model_version="1.0.0",
                                        baseline_id="b2", job="mlmon-demo",
                                        instance="127.0.0.1:18001")],
             "10m", "15m", "40m"),
    *(Scenario(f"3 clean days, then every request fails ({long})", "SLOErrorBudgetBurn",
               severity, _burn_inputs,
               f"{_DAYS3 * 5 + delay}m", "0s", f"{_DAYS3 * 5 + 60}m", interval="5m",
               labels={"long_window": long})
      # the long window's ratio crosses its threshold after `delay` minutes of errors
      for long, severity, delay in (("1h", "critical", 5), ("6h", "critical", 15),
                                    ("1d", "warning", 25), ("3d", "warning", 25))),
)


_SAMPLE = re.compile(r"\{([^{}]*)\} ([-+.\dEe]+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_RUNS: dict[tuple, dict[tuple[str, ...], float]] = {}  # one promtool run per inputs and rules
_KEYS = ("alertname", "severity", "long_window")


def _firings(scenario: Scenario, workdir: Path, rules_dir: Path) -> dict[tuple[str, ...], float]:
    """When each alert of the scenario's inputs first fired: (alertname, severity, long_window)
    → seconds, from one promtool run (cached: scenarios may share their inputs)."""
    key = (scenario.inputs, str(rules_dir), scenario.end, scenario.interval, scenario.alert)
    if key in _RUNS:
        return _RUNS[key]
    rules_dir = pruned_rules(rules_dir, {scenario.alert}, workdir / "pruned-rules")
    expr = (f"min by ({', '.join(_KEYS)}) (min_over_time(timestamp("
            f'ALERTS{{alertstate="firing"}})[{scenario.end}:{scenario.interval}]))')
    doc = {"rule_files": [str(p) for p in sorted(rules_dir.glob("*.yml"))],
           "evaluation_interval": scenario.interval,
           "group_eval_order": _group_order(rules_dir),
           "tests": [{"interval": scenario.interval, "input_series": scenario.inputs(),
                      "promql_expr_test": [{"expr": expr, "eval_time": scenario.end,
                                            "exp_samples": []}]}]}
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "latency.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000))
    proc = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=900)
    out = proc.stdout + proc.stderr
    found: dict[tuple[str, ...], float] = {}
    if proc.returncode != 0:
        if "got:" not in out:
            raise AssertionError(f"promtool failed:\n{out}")
        for labels, value in _SAMPLE.findall(out.split("got:", 1)[1]):
            named = dict(_LABEL.findall(labels))
            found[tuple(named.get(k, "") for k in _KEYS)] = float(value)
    _RUNS[key] = found
    return found


def first_firing(scenario: Scenario, workdir: Path, rules_dir: Path = RULES) -> float | None:
    """Seconds from the start of the scenario to the first evaluation its alert fired at (None
    if it never fired before ``end``), by promtool over the rule files in ``rules_dir``."""
    found = _firings(scenario, workdir, rules_dir)
    return found.get((scenario.alert, scenario.severity, scenario.labels.get("long_window", "")))
