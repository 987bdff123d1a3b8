"""Drift against the training baseline: from samples, from histogram buckets, from Prometheus.

One job per module, imported in this order (no cycles):

- :mod:`.stats`: the statistics, pure (arrays in, numbers out): KS with exact and asymptotic
  p-values, PSI, binned KS, Wasserstein, Jensen–Shannon, chi-square, p-value correction;
- :mod:`.significance`: what chance alone gives — the KS and PSI critical values for a window's
  sample size at a significance level (the drift alerts' second condition);
- :mod:`.expressions`: the PromQL of drift (bucket queries, KS/PSI rule expressions, names);
- :mod:`.reference`: KS and Wasserstein of a sample against a baseline's reference CDF (the
  full training data, within the sketch's error), pure;
- :mod:`.methods`: the registry of tests (:data:`TESTS`): each test registered once with the
  :class:`FeatureKind` s it applies to, its p-value, its sample and bin computations, its rules
  and default thresholds; the valid test names are the registry's keys;
- :mod:`.compare`: :func:`compare`, drift of a frame against a baseline, and the severities;
- :mod:`.bins`: binned drift of tidy bucket frames (:class:`BinCounts`, :func:`counts_drift`);
- :mod:`.rules`: :func:`drift_recording_rules`, the same binned computation as recording rules;
- :mod:`.multivariate` and :mod:`.multivariate_rules`: the multivariate check's window
  statistics (KS of the reconstruction error against the baseline's, its critical value, the
  mean) and the same as recording rules;
- :mod:`.prometheus`: :func:`window_drift`, :func:`drift_series` and
  :func:`window_reconstruction`, the only I/O (through a :class:`QuerySource` such as
  :class:`mlmon_nb.prom.Prometheus`).

Everything public is re-exported here: ``from mlmon_nb import drift; drift.compare(...)``.
"""

from __future__ import annotations

from .bins import DRIFT_COLUMNS, BinCounts, bin_counts, binned_drift, binned_statistic, counts_drift
from .compare import COLUMNS, category_fractions, compare, judge, thresholds_for
from .expressions import (
    CONCEPT_N_RULE,
    CONCEPT_PSI_CRITICAL_RULE,
    CONCEPT_PSI_RECORD,
    CONCEPT_PSI_RULE,
    KS_CRITICAL_RULE,
    KS_RECORD,
    KS_RULE,
    MODEL_SCOPE,
    N_RULE,
    PSI_RECORD,
    PSI_RULE,
    VERSION_KS_CRITICAL_RULE,
    VERSION_KS_RULE,
    VERSION_N_RULE,
    VERSION_SCOPE,
    category_counts_query,
    concept_psi_rule_expr,
    confidence_buckets_query,
    feature_buckets_query,
    ks_rule_expr,
    psi_rule_expr,
    versions_rule_expr,
)
from .methods import (
    BINNED_TESTS,
    CONCEPT_FEATURE,
    DEFAULT_TESTS,
    DEFAULT_THRESHOLDS,
    MIN_SAMPLES,
    TESTS,
    DriftMethod,
    FeatureKind,
    RuleSpec,
    Sample,
    Score,
    TestSpec,
    get_method,
    methods_for,
    register,
)
from .multivariate import ReconstructionDrift, pair_changes, reconstruction_drift, residual_shares
from .multivariate_rules import (
    MV_KS_CRITICAL_RULE,
    MV_KS_RULE,
    MV_MEAN_CRITICAL_RULE,
    MV_MEAN_RULE,
    MV_N_RULE,
    multivariate_rules,
    reconstruction_ks_expr,
)
from .prometheus import (
    QuerySource,
    drift_series,
    reconstruction_query,
    window_counts,
    window_drift,
    window_reconstruction,
)
from .reference import (
    CDFPoints,
    ReferenceDrift,
    compare_numeric,
    evaluate,
    reference_ks,
    reference_wasserstein,
)
from .rules import drift_recording_rules
from .significance import DEFAULT_ALPHA, ks_critical, psi_critical
from .stats import (
    PSI_EPSILON,
    KSResult,
    binned_ks,
    chi_square,
    correct_pvalues,
    jensen_shannon,
    ks,
    ks_many,
    ks_pvalue,
    psi,
    wasserstein,
)

__all__ = [
    # the registry
    "TESTS",
    "FeatureKind",
    "DriftMethod",
    "TestSpec",
    "Sample",
    "Score",
    "RuleSpec",
    "register",
    "get_method",
    "methods_for",
    "BINNED_TESTS",
    "DEFAULT_TESTS",
    "DEFAULT_THRESHOLDS",
    "PSI_EPSILON",
    "MIN_SAMPLES",
    "CONCEPT_FEATURE",
    # statistics
    "KSResult",
    "ks",
    "ks_many",
    "ks_pvalue",
    "psi",
    "binned_ks",
    "wasserstein",
    "jensen_shannon",
    "chi_square",
    "correct_pvalues",
    # against a baseline's reference CDF
    "CDFPoints",
    "ReferenceDrift",
    "compare_numeric",
    "evaluate",
    "reference_ks",
    "reference_wasserstein",
    # from samples
    "thresholds_for",
    "judge",
    "compare",
    "category_fractions",
    "COLUMNS",
    # from buckets
    "BinCounts",
    "bin_counts",
    "binned_statistic",
    "binned_drift",
    "counts_drift",
    "DRIFT_COLUMNS",
    # from Prometheus
    "QuerySource",
    "feature_buckets_query",
    "confidence_buckets_query",
    "category_counts_query",
    "window_counts",
    "window_drift",
    "drift_series",
    # recording rules
    "ks_rule_expr",
    "VERSION_KS_RULE",
    "VERSION_N_RULE",
    "VERSION_KS_CRITICAL_RULE",
    "VERSION_SCOPE",
    "versions_rule_expr",
    "MODEL_SCOPE",
    "psi_rule_expr",
    "concept_psi_rule_expr",
    "drift_recording_rules",
    "KS_RECORD",
    "PSI_RECORD",
    "CONCEPT_PSI_RECORD",
    "KS_RULE",
    "PSI_RULE",
    "CONCEPT_PSI_RULE",
    # the drift alerts' evidence: counts and the critical values chance gives for them
    "DEFAULT_ALPHA",
    "ks_critical",
    "psi_critical",
    "N_RULE",
    "KS_CRITICAL_RULE",
    "CONCEPT_N_RULE",
    "CONCEPT_PSI_CRITICAL_RULE",
    # the multivariate check
    "ReconstructionDrift",
    "reconstruction_drift",
    "residual_shares",
    "pair_changes",
    "reconstruction_query",
    "window_reconstruction",
    "multivariate_rules",
    "reconstruction_ks_expr",
    "MV_KS_RULE",
    "MV_N_RULE",
    "MV_MEAN_RULE",
    "MV_KS_CRITICAL_RULE",
    "MV_MEAN_CRITICAL_RULE",
]
