"""The registry of drift tests: every test reachable by name, kinds honoured, the valid names and
their errors derived from the registry, ``missing`` as documented, the recording rules' shape."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmon_nb import drift
from mlmon_nb.baseline import Baseline
from mlmon_nb.config import DEFAULT_KS_THRESHOLDS, DEFAULT_PSI_THRESHOLDS, ModelConfig, Thresholds
from mlmon_nb.drift import methods
from mlmon_nb.errors import DriftError
from mlmon_nb.metrics import CONFIDENCE_BUCKETS
from mlmon_nb.prom import Prometheus

KINDS = ("numeric", "categorical")


@pytest.fixture(scope="module")
def base() -> Baseline:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(["a", "b"], size=3000),
                       "conf": rng.uniform(0.2, 1.0, size=3000)})
    return Baseline.from_frame(df, "m", categorical=["c"], confidence="conf", bins=8)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame({"x": np.r_[rng.normal(0.5, 1.0, size=800), [np.nan] * 200],
                         "c": rng.choice(["a", "b", "new"], size=1000)})


def test_every_test_is_reachable_by_name_on_exactly_its_kinds(base, frame):
    for name, method in drift.TESTS.items():
        assert drift.get_method(name) is method
        out = drift.compare(base, frame, tests=[name])
        rows = out[out["test"] == name]
        assert set(rows["kind"]) == set(method.kinds) & set(KINDS), name
        assert rows["statistic"].notna().all(), name
        assert rows["p_value"].notna().all() == method.has_p_value, name


def test_kinds_are_honoured_and_a_misplaced_test_names_the_valid_ones(base, frame):
    out = drift.compare(base, frame, tests=["ks", "chi2", "wasserstein"])
    assert set(out[out["kind"] == "numeric"]["test"]) == {"ks", "wasserstein", "missing"}
    assert set(out[out["kind"] == "categorical"]["test"]) == {"chi2", "missing"}
    with pytest.raises(DriftError, match=r"do not apply to categorical features; choose from "
                                         r"\['chi2', 'js', 'missing', 'psi'\]"):
        drift.compare(base, frame, tests={"categorical": ["wasserstein"]})


def test_unknown_names_list_the_registry_including_tests_registered_later(base, frame,
                                                                         monkeypatch):
    with pytest.raises(DriftError, match=r"unknown drift test\(s\) \['kss'\]; choose from "
                                         r"\['chi2', 'js', 'ks', 'missing', 'psi', 'wasserstein'\]"):
        drift.compare(base, frame, tests=["kss"])
    # a test registered by the user is requestable and listed, by compare and the binned path
    tv = drift.DriftMethod(
        "tv", (drift.FeatureKind.NUMERIC, drift.FeatureKind.CATEGORICAL), False,
        "total variation distance of the bins", Thresholds(0.05, 0.1, 0.2),
        lambda s: drift.Score(0.5 * float(np.abs(s.shares - s.reference).sum())),
        lambda ref, counts, totals, cum: 0.5 * np.abs(counts / totals[:, None] - ref).sum(axis=1))
    monkeypatch.setitem(methods._REGISTRY, "tv", tv)
    out = drift.compare(base, frame, tests=["tv"]).set_index(["feature", "test"])
    shares = np.bincount(np.searchsorted(base.numeric["x"].edges, frame["x"].dropna(),
                                         side="left"), minlength=8) / 800
    assert out.loc[("x", "tv"), "statistic"] == pytest.approx(
        0.5 * np.abs(shares - base.numeric["x"].fractions).sum())
    assert out.loc[("x", "tv"), "severity"] in ("info", "warning", "critical")
    with pytest.raises(DriftError, match="'tv'"):
        drift.compare(base, frame, tests=["nope"])
    assert drift.bins.binned_statistic("tv", [0.5, 0.5], [[30.0, 10.0]], [40.0]) == pytest.approx(0.25)
    with pytest.raises(DriftError, match="already registered"):
        drift.register(dataclasses.replace(tv, description="again"))


def test_missing_is_requestable_and_always_added(base, frame):
    alone = drift.compare(base, frame, tests=["missing"])
    assert list(alone["test"]) == ["missing", "missing"]
    x = alone.set_index("feature").loc["x"]
    assert x["statistic"] == pytest.approx(0.2) and x["severity"] == "critical"
    both = drift.compare(base, frame, tests=["ks", "missing"])
    assert list(both["test"]) == ["ks", "missing", "missing"]  # once per feature, not twice
    default = drift.compare(base, frame)
    assert default.groupby("feature")["test"].apply(list).to_dict() == {
        "c": ["chi2", "psi", "missing"], "x": ["ks", "psi", "missing"]}
    # it needs the raw rows: the binned path refuses it and says which tests it can compute
    with pytest.raises(DriftError, match=r"'missing' is not available.*\['ks', 'psi', 'js'\]"):
        drift.counts_drift({}, tests=["missing"])


def test_binned_path_dispatches_through_the_registry(base):
    edges = list(base.numeric["x"].edges)
    counts = drift.BinCounts("x", drift.FeatureKind.NUMERIC, tuple(map(str, edges)) + ("+Inf",),
                             base.numeric["x"].fractions, np.array([0.0]),
                             np.array([[10.0] * 8]), np.array([80.0]))
    conf = drift.BinCounts(drift.CONCEPT_FEATURE, drift.FeatureKind.CONCEPT,
                           tuple(map(str, CONFIDENCE_BUCKETS)) + ("+Inf",),
                           base.confidence_fractions, np.array([0.0]),
                           np.full((1, len(CONFIDENCE_BUCKETS) + 1), 5.0),
                           np.array([5.0 * (len(CONFIDENCE_BUCKETS) + 1)]))
    out = drift.counts_drift({"x": counts, "confidence": conf}, tests=["ks", "psi", "js"])
    assert set(out[out["feature"] == "x"]["test"]) == {"ks", "psi", "js"}
    assert set(out[out["feature"] == "confidence"]["test"]) == {"psi", "js"}  # no KS on concept
    assert out.set_index(["feature", "test"]).loc[("x", "psi"), "statistic"] == pytest.approx(
        drift.psi(base.numeric["x"].fractions, np.full(8, 1 / 8)))
    with pytest.raises(DriftError, match="'chi2' is not available"):
        drift.counts_drift({"x": counts}, tests=["chi2"])


def test_default_thresholds_have_one_definition():
    assert drift.TESTS["ks"].thresholds is DEFAULT_KS_THRESHOLDS is ModelConfig("m").ks
    assert drift.TESTS["psi"].thresholds is DEFAULT_PSI_THRESHOLDS is ModelConfig("m").psi
    strict = ModelConfig("m", ks=Thresholds(0.01, 0.02, 0.03))
    assert drift.thresholds_for(strict)["ks"] == Thresholds(0.01, 0.02, 0.03)
    assert drift.thresholds_for()["js"] == drift.TESTS["js"].thresholds


def test_recording_rules_are_written_once_for_every_model_and_feature():
    rules = drift.drift_recording_rules(windows=("1h", "1d"))
    assert all(set(r) == {"record", "expr", "labels"} and r["labels"] == {} for r in rules)
    records = [r["record"] for r in rules]
    assert len(records) == len(set(records))  # one rule each: no model, feature or edge in it
    for w in ("1h", "1d"):
        # the bucket counts first, then the counts n, the critical values, the statistics
        assert records.index(f"model_name_feature_le:ml_feature_value_bucket:increase{w}") < \
            records.index(f"model_name_feature:ml_feature_drift_n:{w}") < \
            records.index(f"model_name_feature:ml_feature_drift_ks:{w}")
    assert not any('model_name="' in r["expr"] or 'feature="' in r["expr"] for r in rules)
    # two alphas: one critical value per alpha, each for its models only
    two = drift.drift_recording_rules(alphas=((0.01, ()), (0.05, ('model_name=~"b"',))))
    (ks,) = [r["expr"] for r in two if r["record"] == drift.expressions.KS_CRITICAL_RULE]
    assert 'model_name=~"b"' in ks and " or " in ks
    with pytest.raises(DriftError, match="windows like"):
        drift.drift_recording_rules("1h")
    with pytest.raises(DriftError, match="at least one alpha"):
        drift.drift_recording_rules(alphas=())


def test_prometheus_client_is_a_query_source():
    with Prometheus("http://127.0.0.1:9") as client:  # nothing is queried
        assert isinstance(client, drift.QuerySource)


PACKAGE = Path(drift.__file__).parent


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_package_modules_are_small_and_import_at_the_top(path):
    text = path.read_text()
    assert text.count("\n") <= 400, f"{path.name} has {text.count(chr(10))} lines"
    tree = ast.parse(text)
    hidden = [f.name for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.ClassDef))
              for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not hidden, f"{path.name} imports inside {hidden}"
    if path.name not in ("__init__.py", "prometheus.py"):
        assert "prom" not in {n.module for n in ast.walk(tree)
                              if isinstance(n, ast.ImportFrom) and n.level == 2}
