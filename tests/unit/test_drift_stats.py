"""The drift statistics against scipy over many random cases, PSI against a worked example, the
pruned KS search against a full scan; and that the statistics module stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from mlmon_nb.baseline import bin_fractions
from mlmon_nb.drift import stats
from mlmon_nb.errors import DriftError


def _cases(seed: int, count: int):
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(rng.integers(1, 400)) if i % 2 else int(rng.integers(200, 15000))
        m = int(rng.integers(1, 400)) if i % 3 else int(rng.integers(200, 15000))
        a = rng.normal(size=n)
        b = rng.normal(rng.uniform(-0.4, 0.4) * (i % 4 != 0), rng.uniform(0.8, 1.3), size=m)
        if i % 5 == 0:  # heavy ties, as with integer-valued features
            a, b = np.round(a, 1), np.round(b, 1)
        yield a, b


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ks_matches_scipy_exact_and_asymptotic(seed):
    methods = set()
    for a, b in _cases(seed, 60):
        ours = stats.ks(a, b)
        ref = sps.ks_2samp(a, b)
        methods.add(ours.method)
        assert ours.statistic == pytest.approx(ref.statistic, abs=1e-12)
        assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-6)
    assert methods == {"exact", "asymp"}


def test_ks_asymptotic_region_of_small_statistics_matches_scipy():
    """The region where scipy uses its slow Durbin matrix and we use Pelz–Good."""
    rng = np.random.default_rng(11)
    for _ in range(8):
        a = rng.normal(size=int(rng.integers(10_001, 30_000)))
        b = rng.normal(size=int(rng.integers(150, 3000)))
        assert stats.ks(a, b).p_value == pytest.approx(sps.ks_2samp(a, b).pvalue, abs=1e-6)


def test_ks_many_equals_per_feature_and_ignores_nan():
    rng = np.random.default_rng(5)
    refs = [np.sort(rng.normal(size=3000)) for _ in range(4)]
    cur = rng.normal(0.1, 1.0, size=(2000, 4))
    cur[::7, 1] = np.nan
    d, p, n1, n2 = stats.ks_many(refs, cur)
    for i in range(4):
        col = cur[:, i][np.isfinite(cur[:, i])]
        ref = sps.ks_2samp(refs[i], col)
        assert d[i] == pytest.approx(ref.statistic, abs=1e-12)
        assert p[i] == pytest.approx(ref.pvalue, abs=1e-6)
        assert n2[i] == col.size
    assert n2[1] < 2000


def test_wasserstein_js_chisquare_against_scipy():
    rng = np.random.default_rng(7)
    for _ in range(50):
        a = rng.gamma(2.0, size=int(rng.integers(2, 500)))
        b = rng.gamma(rng.uniform(1.5, 2.5), size=int(rng.integers(2, 500)))
        scale = a.std() or 1.0
        assert stats.wasserstein(a, b, scale) == pytest.approx(
            sps.wasserstein_distance(a, b) / scale, rel=1e-9)
        p, q = rng.dirichlet(np.ones(8)), rng.dirichlet(np.ones(8))
        assert stats.jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q), rel=1e-9)
        obs = rng.multinomial(int(rng.integers(20, 2000)), q)
        ours = stats.chi_square(p, obs)
        ref = sps.chisquare(obs, p * obs.sum())
        assert ours[0] == pytest.approx(ref.statistic, rel=1e-9)
        assert ours[1] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


def test_psi_worked_example_and_empty_bins():
    # worked example: reference 25/25/25/25 %, current 10/20/30/40 %
    # Σ (c−r) ln(c/r) = −.15 ln .4 − .05 ln .8 + .05 ln 1.2 + .15 ln 1.6
    #                = 0.137444 + 0.011157 + 0.009116 + 0.070501 = 0.228217
    assert stats.psi([.25, .25, .25, .25], [.1, .2, .3, .4]) == pytest.approx(0.228217, abs=1e-6)
    assert stats.psi([.5, .5], [.5, .5]) == 0.0
    # an empty current bin is clipped at epsilon: finite, and exactly the documented formula
    eps = stats.PSI_EPSILON
    expected = (eps - .5) * np.log(eps / .5) + (1 - .5) * np.log(1 / .5)
    assert stats.psi([.5, .5], [0.0, 1.0]) == pytest.approx(expected)
    # vectorized over rows
    out = stats.psi([.25] * 4, np.array([[.1, .2, .3, .4], [.25] * 4]))
    assert out == pytest.approx([0.228217, 0.0], abs=1e-6)


def test_binned_ks_is_a_lower_bound_of_exact_ks():
    rng = np.random.default_rng(9)
    for _ in range(20):
        a, b = rng.normal(size=2000), rng.normal(rng.uniform(-.5, .5), size=1500)
        edges = np.quantile(a, np.linspace(0, 1, 11)[1:-1])
        binned = stats.binned_ks(bin_fractions(a, edges), bin_fractions(b, edges))
        assert binned <= sps.ks_2samp(a, b).statistic + 1e-12


def test_correction_matches_scipy_and_rejects_unknown():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.2])
    bh = stats.correct_pvalues(p, "bh")
    assert np.isnan(bh[2])
    assert bh[[0, 1, 3, 4]] == pytest.approx(sps.false_discovery_control(p[[0, 1, 3, 4]]))
    assert stats.correct_pvalues(p, "bonferroni")[0] == pytest.approx(0.04)
    with pytest.raises(DriftError, match="unknown correction"):
        stats.correct_pvalues(p, "holm-ish")


def _hard_cases(seed: int):
    """Samples where pruning the KS search is hardest: ties, constants, disjoint, point masses."""
    rng = np.random.default_rng(seed)
    for kind in range(7):
        n, m = int(rng.integers(2_000, 60_000)), int(rng.integers(500, 60_000))
        if kind == 0:  # continuous, tiny shift: the supremum is flat, many blocks stay open
            a, b = rng.normal(size=n), rng.normal(0.01, size=m)
        elif kind == 1:  # rounded: long runs of ties in both samples
            a, b = np.round(rng.normal(size=n), 1), np.round(rng.normal(0.05, size=m), 1)
        elif kind == 2:  # three values only
            a, b = rng.integers(0, 3, n).astype(float), rng.integers(0, 3, m).astype(float)
        elif kind == 3:  # identical constants: KS 0
            a, b = np.full(n, 2.5), np.full(m, 2.5)
        elif kind == 4:  # disjoint supports: KS 1
            a, b = rng.normal(size=n), rng.normal(50, size=m)
        elif kind == 5:  # a point mass inside a continuous sample
            a = rng.exponential(size=n)
            b = np.concatenate([np.zeros(m // 2), rng.exponential(size=m - m // 2)])
        else:  # current values that are exactly reference values
            a = rng.normal(size=n)
            b = rng.choice(a, size=m)
        yield kind, a, b


def _full_scan(ref, cur):
    """The KS extreme over every current value, no pruning (scaled by n·m)."""
    first = np.r_[True, cur[1:] != cur[:-1]]
    last = np.r_[cur[1:] != cur[:-1], True]
    return stats._ks_scaled_extreme(ref, cur, np.arange(cur.size), first, last) / ref.size / cur.size


@pytest.mark.parametrize("seed", [21, 22])
def test_pruned_ks_search_equals_full_scan_and_scipy(seed):
    """The block-pruned search gives the full scan's exact statistic for every block size."""
    for kind, a, b in _hard_cases(seed):
        ref, cur = np.sort(a), np.sort(b)
        full = _full_scan(ref, cur)
        assert full == pytest.approx(sps.ks_2samp(a, b).statistic, abs=1e-12), kind
        for block in (2, 5, 24, 97):
            assert stats.ks_statistic_sorted(ref, cur, block) == full, (kind, block)
        assert stats.ks(a, b).statistic == full


def test_smirnov_tail_with_and_without_the_factorial_table(monkeypatch):
    """The cached ln k! table gives the same tail p-values as gammaln, and scipy's smirnov's."""
    rng = np.random.default_rng(4)
    cases = [(float(rng.integers(1_001, 120_000)), 0.0) for _ in range(25)]
    cases = [(n, float(rng.uniform(np.sqrt(2.2 / n), min(0.5, np.sqrt(300 / n)))))
             for n, _ in cases]
    with_table = [stats._smirnov_sf(n, x) for n, x in cases]
    monkeypatch.setattr(stats, "LOG_FACTORIAL_MAX_N", 0)
    without = [stats._smirnov_sf(n, x) for n, x in cases]
    for (n, x), p, q in zip(cases, with_table, without):
        assert p == pytest.approx(q, rel=1e-12)
        assert p == pytest.approx(special.smirnov(int(n), x), rel=1e-8)


def test_stats_imports_only_numpy_scipy_and_the_standard_library():
    """The statistics stay pure: no pandas, no Prometheus, no files (errors are the project's)."""
    tree = ast.parse(Path(stats.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or "").split(".")[0])
    assert imported <= {"__future__", "functools", "math", "dataclasses", "typing", "numpy",
                        "scipy", "..errors"}, imported
    hidden = [f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
              for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not hidden, f"imports inside {hidden}"
    with pytest.raises(DriftError, match="unknown correction"):
        stats.correct_pvalues([0.1], "holm-ish")
