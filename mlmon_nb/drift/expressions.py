"""The PromQL of drift: the bucket queries the rerun reads and the recording rules' expressions.

Every selector, ``sum … (increase(…))`` and number literal is written with
:mod:`mlmon_nb.promql`, so label values are escaped and literals round-trip exactly: a rule's
value equals the Python rerun on the same counts (the suite checks it to 1e-9).

- :func:`feature_buckets_query`, :func:`confidence_buckets_query`,
  :func:`category_counts_query`: a window's counts per bin, summed across replicas (and the
  versions serving a baseline);
- :func:`ks_rule_expr`, :func:`psi_rule_expr`, :func:`concept_psi_rule_expr`: every feature's
  (or the confidence histogram's) binned KS and PSI against the baseline's shares, joined from
  the series its service exports (each version's own, for a version's KS);
- the record names (``level:metric:window``): :data:`KS_RECORD`, :data:`PSI_RECORD`,
  :data:`CONCEPT_PSI_RECORD` and the rules the alert catalogue reads, over
  :data:`RULE_WINDOW` (1h): :data:`KS_RULE`, :data:`PSI_RULE`, :data:`CONCEPT_PSI_RULE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from ..metrics import (
    CONFIDENCE,
    CONFIDENCE_BASELINE_RATIO,
    CONFIDENCE_BASELINE_VALUES,
    CONFIDENCE_BUCKETS,
    FEATURE_BASELINE_RATIO,
    FEATURE_BASELINE_VALUES,
    FEATURE_CATEGORY,
    FEATURE_VALUE,
    MODEL_INFO,
    MetricSpec,
    recording_name,
)
from ..promql import matcher, number, selector, sum_increase
from ..promql.baselines import one_baseline, own_baseline, served, served_increase
from ..promql.histograms import (
    bins,
    confidence_buckets_record,
    confidence_buckets_rule_expr,
    own_bins,
)
from ..queries import confidence_buckets
from .significance import DEFAULT_ALPHA, ks_coefficient, psi_chi2
from .stats import PSI_EPSILON

__all__ = [
    "FEATURE_LEVEL", "MODEL_LEVEL", "KS_RECORD", "PSI_RECORD", "CONCEPT_PSI_RECORD",
    "RULE_WINDOW", "KS_RULE", "PSI_RULE", "CONCEPT_PSI_RULE", "feature_buckets_query",
    "confidence_buckets_query", "category_counts_query", "ks_rule_expr", "psi_rule_expr",
    "concept_psi_rule_expr", "N_RECORD", "KS_CRITICAL_RECORD", "PSI_CRITICAL_RECORD",
    "CONCEPT_N_RECORD", "CONCEPT_PSI_CRITICAL_RECORD", "N_RULE", "KS_CRITICAL_RULE",
    "CONCEPT_N_RULE", "CONCEPT_PSI_CRITICAL_RULE", "count_rule_expr",
    "concept_count_rule_expr", "ks_critical_expr", "psi_critical_expr",
    "concept_psi_critical_expr", "feature_buckets_record", "confidence_buckets_record",
    "feature_buckets_rule_expr", "confidence_buckets_rule_expr", "bins", "reference_record",
    "reference_rule_expr", "version_reference_record", "version_reference_rule_expr",
    "reference_bins_record", "reference_bins_rule_expr", "current_bins_record",
    "current_bins_rule_expr", "Alphas", "Scope", "MODEL_SCOPE", "VERSION_SCOPE",
    "VERSIONS_RULE", "versions_rule_expr", "VERSION_KS_RULE", "VERSION_N_RULE",
    "VERSION_KS_CRITICAL_RULE",
]

FEATURE_LEVEL = "model_name_feature"  # the level of per-feature rules (one series per feature)
MODEL_LEVEL = "model_name"
KS_RECORD = "ml_feature_drift_ks"
PSI_RECORD = "ml_feature_drift_psi"
CONCEPT_PSI_RECORD = "ml_concept_drift_psi"
# the window of the rules the alert catalogue reads (DataDriftDetected, ConceptDriftDetected)
RULE_WINDOW = "1h"
KS_RULE = recording_name(FEATURE_LEVEL, KS_RECORD, RULE_WINDOW)
PSI_RULE = recording_name(FEATURE_LEVEL, PSI_RECORD, RULE_WINDOW)
CONCEPT_PSI_RULE = recording_name(MODEL_LEVEL, CONCEPT_PSI_RECORD, RULE_WINDOW)
# the evidence behind them: the window's count n, and the value chance alone gives for n
N_RECORD = "ml_feature_drift_n"
KS_CRITICAL_RECORD = "ml_feature_drift_ks_critical"
PSI_CRITICAL_RECORD = "ml_feature_drift_psi_critical"
CONCEPT_N_RECORD = "ml_concept_drift_n"
CONCEPT_PSI_CRITICAL_RECORD = "ml_concept_drift_psi_critical"
N_RULE = recording_name(FEATURE_LEVEL, N_RECORD, "1h")
KS_CRITICAL_RULE = recording_name(FEATURE_LEVEL, KS_CRITICAL_RECORD, "1h")
CONCEPT_N_RULE = recording_name(MODEL_LEVEL, CONCEPT_N_RECORD, "1h")
CONCEPT_PSI_CRITICAL_RULE = recording_name(MODEL_LEVEL, CONCEPT_PSI_CRITICAL_RECORD, "1h")
# the same per version, for models running more than one (a canary)
VERSION_KS_RULE = recording_name("model_name_model_version_feature", KS_RECORD, "1h")
VERSION_N_RULE = recording_name("model_name_model_version_feature", N_RECORD, "1h")
VERSION_KS_CRITICAL_RULE = recording_name("model_name_model_version_feature", KS_CRITICAL_RECORD,
                                          "1h")

_FEATURE_BY = ("model_name", "feature")


def feature_buckets_query(model_name: str, window: str = "1h") -> str:
    """Each feature's bucket increases over ``window``, summed across replicas, of the versions
    serving a baseline now (:func:`~mlmon_nb.promql.baselines.served`), as the rules sum them."""
    own = matcher("model_name", model_name)
    return served_increase(selector(FEATURE_VALUE.series("_bucket"), own), window,
                           ("feature", "le"), FEATURE_BASELINE_VALUES, own)


def confidence_buckets_query(model_name: str, window: str = "1h") -> str:
    """The confidence histogram's bucket increases over ``window``, summed across replicas."""
    return confidence_buckets(model_name, window)


def category_counts_query(model_name: str, window: str = "1h") -> str:
    """Each categorical feature's count per category over ``window``, summed across replicas."""
    return sum_increase(selector(FEATURE_CATEGORY.sample, model_name=model_name), window,
                        ("feature", "category"))


# -- the label-generic rules: every model at once, the baseline joined from its series ----------

FEATURE_BUCKETS_LEVEL = "model_name_feature_le"
# chi-square quantiles are tabulated per bin count up to at least this many bins
TABLE_BINS = 64


# how many versions of each model run now: the version-level rules exist only where it is > 1
VERSIONS_RULE = recording_name(MODEL_LEVEL, "ml_model_versions", "count")


@dataclass(frozen=True)
class Scope:
    """Whose traffic a feature statistic judges: each model (summed over its versions serving a
    baseline now), or each version of a model that runs more than one (a canary on its own
    traffic, without a series more for a model that runs one version)."""

    by: tuple[str, ...]  # the labels of a feature statistic
    level: str  # its recording level
    only: str = ""  # what restricts its count n, so its statistics (``and on …``)

    @property
    def buckets_level(self) -> str:
        return f"{self.level}_le"


MODEL_SCOPE = Scope(("model_name", "feature"), FEATURE_LEVEL)
VERSION_SCOPE = Scope(("model_name", "model_version", "feature"), "model_name_model_version_feature",
                      f"and on (model_name) ({VERSIONS_RULE} > 1)")


def versions_rule_expr() -> str:
    """How many versions of each model export their info now."""
    return f"count by (model_name) (group by (model_name, model_version) ({MODEL_INFO.name}))"


def feature_buckets_record(window: str, scope: Scope = MODEL_SCOPE) -> str:
    """Each feature's bucket counts over ``window`` summed across replicas (recorded once: KS,
    PSI and the count read it)."""
    return recording_name(scope.buckets_level, FEATURE_VALUE.series("_bucket"), f"increase{window}")


def feature_buckets_rule_expr(window: str, scope: Scope = MODEL_SCOPE) -> str:
    """Each version's counts from the raw buckets, for every model (the only read of the raw
    buckets: a version's statistics are restricted through its count n); each model's the sum
    of its versions' serving a baseline now (the same counts, without reading every replica's
    raw buckets again; a version retired within the window, whose buckets another baseline's
    edges would not match, is left out: :func:`~mlmon_nb.promql.baselines.served`)."""
    if scope is MODEL_SCOPE:
        versions = served(feature_buckets_record(window, VERSION_SCOPE))
        return f"sum by (model_name, feature, le) ({versions})"
    return sum_increase(FEATURE_VALUE.series("_bucket"), window, (*scope.by, "le"))


def reference_record(reference: MetricSpec) -> str:
    """The baseline's cumulative shares with each bucket's lower edge, one series per bucket
    (``max`` across replicas, which export the same values): recorded once per evaluation, so
    the statistics join a recorded series instead of every replica's exported one."""
    level = "model_name_le_lower" if reference is CONFIDENCE_BASELINE_RATIO else \
        "model_name_feature_le_lower"
    return recording_name(level, reference.name, "max")


def reference_rule_expr(reference: MetricSpec) -> str:
    by = ("model_name",) if reference is CONFIDENCE_BASELINE_RATIO else _FEATURE_BY
    return f"max by ({', '.join((*by, 'le', 'lower'))}) ({one_baseline(reference.name)})"


def version_reference_record() -> str:
    """Each version's own baseline shares, for the models that run more than one version now:
    a canary retrained on other data is judged against its own baseline."""
    return recording_name(f"{VERSION_SCOPE.level}_le", FEATURE_BASELINE_RATIO.name, "max")


def _version_reference(matchers: Sequence[str] = (), recorded: bool = True) -> str:
    """Each version's own baseline shares by ``le``: the record, or (a query over any window)
    from the exported series."""
    if recorded:
        return selector(version_reference_record(), *matchers)
    return _version_shares(selector(FEATURE_BASELINE_RATIO.name, *matchers))


def version_reference_rule_expr() -> str:
    """The record's expression: the exported shares of the models running several versions."""
    return _version_shares(f"{FEATURE_BASELINE_RATIO.name} {VERSION_SCOPE.only}")


def _version_shares(exported: str) -> str:
    return f"max by ({', '.join((*VERSION_SCOPE.by, 'le'))}) ({own_baseline(exported)})"


def _baseline(spec: MetricSpec, by: Sequence[str], matchers: Sequence[str] = (), *,
              lower: bool = False, recorded: bool = False) -> str:
    """The baseline's cumulative shares, one series per bucket: ``recorded``, the
    :func:`reference_record` (the same values, each bucket with its lower edge); otherwise the
    exported series (replicas export the same values), ``lower`` keeping each bucket's lower
    edge (the mapping :func:`bins` needs)."""
    if recorded:
        return selector(reference_record(spec), *matchers)
    labels = ", ".join((*by, "le", *(("lower",) if lower else ())))
    return f"max by ({labels}) ({one_baseline(selector(spec.name, *matchers))})"


def reference_bins_record(reference: MetricSpec) -> str:
    """The baseline's ε-clipped share per bin (PSI's r'), recorded once per evaluation, with
    each bin's lower edge."""
    by = ("model_name",) if reference is CONFIDENCE_BASELINE_RATIO else _FEATURE_BY
    return recording_name(f"{'_'.join(by)}_le_lower", reference.name, "psi_bin")


def reference_bins_rule_expr(reference: MetricSpec, matchers: Sequence[str] = (),
                             recorded: bool = True) -> str:
    """r' = max(r, ε) per bin of the baseline's shares (``stats.psi``), from the shares that
    carry their own lower edges: one join."""
    by = ("model_name",) if reference is CONFIDENCE_BASELINE_RATIO else _FEATURE_BY
    shares = _baseline(reference, by, matchers, lower=True, recorded=recorded)
    return f"clamp_min({own_bins(shares, by)}, {number(PSI_EPSILON)})"


def current_bins_record(spec: MetricSpec, window: str) -> str:
    """The window's ε-clipped share per bin (PSI's c'), recorded once per evaluation."""
    by = _FEATURE_BY if spec is FEATURE_VALUE else ("model_name",)
    return recording_name(f"{'_'.join(by)}_le", spec.series("_bucket"), f"psi_bin{window}")


def _current_bins(counts: str, total: str, reference: MetricSpec, by: Sequence[str],
                  matchers: Sequence[str], recorded: bool) -> str:
    mapping = _baseline(reference, by, matchers, lower=True, recorded=recorded)
    return (f"clamp_min({bins(counts, mapping, by)} / on ({', '.join(by)}) group_left () "
            f"{total}, {number(PSI_EPSILON)})")


def current_bins_rule_expr(spec: MetricSpec, window: str) -> str:
    """c' = clamp_min(c / n, ε) per bin of the window's recorded counts."""
    by = _FEATURE_BY if spec is FEATURE_VALUE else ("model_name",)
    reference = FEATURE_BASELINE_RATIO if spec is FEATURE_VALUE else CONFIDENCE_BASELINE_RATIO
    return _current_bins(_counts(spec, by, window, (), True), _n(spec, by, window, (), True),
                         reference, by, (), True)


def _psi(spec: MetricSpec, window: str, reference: MetricSpec, by: Sequence[str],
         matchers: Sequence[str], recorded: bool) -> str:
    """Σ (c'−r')·ln(c'/r') over the bins, c' = clamp_min(c / n, ε), r' = max(r, ε)
    (``stats.psi``), every model and feature at once: from the recorded c' and r' in the rules
    (each computed once, not once per use), from the raw buckets and baseline otherwise."""
    keys = ", ".join((*by, "le"))
    if recorded:
        cur = selector(current_bins_record(spec, window), *matchers)
        ref = selector(reference_bins_record(reference), *matchers)
    else:
        cur = _current_bins(_counts(spec, by, window, matchers, False),
                            _n(spec, by, window, matchers, False), reference, by, matchers, False)
        ref = reference_bins_rule_expr(reference, matchers, recorded=False)
    return (f"sum by ({', '.join(by)}) (\n  ({cur} - on ({keys}) {ref})\n"
            f"  * ln({cur} / on ({keys}) {ref})\n)")


def _counts(spec: MetricSpec, by: Sequence[str], window: str, matchers: Sequence[str],
            recorded: bool, *extra: str, scope: Scope = MODEL_SCOPE) -> str:
    """A histogram's bucket counts over ``window`` by ``by`` and ``le``: the recorded rule
    (in the rules), or computed from the raw buckets (a query over any window)."""
    if recorded:
        record = (feature_buckets_record(window, scope) if spec is FEATURE_VALUE
                  else confidence_buckets_record(window))
        return selector(record, *extra, *matchers)
    raw = selector(spec.series("_bucket"), *extra, *matchers)
    if spec is FEATURE_VALUE and scope is MODEL_SCOPE:
        return served_increase(raw, window, (*by, "le"), FEATURE_BASELINE_VALUES, *matchers)
    return sum_increase(raw, window, (*by, "le"))


def _n(spec: MetricSpec, by: Sequence[str], window: str, matchers: Sequence[str],
       recorded: bool, scope: Scope = MODEL_SCOPE) -> str:
    """The window's count behind a statistic: the recorded n, or the ``+Inf`` bucket's sum."""
    if recorded:
        level, record = ((scope.level, N_RECORD) if spec is FEATURE_VALUE
                         else (MODEL_LEVEL, CONCEPT_N_RECORD))
        return selector(recording_name(level, record, window), *matchers)
    inf = _counts(spec, by, window, matchers, False, 'le="+Inf"')
    return f"sum by ({', '.join(by)}) ({inf})"


def ks_rule_expr(window: str = "1h", *matchers: str, recorded: bool = True,
                 scope: Scope = MODEL_SCOPE) -> str:
    """Binned KS of every feature over ``window``: the max over edges of |current − baseline|
    cumulative share. ``matchers`` narrow it (e.g. one model and feature); ``recorded=False``
    computes it from the raw buckets, for a query over any window; ``scope`` says whose traffic
    (each model's, or each version's of a model running several)."""
    finite = _counts(FEATURE_VALUE, scope.by, window, matchers, recorded, 'le!="+Inf"',
                     scope=scope)
    n = _n(FEATURE_VALUE, scope.by, window, matchers, recorded, scope)
    if scope is MODEL_SCOPE:
        baseline_matchers = [m for m in matchers if not m.startswith("model_version")]
        reference = _baseline(FEATURE_BASELINE_RATIO, _FEATURE_BY, baseline_matchers,
                              recorded=recorded)
    else:  # each version against its own baseline
        reference = _version_reference(matchers, recorded)
    return (f"max by ({', '.join(scope.by)}) (abs(\n"
            f"  ({finite} / ignoring (le) group_left () {n})\n"
            f"  - on ({', '.join((*scope.by, 'le'))}) group_left () {reference}\n))")


def psi_rule_expr(window: str = "1h", *matchers: str, recorded: bool = True) -> str:
    """PSI of every feature over ``window`` on its baseline's bins (ε-clipped like
    ``stats.psi``)."""
    return _psi(FEATURE_VALUE, window, FEATURE_BASELINE_RATIO, _FEATURE_BY, matchers, recorded)


def concept_psi_rule_expr(window: str = "1h", *matchers: str, recorded: bool = True) -> str:
    """PSI of every model's confidence histogram over ``window`` against its baseline's."""
    return _psi(CONFIDENCE, window, CONFIDENCE_BASELINE_RATIO, ("model_name",), matchers,
                recorded)


# -- the evidence: counts and critical values ---------------------------------------------------

def count_rule_expr(window: str = "1h", scope: Scope = MODEL_SCOPE) -> str:
    """How many values of each feature the ``window`` holds (n of its KS and PSI)."""
    inf = _counts(FEATURE_VALUE, scope.by, window, (), True, 'le="+Inf"', scope=scope)
    n = f"sum by ({', '.join(scope.by)}) ({inf})"
    return f"{n} {scope.only}" if scope.only else n


def concept_count_rule_expr(window: str = "1h") -> str:
    """How many confidences the ``window`` holds (n of the concept-drift PSI)."""
    inf = _counts(CONFIDENCE, ("model_name",), window, (), True, 'le="+Inf"')
    return f"sum by (model_name) ({inf})"


Alphas = Sequence[tuple[float, Sequence[str]]]  # each alpha with the matchers of its models


def _by_alpha(alphas: Alphas, expr: Callable[[float, Sequence[str]], str]) -> str:
    parts = [expr(alpha, matchers) for alpha, matchers in alphas]
    return parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)


def ks_critical_expr(window: str = "1h", alphas: Alphas = ((DEFAULT_ALPHA, ()),),
                     scope: Scope = MODEL_SCOPE) -> str:
    """c(α)·sqrt((n+m)/(n·m)) from each feature's recorded n and its baseline's m
    (``stats.ks_critical``): the KS chance alone exceeds with probability α; +Inf at n = 0."""
    def one(alpha: float, matchers: Sequence[str]) -> str:
        n = selector(recording_name(scope.level, N_RECORD, window), *matchers)
        values = (one_baseline(FEATURE_BASELINE_VALUES.name) if scope is MODEL_SCOPE
                  else FEATURE_BASELINE_VALUES.name)  # a version's own baseline's
        keys = ", ".join(scope.by)
        m = f"on ({keys}) group_left () max by ({keys}) ({values})"
        return f"{number(ks_coefficient(alpha))} * sqrt(({n} + {m}) / ({n} * {m}))"
    return _by_alpha(alphas, one)


def _chi2_table(alpha: float, max_bins: int) -> str:
    """χ²₁₋α(k−1) for k = 2 … max(max_bins, TABLE_BINS) bins, one series each (label ``bins``)."""
    return " or ".join(
        f"label_replace(vector({number(psi_chi2(k, alpha))}), \"bins\", \"{k}\", \"\", \"\")"
        for k in range(2, max(max_bins, TABLE_BINS) + 1))


def _psi_critical(n: str, m: str, reference: MetricSpec, by: Sequence[str], alphas: Alphas,
                  max_bins: int) -> str:
    keys = ", ".join(by)

    def one(alpha: float, matchers: Sequence[str]) -> str:
        counted = f"count by ({keys}) ({_baseline(reference, by, recorded=True)})"
        per_bins = f'count_values by ({keys}) ("bins", {counted})'
        chi2 = (f"max by ({keys}) ({per_bins} * on (bins) group_left () "
                f"({_chi2_table(alpha, max_bins)}))")
        return (f"{chi2} * on ({keys}) (1 / {selector(n, *matchers)} + on ({keys}) "
                f"(1 / max by ({keys}) ({one_baseline(m)})))")
    return _by_alpha(alphas, one)


def psi_critical_expr(window: str = "1h", alphas: Alphas = ((DEFAULT_ALPHA, ()),),
                      max_bins: int = 0) -> str:
    """χ²₁₋α(bins−1)·(1/n + 1/m) of each feature (``stats.psi_critical``): the bin count read
    off its baseline's series, the quantile from a table computed here."""
    return _psi_critical(recording_name(FEATURE_LEVEL, N_RECORD, window),
                         FEATURE_BASELINE_VALUES.name, FEATURE_BASELINE_RATIO, _FEATURE_BY,
                         alphas, max_bins)


def concept_psi_critical_expr(window: str = "1h",
                              alphas: Alphas = ((DEFAULT_ALPHA, ()),)) -> str:
    """χ²₁₋α(bins−1)·(1/n + 1/m) of the confidence histogram, m the baseline's rows."""
    return _psi_critical(recording_name(MODEL_LEVEL, CONCEPT_N_RECORD, window),
                         CONFIDENCE_BASELINE_VALUES.name, CONFIDENCE_BASELINE_RATIO,
                         ("model_name",), alphas, len(CONFIDENCE_BUCKETS) + 1)
