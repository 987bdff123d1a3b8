"""A canary retrained on other data, from a real Prometheus: two hours of a model whose version
1.0.0 (80% of the traffic) serves the configured baseline and whose version 2.0.0 (20%) serves
its own, trained on values around 2 (other quantile edges), while both receive values around 0.
Each replica exports the baseline it serves, labelled with its version, as a service does.

Judged on its own traffic against its own baseline, version 2.0.0 drifted and version 1.0.0 did
not, on Prometheus and on VictoriaMetrics alike, and the model as a whole is not judged: the
DataDriftDetected runbook given the version the alert named reads the same KS the rule
does, and says that the version serves another baseline than the configured file.
"""

from __future__ import annotations

import time
from dataclasses import replace

import nbformat
import numpy as np
import pandas as pd
import pytest
from launcher_support import write_config
from victoria_support import running_victoriametrics

from mlmon_nb import Prometheus
from mlmon_nb import investigate as iv
from mlmon_nb import metrics as m
from mlmon_nb.baseline import Baseline, bin_fractions
from mlmon_nb.drift.expressions import VERSION_SCOPE, ks_rule_expr
from mlmon_nb.drift.stats import binned_ks
from mlmon_nb.instrument import baseline_series, serving_of
from mlmon_nb.promql import matcher
from mlmon_nb.runbooks import (
    Registry,
    execute,
    kernel_env,
    read_findings,
    server_defaults,
    validate_parameters,
)
from mlmon_nb.stack.demo.history import Series, SyntheticHistory, openmetrics_chunks
from mlmon_nb.stack.demo.model import MODEL_NAME

STEP = 60.0
HOURS = 2
RATES = {"1.0.0": 80, "2.0.0": 20}  # values a minute
TRAINED_ON = {"1.0.0": 0.0, "2.0.0": 2.0}  # the centre of each version's training values
UNVERSIONED = "plain_model"  # a model whose service gives no version


def _baselines() -> dict[str, Baseline]:
    return {v: Baseline.from_frame(pd.DataFrame(
        {"x": np.random.default_rng(i).normal(loc, 1.0, 5000)}), MODEL_NAME)
        for i, (v, loc) in enumerate(TRAINED_ON.items())}


def _history(baselines: dict[str, Baseline], end: float
             ) -> tuple[SyntheticHistory, dict[str, np.ndarray]]:
    """Each version's feature buckets at its own baseline's edges, its requests, its
    ``ml_model_info`` and its baseline's series; and the values of each version's last hour."""
    rng = np.random.default_rng(3)
    ts = np.arange(end - HOURS * 3600, end + STEP / 2, STEP)
    out = SyntheticHistory(ts[0], ts[-1], STEP, ts)
    last_hour = {}
    for version, rate in RATES.items():
        baseline = baselines[version]
        base = {"job": "retrained", "instance": f"replica-{version}", "model_name": MODEL_NAME,
                "model_version": version}
        values = rng.normal(0.0, 1.0, (ts.size, rate))
        last_hour[version] = values[-60:].ravel()
        edges = [*baseline.numeric["x"].edges, float("inf")]
        cumulative = np.cumsum((values[:, :, None] <= np.array(edges)).sum(axis=1), axis=0)
        name = m.FEATURE_VALUE.name
        for i, le in enumerate(edges):
            out.series.append(Series(name, "histogram", f"{name}_bucket",
                                     {**base, "feature": "x", "le": m.le_label(le)},
                                     cumulative[:, i]))
        out.series += [
            Series(name, "histogram", f"{name}_sum", {**base, "feature": "x"},
                   np.cumsum(values.sum(axis=1))),
            Series(name, "histogram", f"{name}_count", {**base, "feature": "x"},
                   cumulative[:, -1]),
            Series(m.REQUESTS.name, "counter", m.REQUESTS.sample,
                   {**base, "endpoint": "/predict"}, cumulative[:, -1]),
            Series(m.MODEL_INFO.name, "gauge", m.MODEL_INFO.sample,
                   {**base, "baseline_id": baseline.baseline_id}, np.ones(ts.size))]
        for spec, labels, value in baseline_series(serving_of(baseline), version):
            out.series.append(Series(spec.name, "gauge", spec.name,
                                     {**base, **dict(zip(spec.labels, labels))},
                                     np.full(ts.size, value)))
    # another model, its service without a version, serving a baseline other than the file's
    # on one replica and the file's on another: replicas of one version in conflict
    for instance, baseline_id in (("plain", "rebuilt"), ("plain-2", baselines["1.0.0"].baseline_id)):
        out.series.append(Series(m.MODEL_INFO.name, "gauge", m.MODEL_INFO.sample,
                                 {"job": "retrained", "instance": instance,
                                  "model_name": UNVERSIONED, "baseline_id": baseline_id},
                                 np.ones(ts.size)))
    out.series.sort(key=lambda s: s.family)  # one family's series together, as OpenMetrics wants
    return out, last_hour


def _ks(values: np.ndarray, baseline: Baseline) -> float:
    """The binned KS of ``values`` against ``baseline``'s own edges and shares."""
    spec = baseline.numeric["x"]
    return binned_ks(spec.fractions, bin_fractions(values, spec.edges))


@pytest.fixture(scope="module")
def retrained(free_port_config, prometheus_over, tmp_path_factory):
    """(configuration, each version's baseline, Prometheus client, the end, each version's KS
    over its last hour against its own baseline)."""
    baselines = _baselines()
    config = free_port_config(tmp_path_factory.mktemp("retrained-state"))
    baselines["1.0.0"].save(config.baseline_path(MODEL_NAME))  # the configured one
    end = float(np.floor(time.time() / STEP) * STEP)
    history, last_hour = _history(baselines, end)
    with prometheus_over(config, history) as (config, prom):
        yield (config, baselines, prom, end,
               {v: _ks(values, baselines[v]) for v, values in last_hour.items()})


def _investigation(config, end: float, version: str, model_name: str = MODEL_NAME):
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))
    return iv.open_investigation("DataDriftDetected", model_name, config.prometheus_url,
                                 "", iso, "2h", "", str(config.baseline_path(MODEL_NAME)),
                                 severity="critical", feature="x", model_version=version)


def test_each_versions_ks_is_against_the_baseline_it_serves(retrained):
    config, baselines, prom, end, ks = retrained
    assert ks["2.0.0"] > 0.5 > 0.1 > ks["1.0.0"]
    inv = _investigation(config, end, "2.0.0")
    for version in RATES:
        signal = inv.ks_signal("x", 0.25, model_version=version)
        value = prom.scalar(signal.query("1h"), end)
        assert value == pytest.approx(ks[version], abs=1e-9), version


def test_victoriametrics_reads_the_same_ks_for_each_version_and_none_for_the_model(
        retrained, tmp_path):
    # the same history in VictoriaMetrics (what vmalert evaluates the rules on): each version's
    # KS against its own baseline, and no model-wide KS while the versions run two baselines
    config, baselines, prom, end, ks = retrained
    history, _ = _history(baselines, end)
    with running_victoriametrics(openmetrics_chunks(history), tmp_path, end) as url, \
            Prometheus(url) as vm:
        for version in RATES:
            matchers = (matcher("model_name", MODEL_NAME), matcher("feature", "x"),
                        matcher("model_version", version))
            query = ks_rule_expr("1h", *matchers, recorded=False, scope=VERSION_SCOPE)
            assert vm.scalar(query, end) == pytest.approx(ks[version], abs=1e-9), version
        model = ks_rule_expr("1h", matcher("model_name", MODEL_NAME), recorded=False)
        assert vm.query(model, end).empty and prom.query(model, end).empty


def test_the_investigation_says_a_version_serves_another_baseline(retrained):
    config, baselines, prom, end, ks = retrained
    inv = _investigation(config, end, "2.0.0")
    assert inv.load_baseline().baseline_id == baselines["1.0.0"].baseline_id
    said = [f for f in inv.findings if f.name == "Training baseline"]
    assert len(said) == 1 and said[0].interesting
    message = said[0].message
    assert f"version 2.0.0 serves {baselines['2.0.0'].baseline_id}" in message, message
    assert "1.0.0 serves" not in message and "-p baseline_path" in message


def test_a_service_without_a_version_is_named_as_such(retrained, tmp_path, monkeypatch):
    config, baselines, prom, end, ks = retrained
    both = replace(config, models=(*config.models, replace(config.models[0], name=UNVERSIONED)))
    monkeypatch.setenv("MLMON_CONFIG", str(write_config(both, tmp_path / "mlmon.yaml")))
    inv = _investigation(config, end, "", model_name=UNVERSIONED)
    inv.load_baseline()
    (said,) = [f for f in inv.findings if f.name == "Training baseline"]
    assert said.message.startswith("version (none) serves rebuilt, not the configured"), \
        said.message


def test_the_baseline_conflict_runbook_names_each_replicas_baseline(retrained, tmp_path):
    # plain_model's two replicas (one version, none given) serve two baselines: the runbook
    # finds the conflict still there and says which replica serves which, and which is the
    # configured file's
    config, baselines, prom, end, ks = retrained
    both = replace(config, models=(*config.models, replace(config.models[0], name=UNVERSIONED)))
    config = replace(both, path=write_config(both, tmp_path / "mlmon.yaml"))
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    rb = Registry().get("BaselineConflict")
    raw = {"model_name": UNVERSIONED, "alertname": "BaselineConflict", "severity": "warning",
           "starts_at": iso(end - 1800), "end": iso(end)}
    params = server_defaults(rb, config, validate_parameters(rb, raw))
    params["baseline_path"] = str(config.baseline_path(MODEL_NAME))
    outcome = execute(rb, params, tmp_path / "run", env=kernel_env(config))
    assert outcome.status == "done", outcome.error
    assert outcome.summary["status"] == "firing", outcome.summary
    assert outcome.summary["numbers"]["current_value"] == 2
    assert "rebuilt on plain" in outcome.summary["verdict"], outcome.summary["verdict"]
    found = {f.name: f for f in read_findings(nbformat.read(tmp_path / "run" / "output.ipynb",
                                                            as_version=4))}
    served = found["Baselines served"]
    assert served.interesting and served.message.startswith(
        f"Version (none) serves 2 baselines: {baselines['1.0.0'].baseline_id} (the configured "
        f"file) on plain-2, rebuilt on plain."), served.message
    assert [(r["instance"], r["configured file's"]) for r in served.rows] == [
        ("plain", "no"), ("plain-2", "yes")]
    # the retrained canary's model is no conflict: each version serves one baseline
    inv = _investigation(config, end, "")
    assert inv.replicas_baselines().shape[0] == 2
    (calm,) = [f for f in inv.findings if f.name == "Baselines served"]
    assert not calm.interesting and calm.message.startswith("Each version's replicas serve one")


def test_the_runbook_judges_the_version_against_its_own_baseline(retrained, tmp_path):
    config, baselines, prom, end, ks = retrained
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    rb = Registry().get("DataDriftDetected")
    raw = {"model_name": MODEL_NAME, "alertname": "DataDriftDetected", "severity": "critical",
           "model_version": "2.0.0", "feature": "x", "starts_at": iso(end - 1800),
           "end": iso(end)}
    params = server_defaults(rb, config, validate_parameters(rb, raw))
    params["baseline_path"] = str(config.baseline_path(MODEL_NAME))
    outcome = execute(rb, params, tmp_path / "run", env=kernel_env(config))
    assert outcome.status == "done", outcome.summary
    assert outcome.summary["status"] == "firing", outcome.summary
    found = {f.name: f for f in read_findings(nbformat.read(tmp_path / "run" / "output.ipynb",
                                                            as_version=4))}
    assert baselines["2.0.0"].baseline_id in found["Training baseline"].message
    assert outcome.summary["numbers"]["current_value"] == pytest.approx(ks["2.0.0"], abs=1e-6)
