"""Baselines: built from data, saved and loaded unchanged, hashed by content, and every broken
file is one clear error that names it. The CLI builds the same baseline from parquet and csv."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mlmon_nb
from mlmon_nb.baseline import SCHEMA_VERSION, Baseline, bin_fractions
from mlmon_nb.cli import main
from mlmon_nb.errors import BaselineError


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 6000
    x = rng.normal(10, 2, size=n)
    x[::50] = np.nan
    return pd.DataFrame({
        "x": x, "k": rng.poisson(4, size=n).astype(float),
        "channel": rng.choice(["web", "mobile", "api"], size=n, p=[.6, .3, .1]),
        "prediction": rng.choice(["neg", "pos"], size=n), "confidence": rng.uniform(.3, 1, size=n),
        "label": rng.choice(["neg", "pos"], size=n)})


@pytest.fixture(scope="module")
def baseline(frame) -> Baseline:
    return Baseline.from_frame(frame, "m", categorical=["channel"], prediction="prediction",
                               confidence="confidence", exclude=["label"], bins=10)


def test_contents(baseline, frame):
    assert set(baseline.numeric) == {"x", "k"} and set(baseline.categorical) == {"channel"}
    x = baseline.numeric["x"]
    assert x.n == frame["x"].notna().sum() and x.missing_share == pytest.approx(0.02)
    assert x.fractions.sum() == pytest.approx(1.0) and x.edges.size + 1 == x.fractions.size
    # the random sample is replaced by the reference CDF: exact here (6,000 rows)
    assert x.precision == "exact" and x.reference.n == x.n
    assert np.all(np.diff(x.sample) >= 0) and x.sample.size == 5000  # quantiles of the CDF
    assert x.cumulative == pytest.approx(np.cumsum(x.fractions)[:-1])
    assert x.summary["mean"] == pytest.approx(frame["x"].mean())
    ch = baseline.categorical["channel"]
    assert ch.categories[0] == "web" and ch.labels[-1] == "__other__"
    assert baseline.prediction_classes == ("neg", "pos")
    assert baseline.confidence_fractions.sum() == pytest.approx(1.0)
    assert list(baseline.describe()["feature"]) == ["x", "k", "channel", "reconstruction error"]


def test_bucket_semantics_follow_prometheus_le():
    edges = np.array([1.0, 2.0])
    # a value equal to an edge is counted in that edge's bucket (le = "less or equal")
    assert bin_fractions(np.array([1.0, 1.5, 2.0, 3.0]), edges) == pytest.approx([.25, .5, .25])


def test_round_trip_and_content_id(tmp_path, baseline, frame):
    path = baseline.save(tmp_path / "b.json")
    loaded = Baseline.load(path)
    assert loaded.baseline_id == baseline.baseline_id
    assert np.array_equal(loaded.numeric["x"].edges, baseline.numeric["x"].edges)
    assert np.array_equal(loaded.numeric["x"].sample, baseline.numeric["x"].sample)
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION and doc["features"]["categorical"] == ["channel"]
    again = Baseline.from_frame(frame, "m", categorical=["channel"], prediction="prediction",
                                confidence="confidence", exclude=["label"], bins=10,
                                source="elsewhere")
    assert again.baseline_id == baseline.baseline_id  # content, not time or source
    other = Baseline.from_frame(frame.iloc[:3000], "m", categorical=["channel"],
                                exclude=["label", "prediction", "confidence"], bins=10)
    assert other.baseline_id != baseline.baseline_id
    assert mlmon_nb.Baseline is Baseline


@pytest.mark.parametrize("damage, message", [
    (lambda t: t[: len(t) // 2], "corrupt or truncated"),
    (lambda t: "\x00\xff garbage", "corrupt or truncated"),
    (lambda t: t.replace(f'"schema_version": {SCHEMA_VERSION}', '"schema_version": 99'),
     "schema version 99 is not supported"),
    (lambda t: t.replace('"kind": "mlmon_nb.baseline"', '"kind": "other"'), "not an mlmon_nb"),
    (lambda t: t.replace('"n_rows": 6000', '"n_rows": 6001'), "does not match its baseline_id"),
    (lambda t: json.dumps({**json.loads(t), "numeric": {"x": {"edges": [1, 0]}}}),
     "malformed baseline content"),
])
def test_broken_files_are_one_clear_error_naming_the_file(tmp_path, baseline, damage, message):
    path = baseline.save(tmp_path / "b.json")
    path.write_text(damage(path.read_text()))
    with pytest.raises(BaselineError, match=message) as info:
        Baseline.load(path)
    assert str(path) in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(BaselineError, match="mlmon-nb baseline build"):
        Baseline.load(tmp_path / "nope.json")
    with pytest.raises(BaselineError, match="cannot be read"):
        Baseline.load(tmp_path)


def test_text_columns_are_categorical_unless_declared_otherwise(frame):
    inferred = Baseline.from_frame(frame, "m", exclude=["label", "prediction"])
    declared = Baseline.from_frame(frame, "m", categorical=["channel"],
                                   exclude=["label", "prediction"])
    assert "channel" in inferred.categorical and "channel" not in inferred.numeric
    assert inferred.baseline_id == declared.baseline_id


def test_a_column_neither_numeric_nor_text_names_the_way_out():
    import pyarrow as pa

    from mlmon_nb.baseline.build import build_from_batches
    batch = pa.record_batch({"x": [1.0, 2.0], "tags": [[1], [2, 3]]})
    with pytest.raises(BaselineError, match="'tags' is neither numeric nor text.*--exclude tags"):
        build_from_batches([batch], "m")


def test_booleans_are_numeric_in_every_dtype():
    import pyarrow as pa
    flags = [True, False] * 30
    for dtype in (bool, "boolean", pd.ArrowDtype(pa.bool_())):
        frame = pd.DataFrame({"x": np.arange(60, dtype=float), "flag": pd.array(flags, dtype)})
        assert list(Baseline.from_frame(frame, "m").numeric) == ["x", "flag"], dtype


@pytest.mark.parametrize("values, message", [
    # a frame's dates were a numeric feature in microseconds, complex numbers cut to their real
    # part, as Arrow data refuses them
    (pd.date_range("2024-01-01", periods=60), r"'c' is neither numeric nor text \(datetime64"),
    (np.arange(60) + 1j, r"'c' is neither numeric nor text \(complex128\)"),
    ([None] * 60, "categorical column 'c' has no values; exclude it"),  # as all-NaN numbers
    ([b"\xff\xfe"] * 60, "'c' holds bytes that are not UTF-8 text.*--exclude c"),
])
def test_a_frames_column_of_another_kind_is_one_clear_error(values, message):
    frame = pd.DataFrame({"x": np.arange(60, dtype=float), "c": values})
    with pytest.raises(BaselineError, match=message):
        Baseline.from_frame(frame, "m")


def test_a_numeric_column_with_stray_text_is_refused_not_read_as_categories(tmp_path):
    """A CSV's "?" in a numeric column makes pandas read it as text; as categories its numbers
    would each be one, and its drift measured so, without a word."""
    import pyarrow as pa
    import pyarrow.csv

    from mlmon_nb.baseline.build import build_from_batches
    rng = np.random.default_rng(1)
    ages = [f"{v:.1f}" for v in rng.normal(40, 10, 300)]
    ages[17], ages[230] = "?", "unknown"
    frame = pd.DataFrame({"x": rng.normal(size=300), "age": ages})
    (tmp_path / "train.csv").write_text(frame.to_csv(index=False))
    read = pd.read_csv(tmp_path / "train.csv")
    assert not pd.api.types.is_numeric_dtype(read["age"])  # what a user's file becomes
    for build in (lambda: Baseline.from_frame(read, "m"),
                  lambda: build_from_batches(pa.csv.read_csv(tmp_path / "train.csv").to_batches(),
                                             "m")):
        with pytest.raises(BaselineError, match=r"'age' is numbers but for 2 of 300 values "
                                                r"\('\?', 'unknown'\).*--categorical age"):
            build()
    # the two ways out: the stray cells made missing, or the column declared categorical
    fixed = read.assign(age=pd.to_numeric(read["age"], errors="coerce"))
    assert Baseline.from_frame(fixed, "m").numeric["age"].missing_share == pytest.approx(2 / 300)
    assert "age" in Baseline.from_frame(read, "m", categorical=["age"]).categorical
    # a text column of codes (every value a number, typed as text on purpose) stays categorical,
    # as does real text with a few numbers in it
    codes = pd.DataFrame({"x": rng.normal(size=50), "zip": [f"{i:05d}" for i in range(50)],
                          "city": ["Oslo"] * 45 + ["1", "2", "3", "4", "5"]})
    assert {"zip", "city"} <= set(Baseline.from_frame(codes, "m").categorical)


def test_bad_training_data_is_a_clear_error(frame):
    with pytest.raises(BaselineError, match="no finite values"):
        Baseline.from_frame(pd.DataFrame({"x": [np.nan, np.inf]}), "m")
    with pytest.raises(BaselineError, match="not in the data"):
        Baseline.from_frame(frame, "m", categorical=["nope"])
    with pytest.raises(BaselineError, match=r"not in the data: \['lable'\]"):  # a typo
        Baseline.from_frame(frame, "m", exclude=["lable"])
    # a feature under the name the service counts the confidence's invalid values under
    for declared in ((), ("__confidence__",)):  # inferred numeric, or declared categorical
        with pytest.raises(BaselineError, match="'__confidence__' takes a name the service"):
            Baseline.from_frame(frame.assign(__confidence__=1.0), "m", categorical=declared)
    with pytest.raises(BaselineError, match="empty"):
        Baseline.from_frame(frame.iloc[:0], "m")
    # finite values whose sum of squares is not: the mean, spread and joint structure were
    # NaN and inf in the file, the multivariate check dead in the service
    huge = frame[["x", "k"]].assign(x=lambda f: f["x"] * 1e307)
    with pytest.raises(BaselineError, match="'x' has values too large to compute their mean and "
                                            "spread.*--exclude x"):
        Baseline.from_frame(huge, "m")


@pytest.mark.parametrize("roles, said", [
    ({"label": "prediction"}, "'prediction' as prediction and label"),
    ({"label": "label", "scores": ["k", "k"]}, "'k' as scores twice"),
    ({"label": "label", "scores": ["confidence", "k"]}, "'confidence' as confidence and scores"),
    ({"categorical": ["prediction"]}, "'prediction' as prediction and categorical"),
])
def test_a_column_named_for_two_roles_is_refused(frame, roles, said):
    # read as both, the prediction became its own label (accuracy 1.0) or a score a feature
    with pytest.raises(BaselineError, match=f"more than one role: {said}; give each column one"):
        Baseline.from_frame(frame, "m", prediction="prediction", confidence="confidence",
                            **roles)


def test_a_column_named_twice_in_the_data_is_refused(frame):
    twice = pd.concat([frame[["x"]], frame[["x", "k"]]], axis=1)
    with pytest.raises(BaselineError, match=r"names columns more than once: \['x'\]"):
        Baseline.from_frame(twice, "m")


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_cli_builds_the_same_baseline_from_parquet_and_csv(tmp_path, frame, baseline, suffix,
                                                           capsys):
    data = tmp_path / f"train.{suffix}"
    frame.to_parquet(data) if suffix == "parquet" else frame.to_csv(data, index=False)
    out = tmp_path / "out" / "b.json"
    code = main(["baseline", "build", str(data), "--model", "m", "--categorical", "channel",
                 "--prediction", "prediction", "--confidence", "confidence", "--exclude", "label",
                 "--bins", "10", "-o", str(out)])
    built = Baseline.load(out)
    assert code == 0 and f"baseline {built.baseline_id} for m" in capsys.readouterr().out
    assert built.source.endswith(f"train.{suffix}")
    assert np.allclose(built.numeric["x"].edges, baseline.numeric["x"].edges)
    assert main(["baseline", "show", str(out)]) == 0
    assert "channel" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "train.txt"
    bad.write_text("x\n1\n")
    assert main(["baseline", "build", str(bad), "--model", "m", "-o", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert "give a .parquet or .csv file" in err and len(err.strip().splitlines()) == 1
    broken = tmp_path / "train.parquet"
    broken.write_bytes(b"not parquet")
    assert main(["baseline", "build", str(broken), "--model", "m", "-o", str(tmp_path / "b.json")]) == 2
    assert "cannot be read as parquet" in capsys.readouterr().err


def test_an_empty_csv_cell_of_a_text_column_is_missing_as_pandas_reads_it(tmp_path):
    """Read as the category "", a quarter of empty cells would be a category the service never
    sees (it counts None as missing): a false alarm on the same data."""
    rng = np.random.default_rng(5)
    country = rng.choice(["de", "fr", "us"], 2000).astype(object)
    country[rng.random(2000) < 0.25] = None
    frame = pd.DataFrame({"x": rng.normal(size=2000), "country": country})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.to_parquet(tmp_path / "train.parquet")
    built = {}
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"{suffix}.json"
        assert main(["baseline", "build", str(tmp_path / f"train.{suffix}"), "--model", "m",
                     "--categorical", "country", "--no-progress", "-o", str(out)]) == 0
        built[suffix] = Baseline.load(out).categorical["country"]
    read = Baseline.from_frame(pd.read_csv(tmp_path / "train.csv"), "m",
                               categorical=["country"]).categorical["country"]
    for feature in built.values():
        assert set(feature.categories) == {"de", "fr", "us"}
        assert feature.missing_share == pytest.approx(read.missing_share)
    assert read.missing_share == pytest.approx(np.mean(pd.isna(country)))


@pytest.mark.parametrize("top_k", [0, -1])
def test_top_k_below_one_is_refused(frame, top_k, capsys, tmp_path):
    with pytest.raises(BaselineError, match="top_k must keep at least 1 category"):
        Baseline.from_frame(frame, "m", categorical=["channel"], top_k=top_k)
    frame.to_parquet(tmp_path / "t.parquet")
    assert main(["baseline", "build", str(tmp_path / "t.parquet"), "--model", "m", "--top-k",
                 str(top_k), "-o", str(tmp_path / "b.json")]) == 2
    assert "top_k must keep at least 1" in capsys.readouterr().err
