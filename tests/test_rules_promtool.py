"""`promtool test rules` unit tests of the committed rule files (stack/rules/, the demo config).

Each test writes a promtool test file with synthetic counters at a 1m scrape interval and
asserts which alerts are firing (with labels and annotations) at chosen times: an alert fires at
the expected time, not before its `for`, and not below its threshold.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from mlmon_nb.config import load_config

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "stack" / "rules"
CONFIG = load_config(REPO / "stack" / "mlmon.yaml")
MODEL = CONFIG.models[0].name
LAUNCHER = CONFIG.launcher_url
M = {"model_name": MODEL}


def counter(*segments: tuple[int, float], start: float = 0.0) -> str:
    """Promtool expanding notation of a counter: ``(minutes, increase per minute)`` segments."""
    parts, cur = [f"{start:g}"], start
    for minutes, inc in segments:
        parts.append(f"{cur + inc:g}+{inc:g}x{minutes - 1}")
        cur += minutes * inc
    return " ".join(parts)


def gauge(value: float, minutes: int) -> str:
    return f"{value:g}+0x{minutes}"


def series(name: str, values: str, **labels: str) -> dict:
    inner = ",".join(f'{k}="{v}"' for k, v in {**M, **labels}.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def requests(segments, endpoint="/predict") -> list[dict]:
    """ml_requests_total per (minutes, requests/min) segment."""
    return [series("ml_requests_total", counter(*segments), model_version="1.0.0",
                   endpoint=endpoint)]


def errors(segments, error_type="ValueError") -> list[dict]:
    return [series("ml_errors_total", counter(*segments), model_version="1.0.0",
                   endpoint="/predict", error_type=error_type)]


def run_promtool(tmp_path: Path, input_series: list[dict], alert_tests: list[dict],
                 *, promql_tests: list[dict] | None = None) -> None:
    """Run one promtool unit test file; fail with promtool's report."""
    doc = {
        "rule_files": [str(p) for p in sorted(RULES.glob("*.yml"))],
        "evaluation_interval": "1m",
        "group_eval_order": _group_order(),
        "tests": [{"interval": "1m", "input_series": input_series,
                   "alert_rule_test": alert_tests, "promql_expr_test": promql_tests or []}],
    }
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000))
    proc = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _group_order() -> list[str]:
    order = []
    for name in ("recording.yml", "drift.yml", "slo.yml", "alerts.yml"):
        path = RULES / name
        if path.exists():
            order += [g["name"] for g in yaml.safe_load(path.read_text())["groups"]]
    return order


def alert(name: str, at: str, *expected: dict) -> dict:
    return {"eval_time": at, "alertname": name, "exp_alerts": list(expected)}


def url(alertname: str, **labels: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {**M, **labels}.items())
    return f"{LAUNCHER}/runbook/{alertname}?{query}"


# -- HighErrorRate (walking skeleton) -----------------------------------------------------------

HIGH_ERROR_RATE_10PCT = {
    "exp_labels": {**M, "severity": "critical"},
    "exp_annotations": {
        "summary": f"{MODEL}: error ratio above 5%",
        "description": f"10% of {MODEL}'s requests failed over the last 5m (threshold 5%, for 5m).",
        "runbook_url": url("HighErrorRate", severity="critical"),
    },
}


def test_high_error_rate_fires_after_5m_above_5_percent(tmp_path):
    # 60 requests/min, 6 of them failing (10%) from the start: the 5m error ratio is known from
    # 1m on, so the alert is pending from 1m and fires at 6m (for: 5m), not at 5m.
    expected = HIGH_ERROR_RATE_10PCT
    run_promtool(tmp_path, requests([(30, 60)]) + errors([(30, 6)]), [
        alert("HighErrorRate", "5m"),
        alert("HighErrorRate", "6m", expected),
        alert("HighErrorRate", "20m", expected),
    ])


def test_high_error_rate_does_not_fire_below_5_percent(tmp_path):
    # 4% errors for 30 minutes: above the warning threshold (2%) but below the critical one.
    run_promtool(tmp_path, requests([(30, 100)]) + errors([(30, 4)]), [
        alert("HighErrorRate", "30m"),
        alert("ElevatedErrorRate", "30m", {
            "exp_labels": {**M, "severity": "warning"},
            "exp_annotations": {
                "summary": f"{MODEL}: error ratio above 2%",
                "description": f"4% of {MODEL}'s requests failed over the last 5m "
                               "(threshold 2%, for 10m).",
                "runbook_url": url("ElevatedErrorRate", severity="warning"),
            }}),
    ])


def test_high_error_rate_resolves_when_errors_stop(tmp_path):
    # 10% errors for 15m, then none: the 5m ratio falls below 5% within a few minutes.
    run_promtool(tmp_path, requests([(40, 60)]) + errors([(15, 6), (25, 0)]), [
        alert("HighErrorRate", "14m", HIGH_ERROR_RATE_10PCT),
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
