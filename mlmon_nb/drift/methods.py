"""The registry of drift tests: each test registers once, bound to the feature kinds it fits.

A :class:`DriftMethod` holds everything about one test: its name, the :class:`FeatureKind` s it
applies to, whether it gives a p-value, how it computes from samples (:func:`compare`), how it
computes from bin counts (the Prometheus path; ``None`` where it cannot), its recording rules
(where Prometheus computes it too) and its default severity thresholds. Everything that
dispatches on a test name — ``compare``, the binned path, the drift explorer, the recording
rules — looks it up here, and the valid names are the registry's keys (:data:`TESTS`).

The tests:

- ``ks`` (numeric; default): two-sample Kolmogorov–Smirnov statistic against the baseline's
  reference CDF (:mod:`.reference`: the full training data, within the sketch's error), with a
  p-value at the reference's real size for the multiple-testing correction (see :mod:`.stats`).
  From buckets: binned KS, a lower bound of the exact KS (the supremum is taken only at the
  edges).
- ``psi`` (numeric, categorical, concept; default): population stability index on the
  baseline's quantile bins or categories, empty bins clipped at ``PSI_EPSILON``.
- ``wasserstein`` (numeric): earth mover's distance to the reference CDF divided by the
  reference standard deviation, "how many standard deviations the distribution moved".
- ``js`` (numeric, categorical, concept): Jensen–Shannon distance (natural log) of the binned
  distributions; bounded by sqrt(ln 2).
- ``chi2`` (categorical; default): chi-square goodness of fit of the category counts against
  the baseline's shares. Its severity is judged on Cohen's effect size ``w = sqrt(chi2 / n)``
  (0.1 small, 0.3 medium, 0.5 large), never on the statistic alone, which grows with n.
- ``missing`` (numeric, categorical; always): the rise of the missing share (NaN, inf, absent)
  over the baseline's. ``compare`` adds it to every feature whatever ``tests`` asks, since a
  column going empty hides every other test's drift; naming it in ``tests`` is allowed and
  ``tests=["missing"]`` gives the missing rows alone. It needs raw rows, so it has no binned form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Callable, Iterable, Mapping, Protocol

import numpy as np

from ..baseline.sketch import ReferenceCDF
from ..config import DEFAULT_KS_THRESHOLDS, DEFAULT_PSI_THRESHOLDS, Thresholds
from ..errors import DriftError
from ..metrics import CONCEPT_FEATURE
from .expressions import (
    CONCEPT_PSI_RECORD,
    FEATURE_LEVEL,
    KS_RECORD,
    MODEL_LEVEL,
    PSI_RECORD,
    concept_psi_rule_expr,
    ks_rule_expr,
    psi_rule_expr,
)
from .reference import CDFPoints, evaluate
from .stats import chi_square, jensen_shannon, ks_pvalue, psi

__all__ = [
    "FeatureKind",
    "Sample",
    "Score",
    "RuleSpec",
    "BinsFn",
    "DriftMethod",
    "register",
    "get_method",
    "methods_for",
    "TESTS",
    "TestSpec",
    "BINNED_TESTS",
    "DEFAULT_TESTS",
    "DEFAULT_THRESHOLDS",
    "MIN_SAMPLES",
    "CONCEPT_FEATURE",
]

MIN_SAMPLES = 30


class FeatureKind(StrEnum):
    """What a drift test is measured on: a numeric or categorical feature, or the model's
    confidence histogram (concept drift, from Prometheus only)."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    CONCEPT = "concept"


@dataclass(frozen=True)
class Sample:
    """One feature of a frame against its baseline, as the sample-based tests see it."""

    kind: FeatureKind
    reference: np.ndarray  # the baseline's share per bin or category
    counts: np.ndarray  # the current count per bin or category
    n: int  # current values behind ``counts`` (finite, present)
    rows: int  # rows of the frame
    missing_share: float  # of ``rows``
    reference_missing_share: float
    n_reference: int  # values behind the baseline's shares
    reference_cdf: ReferenceCDF | None = None  # the baseline's reference distribution (numeric)
    current: np.ndarray | None = None  # the current finite values, sorted (numeric)
    scale: float | None = None  # the baseline's standard deviation (numeric)
    precision: str = "exact"  # of the baseline's shares: exact | sketch (within its rank error)

    @property
    def shares(self) -> np.ndarray:
        return self.counts / self.n

    @cached_property
    def points(self) -> CDFPoints:
        """Both CDFs where KS and Wasserstein are decided: computed once for both tests."""
        if self.reference_cdf is None or self.current is None:
            valid = sorted(m.name for m in methods_for(self.kind))
            raise DriftError(f"this test needs the values of a numeric feature, not {self.kind} "
                             f"shares; choose from {valid}")
        return evaluate(self.reference_cdf, self.current)


@dataclass(frozen=True)
class Score:
    """One test's outcome on one feature: ``effect`` is what its severity is judged on."""

    statistic: float
    p_value: float = float("nan")
    effect: float | None = None  # default: the statistic
    insufficient: bool | None = None  # set to override the sample-size rule (``missing``)
    sizes: tuple[int, int] | None = None  # (reference, current) behind a batched p-value; also
    #   the row's n_reference and n_current when the test used other sizes than the shares'
    precision: str | None = None  # the reference's precision, when not that of the shares

    @property
    def judged(self) -> float:
        return self.statistic if self.effect is None else self.effect


class BinsFn(Protocol):
    """A test from bin counts: one value per row of ``counts`` (T × bins) against the
    ``reference`` shares; ``cumulative`` holds the counts at each finite edge as read, if any."""

    def __call__(self, reference: np.ndarray, counts: np.ndarray, totals: np.ndarray,
                 cumulative: np.ndarray | None) -> np.ndarray: ...


@dataclass(frozen=True)
class RuleSpec:
    """A test's recording rule for one kind: ``level:record:window`` and its expression
    ``expr(window)``, every model (and feature) at once."""

    level: str
    record: str
    expr: Callable[[str], str]  # window -> PromQL

    @property
    def per_feature(self) -> bool:
        return self.level == FEATURE_LEVEL


@dataclass(frozen=True)
class DriftMethod:
    """A drift test, registered once in :data:`TESTS`."""

    name: str
    kinds: tuple[FeatureKind, ...]
    has_p_value: bool
    description: str
    thresholds: Thresholds  # default severity thresholds (on ``Score.judged``)
    from_samples: Callable[[Sample], Score]
    from_bins: BinsFn | None = None  # per row of counts; None: not computable from buckets
    p_values: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    # ^ p-values of many statistics at once, (statistics, n_reference, n_current) from
    #   ``Score.sizes``: one vectorized call per comparison
    rules: Mapping[FeatureKind, RuleSpec] = field(default_factory=dict)
    always: bool = False  # compare adds it to every feature whatever ``tests`` says
    needs_values: bool = True  # False: computed even when the feature has no value

    def applies_to(self, kind: str) -> bool:
        return kind in self.kinds

    @property
    def binned(self) -> bool:
        return self.from_bins is not None


TestSpec = DriftMethod  # the name of earlier releases

_REGISTRY: dict[str, DriftMethod] = {}
TESTS: Mapping[str, DriftMethod] = MappingProxyType(_REGISTRY)


def register(method: DriftMethod) -> DriftMethod:
    """Add a test to :data:`TESTS`; a name registers once."""
    if method.name in _REGISTRY:
        raise DriftError(f"drift test {method.name!r} is already registered; pick another name")
    bad = [k for k in method.rules if k not in method.kinds]
    if bad:
        raise DriftError(f"drift test {method.name!r} has rules for {bad}, kinds it does not "
                         f"apply to ({list(method.kinds)})")
    _REGISTRY[method.name] = method
    return method


def get_method(name: str, kind: str | None = None, *, binned: bool = False) -> DriftMethod:
    """The registered test ``name`` (that applies to ``kind``, computable from bins if
    ``binned``), or a DriftError listing the valid names."""
    method = TESTS.get(name)
    if method is None:
        raise DriftError(f"unknown drift test(s) {[name]}; choose from {sorted(TESTS)}")
    if kind is not None and not method.applies_to(kind):
        raise DriftError(f"test(s) {[name]} do not apply to {kind} features; choose from "
                         f"{sorted(m.name for m in methods_for(kind))}")
    if binned and not method.binned:
        raise DriftError(f"binned test {name!r} is not available from histogram buckets; choose "
                         f"from {[m.name for m in TESTS.values() if m.binned]}")
    return method


def methods_for(kind: str, names: Iterable[str] | None = None) -> list[DriftMethod]:
    """The registered tests that apply to ``kind`` (among ``names`` if given, in that order)."""
    chosen = TESTS.values() if names is None else (get_method(n) for n in names)
    return [m for m in chosen if m.applies_to(kind)]


# -- the built-in tests --------------------------------------------------------------------------

def _reference_score(s: Sample, statistic: float) -> Score:
    """A statistic against the reference CDF, with the sizes and precision it used."""
    ref = s.reference_cdf
    if ref is None:
        raise DriftError("a numeric feature has no reference distribution in the baseline; "
                         "rebuild it with `mlmon-nb baseline build`")
    return Score(statistic, sizes=(int(ref.n), s.n), precision=ref.precision)


def _ks_samples(s: Sample) -> Score:
    return _reference_score(s, s.points.ks())  # p-value: batched, by ks_pvalue


def _wasserstein_samples(s: Sample) -> Score:
    return _reference_score(s, s.points.wasserstein(s.scale))


def _ks_bins(reference, counts, totals, cumulative):
    """Max |cumulative share − baseline| over the finite edges; with ``cumulative`` (the counts
    at each edge as read from Prometheus) exactly the recording rule's arithmetic."""
    cum = np.atleast_2d(cumulative) if cumulative is not None else np.cumsum(counts, axis=1)[:, :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.max(np.abs(cum / totals[:, None] - np.cumsum(reference)[:-1]), axis=1)


def _shares(counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return counts / totals[:, None]


def _psi_bins(reference, counts, totals, cumulative):
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty window gives NaN
        return np.atleast_1d(psi(reference, _shares(counts, totals)))


def _js_bins(reference, counts, totals, cumulative):
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty window gives NaN
        return np.atleast_1d(jensen_shannon(reference, np.maximum(_shares(counts, totals), 0)))


def _chi2_samples(s: Sample) -> Score:
    stat, p = chi_square(s.reference, s.counts)
    return Score(stat, p, math.sqrt(stat / s.n))


def _missing_samples(s: Sample) -> Score:
    return Score(s.missing_share - s.reference_missing_share, insufficient=s.rows == 0)


NUMERIC, CATEGORICAL, CONCEPT = FeatureKind

register(DriftMethod(
    "ks", (NUMERIC,), True, "Kolmogorov–Smirnov statistic against the reference CDF",
    DEFAULT_KS_THRESHOLDS, _ks_samples, _ks_bins, p_values=ks_pvalue,
    rules={NUMERIC: RuleSpec(FEATURE_LEVEL, KS_RECORD, ks_rule_expr)}))
register(DriftMethod(
    "psi", (NUMERIC, CATEGORICAL, CONCEPT), False, "population stability index on the bins",
    DEFAULT_PSI_THRESHOLDS, lambda s: Score(float(psi(s.reference, s.shares))), _psi_bins,
    rules={NUMERIC: RuleSpec(FEATURE_LEVEL, PSI_RECORD, psi_rule_expr),
           CONCEPT: RuleSpec(MODEL_LEVEL, CONCEPT_PSI_RECORD, concept_psi_rule_expr)}))
register(DriftMethod(
    "wasserstein", (NUMERIC,), False, "earth mover's distance to the reference CDF / reference std",
    Thresholds(0.10, 0.20, 0.30), _wasserstein_samples))
register(DriftMethod(
    "js", (NUMERIC, CATEGORICAL, CONCEPT), False, "Jensen–Shannon distance of the bins",
    Thresholds(0.05, 0.10, 0.20), lambda s: Score(float(jensen_shannon(s.reference, s.shares))),
    _js_bins))
register(DriftMethod(
    "chi2", (CATEGORICAL,), True, "chi-square goodness of fit of category counts",
    Thresholds(0.10, 0.30, 0.50), _chi2_samples))  # thresholds on Cohen's w
register(DriftMethod(
    "missing", (NUMERIC, CATEGORICAL), False,
    "rise of the missing share over the baseline's (added to every feature)",
    Thresholds(0.01, 0.05, 0.10), _missing_samples, always=True, needs_values=False))

BINNED_TESTS: tuple[str, ...] = tuple(m.name for m in TESTS.values() if m.binned)
DEFAULT_TESTS: dict[str, tuple[str, ...]] = {NUMERIC: ("ks", "psi"), CATEGORICAL: ("chi2", "psi")}
DEFAULT_THRESHOLDS: dict[str, Thresholds] = {m.name: m.thresholds for m in TESTS.values()}
