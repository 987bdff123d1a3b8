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

What notebooks and services call is re-exported here (``from mlmon_nb import drift;
drift.compare(...)``): comparing samples or bucket counts with a baseline, the window queries,
the registry of tests and the statistics, the critical values, the multivariate check and the
drift rule builder. The building blocks (record names, PromQL expressions and queries,
reference-CDF and bin internals, the multivariate rules) stay in their modules, e.g.
``drift.expressions.KS_RULE``, ``drift.multivariate_rules.multivariate_rules``.
"""

from __future__ import annotations

from . import bins, expressions, methods, multivariate, multivariate_rules, reference, stats
from .bins import DRIFT_COLUMNS, BinCounts, counts_drift
from .compare import COLUMNS, compare, judge, thresholds_for
from .methods import (
    BINNED_TESTS,
    CONCEPT_FEATURE,
    DEFAULT_TESTS,
    DEFAULT_THRESHOLDS,
    TESTS,
    DriftMethod,
    FeatureKind,
    Sample,
    Score,
    get_method,
    methods_for,
    register,
)
from .multivariate import ReconstructionDrift, reconstruction_drift
from .prometheus import QuerySource, drift_series, window_counts, window_drift, window_reconstruction
from .reference import ReferenceDrift, compare_numeric
from .rules import drift_recording_rules
from .significance import DEFAULT_ALPHA, ks_critical, psi_critical
from .stats import (
    KSResult,
    binned_ks,
    chi_square,
    correct_pvalues,
    jensen_shannon,
    ks,
    ks_pvalue,
    psi,
    wasserstein,
)

__all__ = [
    # the building blocks, by module
    "bins",
    "expressions",
    "methods",
    "multivariate",
    "multivariate_rules",
    "reference",
    "stats",
    # the registry of tests
    "TESTS",
    "FeatureKind",
    "DriftMethod",
    "Sample",
    "Score",
    "register",
    "get_method",
    "methods_for",
    "BINNED_TESTS",
    "DEFAULT_TESTS",
    "DEFAULT_THRESHOLDS",
    "CONCEPT_FEATURE",
    # statistics
    "KSResult",
    "ks",
    "ks_pvalue",
    "psi",
    "binned_ks",
    "wasserstein",
    "jensen_shannon",
    "chi_square",
    "correct_pvalues",
    # against a baseline's reference CDF
    "ReferenceDrift",
    "compare_numeric",
    # from samples
    "thresholds_for",
    "judge",
    "compare",
    "COLUMNS",
    # from buckets
    "BinCounts",
    "counts_drift",
    "DRIFT_COLUMNS",
    # from Prometheus
    "QuerySource",
    "window_counts",
    "window_drift",
    "drift_series",
    "window_reconstruction",
    # what chance gives: the drift alerts' second condition
    "DEFAULT_ALPHA",
    "ks_critical",
    "psi_critical",
    # the multivariate check
    "ReconstructionDrift",
    "reconstruction_drift",
    # recording rules
    "drift_recording_rules",
]
