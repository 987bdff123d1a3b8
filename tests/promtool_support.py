"""`promtool test rules` harness: synthetic series in promtool's expanding notation, run against
rule files (by default the committed ones, stack/rules/ for the demo config)."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
                 *, promql_tests: list[dict] | None = None, interval: str = "1m",
                 rules_dir: Path = RULES) -> None:
    """Run one promtool unit test file; fail with promtool's report.

    ``interval`` is both the scrape and the evaluation interval; ``rules_dir`` holds the rule
    files (default: the committed ones).
    """
    doc = {
        "rule_files": [str(p) for p in sorted(rules_dir.glob("*.yml"))],
        "evaluation_interval": interval,
        "group_eval_order": _group_order(rules_dir),
        "tests": [{"interval": interval, "input_series": input_series,
                   "alert_rule_test": alert_tests, "promql_expr_test": promql_tests or []}],
    }
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000))
    proc = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _group_order(rules_dir: Path) -> list[str]:
    order = []
    for name in ("recording.yml", "drift.yml", "slo.yml", "alerts.yml"):
        path = rules_dir / name
        if path.exists():
            order += [g["name"] for g in yaml.safe_load(path.read_text())["groups"]]
    return order


def alert(name: str, at: str, *expected: dict) -> dict:
    return {"eval_time": at, "alertname": name, "exp_alerts": list(expected)}


def url(alertname: str, **labels: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {**M, **labels}.items())
    return f"{LAUNCHER}/runbook/{alertname}?{query}"


