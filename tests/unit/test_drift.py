"""compare()'s contract (severities, correction, NaN, unseen categories, small samples) and the
registry of tests it dispatches through."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlmon_nb import drift
from mlmon_nb.baseline import Baseline
from mlmon_nb.baseline.sketch import KNOTS
from mlmon_nb.config import Thresholds
from mlmon_nb.errors import DriftError

# an exact reference with more distinct values than knots is linear between exact ranks: its CDF
# is within one knot's share of the full data's
KNOT_GAP = 1 / (KNOTS - 1)


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=4000), "y": rng.exponential(size=4000),
                         "c": rng.choice(["a", "b", "c"], size=4000, p=[.5, .3, .2])})


@pytest.fixture(scope="module")
def small_baseline(training) -> Baseline:
    return Baseline.from_frame(training, "m", categorical=["c"], bins=10)


def test_compare_finds_the_drifted_feature_and_not_the_others(small_baseline, training):
    rng = np.random.default_rng(1)
    cur = pd.DataFrame({"x": rng.normal(0.8, 1.0, size=3000), "y": rng.exponential(size=3000),
                        "c": rng.choice(["a", "b", "c"], size=3000, p=[.5, .3, .2])})
    out = drift.compare(small_baseline, cur)
    sev = out.set_index(["feature", "test"])["severity"]
    assert sev[("x", "ks")] == "critical" and sev[("x", "psi")] == "critical"
    assert sev[("y", "ks")] == "none" and sev[("c", "chi2")] == "none"
    assert set(out["test"]) == {"ks", "psi", "chi2", "missing"}
    assert (out["n_current"][out["feature"] == "x"] == 3000).all()
    x = out.set_index(["feature", "test"]).loc[("x", "ks")]
    # 4,000 training rows: exact ranks at the reference's knots, KS is scipy's on all of them
    want = stats.ks_2samp(training["x"], cur["x"])
    assert x["statistic"] == pytest.approx(want.statistic, abs=KNOT_GAP)
    assert x["n_reference"] == 4000 and x["reference_precision"] == "exact"
    assert x["p_value"] == pytest.approx(float(drift.ks_pvalue(x["statistic"], 4000, 3000)))
    assert x["p_value_corrected"] >= x["p_value"]


def test_compare_thresholds_from_config_change_severity(small_baseline):
    rng = np.random.default_rng(2)
    cur = pd.DataFrame({"x": rng.normal(0.3, 1.0, size=3000)})
    strict = drift.compare(small_baseline, cur, features=["x"], tests=["ks"],
                           thresholds={"ks": Thresholds(0.01, 0.02, 0.03)})
    loose = drift.compare(small_baseline, cur, features=["x"], tests=["ks"],
                          thresholds={"ks": Thresholds(0.5, 0.6, 0.7)})
    assert strict.iloc[0]["severity"] == "critical" and loose.iloc[0]["severity"] == "none"


def test_compare_nan_unseen_small_and_absent_columns(small_baseline):
    cur = pd.DataFrame({"x": [np.nan, np.inf, 1.0, 2.0, 0.5] * 4,
                        "c": ["a", "zzz-new", None, "b", "zzz-new"] * 4})
    out = drift.compare(small_baseline, cur, tests=["ks", "psi", "chi2", "js", "wasserstein"])
    by = out.set_index(["feature", "test"])
    assert by.loc[("x", "ks"), "n_current"] == 12
    assert by.loc[("x", "missing"), "missing_share"] == pytest.approx(0.4)
    assert by.loc[("x", "missing"), "severity"] == "critical"  # 40 % missing against 0 %
    assert bool(by.loc[("x", "ks"), "insufficient"]) and by.loc[("x", "ks"), "severity"] == "none"
    assert by.loc[("c", "chi2"), "unseen_share"] == pytest.approx(0.5)
    assert bool(by.loc[("y", "ks"), "insufficient"]) and "not in the data" in by.loc[("y", "ks"), "note"]
    assert np.isnan(by.loc[("y", "ks"), "statistic"])
    empty = drift.compare(small_baseline, cur.iloc[:0])
    assert empty["insufficient"].all() and (empty["severity"] == "none").all()


def test_compare_rejects_unknown_tests_and_features(small_baseline):
    frame = pd.DataFrame({"x": [1.0]})
    with pytest.raises(DriftError, match="unknown drift test"):
        drift.compare(small_baseline, frame, tests=["kss"])
    with pytest.raises(DriftError, match="do not apply to categorical"):
        drift.compare(small_baseline, frame, tests={"categorical": ["ks"]})
    with pytest.raises(DriftError, match="not in baseline"):
        drift.compare(small_baseline, frame, features=["nope"])


def test_registry_lists_the_valid_tests():
    assert set(drift.TESTS) == {"ks", "psi", "wasserstein", "js", "chi2", "missing"}
    assert drift.BINNED_TESTS == ("ks", "psi", "js")
    for kind, names in drift.DEFAULT_TESTS.items():
        assert all(kind in drift.TESTS[n].kinds for n in names)
    assert set(drift.DEFAULT_THRESHOLDS) == set(drift.TESTS)


def test_compare_reads_integer_nullable_and_text_columns(small_baseline, training):
    """Non-float columns are read as numbers (text that is no number counts as missing)."""
    rng = np.random.default_rng(6)
    x = np.round(rng.normal(0.2, 1.0, size=1000) * 3).astype(np.int64)  # heavy ties
    ints = pd.array(x, dtype="Int64")
    ints[::10] = pd.NA
    frame = pd.DataFrame({"x": ints,
                          "y": pd.Series([str(v) for v in rng.exponential(size=999)] + ["n/a"],
                                         dtype=object)})
    out = drift.compare(small_baseline, frame, features=["x", "y"], tests=["ks"])
    by = out.set_index(["feature", "test"])
    xs = x[np.arange(1000) % 10 != 0].astype(float)
    assert by.loc[("x", "ks"), "n_current"] == 900
    assert by.loc[("x", "missing"), "missing_share"] == pytest.approx(0.1)
    assert by.loc[("x", "ks"), "statistic"] == pytest.approx(
        stats.ks_2samp(training["x"], xs).statistic, abs=KNOT_GAP)
    assert by.loc[("y", "ks"), "n_current"] == 999
    ys = frame["y"].iloc[:999].astype(float)
    y = by.loc[("y", "ks")]
    want = stats.ks_2samp(training["y"], ys)
    assert y["statistic"] == pytest.approx(want.statistic, abs=KNOT_GAP)
    assert y["p_value"] == pytest.approx(float(drift.ks_pvalue(y["statistic"], 4000, 999)))
    # the same p-value as scipy's on the full data, up to the knots' interpolation of D
    assert y["p_value"] == pytest.approx(
        want.pvalue, abs=0.01)


def test_concept_drift_of_a_baseline_on_the_earlier_buckets_reads_its_own_edges():
    # a baseline saved with the 0.1-wide confidence buckets, a live histogram with the finer
    # edges near 1: the window is binned at the baseline's edges, 0.9–1.0 counted once
    from pathlib import Path

    from mlmon_nb.estimated.calibration import EDGES, bucket_counts
    from mlmon_nb.metrics import CONCEPT_FEATURE, LEGACY_CONFIDENCE_BUCKETS, le_label
    base = Baseline.load(Path(__file__).resolve().parents[1] / "golden"
                         / "baseline_legacy_confidence.json")
    live = np.random.default_rng(3).uniform(0.6, 1.0, 2000)
    frame = pd.DataFrame({"le": [le_label(e) for e in EDGES],
                          "value": np.cumsum(bucket_counts(live)).astype(float)})
    counts = drift.bins.bin_counts(base, confidence=frame)[CONCEPT_FEATURE]
    assert counts.labels == tuple(le_label(e) for e in LEGACY_CONFIDENCE_BUCKETS) + ("+Inf",)
    assert counts.counts[0].tolist() == bucket_counts(live, LEGACY_CONFIDENCE_BUCKETS).tolist()
    assert counts.counts[0, 9] == np.sum(live > 0.9) and counts.totals[0] == live.size
    assert counts.reference.tolist() == base.confidence_fractions.tolist()
