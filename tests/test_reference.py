"""KS and Wasserstein against a baseline's reference CDF match scipy on the FULL training data
(not a sample) on every kind of distribution, and the p-value uses the reference's real size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlmon_nb import drift
from mlmon_nb.baseline import Baseline
from mlmon_nb.drift.reference import compare_numeric, reference_ks, reference_wasserstein
from mlmon_nb.sketch import QuantileSketch, ReferenceCDF, reference_from_sketch

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
