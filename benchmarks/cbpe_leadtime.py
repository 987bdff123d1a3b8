"""Alert lead time for the CBPE benchmark (benchmarks/bench_cbpe.py): a synthetic history in the
metric contract, the project's generated rules, and ``promtool test rules`` to say when each
alert first fires.

The history is minutes of traffic from the synthetic classifier while a covariate shift grows:
the confidence histogram, predictions per class, the low-confidence counter, requests, the
model info, and the ground truth of a sampled share of predictions, each label arriving minutes
late. The rules are rendered from the demo configuration with a baseline built with ``label=``
on a validation set, then cut to the alerts compared and the recording rules they read. promtool
evaluates them minute by minute; each probe expects nothing, so its failure report carries what
fired (an alert probe) or the value (an expression probe), which :func:`parse_report` reads back
— as tests/alert_scenarios.py does for the alert-latency table.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from cbpe_synthetic import Classifier, Sample, sample

from mlmon_nb import metrics as m
from mlmon_nb.baseline import Baseline
from mlmon_nb.config import ModelConfig, load_config, parse_duration
from mlmon_nb.estimated.calibration import bucket_counts
from mlmon_nb.instrument import baseline_series, serving_of
from mlmon_nb.rules import render_rule_files

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the promtool harness, as alert_latency.py uses it

from promtool_support import group_order, prune  # noqa: E402 - tests/ on the path first

__all__ = ["History", "Evaluation", "shift_at", "build_history", "generated_rules", "rules_of",
           "missing_rules", "estimated_rules", "minutes_of", "parse_report", "evaluate",
           "trailing_mean"]

CONFIG_PATH = REPO / "stack" / "mlmon.yaml"
ESTIMATED_ALERT, LABELLED_ALERT = "EstimatedAccuracyDrop", "LowModelAccuracy"
ESTIMATED_RULE = "model_name:ml_estimated_accuracy:"  # then the window
HOURS, RAMP_MINUTES, SHIFT_PEAK = 9, (120, 420), 0.9  # steady 2h, shift grows 5h, steady 2h
PER_MINUTE, LABEL_SHARE, DELAY_MINUTES = 300, 0.10, (30, 60)
LOW_CONFIDENCE = 0.7  # the exporter's default low-confidence threshold
PROXY_ALERT = "HighLowConfidencePredictions"  # the label-free signal the project had before
TABLE_EVERY = 30  # minutes between the expression probes (the printed rows)


def shift_at(minute: np.ndarray | float, ramp: tuple[int, int] = RAMP_MINUTES,
             peak: float = SHIFT_PEAK) -> np.ndarray:
    """The covariate shift at each minute: none, then growing linearly to ``peak``."""
    a, b = ramp
    return np.clip((np.asarray(minute, dtype=float) - a) / (b - a), 0.0, 1.0) * peak


@dataclass
class History:
    """Per minute of synthetic traffic: what happened (truth) and the counters Prometheus sees
    (promtool ``input_series``, one value per minute from minute 0)."""

    minutes: int
    shift: np.ndarray
    expected_accuracy: np.ndarray  # mean true probability that the minute's predictions are right
    accuracy: np.ndarray  # realized accuracy of the minute's predictions
    input_series: list[dict]


def _series(name: str, values: np.ndarray, labels: dict[str, str], fmt: str = "{:d}") -> dict:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    text = " ".join(fmt.format(int(v) if fmt == "{:d}" else float(v)) for v in values)
    return {"series": f"{name}{{{inner}}}", "values": text}


def _counter(per_minute: np.ndarray) -> np.ndarray:
    """Events per minute (along the first axis) -> the counter's value at each minute: 0 at
    minute 0, then the events of the minutes before."""
    total = np.cumsum(per_minute, axis=0)
    return np.concatenate([np.zeros_like(total[:1]), total[:-1]], axis=0)


def build_history(clf: Classifier, model_name: str, baseline_id: str, *, hours: float = HOURS,
                  ramp: tuple[int, int] = RAMP_MINUTES, peak: float = SHIFT_PEAK,
                  per_minute: int = PER_MINUTE, label_share: float = LABEL_SHARE,
                  delay: tuple[int, int] = DELAY_MINUTES, contract: bool = True,
                  seed: int = 7, baseline: Baseline | None = None) -> History:
    """Minutes of traffic under a growing shift, as the exporter's counters: the confidence
    histogram, predictions per class, requests, the model info, and the ground truth of a
    ``label_share`` sample of predictions, each label arriving ``delay`` minutes (uniform) after
    its prediction; with ``baseline``, the series the service exports from it (the rules join
    on its calibration)."""
    rng = np.random.default_rng(seed)
    T = int(hours * 60) + 1
    shifts = shift_at(np.arange(T), ramp, peak)
    conf = np.zeros((T, len(m.CONFIDENCE_BUCKETS) + 1), dtype=np.int64)
    conf_sum = np.zeros(T)
    classes = np.zeros((T, clf.classes), dtype=np.int64)
    low = np.zeros(T, dtype=np.int64)
    right = np.zeros(T + delay[1] + 1, dtype=np.int64)
    wrong = np.zeros_like(right)
    expected, realized = np.zeros(T), np.zeros(T)
    for t in range(T):
        s = sample(clf, int(rng.poisson(per_minute)), float(shifts[t]), rng, contract)
        conf[t] = bucket_counts(s.confidence)
        conf_sum[t] = s.confidence.sum()
        low[t] = int((s.confidence < LOW_CONFIDENCE).sum())
        classes[t] = np.bincount(s.predicted, minlength=clf.classes)
        expected[t], realized[t] = s.expected_accuracy, s.accuracy
        sampled = rng.random(len(s.label)) < label_share
        arrive = t + rng.integers(delay[0], delay[1] + 1, size=int(sampled.sum()))
        ok = s.correct[sampled]
        np.add.at(right, arrive[ok], 1)
        np.add.at(wrong, arrive[~ok], 1)
    labels = {"model_name": model_name}
    cum = _counter(np.cumsum(conf, axis=1))
    out = [_series(m.CONFIDENCE.series("_bucket"), cum[:, i], {**labels, "le": m.le_label(le)})
           for i, le in enumerate((*m.CONFIDENCE_BUCKETS, float("inf")))]
    out.append(_series(m.CONFIDENCE.series("_count"), cum[:, -1], labels))
    out.append(_series(m.CONFIDENCE.series("_sum"), _counter(conf_sum), labels, "{:.3f}"))
    pred = _counter(classes)
    out += [_series(m.PREDICTIONS.sample, pred[:, k], {**labels, "predicted_class": str(k)})
            for k in range(clf.classes)]
    out.append(_series(m.LOW_CONFIDENCE.sample, _counter(low), labels))
    version = {**labels, "model_version": "1.0.0"}
    out.append(_series(m.REQUESTS.sample, pred.sum(axis=1), {**version, "endpoint": "/predict"}))
    out.append(_series(m.MODEL_INFO.name, np.ones(T), {**version, "baseline_id": baseline_id}))
    for outcome, per in (("correct", right[:T]), ("incorrect", wrong[:T])):
        out.append(_series(m.GROUND_TRUTH.sample, _counter(per),
                           {**labels, "segment": "web", "outcome": outcome}))
    if baseline is not None:
        out += [_series(spec.name, np.full(T, value), dict(zip(spec.labels, values)), "{!r}")
                for spec, values, value in baseline_series(serving_of(baseline))]
    return History(T, shifts, expected, realized, out)


def generated_rules(reference: Sample) -> tuple[ModelConfig, dict[str, str], Baseline]:
    """The demo configuration's model, its generated rule files, and a baseline built with
    ``label=`` on the labelled reference (its series go into the history)."""
    config = load_config(CONFIG_PATH)
    model = config.models[0]
    frame = pd.DataFrame(reference.features,
                         columns=[f"f{i}" for i in range(reference.features.shape[1])])
    frame["prediction"] = reference.predicted.astype(str)
    frame["confidence"] = reference.confidence
    frame["label"] = reference.label.astype(str)
    baseline = Baseline.from_frame(frame, model.name, prediction="prediction",
                                   confidence="confidence", label="label")
    return model, render_rule_files(config, baselines={model.name: baseline}), baseline


def rules_of(files: dict[str, str], roots: tuple[str, ...]) -> dict[str, str]:
    """The generated rule files cut to the alerts and recording rules ``roots`` and what they
    read (as tests/promtool_support.py cuts them for the promtool tests): the rest — the SLO
    windows over 30 days, the history age's 30-day subquery — costs promtool minutes per hour of
    history and cannot change when these alerts fire."""
    kept = prune({name: yaml.safe_load(text) for name, text in files.items()}, set(roots))
    return {name: yaml.safe_dump(doc, sort_keys=False, width=10_000) for name, doc in kept.items()}


def missing_rules(files: dict[str, str]) -> list[str]:
    """What the lead time needs that the generated rules lack (empty when nothing)."""
    text = "\n".join(files.values())
    return [what for what, ok in (
        (f"the alert {ESTIMATED_ALERT}", f"alert: {ESTIMATED_ALERT}\n" in text),
        (f"the recording rules {ESTIMATED_RULE}<window>", f"record: {ESTIMATED_RULE}" in text),
        (f"the alert {LABELLED_ALERT}", f"alert: {LABELLED_ALERT}\n" in text)) if not ok]


def estimated_rules(files: dict[str, str]) -> list[str]:
    """The estimated-accuracy recording rules, shortest window first."""
    return sorted(set(re.findall(rf"record: ({re.escape(ESTIMATED_RULE)}\S+)",
                                 "\n".join(files.values()))),
                  key=lambda r: parse_duration(r.split(":")[-1]))


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_ALERT_FAIL = re.compile(r"alertname: (\w+), time: (\w+),")
_EXPR_FAIL = re.compile(r'expr: "((?:[^"\\]|\\.)*)", time: (\w+),\s*exp:.*?\n\s*got: (.*)')


def minutes_of(duration: str) -> float:
    """A Prometheus duration as printed by promtool (``2h5m``, ``45m``, ``0s``) in minutes."""
    h, mi, s = (int(g or 0) for g in _DURATION.match(duration).groups())  # type: ignore[union-attr]
    return h * 60 + mi + s / 60


@dataclass
class Evaluation:
    """What promtool's evaluation of the rules said: the minutes each alert was firing, and
    the values of the probed expressions at the table's minutes."""

    firing: dict[str, list[float]]
    values: dict[str, dict[float, float]]

    def first(self, alert: str) -> float | None:
        times = self.firing.get(alert)
        return min(times) if times else None


def parse_report(text: str) -> Evaluation:
    """Read promtool's failure report of probes that expected nothing: each failing alert
    probe is an alert firing at that time; each failing expression probe carries its value."""
    firing: dict[str, list[float]] = {}
    for name, at in _ALERT_FAIL.findall(text):
        firing.setdefault(name, []).append(minutes_of(at))
    values: dict[str, dict[float, float]] = {}
    for expr, at, got in _EXPR_FAIL.findall(text):
        number = re.search(r"\}\s+([-+0-9.eE]+|NaN)", got)
        if number:
            values.setdefault(expr.replace('\\"', '"'), {})[minutes_of(at)] = float(number[1])
    return Evaluation(firing, values)


def evaluate(files: dict[str, str], history: History, alerts: tuple[str, ...],
             exprs: tuple[str, ...], table_every: int = TABLE_EVERY) -> Evaluation:
    """``promtool test rules`` over the history with the generated rule files: every minute a
    probe per alert expecting none (a failure is the alert firing), and every ``table_every``
    minutes a probe per expression expecting no sample (the failure carries the value)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, text in files.items():
            (Path(tmp) / name).write_text(text)
            paths.append(str(Path(tmp) / name))
        order = group_order({name: yaml.safe_load(text) for name, text in files.items()})
        doc = {"rule_files": paths, "evaluation_interval": "1m", "group_eval_order": order,
               "tests": [{
                   "interval": "1m", "input_series": history.input_series,
                   "alert_rule_test": [{"eval_time": f"{t}m", "alertname": a, "exp_alerts": []}
                                       for t in range(history.minutes) for a in alerts],
                   "promql_expr_test": [{"expr": e, "eval_time": f"{t}m", "exp_samples": []}
                                        for t in range(0, history.minutes, table_every)
                                        for e in exprs]}]}
        test = Path(tmp) / "leadtime.yml"
        test.write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000))
        proc = subprocess.run(["promtool", "test", "rules", str(test)], capture_output=True,
                              text=True, timeout=900)
    report = proc.stdout + proc.stderr
    if proc.returncode != 0 and "FAILED" not in report:
        raise SystemExit(f"promtool could not evaluate the rules:\n{report[-3000:]}")
    return parse_report(report)


def trailing_mean(values: np.ndarray, minutes: int) -> np.ndarray:
    """Per minute, the mean of the last ``minutes`` values (fewer at the start)."""
    c = np.concatenate([[0.0], np.cumsum(values)])
    i = np.arange(1, values.size + 1)
    lo = np.maximum(i - minutes, 0)
    return (c[i] - c[lo]) / (i - lo)
