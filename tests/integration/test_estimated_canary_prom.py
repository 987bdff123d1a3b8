"""A canary's estimated accuracy from a real Prometheus: five hours of a model running two
versions (version 2 a 10% canary whose confidences move, for the last 90 minutes, to 0.6–0.8,
where the model's curve says it is right 30 points less often than it is sure, and fails 20%
of its requests while the stable version fails 1%: the model, ~3%, stays under the 5% HighErrorRate
threshold), backfilled.

Each version's recorded estimate and band (the generated rule, its recorded inputs inlined, as
in test_estimated_accuracy_prom) equal the Python rerun on that version's predictions and the
pure estimate on its counts; and the EstimatedAccuracyDrop runbook, given the version the alert
named, judges that version's predictions and labels and breaks the estimate down by version;
the HighErrorRate runbook, given the version, judges that version's requests (firing), and
without it the model's (under the threshold).
"""

from __future__ import annotations

import time

import nbformat
import numpy as np
import pytest
from promql_inline import inline
from promtool_support import overconfident_baseline

from mlmon_nb import investigate as iv
from mlmon_nb import metrics as m
from mlmon_nb.estimated import accuracy as performance
from mlmon_nb.estimated.calibration import bucket_counts
from mlmon_nb.instrument import baseline_series, serving_of
from mlmon_nb.promql.histograms import confidence_buckets_record
from mlmon_nb.promql.names import estimated_accuracy, estimated_accuracy_margin, versioned
from mlmon_nb.promql.rule import groups_to_dicts
from mlmon_nb.rules import drift_groups
from mlmon_nb.runbooks import (
    Registry,
    execute,
    kernel_env,
    read_findings,
    server_defaults,
    validate_parameters,
)
from mlmon_nb.stack.demo.history import Series, SyntheticHistory
from mlmon_nb.stack.demo.model import MODEL_NAME

STEP = 60.0
HOURS = 5
SHIFT_MINUTES = 90  # the canary's last minutes on the poorly calibrated region
RATES = {"1": 540, "2": 60}  # predictions a minute: a 10% canary
LABELLED = 0.2  # the share of predictions whose label arrives
FAILING = {"1": 0.01, "2": 0.2}  # each version's share of failed requests after the shift


def _history(baseline, end: float) -> tuple[SyntheticHistory, float]:
    """Both versions' confidence histograms, predictions and labels (each prediction right
    with the curve's probability), ``ml_model_info`` and the baseline's series; and the time
    the canary's confidences moved."""
    rng = np.random.default_rng(11)
    ts = np.arange(end - HOURS * 3600, end + STEP / 2, STEP)
    shift = ts[-1] - SHIFT_MINUTES * 60
    out = SyntheticHistory(ts[0], ts[-1], STEP, ts)
    edges = [*m.CONFIDENCE_BUCKETS, float("inf")]
    for version, rate in RATES.items():
        base = {"job": "canary", "instance": f"replica-{version}", "model_name": MODEL_NAME,
                "model_version": version}
        counts, sums, correct, labelled, failed = [], [], [], [], []
        for t in ts:
            moved = version == "2" and t > shift
            conf = rng.uniform(0.6, 0.8, rate) if moved else rng.uniform(0.9, 1.0, rate)
            right = rng.random(rate) < conf - 0.3 * ((conf > 0.6) & (conf <= 0.8))
            seen = rng.random(rate) < LABELLED
            counts.append(bucket_counts(conf))
            sums.append(conf.sum())
            correct.append(int((right & seen).sum()))
            labelled.append(int(seen.sum()))
            failed.append(rng.binomial(rate, FAILING[version] if moved else FAILING["1"]))
        cumulative = np.cumsum(np.cumsum(np.array(counts), axis=1), axis=0)
        name = m.CONFIDENCE.name
        for i, le in enumerate(edges):
            out.series.append(Series(name, "histogram", f"{name}_bucket",
                                     {**base, "le": m.le_label(le)}, cumulative[:, i]))
        out.series += [
            Series(name, "histogram", f"{name}_sum", base, np.cumsum(sums)),
            Series(name, "histogram", f"{name}_count", base, cumulative[:, -1]),
            Series(m.PREDICTIONS.name, "counter", m.PREDICTIONS.sample,
                   {**base, "predicted_class": "positive"}, cumulative[:, -1]),
            Series(m.GROUND_TRUTH.name, "counter", m.GROUND_TRUTH.sample,
                   {**base, "segment": "web", "outcome": "correct"}, np.cumsum(correct)),
            Series(m.GROUND_TRUTH.name, "counter", m.GROUND_TRUTH.sample,
                   {**base, "segment": "web", "outcome": "incorrect"},
                   np.cumsum(np.array(labelled) - np.array(correct))),
            Series(m.REQUESTS.name, "counter", m.REQUESTS.sample,
                   {**base, "endpoint": "/predict"}, cumulative[:, -1]),
            Series(m.ERRORS.name, "counter", m.ERRORS.sample,
                   {**base, "endpoint": "/predict", "error_type": "timeout"}, np.cumsum(failed)),
            Series(m.MODEL_INFO.name, "gauge", m.MODEL_INFO.sample,
                   {**base, "baseline_id": baseline.baseline_id}, np.ones(ts.size))]
    for spec, values, value in baseline_series(serving_of(baseline)):
        out.series.append(Series(spec.name, "gauge", spec.name,
                                 {"job": "canary", "instance": "replica-1",
                                  **dict(zip(spec.labels, values)), "model_name": MODEL_NAME},
                                 np.full(ts.size, value)))
    # one family's series together (OpenMetrics wants each family once)
    out.series.sort(key=lambda s: s.family)
    return out, float(shift)


@pytest.fixture(scope="module")
def canary(free_port_config, prometheus_over, tmp_path_factory):
    """(configuration, baseline, Prometheus client, the time the canary moved, the end)."""
    baseline = overconfident_baseline()
    config = free_port_config(tmp_path_factory.mktemp("canary-state"))
    baseline.save(config.baseline_path(MODEL_NAME))
    end = float(np.floor(time.time() / STEP) * STEP)
    history, shift = _history(baseline, end)
    with prometheus_over(config, history) as (config, prom):
        yield config, baseline, prom, shift, end


def _by_version(prom, expr: str, at: float) -> dict[str, float]:
    frame = prom.query(expr, time=at)
    return dict(zip(frame["model_version"].astype(str), frame["value"].astype(float)))


def test_each_versions_rule_equals_its_python_rerun_and_the_pure_estimate(canary):
    config, baseline, prom, shift, end = canary
    at = end - 120
    generated = [r for g in groups_to_dicts(drift_groups(config)) for r in g["rules"]]
    rules = {r["record"]: r["expr"] for r in generated}
    # the inliner pushes the `le="+Inf"` of the total into every raw selector, ml_model_info's
    # too: the versions' buckets are inlined without the restriction to models running several
    # versions, which this model (two versions) passes anyway (the promtool tests check it)
    buckets = versioned(confidence_buckets_record("30m"))
    only = " and on (model_name) ("
    assert only in rules[buckets]
    generated = [{**r, "expr": r["expr"].split(only)[0]} if r.get("record") == buckets else r
                 for r in generated]
    estimate = _by_version(prom, inline(rules[versioned(estimated_accuracy("30m"))], generated),
                           at)
    margin = _by_version(prom, inline(rules[versioned(estimated_accuracy_margin("30m"))],
                                      generated), at)
    assert set(estimate) == set(margin) == set(RATES)
    cal = baseline.calibration
    for version in RATES:
        rerun = performance.estimated_accuracy(prom, baseline, window="30m", time=at,
                                               model_version=version)
        counts = performance.window_confidence_counts(prom, MODEL_NAME, window="30m", time=at,
                                                      model_version=version)
        total = performance.window_confidence_sum(prom, MODEL_NAME, window="30m", time=at,
                                                  model_version=version)
        pure = cal.estimate(counts, total)
        assert counts.sum() == pytest.approx(30 * RATES[version], rel=0.05)
        assert estimate[version] == pytest.approx(rerun.accuracy, rel=1e-9, abs=1e-12), version
        assert margin[version] == pytest.approx(rerun.margin, rel=1e-9), version
        assert (rerun.accuracy, rerun.margin, rerun.n) == (pure.accuracy, pure.margin, pure.n)
    # the canary's whole band is under the floor; the model's, over all its predictions, and
    # the stable version's are well above it
    limit = config.models[0].alerts.accuracy_min
    model = performance.estimated_accuracy(prom, baseline, window="30m", time=at)
    assert estimate["2"] + margin["2"] < limit - 0.1
    assert estimate["1"] - margin["1"] > limit + 0.1 and model.lower > limit + 0.1


def test_the_runbook_judges_the_version_the_alert_named(canary, tmp_path):
    config, baseline, prom, shift, end = canary
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    rb = Registry().get("EstimatedAccuracyDrop")
    raw = {"model_name": MODEL_NAME, "alertname": "EstimatedAccuracyDrop",
           "severity": "warning", "model_version": "2", "starts_at": iso(shift + 1200),
           "end": iso(end - 120)}
    params = server_defaults(rb, config, validate_parameters(rb, raw))
    params["baseline_path"] = str(config.baseline_path(MODEL_NAME))
    outcome = execute(rb, params, tmp_path / "run", env=kernel_env(config))
    assert outcome.status == "done" and outcome.summary["status"] == "firing", outcome.summary
    found = {f.name: f for f in read_findings(nbformat.read(tmp_path / "run" / "output.ipynb",
                                                            as_version=4))}
    numbers = outcome.summary["numbers"]
    limit = config.models[0].alerts.accuracy_min
    # the evidence is the band the rule records for the version, its upper edge under the floor
    verdict = outcome.summary["verdict"]
    assert "model_name_model_version:ml_estimated_accuracy_margin:" in verdict, verdict
    assert numbers["evidence_bound"] == pytest.approx(
        numbers["current_value"] + numbers["evidence_margin"])
    assert numbers["evidence_bound"] < limit and "does not explain" in verdict, verdict
    # the version's estimate and its own labels, both well under the floor the model is above
    assert numbers["estimated accuracy (incident)"] < limit - 0.1
    assert numbers["realized accuracy (incident)"] < limit - 0.1
    versus = found["Estimated against realized accuracy"]
    assert "confirm the drop" in versus.message and all(s.n for s in versus.stats)
    # the breakdown names the version the drop is on, with the predictions behind each value
    split = found["What changed, by label"]
    assert split.interesting and split.message.startswith("2 (model_version) moved most")
    assert {r["value"] for r in split.rows} == set(RATES)
    assert all("predictions" in r["sample"] for r in split.rows)


def test_the_error_rate_runbook_judges_the_version_the_alert_named(canary, tmp_path):
    """The canary fails 20% of its requests, the model ~3% (under the 5% threshold): given the
    version the runbook judges the version's own requests and fires naming it; without it, the
    same condition reads the model's diluted ratio and does not hold."""
    config, baseline, prom, shift, end = canary
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    rb = Registry().get("HighErrorRate")
    raw = {"model_name": MODEL_NAME, "alertname": "HighErrorRate", "severity": "critical",
           "model_version": "2", "starts_at": iso(shift + 600), "end": iso(end - 120)}
    params = server_defaults(rb, config, validate_parameters(rb, raw))
    outcome = execute(rb, params, tmp_path / "run", env=kernel_env(config))
    summary = outcome.summary
    assert outcome.status == "done" and summary["status"] == "firing", summary
    assert summary["numbers"]["current_value"] == pytest.approx(FAILING["2"], abs=0.08)
    assert summary["verdict"].startswith("The 5m error ratio of version 2 is "), summary
    # the evidence is the version's own requests (60 a minute over 5m)
    assert summary["numbers"]["evidence_n"] == pytest.approx(5 * RATES["2"], rel=0.05)
    # without the version: the model's ratio, diluted by the stable version's traffic
    model = iv.open_investigation("HighErrorRate", MODEL_NAME, config.prometheus_url,
                                  iso(shift + 600), iso(end - 120), severity="critical")
    condition = model.alert_condition(iv.error_ratio(MODEL_NAME, 0.05), "error ratio")
    value = prom.scalar(condition.promql, model.incident.end)
    mixed = sum(RATES[v] * FAILING[v] for v in RATES) / sum(RATES.values())
    assert value == pytest.approx(mixed, abs=0.01) and not condition.holds(value)
