"""KS and Wasserstein against a baseline's reference CDF match scipy on the FULL training data
(not a sample) on every kind of distribution, and the p-value uses the reference's real size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlmon_nb import drift
from mlmon_nb.baseline import Baseline
from mlmon_nb.baseline.sketch import QuantileSketch, ReferenceCDF, reference_from_sketch
from mlmon_nb.drift.reference import compare_numeric, reference_ks, reference_wasserstein
from mlmon_nb.instrument import load_baseline

GOLDEN_V1 = Path(__file__).resolve().parents[1] / "golden" / "baseline_v1.json"
N_REF = 200_000
KS_TOLERANCE = 0.002
W_RELATIVE = 0.01  # Wasserstein within 1% ...
W_ABSOLUTE = 3e-4  # ... or 3e-4 reference std where the distance itself is below ~0.03


def draw(kind: str, n: int, rng: np.random.Generator, shift: float = 0.0) -> np.ndarray:
    if kind == "normal":
        return rng.normal(shift, 1, n)
    if kind == "cauchy":
        return rng.standard_cauchy(n) + shift
    if kind == "pareto":
        return rng.pareto(1.5, n) * (1 + shift)
    if kind == "rounded":
        return np.round(rng.normal(shift, 1, n), 1)
    if kind == "zeros":  # 70% zeros, the rest lognormal
        return np.where(rng.random(n) < 0.7, 0.0, rng.lognormal(shift, 1, n))
    if kind == "multimodal":
        k = n // 3
        return np.concatenate([rng.normal(-3 + shift, .5, k), rng.normal(0, 1, k),
                               rng.normal(4, .3, n - 2 * k)])
    if kind == "poisson":
        return rng.poisson(3 + shift, n).astype(float)
    raise ValueError(kind)


KINDS = ("normal", "cauchy", "pareto", "rounded", "zeros", "multimodal", "poisson")


@pytest.fixture(scope="module")
def reference() -> tuple[pd.DataFrame, Baseline]:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({k: draw(k, N_REF, rng) for k in KINDS})
    return frame, Baseline.from_frame(frame, "m")


@pytest.mark.parametrize("kind", KINDS)
def test_ks_and_wasserstein_match_scipy_on_the_full_reference(reference, kind):
    frame, base = reference
    spec = base.numeric[kind]
    assert spec.precision == "sketch" and spec.reference.n == N_REF  # 200,000 > exact limit
    full = frame[kind].to_numpy()
    std = full.std()
    rng = np.random.default_rng(100 + KINDS.index(kind))
    for m in (30, 500, 50_000):
        for shift in (0.0, 0.1, 0.5):
            cur = np.sort(draw(kind, m, rng, shift))
            got = compare_numeric(spec, cur)
            want = stats.ks_2samp(full, cur)
            assert abs(got.ks - want.statistic) <= KS_TOLERANCE, (m, shift, got.ks, want.statistic)
            assert got.n_reference == N_REF and got.n_current == m
            assert got.p_value == pytest.approx(float(drift.ks_pvalue(got.ks, N_REF, m)))
            w = stats.wasserstein_distance(full, cur) / std
            assert abs(got.wasserstein - w) <= max(W_RELATIVE * w, W_ABSOLUTE), (m, shift, w)


def test_exact_reference_equals_scipy_with_ties_and_atoms():
    rng = np.random.default_rng(5)
    for ref in (rng.poisson(2, 3000).astype(float), np.where(rng.random(3000) < .7, 0.0, 1.5),
                np.round(rng.normal(size=3000), 1)):
        cdf = ReferenceCDF.from_sorted(np.sort(ref))
        for cur in (rng.poisson(2.3, 400).astype(float), np.zeros(50), np.round(rng.normal(
                .2, 1, 700), 1), np.array([0.0, 1.5, 1.5])):
            cur = np.sort(cur)
            assert reference_ks(cdf, cur) == pytest.approx(stats.ks_2samp(ref, cur).statistic,
                                                           abs=1e-12)
            assert reference_wasserstein(cdf, cur) == pytest.approx(
                stats.wasserstein_distance(ref, cur), rel=1e-9, abs=1e-12)


def test_left_limits_count():
    """A current sample just below an atom: the supremum is a left limit."""
    cdf = ReferenceCDF.from_sorted(np.array([0.0] * 5 + [1.0] * 5))
    assert reference_ks(cdf, np.array([0.5])) == pytest.approx(0.5)
    assert reference_ks(cdf, np.array([1.0])) == pytest.approx(0.5)
    assert reference_ks(cdf, np.array([-1.0])) == pytest.approx(1.0)


def test_sketch_is_exact_up_to_its_limit_and_merges_in_any_batching():
    rng = np.random.default_rng(2)
    values = rng.lognormal(size=300_000)
    one = QuantileSketch().update(values)
    pieces = QuantileSketch()
    for part in np.array_split(values, 7):
        pieces.update(part)
    a, b = reference_from_sketch(one), reference_from_sketch(pieces)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.le, b.le)  # batching does not matter
    merged = QuantileSketch()
    for part in np.array_split(values, 4):
        merged.merge(QuantileSketch().update(part))
    c = reference_from_sketch(merged)
    probe = np.sort(rng.lognormal(size=5000))
    full = np.sort(values)
    for ref in (a, c):
        assert abs(reference_ks(ref, probe) - stats.ks_2samp(full, probe).statistic) < 1e-3
    assert merged.n == one.n and merged.mean == pytest.approx(values.mean())
    assert merged.std == pytest.approx(values.std()) and merged.max == values.max()
    small = QuantileSketch().update(values[:1000])
    assert small.is_exact and np.array_equal(small.quantiles(np.array([.1, .5])),
                                              np.quantile(values[:1000], [.1, .5]))
    back = QuantileSketch.from_bytes(merged.to_bytes())
    assert np.array_equal(reference_from_sketch(back).x, c.x)


def test_old_sample_baseline_is_honest_about_its_size(tmp_path):
    """A schema-1 reference is its 5,000-value sample: the p-value uses 5,000, not n."""
    rng = np.random.default_rng(8)
    sample = np.sort(rng.normal(size=5000))
    spec_ref = ReferenceCDF.from_sorted(sample, "sample")
    cur = np.sort(rng.normal(.05, 1, 2000))
    want = stats.ks_2samp(sample, cur)
    assert reference_ks(spec_ref, cur) == pytest.approx(want.statistic, abs=1e-12)
    assert float(drift.ks_pvalue(want.statistic, spec_ref.n, cur.size)) == pytest.approx(
        want.pvalue, abs=1e-6)


@pytest.mark.parametrize("m", [500, 50_000])
def test_compare_matches_scipy_on_the_full_reference(reference, m):
    """drift.compare (the registry's ``ks`` and ``wasserstein``) against scipy on all 200,000
    training values, for every kind of distribution, with the sizes and precision in each row."""
    frame, base = reference
    rng = np.random.default_rng(m)
    for shift in (0.0, 0.1, 0.5):
        cur = pd.DataFrame({k: draw(k, m, rng, shift) for k in KINDS})
        out = drift.compare(base, cur, tests=["ks", "wasserstein", "psi"])
        by = out.set_index(["feature", "test"])
        for kind in KINDS:
            full, values = frame[kind].to_numpy(), cur[kind].to_numpy()
            ks_row, w_row, psi_row = (by.loc[(kind, t)] for t in ("ks", "wasserstein", "psi"))
            want = stats.ks_2samp(full, values)
            assert abs(ks_row["statistic"] - want.statistic) <= KS_TOLERANCE, (kind, shift)
            # the p-value at the reference's real size: scipy's function of D at (200,000, m) ...
            assert ks_row["p_value"] == pytest.approx(
                float(drift.ks_pvalue(ks_row["statistic"], N_REF, m)), rel=1e-9, abs=1e-300)
            # ... which is scipy's own on the full data (both asymptotic at these sizes)
            assert float(drift.ks_pvalue(want.statistic, N_REF, m)) == pytest.approx(
                want.pvalue, rel=1e-4, abs=1e-6)
            w = stats.wasserstein_distance(full, values) / full.std()
            assert abs(w_row["statistic"] - w) <= max(W_RELATIVE * w, W_ABSOLUTE), (kind, shift)
            for row in (ks_row, w_row):
                assert (row["n_reference"], row["n_current"]) == (N_REF, m)
                assert row["reference_precision"] == "sketch"
            assert psi_row["n_reference"] == N_REF and psi_row["reference_precision"] == "sketch"
    assert set(out.columns) == set(drift.COLUMNS) and list(out.columns) == drift.COLUMNS


def test_compare_p_values_equal_scipys_where_the_reference_is_exact():
    """Below the exact limit with few distinct values (integers, a spike of zeros, rounded values)
    the reference is the exact ECDF: KS and the exact p-value (both sides <= 10,000) are scipy's."""
    rng = np.random.default_rng(21)
    train = pd.DataFrame({"count": rng.poisson(3, 8000).astype(float),
                          "zeros": np.where(rng.random(8000) < .7, 0.0, np.round(rng.lognormal(
                              size=8000), 1)),
                          "rounded": np.round(rng.normal(size=8000), 1)})
    base = Baseline.from_frame(train, "m")
    cur = pd.DataFrame({"count": rng.poisson(3.1, 3000).astype(float),
                        "zeros": np.where(rng.random(3000) < .68, 0.0, np.round(rng.lognormal(
                            size=3000), 1)),
                        "rounded": np.round(rng.normal(.03, 1, 3000), 1)})
    by = drift.compare(base, cur, tests=["ks", "wasserstein"]).set_index(["feature", "test"])
    for f in train.columns:
        want = stats.ks_2samp(train[f], cur[f])
        ks_row = by.loc[(f, "ks")]
        assert base.numeric[f].precision == "exact" and ks_row["reference_precision"] == "exact"
        assert ks_row["statistic"] == pytest.approx(want.statistic, abs=1e-12)
        assert ks_row["p_value"] == pytest.approx(want.pvalue, rel=1e-9, abs=1e-12)
        assert (ks_row["n_reference"], ks_row["n_current"]) == (8000, 3000)
        w = stats.wasserstein_distance(train[f], cur[f]) / train[f].std(ddof=0)
        assert by.loc[(f, "wasserstein"), "statistic"] == pytest.approx(w, rel=1e-9)


def test_schema_1_file_compares_against_its_sample_with_the_samples_size():
    """An old file's reference is its random sample: KS, Wasserstein and the p-value are those of
    that sample (n_reference its size, precision ``sample``); PSI keeps the full data's shares."""
    base = Baseline.load(GOLDEN_V1)
    rng = np.random.default_rng(3)
    cur = pd.DataFrame({"amount": rng.lognormal(3.2, .8, 700),
                        "items": rng.poisson(2.4, 700).astype(float)})
    out = drift.compare(base, cur, tests=["ks", "wasserstein", "psi"], features=["amount", "items"])
    by = out.set_index(["feature", "test"])
    for f in ("amount", "items"):
        spec = base.numeric[f]
        sample = spec.sample
        assert spec.precision == "sample" and spec.reference.n == sample.size == 300
        want = stats.ks_2samp(sample, cur[f])
        ks_row = by.loc[(f, "ks")]
        assert (ks_row["n_reference"], ks_row["reference_precision"]) == (300, "sample")
        assert ks_row["statistic"] == pytest.approx(want.statistic, abs=1e-12)
        assert ks_row["p_value"] == pytest.approx(want.pvalue, rel=1e-9, abs=1e-12)
        w = stats.wasserstein_distance(sample, cur[f]) / spec.summary["std"]
        assert by.loc[(f, "wasserstein"), "statistic"] == pytest.approx(w, rel=1e-9)
        psi_row = by.loc[(f, "psi")]
        assert psi_row["n_reference"] == spec.n == 400 and psi_row["reference_precision"] == "exact"


@pytest.mark.parametrize("name", ["baseline_v1.json", "baseline_legacy_confidence.json"])
def test_an_older_file_has_one_id_whichever_loader_reads_it(name, tmp_path):
    # the service exports the id its loader gives (ml_model_info's baseline_id) and a runbook
    # compares it with the library's: a schema-1 file read as two ids looked like another
    # baseline served; saved again, it is a schema-2 file of its own id, alike in both
    path = GOLDEN_V1.with_name(name)
    library = Baseline.load(path)
    assert library.baseline_id == load_baseline(path).baseline_id
    again = library.save(tmp_path / name)
    assert Baseline.load(again).baseline_id == load_baseline(again).baseline_id

