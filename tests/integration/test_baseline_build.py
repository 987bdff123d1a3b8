"""Builds from data of any size: streamed files, globs, CSV, DuckDB, Dask; old files migrate."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlmon_nb import drift
from mlmon_nb.baseline import SCHEMA_VERSION, Baseline, BaselineBuilder
from mlmon_nb.baseline.build import build_from_dataset, build_from_query, build_on_dask
from mlmon_nb.baseline.sketch import LEVEL_CAPACITY, CategorySketch, QuantileSketch
from mlmon_nb.cli import main
from mlmon_nb.drift.reference import compare_numeric, reference_ks
from mlmon_nb.errors import BaselineError

GOLDEN_V1 = Path(__file__).resolve().parents[1] / "golden" / "baseline_v1.json"
OPTIONS = dict(categorical=["channel"], prediction="prediction", confidence="confidence",
               exclude=["label"], bins=10)


def training(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 2, size=n)
    x[::50] = np.nan
    return pd.DataFrame({
        "x": x, "k": rng.poisson(4, size=n), "z": np.where(rng.random(n) < .7, 0.0,
                                                           rng.lognormal(size=n)),
        "channel": rng.choice(["web", "mobile", "api", "email"], size=n, p=[.5, .3, .15, .05]),
        "prediction": rng.choice(["neg", "pos"], size=n), "confidence": rng.uniform(.3, 1, size=n),
        "label": rng.choice(["neg", "pos"], size=n)})


def write_parts(frame: pd.DataFrame, folder: Path, parts: int, suffix: str = "parquet") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), parts)):
        chunk = frame.iloc[part]
        if suffix == "parquet":
            chunk.to_parquet(folder / f"part-{i:02d}.parquet", row_group_size=1000)
        else:
            chunk.to_csv(folder / f"part-{i:02d}.csv", index=False)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return training(20_000, 4)


def test_streamed_files_csv_and_duckdb_give_the_frame_s_baseline(tmp_path, small):
    """Below the sketch's exact limit every path gives the same content, hence the same id."""
    want = Baseline.from_frame(small, "m", **OPTIONS)
    write_parts(small, tmp_path / "pq", 3)
    write_parts(small, tmp_path / "csv", 2, "csv")
    streamed = build_from_dataset(str(tmp_path / "pq" / "*.parquet"), "m", batch_rows=1500,
                                     **OPTIONS)
    from_csv = build_from_dataset(str(tmp_path / "csv" / "*.csv"), "m", **OPTIONS)
    queried = build_from_query(f"SELECT * FROM '{tmp_path}/pq/*.parquet'", "m", **OPTIONS)
    for other in (streamed, from_csv, queried):
        assert other.baseline_id == want.baseline_id and other.n_rows == 20_000
    assert streamed.numeric["x"].precision == "exact"
    assert want.multivariate is not None  # the joint structure is in the id the paths share
    assert want.categorical["channel"].categories == ("web", "mobile", "api", "email")


def test_sketch_memory_does_not_grow_with_the_row_count():
    rng = np.random.default_rng(0)
    sketch = QuantileSketch()
    sizes = []
    for _ in range(24):  # 6 million values in batches of 250,000
        sketch.update(rng.normal(size=250_000))
        sizes.append(sum(level.size for level in sketch.levels))
    levels = len(sketch.levels)
    assert max(sizes) <= levels * LEVEL_CAPACITY and levels <= np.log2(6e6 / LEVEL_CAPACITY) + 2
    assert sketch.n == 6_000_000 and sketch.rank_error_bound() < 0.002


def test_frequent_items_take_over_beyond_exact_counting():
    rng = np.random.default_rng(1)
    labels = rng.zipf(1.3, size=200_000).astype(str)
    exact = pd.Series(labels).value_counts()
    halves = [CategorySketch(exact_limit=500), CategorySketch(exact_limit=500)]
    for half, part in zip(halves, np.array_split(labels, 2)):
        counts = pd.Series(part).value_counts()
        half.update_counts(counts.index, counts.to_numpy())
    merged = pickle.loads(pickle.dumps(halves[0])).merge(pickle.loads(pickle.dumps(halves[1])))
    assert not merged.is_exact and merged.n == 200_000
    top = merged.top(10)
    assert [label for label, _ in top] == list(exact.index[:10])
    for label, count in top:  # within the sketch's error (a few rows per 2**14)
        assert abs(count - exact[label]) <= 3.5 / 2 ** 14 * 200_000


def test_old_sample_file_loads_marked_lower_precision():
    base = Baseline.load(GOLDEN_V1)
    spec = base.numeric["amount"]
    old = json.loads(GOLDEN_V1.read_text())
    assert spec.precision == "sample" and spec.reference.n == 300 and spec.n == 400
    assert np.array_equal(spec.sample, np.array(old["numeric"]["amount"]["sample"]))
    cur = np.sort(np.random.default_rng(3).lognormal(3.2, 1, 800).round(2))
    got = compare_numeric(spec, cur)
    want = stats.ks_2samp(spec.sample, cur)
    assert got.ks == pytest.approx(want.statistic, abs=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, abs=1e-6) and got.n_reference == 300
    out = drift.compare(base, pd.DataFrame({"amount": cur, "items": np.ones(800),
                                            "channel": ["web"] * 800}))
    assert set(out["feature"]) == {"amount", "items", "channel"}
    assert base.to_dict()["schema_version"] == SCHEMA_VERSION  # saved again as the new schema


def test_old_file_edited_is_refused(tmp_path):
    doc = json.loads(GOLDEN_V1.read_text())
    doc["numeric"]["amount"]["sample"][0] -= 1
    path = tmp_path / "b.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BaselineError, match="does not match its baseline_id.*mlmon-nb baseline "
                                            "build"):
        Baseline.load(path)


def test_cli_builds_from_a_glob_and_a_query(tmp_path, small, capsys):
    write_parts(small, tmp_path / "data", 2)
    out = tmp_path / "b.json"
    args = ["--model", "m", "--categorical", "channel", "--prediction", "prediction",
            "--confidence", "confidence", "--exclude", "label", "--bins", "10", "-o", str(out)]
    assert main(["baseline", "build", str(tmp_path / "data" / "*.parquet"), *args]) == 0
    from_glob = Baseline.load(out)
    assert f"baseline {from_glob.baseline_id}" in capsys.readouterr().out
    assert main(["baseline", "build", "--sql",
                 f"SELECT * FROM '{tmp_path}/data/*.parquet'", *args]) == 0
    assert Baseline.load(out).baseline_id == from_glob.baseline_id
    assert from_glob.baseline_id == Baseline.from_frame(small, "m", **OPTIONS).baseline_id
    assert main(["baseline", "build", *args]) == 2
    assert "--sql" in capsys.readouterr().err
    assert main(["baseline", "build", str(tmp_path / "none-*.parquet"), *args]) == 2
    assert "no file matches" in capsys.readouterr().err
    assert main(["baseline", "build", "--sql", "SELECT * FROM no_such_table", *args]) == 2
    err = capsys.readouterr().err
    assert "DuckDB query failed" in err and len(err.strip().splitlines()) == 1


def test_builders_merge_like_one_stream(small):
    one = BaselineBuilder("m", **OPTIONS).update_frame(small).build()
    parts = [BaselineBuilder("m", **OPTIONS).update_frame(small.iloc[i::3]) for i in range(3)]
    merged = parts[0].merge(parts[1]).merge(parts[2]).build()
    assert merged.baseline_id == one.baseline_id  # exact below the limit: order does not matter


@pytest.fixture(scope="module")
def cluster_client():
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, memory_limit="1GiB") as cluster, \
            Client(cluster) as client:
        yield client


def test_dask_build_equals_the_single_machine_build(tmp_path, small, cluster_client):
    import dask.dataframe as dd
    # exact below the limit: the same id
    exact = build_on_dask(cluster_client, dd.from_pandas(small, npartitions=4), "m", **OPTIONS)
    assert exact.baseline_id == Baseline.from_frame(small, "m", **OPTIONS).baseline_id
    # a few hundred thousand rows from parquet files on the workers: within the sketch's error
    big = training(300_000, 9)
    write_parts(big, tmp_path / "big", 4)
    pattern = str(tmp_path / "big" / "*.parquet")
    on_dask = build_on_dask(cluster_client, pattern, "m", **OPTIONS)
    local = build_from_dataset(pattern, "m", **OPTIONS)
    assert on_dask.n_rows == local.n_rows == 300_000
    assert on_dask.categorical["channel"].categories == local.categorical["channel"].categories
    assert np.array_equal(on_dask.confidence_fractions, local.confidence_fractions)
    # the joint structure's hash sample does not depend on partitions: the same on both
    assert on_dask.multivariate.to_dict() == local.multivariate.to_dict()
    assert on_dask.multivariate.n == 20_000
    for name in ("x", "k", "z"):
        a, b = on_dask.numeric[name], local.numeric[name]
        assert a.precision == b.precision == "sketch" and a.n == b.n
        assert a.summary["mean"] == pytest.approx(b.summary["mean"], rel=1e-9)
        assert np.abs(a.fractions - b.fractions).max() < 1e-3
        full = np.sort(big[name].to_numpy(dtype=float))
        full = full[np.isfinite(full)]
        probe = np.sort(np.random.default_rng(2).choice(full, 20_000))
        want = stats.ks_2samp(full, probe).statistic
        assert abs(reference_ks(a.reference, probe) - want) < 0.002
        assert abs(reference_ks(b.reference, probe) - want) < 0.002
