"""The multivariate check's pure parts: the joint structure a baseline learns, the per-prediction
reconstruction error the service computes, the window statistics, and old baselines."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlmon_nb import drift
from mlmon_nb.baseline import Baseline
from mlmon_nb.baseline.joint import MIN_ROWS, RowSample
from mlmon_nb.errors import BaselineError, DriftError
from mlmon_nb.instrument import (
    RESIDUAL_STRIDE,
    ModelMonitor,
    content_id,
    load_baseline,
    reconstruction_error,
    residuals,
    standardize,
)


def correlated(n: int, seed: int = 0, rho: float = 0.9) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(10, 2, n)
    b = rho * (a - 10) / 2 + np.sqrt(1 - rho ** 2) * rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": b * 3 + 1, "c": rng.exponential(1, n),
                         "channel": rng.choice(["web", "api"], n)})


@pytest.fixture(scope="module")
def base() -> Baseline:
    return Baseline.from_frame(correlated(5000), "m", categorical=["channel"])


def test_the_joint_structure_keeps_the_variance_share_and_the_reference_buckets(base):
    joint = base.multivariate
    assert joint.features == ("a", "b", "c")  # numeric only: categoricals are left out
    k = len(joint.components)
    assert 1 <= k < 3 and joint.explained >= joint.variance == 0.65
    assert np.allclose(joint.components @ joint.components.T, np.eye(k), atol=1e-9)
    assert joint.fractions.sum() == pytest.approx(1.0) and joint.n == 5000
    assert joint.correlation[0, 1] == pytest.approx(0.9, abs=0.02)
    # the reference buckets are quantiles of the error held out from the fit: new rows from the
    # training distribution fall in them as the reference says, the fitted rows a little lower
    fresh = joint.errors(correlated(20000, seed=8)[list(joint.features)].to_numpy())
    assert np.mean(fresh <= joint.edges[9]) == pytest.approx(joint.cumulative[9], abs=0.015)
    assert np.mean(fresh) == pytest.approx(joint.reference_mean, rel=0.02)
    fitted = joint.errors(correlated(5000)[list(joint.features)].to_numpy())
    assert np.mean(fitted) < joint.reference_mean


def test_the_service_error_is_the_distance_from_the_components_span(base):
    joint = base.multivariate.serving()
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.normal(size=3) * 3
        z = np.array(standardize(list(x), joint.mean, joint.scale))
        v = np.array(joint.components)
        want = np.linalg.norm(z - v.T @ (v @ z))
        assert reconstruction_error(list(z), joint.components) == pytest.approx(want, rel=1e-9)
        assert sum(residuals(list(z), joint.components)) == pytest.approx(want ** 2, rel=1e-9)
    # a missing value is the baseline's mean
    assert standardize([None, 1.0, 2.0], joint.mean, joint.scale)[0] == 0.0


def test_the_row_sample_does_not_depend_on_batches():
    rows = np.random.default_rng(1).normal(size=(3000, 2))
    rows[5, 1] = np.nan
    one, parts = RowSample(2, 500), [RowSample(2, 500) for _ in range(3)]
    one.update(rows)
    for i, part in enumerate(parts):
        part.update(rows[i::3])
    parts[2].merge(parts[0])
    parts[2].merge(parts[1])
    assert np.array_equal(one.rows, parts[2].rows, equal_nan=True) and len(one.rows) == 500


def test_too_few_rows_or_features_give_no_joint_structure_and_bad_variance_is_refused():
    frame = correlated(MIN_ROWS - 1)
    assert Baseline.from_frame(frame, "m", categorical=["channel"]).multivariate is None
    assert Baseline.from_frame(correlated(500)[["a", "channel"]], "m",
                               categorical=["channel"]).multivariate is None
    assert Baseline.from_frame(correlated(500), "m", categorical=["channel"],
                               variance=None).multivariate is None
    with pytest.raises(BaselineError, match="between 0 and 1.*NannyML"):
        Baseline.from_frame(correlated(500), "m", categorical=["channel"], variance=1.5)


def test_an_older_baseline_loads_without_the_check_and_keeps_its_id(base, tmp_path):
    doc = base.to_dict()
    del doc["multivariate"]
    old = content_id(doc)  # the id it had before the check existed
    path = tmp_path / "old.json"
    path.write_text(json.dumps({**doc, "baseline_id": old}))
    loaded = Baseline.load(path)
    assert loaded.multivariate is None and loaded.baseline_id == old != base.baseline_id
    assert load_baseline(path).joint is None
    reg = CollectorRegistry()
    ModelMonitor("m", baseline=load_baseline(path), registry=reg).record_prediction(
        "x", 0.9, features={"a": 1.0, "b": 2.0, "c": 0.5})
    assert "ml_reconstruction_error_bucket" not in _text(reg)


def test_an_edited_joint_structure_is_refused(base, tmp_path):
    doc = base.to_dict()
    doc["multivariate"]["components"][0][0] += 0.1
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BaselineError, match="does not match its baseline_id"):
        Baseline.load(path)
    with pytest.raises(BaselineError, match="does not match its baseline_id"):
        load_baseline(path)
    doc["multivariate"]["scale"][0] = 0.0
    path.write_text(json.dumps(doc))
    with pytest.raises(BaselineError, match="inconsistent shapes.*rebuild"):
        Baseline.load(path)


def _text(reg: CollectorRegistry) -> str:
    return generate_latest(reg).decode()


def test_the_monitor_observes_the_error_and_samples_the_residuals(base, tmp_path):
    path = base.save(tmp_path / "b.json")
    reg = CollectorRegistry()
    mon = ModelMonitor("m", model_version="1", baseline=load_baseline(path), registry=reg)
    frame = correlated(64, seed=9)
    for row in frame.to_dict("records"):
        mon.record_prediction("x", 0.9, features=row)
    mon.record_prediction("x", 0.9, features={"a": None, "b": "bad", "channel": "web"})
    fams = {f.name: f for f in text_string_to_metric_families(_text(reg))}
    joint = base.multivariate
    want = joint.errors(np.vstack([frame[list(joint.features)].to_numpy(),
                                   [[np.nan, np.nan, np.nan]]]))
    hist = {s.labels["le"]: s.value for s in fams["ml_reconstruction_error"].samples
            if s.name.endswith("_bucket")}
    assert hist["+Inf"] == 65
    for edge, le in zip(joint.edges, list(hist)[:-1]):
        assert hist[le] == np.sum(want <= edge)
    total = [s.value for s in fams["ml_reconstruction_error"].samples if s.name.endswith("_sum")]
    assert total[0] == pytest.approx(want.sum(), rel=1e-9)
    sampled = [s.value for s in fams["ml_reconstruction_residual_samples"].samples
               if s.name.endswith("_total")]
    assert sampled == [len(range(0, 65, RESIDUAL_STRIDE))]
    ratio = [s for s in fams["ml_reconstruction_error_baseline_ratio"].samples]
    assert len(ratio) == joint.edges.size + 1 and ratio[-1].value == 1.0


def test_window_statistics_and_their_refusals():
    result = drift.reconstruction_drift([10, 50, 90], 100, [0.1, 0.5, 0.9], 20000, total=30.0,
                                        reference_mean=0.25)
    assert result.ks == pytest.approx(0.0) and result.mean == pytest.approx(0.3)
    assert not result.significant and result.critical == pytest.approx(
        drift.ks_critical(100, 20000))
    moved = drift.reconstruction_drift([0, 10, 40], 100, [0.1, 0.5, 0.9], 20000)
    assert moved.ks == pytest.approx(0.5) and moved.drifted(0.15, 30)
    assert not moved.drifted(0.15, 101)  # too few values
    with pytest.raises(DriftError, match="another baseline"):
        drift.reconstruction_drift([1, 2], 3, [0.1, 0.5, 0.9], 100)


def test_the_pair_whose_correlation_broke_is_named_with_its_new_correlation(base):
    joint = base.multivariate
    frame = correlated(20000, seed=4)
    frame["b"] = np.random.default_rng(5).permutation(frame["b"].to_numpy())
    z = np.nan_to_num((frame[list(joint.features)].to_numpy() - joint.mean) / joint.scale)
    r = z - (z @ joint.components.T) @ joint.components
    excess = drift.multivariate.residual_shares((r ** 2).sum(axis=0), len(r), joint.residual)
    best = drift.multivariate.pair_changes(joint.components, joint.correlation, excess)[0]
    assert (best["a"], best["b"]) == (0, 1) and best["fit"] > 0.9
    assert best["baseline"] == pytest.approx(0.9, abs=0.02) and abs(best["implied"]) < 0.1


def test_a_finite_value_whose_square_overflows_is_an_outlier_not_an_error(base, tmp_path, caplog):
    # 2.6e155 is a finite float; its standardized square is not, and the error must still count
    reg = CollectorRegistry()
    mon = ModelMonitor("m", baseline=load_baseline(base.save(tmp_path / "b.json")), registry=reg)
    feature = base.multivariate.features[0]
    mon.record_prediction("x", 0.9, features={feature: 2.6e155})
    fams = {f.name: f for f in text_string_to_metric_families(_text(reg))}
    hist = {s.labels["le"]: s.value for s in fams["ml_reconstruction_error"].samples
            if s.name.endswith("_bucket")}
    assert hist["+Inf"] == 1 and list(hist.values())[-2] == 0  # beyond the last edge
    assert not [r for r in caplog.records if "failed" in r.getMessage()]


@pytest.mark.parametrize("value", [1e308, -1e308, 1e200])
def test_a_value_whose_standardized_form_is_infinite_is_an_outlier_and_spoils_no_counter(
        tmp_path, value):
    # 1e308 divided by a scale under 1 is +inf: the error was inf − inf = NaN, read as 0 (the
    # most unusual row counted as the most usual), and the residual counters became +Inf or
    # NaN for good; every prediction is sampled for its residuals here
    small = Baseline.from_frame(correlated(5000).assign(c=lambda f: f["c"] * 0.01), "m",
                                categorical=["channel"])
    assert small.multivariate.scale[2] < 0.1
    reg = CollectorRegistry()
    mon = ModelMonitor("m", baseline=load_baseline(small.save(tmp_path / "b.json")),
                       registry=reg)
    for _ in range(RESIDUAL_STRIDE):
        mon.record_prediction("x", 0.9, features={"c": value, "a": -value})
    fams = {f.name: f for f in text_string_to_metric_families(_text(reg))}
    hist = {s.labels["le"]: s.value for s in fams["ml_reconstruction_error"].samples
            if s.name.endswith("_bucket")}
    assert hist["+Inf"] == RESIDUAL_STRIDE and list(hist.values())[-2] == 0  # beyond the edges
    residual = [s.value for s in fams["ml_feature_reconstruction_residual"].samples
                if s.name.endswith("_total")]
    assert residual and all(np.isfinite(residual)), residual
    assert max(residual) > 0

