"""`promtool test rules` harness: synthetic series in promtool's expanding notation, run against
rule files (by default the committed ones, stack/rules/ for the demo config)."""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path
from typing import Callable

import yaml

from mlmon_nb.config import Config, load_config
from mlmon_nb.estimated.calibration import EDGES
from mlmon_nb.instrument import baseline_series, serving_of
from mlmon_nb.metrics import CONFIDENCE, le_label
from mlmon_nb.rules.files import RULES_DIR, write_generated
from mlmon_nb.stack.demo.model import training_baseline

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


@functools.cache
def demo_baseline():
    """The demo's training baseline, built once per test process: it is deterministic, and
    building it takes seconds that dozens of tests would otherwise each spend."""
    return training_baseline()


def baseline_inputs(minutes: int, baseline=None, model_name: str = MODEL,
                    model_version: str = "1.0.0", notation: Callable[[str], str] | None = None,
                    **labels: str) -> list[dict]:
    """What a service serving ``model_version`` exports from its baseline (default: the
    demo's), constant for ``minutes``: the series the label-generic drift and
    estimated-accuracy rules join on (``labels``: e.g. the replica's ``instance``;
    ``notation``: promtool's values of a series constant at the value it is given, for one that
    is not there all along)."""
    out = []
    for spec, values, value in baseline_series(serving_of(baseline or demo_baseline()),
                                               model_version):
        names = {**dict(zip(spec.labels, values)), "model_name": model_name, **labels}
        constant = notation(f"{value!r}+0") if notation else f"{value!r}+0x{minutes}"
        out.append(series(spec.name, constant, **names))
    return out


def overconfident_baseline(seed: int = 7):
    """The demo baseline with a curve fitted on 20,000 labelled rows at every confidence from
    0.3 up, calibrated except in 0.6–0.8, where the model was right 30 points less often than
    it was sure: confidences moving there promise far less accuracy than they say."""
    import numpy as np

    from mlmon_nb.estimated.calibration import fit_calibration
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.3, 1.0, 20_000)
    poor = (conf > 0.6) & (conf <= 0.8)
    correct = rng.random(conf.size) < conf - 0.3 * poor
    return demo_baseline().with_calibration(fit_calibration(conf, correct))


def info(minutes: int, *, instance: str = "127.0.0.1:18000", values: str | None = None,
         baseline=None) -> list[dict]:
    """``ml_model_info``, ``up`` and the baseline's series (default: the demo's) of a running
    demo target for ``minutes``."""
    return [series("ml_model_info", values or gauge(1, minutes), model_version="1.0.0",
                   baseline_id="b1", job="mlmon-demo", instance=instance),
            {"series": f'up{{job="mlmon-demo",instance="{instance}"}}',
             "values": gauge(1, minutes)}] + baseline_inputs(minutes, baseline)


def series(name: str, values: str, **labels: str) -> dict:
    inner = ",".join(f'{k}="{v}"' for k, v in {**M, **labels}.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def requests(segments, endpoint="/predict", **labels: str) -> list[dict]:
    """ml_requests_total per (minutes, requests/min) segment (``labels``: e.g. another
    ``model_name``)."""
    return [series("ml_requests_total", counter(*segments), model_version="1.0.0",
                   endpoint=endpoint, **labels)]


def errors(segments, error_type="ValueError", **labels: str) -> list[dict]:
    return [series("ml_errors_total", counter(*segments), model_version="1.0.0",
                   endpoint="/predict", error_type=error_type, **labels)]


def explicit(increases) -> str:
    """A counter's samples from its increase per step, from 0 (promtool's values)."""
    total, values = 0.0, ["0"]
    for inc in increases:
        total += float(inc)
        values.append(f"{total:g}")
    return " ".join(values)


def random_traffic(rng, steps: int, per_step: int, *, errors: float, labels: float,
                   accuracy: float, low_confidence: float) -> list[dict]:
    """``steps`` steps of ``per_step`` requests and predictions, each failing with probability
    ``errors`` and low-confidence with ``low_confidence``, and Poisson(``labels``) ground-truth
    outcomes per step, right with probability ``accuracy``: a healthy model's noise (seeded by
    ``rng``, a numpy Generator)."""
    n = rng.poisson(labels, steps)
    right = rng.binomial(n, accuracy)
    return requests([(steps, per_step)]) + [
        series("ml_errors_total", explicit(rng.binomial(per_step, errors, steps)),
               model_version="1.0.0", endpoint="/predict", error_type="ValueError"),
        series("ml_ground_truth_total", explicit(right), segment="web", outcome="correct"),
        series("ml_ground_truth_total", explicit(n - right), segment="web", outcome="incorrect"),
        series("ml_predictions_total", counter((steps, per_step)), predicted_class="positive"),
        series("ml_low_confidence_predictions_total",
               explicit(rng.binomial(per_step, low_confidence, steps)))]


def generated_rules(config: Config, directory: Path) -> Path:
    """The rule directory ``mlmon-nb rules generate`` writes for ``config`` (its models' own
    settings, no baselines) under ``directory``: for scenarios with models other than the
    demo's."""
    write_generated(config, directory, baselines={})
    return directory / RULES_DIR


def run_promtool(tmp_path: Path, input_series: list[dict], alert_tests: list[dict],
                 *, promql_tests: list[dict] | None = None, interval: str = "1m",
                 rules_dir: Path = RULES, roots: set[str] | None = None) -> None:
    """Run one promtool unit test file; fail with promtool's report.

    ``interval`` is both the scrape and the evaluation interval; ``rules_dir`` holds the rule
    files (default: the committed ones). Only the rules the tested alerts and expressions depend
    on are evaluated (see :func:`pruned_rules`), and those of ``roots`` (alert names).
    """
    roots = ({t["alertname"] for t in alert_tests} | {t["expr"] for t in promql_tests or []}
             | (roots or set()))
    rules_dir = pruned_rules(rules_dir, roots, tmp_path / "pruned-rules")
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


# the order promtool evaluates the groups in, per step: what the alerts read is recorded first
_RULE_FILES = ("recording.yml", "drift.yml", "slo.yml", "alerts.yml")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def load_rules(rules_dir: Path) -> dict[str, dict]:
    """The rule files of ``rules_dir``, parsed, by file name."""
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(rules_dir.glob("*.yml"))}


def group_order(docs: dict[str, dict]) -> list[str]:
    """Group names for promtool's ``group_eval_order``: recording, drift, SLO, alerts, then any
    other file's."""
    names = [n for n in _RULE_FILES if n in docs] + [n for n in docs if n not in _RULE_FILES]
    return [g["name"] for n in names for g in docs[n]["groups"]]


def _group_order(rules_dir: Path) -> list[str]:
    return group_order(load_rules(rules_dir))


def prune(docs: dict[str, dict], roots: set[str]) -> dict[str, dict]:
    """Parsed rule files cut to what ``roots`` (alert or record names, PromQL expressions)
    depend on: those rules and every recording rule their expressions and annotation queries
    read, transitively, in their original groups and order.

    promtool evaluates every rule at every step; the 30-day SLO windows over a multi-day history
    cost minutes, while the rules a test looks at cost seconds. The kept rules are the generated
    ones, unchanged.
    """
    rules = [r for doc in docs.values() for g in doc["groups"] for r in g["rules"]]
    tokens = set(roots) | {t for root in roots for t in _NAME.findall(root)}
    tokens |= _alerts_read(roots, {r["alert"] for r in rules if "alert" in r})
    keep: set[int] = set()
    changed = True
    while changed:
        changed = False
        for i, rule in enumerate(rules):
            if i not in keep and (rule.get("alert") or rule.get("record")) in tokens:
                keep.add(i)
                tokens |= set(_NAME.findall(yaml.safe_dump(rule)))
                changed = True
    kept_ids = {id(rules[i]) for i in keep}
    out = {}
    for name, doc in docs.items():
        groups = [{**g, "rules": [r for r in g["rules"] if id(r) in kept_ids]}
                  for g in doc["groups"]]
        if any(g["rules"] for g in groups):
            out[name] = {"groups": [g for g in groups if g["rules"]]}
    return out


_ALERTS_SELECTOR = re.compile(r"\bALERTS(?:_FOR_STATE)?\b(\{[^}]*\})?")
_ALERTNAME_IS = re.compile(r'alertname\s*=\s*"([^"]*)"')


def _alerts_read(roots: set[str], alerts: set[str]) -> set[str]:
    """The alerts whose ``ALERTS`` series the expressions of ``roots`` read: those an
    ``alertname="…"`` matcher names, or every alert where a selector names none."""
    read: set[str] = set()
    for root in roots:
        for match in _ALERTS_SELECTOR.finditer(root):
            named = _ALERTNAME_IS.findall(match.group(1) or "")
            read |= set(named) if named else alerts
    return read


def pruned_rules(rules_dir: Path, roots: set[str], dest: Path) -> Path:
    """:func:`prune` on the rule files of ``rules_dir``, written to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob("*.yml"):
        stale.unlink()
    for name, doc in prune(load_rules(rules_dir), roots).items():
        (dest / name).write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000))
    return dest


def confidence_histogram(segments: list[tuple[int, float, list[float], float]],
                         edges: tuple[float, ...] = EDGES) -> list[dict]:
    """The confidence histogram (cumulative buckets and sum) and the prediction counter over
    ``(minutes, predictions a minute, share per bucket, mean confidence)`` segments; ``edges``:
    the buckets' upper edges, ``+Inf`` last (the exporter's, or those of a service before the
    finer edges near 1)."""
    out = [series(CONFIDENCE.series("_bucket"), counter(
        *[(minutes, round(rate * sum(shares[:i + 1]), 6)) for minutes, rate, shares, _ in segments]),
        le=le_label(edge)) for i, edge in enumerate(edges)]
    out.append(series(CONFIDENCE.series("_sum"), counter(
        *[(minutes, round(rate * mean, 6)) for minutes, rate, _, mean in segments])))
    out.append(series("ml_predictions_total", counter(
        *[(minutes, rate) for minutes, rate, _, _ in segments]), predicted_class="positive"))
    return out


def alert(name: str, at: str, *expected: dict) -> dict:
    return {"eval_time": at, "alertname": name, "exp_alerts": list(expected)}


def firing(name: str, at: str, *label_sets: dict[str, str]) -> dict:
    """A promtool check that exactly these alerts of ``name`` fire at ``at`` (their labels;
    ``model_name`` defaults to the demo's), whatever their annotations say."""
    samples = []
    for labels in label_sets:
        inner = ",".join(f'{k}="{v}"' for k, v in
                         {"alertname": name, "alertstate": "firing", **M, **labels}.items())
        samples.append({"labels": f"ALERTS{{{inner}}}", "value": 1})
    return {"expr": f'ALERTS{{alertname="{name}",alertstate="firing"}}', "eval_time": at,
            "exp_samples": samples}


def url(alertname: str, **labels: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {**M, **labels}.items())
    return f"{LAUNCHER}/runbook/{alertname}?{query}"


