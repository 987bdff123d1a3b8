"""The multivariate check on a user's own kinds of data, checked against numpy directly: mixed
categorical and numeric features, a feature constant in training, features of very different
scales, bad values in requests, two features and sixty, a correlation break among many, a new
segment, a pure marginal shift, and undrifted traffic that must not alarm."""

from __future__ import annotations

import decimal
import math

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from mlmon_nb import drift
from mlmon_nb.baseline import Baseline
from mlmon_nb.instrument import ModelMonitor, load_baseline

ALPHA, KS_WARNING, LEAST = 0.01, 0.15, 30  # the demo configuration's drift alpha and thresholds


def mixed(n: int, seed: int) -> pd.DataFrame:
    """Income (~1e5) and spend (~1e-3 of it) correlated 0.9, age, a constant, two categoricals."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(11, 0.3, n)
    spend = 1e-3 * (0.9 * (income - income.mean()) / income.std()
                    + math.sqrt(1 - 0.81) * rng.normal(size=n)) + 5e-3
    return pd.DataFrame({"income": income, "spend": spend, "age": rng.uniform(18, 90, n),
                         "version": np.full(n, 3.0), "channel": rng.choice(["web", "app"], n),
                         "tier": rng.choice(["a", "b", "c"], n)})


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return mixed(4000, seed=1)


@pytest.fixture(scope="module")
def baseline_file(training, tmp_path_factory):
    base = Baseline.from_frame(training, "m", categorical=["channel", "tier"])
    return base, base.save(tmp_path_factory.mktemp("mv") / "m.json")


def numpy_pca(frame: pd.DataFrame, variance: float = 0.65):
    """StandardScaler and PCA(n_components=variance) as scikit-learn does them, in numpy: the
    mean, the scale (a zero one as 1) and the kept components of an SVD."""
    x = frame.to_numpy(dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    _, s, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    ratio = np.cumsum(s ** 2) / np.sum(s ** 2)
    k = int(np.searchsorted(ratio, variance, side="right") + 1)
    return mean, scale, vt[:k]


def numpy_error(row: np.ndarray, mean, scale, components) -> float:
    """The distance of the standardized row (NaN as the mean) from its PCA reconstruction."""
    z = np.nan_to_num((row - mean) / scale)
    return float(np.linalg.norm(z - components.T @ (components @ z)))


class Observed:
    """One monitor over a baseline file; ``error(features)`` records a prediction and returns
    the reconstruction error it observed (the histogram's sum grew by it)."""

    def __init__(self, path, name: str = "m"):
        self.reg = CollectorRegistry()
        self.mon = ModelMonitor(name, model_version="1", baseline=load_baseline(path),
                                registry=self.reg)
        self.labels = {"model_name": name, "model_version": "1"}

    def value(self, sample: str, **labels) -> float:
        return self.reg.get_sample_value(sample, labels or self.labels) or 0.0

    def error(self, features) -> float:
        before = self.value("ml_reconstruction_error_sum")
        count = self.value("ml_reconstruction_error_count")
        self.mon.record_prediction("yes", 0.9, features=features)
        assert self.value("ml_reconstruction_error_count") == count + 1  # every prediction counts
        return self.value("ml_reconstruction_error_sum") - before

    def invalid(self, feature: str, reason: str) -> float:
        return self.value("ml_feature_invalid_total", model_name=self.labels["model_name"],
                          feature=feature, reason=reason)


def test_each_requests_error_is_what_numpy_computes_from_the_training_data(baseline_file,
                                                                           training):
    base, path = baseline_file
    joint = base.multivariate
    numeric = ["income", "spend", "age", "version"]
    assert joint.features == tuple(numeric)  # the categoricals are left out, the constant kept
    mean, scale, components = numpy_pca(training[numeric])
    # the stored standardization and span are the training data's (signs aside)
    assert np.allclose(joint.mean, mean, rtol=1e-9) and np.allclose(joint.scale, scale, rtol=1e-9)
    assert len(joint.components) == len(components)
    assert np.allclose(joint.components.T @ joint.components, components.T @ components,
                       atol=1e-8)
    observed = Observed(path)
    fresh = mixed(40, seed=7).to_dict("records")
    fresh[0]["version"] = 4.0  # the feature constant in training moves by one (raw) unit
    fresh[1]["income"] = 1e7  # far outside, on the scale of 1e5
    fresh[2]["spend"] = -1.0  # on the scale of 1e-3: a thousand standard deviations
    for features in fresh:
        row = np.array([features[f] for f in numeric], dtype=float)
        want = numpy_error(row, mean, scale, components)
        assert observed.error(features) == pytest.approx(want, rel=1e-7, abs=1e-9), features
    # a constant training feature that moves adds its raw difference (scale 1, as sklearn's)
    same = dict(fresh[3], version=3.0)
    assert observed.error(dict(same, version=4.0)) ** 2 == pytest.approx(
        observed.error(same) ** 2 + 1.0, rel=1e-7)


@pytest.mark.parametrize("bad,reason", [
    (float("nan"), "nan"), (None, "missing"), (math.inf, "inf"), (-math.inf, "inf"),
    ("12.5", "wrong_type"), (b"1", "wrong_type"), ([1.0], "wrong_type"), ({}, "wrong_type"),
    (1 + 2j, "wrong_type"), (decimal.Decimal("1.5"), "wrong_type"), (10 ** 400, "inf"),
    (pd.NA, "wrong_type"), (np.float64("nan"), "nan"), ("omitted", "missing"),
    (True, "wrong_type"), (False, "wrong_type"),
])
def test_a_bad_value_is_the_baselines_mean_and_is_counted_never_a_crash(baseline_file, training,
                                                                        bad, reason):
    base, path = baseline_file
    numeric = list(base.multivariate.features)
    mean, scale, components = numpy_pca(training[numeric])
    observed = Observed(path)
    features = {"income": 1.2e5, "spend": 4e-3, "age": 40.0, "version": 3.0, "channel": "web",
                "tier": "a"}
    if isinstance(bad, str) and bad == "omitted":
        del features["spend"]
    else:
        features["spend"] = bad
    row = np.array([features["income"], np.nan, 40.0, 3.0])
    assert observed.error(features) == pytest.approx(
        numpy_error(row, mean, scale, components), rel=1e-7)
    assert observed.invalid("spend", reason) == 1
    assert observed.invalid("__record__", "internal_error") == 0


def test_with_two_features_the_error_is_the_distance_from_their_diagonal(tmp_path):
    rng = np.random.default_rng(2)
    a = rng.normal(50, 10, 3000)
    frame = pd.DataFrame({"a": a, "b": 0.8 * (a - 50) / 10 + 0.6 * rng.normal(size=3000)})
    base = Baseline.from_frame(frame, "m")
    joint = base.multivariate
    assert len(joint.components) == 1  # one component of two: a line, the correlation's
    observed = Observed(base.save(tmp_path / "m.json"))
    for x, y in [(50.0, 0.0), (70.0, -2.0), (30.0, 2.0), (60.0, 1.0)]:
        za, zb = (x - joint.mean[0]) / joint.scale[0], (y - joint.mean[1]) / joint.scale[1]
        assert observed.error({"a": x, "b": y}) == pytest.approx(abs(za - zb) / math.sqrt(2),
                                                                 rel=1e-7, abs=1e-9)


def independent(n: int, d: int, seed: int, broken: bool = False) -> pd.DataFrame:
    """d standard normal features, f00 and f01 correlated 0.9 (``broken``: f01 from another row)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    x[:, 1] = 0.9 * x[:, 0] + math.sqrt(1 - 0.81) * x[:, 1]
    if broken:
        x[:, 1] = rng.permutation(x[:, 1])
    return pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(d)])


def window_check(joint, frame: pd.DataFrame):
    """The alert's statistics on a window of these rows (as the rules count them), their
    errors computed in numpy from the stored standardization and components."""
    z = (frame[list(joint.features)].to_numpy() - joint.mean) / joint.scale
    errors = np.linalg.norm(z - (z @ joint.components.T) @ joint.components, axis=1)
    cumulative = [np.sum(errors <= edge) for edge in joint.edges]
    return drift.reconstruction_drift(cumulative, errors.size, joint.cumulative, joint.n,
                                      total=float(errors.sum()), alpha=ALPHA,
                                      reference_mean=joint.reference_mean,
                                      reference_std=joint.reference_std)


@pytest.fixture(scope="module")
def sixty():
    return Baseline.from_frame(independent(5000, 60, seed=0), "m").multivariate


@pytest.mark.parametrize("d,rows", [(10, 2000), (40, 2000), (60, 5000)])
def test_undrifted_traffic_does_not_alarm_whatever_the_number_of_features(d, rows, sixty):
    # the reference errors are held out: components fitted on the rows they score reconstruct
    # those rows better than new ones, and with tens of features every undrifted window fired
    joint = sixty if d == 60 else Baseline.from_frame(independent(rows, d, seed=0),
                                                      "m").multivariate
    for seed in range(1, 6):
        window = window_check(joint, independent(3600, d, seed=seed))  # an hour at 1/s
        assert not window.drifted(KS_WARNING, LEAST), (d, rows, window)
        # neither statistic far from what chance gives (a window past one alone is chance's 1%)
        assert window.ks < 2 * window.critical and abs(window.mean - joint.reference_mean) < 2 * (
            window.mean_critical - joint.reference_mean), window


def test_a_correlation_break_between_two_of_sixty_features_is_found_and_named(sixty):
    joint = sixty
    broken = independent(3600, 60, seed=11, broken=True)
    assert window_check(joint, broken).drifted(KS_WARNING, LEAST)
    z = (broken[list(joint.features)].to_numpy() - joint.mean) / joint.scale
    r = z - (z @ joint.components.T) @ joint.components
    excess = drift.multivariate.residual_shares((r ** 2).sum(axis=0), len(r), joint.residual)
    assert set(np.argsort(excess)[-2:]) == {0, 1}  # the two features add most
    best = drift.multivariate.pair_changes(joint.components, joint.correlation, excess)[0]
    assert (best["a"], best["b"]) == (0, 1) and abs(best["implied"]) < 0.2


def factors(n: int, rng: np.random.Generator, shift: float = 0.0) -> np.ndarray:
    """Six features on two factors (pairs correlated about 0.8), as the benchmark's."""
    loadings = np.array([[1.0, 0.9, 0.8, 0, 0, 0], [0, 0, 0, 1.0, 0.9, 0.8]])
    return (rng.normal(size=(n, 2)) + shift) @ loadings + rng.normal(scale=0.5, size=(n, 6))


def univariate_ks(base: Baseline, frame: pd.DataFrame) -> dict[str, drift.ReconstructionDrift]:
    """Each feature's binned KS on the window against its baseline buckets (the data drift
    rules' statistic), with its critical value."""
    out = {}
    for name, spec in base.numeric.items():
        counts = np.bincount(np.searchsorted(spec.edges, frame[name], side="left"),
                             minlength=spec.edges.size + 1)
        c = np.cumsum(counts)
        out[name] = drift.reconstruction_drift(c[:-1], c[-1], spec.cumulative, spec.n,
                                               alpha=ALPHA)
    return out


@pytest.fixture(scope="module")
def six() -> Baseline:
    frame = pd.DataFrame(factors(20000, np.random.default_rng(0)),
                         columns=[f"f{i}" for i in range(6)])
    return Baseline.from_frame(frame, "m")


def test_a_pure_marginal_shift_fires_the_univariate_check(six):
    shifted = pd.DataFrame(factors(3600, np.random.default_rng(3), shift=0.5),
                           columns=[f"f{i}" for i in range(6)])
    ks = univariate_ks(six, shifted)
    assert all(r.ks > KS_WARNING and r.significant for r in ks.values()), ks


def test_a_new_segment_inside_the_usual_ranges_is_multivariate_drift_alone(six):
    rng = np.random.default_rng(4)
    rows = factors(3600, rng)
    seg = rng.random(len(rows)) < 0.3
    rows[seg, 1] = 0.9 * (-rows[seg, 0])  # f1 against f0: each stays in its usual range
    frame = pd.DataFrame(rows, columns=[f"f{i}" for i in range(6)])
    assert window_check(six.multivariate, frame).drifted(KS_WARNING, LEAST)
    ks = univariate_ks(six, frame)
    assert all(r.ks < KS_WARNING for r in ks.values()), ks
    quiet = pd.DataFrame(factors(3600, np.random.default_rng(5)),
                         columns=[f"f{i}" for i in range(6)])
    assert not window_check(six.multivariate, quiet).drifted(KS_WARNING, LEAST)


def with_defaults(n: int, seed: int) -> pd.DataFrame:
    """Ten features, f0 and f1 correlated 0.9; 60% of rows all zeros (a default filled in)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10))
    x[:, 1] = 0.9 * x[:, 0] + math.sqrt(1 - 0.81) * x[:, 1]
    x[rng.random(n) < 0.6] = 0.0
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(10)])


def test_a_row_many_inputs_share_is_scored_as_live_inputs_meet_it():
    # the all-zero row is one error, the served components' own; scored by components fitted
    # without it, the reference spread it over other values and every window read a KS of 0.3
    joint = Baseline.from_frame(with_defaults(5000, seed=0), "m").multivariate
    for seed in range(1, 4):
        window = window_check(joint, with_defaults(3600, seed=seed))
        assert not window.drifted(KS_WARNING, LEAST) and window.ks < window.critical, window
    broken = with_defaults(3600, seed=9)
    broken["f1"] = np.random.default_rng(9).permutation(broken["f1"].to_numpy())
    assert window_check(joint, broken).drifted(KS_WARNING, LEAST)
