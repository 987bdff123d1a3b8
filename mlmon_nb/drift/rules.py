"""The drift recording rules: written once for every model and feature, the baseline joined from
the series each service exports (:data:`mlmon_nb.metrics.BASELINE_SERIES`).

Each rule is a dict ``{"record", "expr", "labels"}`` ready for a Prometheus rule group, in the
order Prometheus must evaluate them (later rules read earlier ones of the same evaluation): per
window each version's feature bucket counts summed across replicas (for every model: the one
read of the raw buckets) and each model's summed from those of its versions serving a baseline
now, the counts n, every registered test
that has a rule, and the critical values chance gives for n at each model's alpha; then, for the
models that run more than one version now (a canary), each version's feature KS on its own
traffic (its count n, so its statistics, kept to those models).
"""

from __future__ import annotations

from typing import Sequence

from ..errors import DriftError
from ..metrics import (
    CONFIDENCE,
    CONFIDENCE_BASELINE_RATIO,
    FEATURE_BASELINE_RATIO,
    FEATURE_VALUE,
    LEGACY_CONCEPT_DRIFT,
    LEGACY_DATA_DRIFT,
    recording_name,
)
from .expressions import (
    CONCEPT_N_RECORD,
    CONCEPT_PSI_CRITICAL_RECORD,
    CONCEPT_PSI_RECORD,
    FEATURE_LEVEL,
    KS_CRITICAL_RECORD,
    KS_RECORD,
    MODEL_LEVEL,
    N_RECORD,
    PSI_CRITICAL_RECORD,
    VERSION_SCOPE,
    VERSIONS_RULE,
    Alphas,
    concept_count_rule_expr,
    concept_psi_critical_expr,
    confidence_buckets_record,
    confidence_buckets_rule_expr,
    count_rule_expr,
    current_bins_record,
    current_bins_rule_expr,
    feature_buckets_record,
    feature_buckets_rule_expr,
    ks_critical_expr,
    ks_rule_expr,
    psi_critical_expr,
    reference_bins_record,
    reference_bins_rule_expr,
    reference_record,
    reference_rule_expr,
    version_reference_record,
    version_reference_rule_expr,
    versions_rule_expr,
)
from .methods import TESTS, FeatureKind
from .significance import DEFAULT_ALPHA

__all__ = ["drift_recording_rules"]

_REFERENCES = (FEATURE_BASELINE_RATIO, CONFIDENCE_BASELINE_RATIO)


def _rule(record: str, expr: str) -> dict:
    return {"record": record, "expr": expr, "labels": {}}


def drift_recording_rules(windows: Sequence[str] = ("1h",), *,
                          alphas: Alphas = ((DEFAULT_ALPHA, ()),),
                          max_bins: int = 0, confidence_buckets: bool = True) -> list[dict]:
    """Recording rules for KS and PSI per feature and concept-drift PSI, per window, for every
    model whose service exports its baseline.

    Names: ``model_name_feature:ml_feature_drift_ks:<w>``, ``…:ml_feature_drift_psi:<w>`` and
    ``model_name:ml_concept_drift_psi:<w>``, their counts ``…_n`` and critical values
    ``…_critical`` (``alphas``: each drift alpha with the ``model_name`` matchers of its models;
    ``max_bins`` widens the PSI quantile table; ``confidence_buckets=False`` leaves the
    confidence histogram's bucket counts to another group that records them); the seed's
    ``ml_data_drift_score`` (KS per feature) and ``ml_concept_drift_psi`` follow the first
    window. Sums across replicas; nothing in them names a model, a feature or a bucket edge,
    so they need no regeneration when a baseline changes.
    """
    if isinstance(windows, str) or not all(isinstance(w, str) for w in windows):
        raise DriftError(f"drift_recording_rules takes windows like ('1h',), not {windows!r:.60}")
    if not alphas:
        raise DriftError("drift_recording_rules needs at least one alpha, e.g. ((0.01, ()),)")
    # the baselines' shares as recorded series, read by every statistic below (replicas export
    # the same values; each is read once per evaluation instead of once per use)
    rules: list[dict] = [_rule(VERSIONS_RULE, versions_rule_expr())]
    rules += [_rule(reference_record(r), reference_rule_expr(r)) for r in _REFERENCES]
    rules += [_rule(reference_bins_record(r), reference_bins_rule_expr(r)) for r in _REFERENCES]
    rules.append(_rule(version_reference_record(), version_reference_rule_expr()))
    v = VERSION_SCOPE
    for w in windows:
        rules += [
            # each version's bucket counts (the one read of the raw buckets), then each model's
            _rule(feature_buckets_record(w, v), feature_buckets_rule_expr(w, v)),
            _rule(feature_buckets_record(w), feature_buckets_rule_expr(w)),
            *([_rule(confidence_buckets_record(w), confidence_buckets_rule_expr(w))]
              if confidence_buckets else []),
            _rule(recording_name(FEATURE_LEVEL, N_RECORD, w), count_rule_expr(w)),
            _rule(recording_name(MODEL_LEVEL, CONCEPT_N_RECORD, w), concept_count_rule_expr(w)),
            *[_rule(current_bins_record(spec, w), current_bins_rule_expr(spec, w))
              for spec in (FEATURE_VALUE, CONFIDENCE)],
            _rule(recording_name(FEATURE_LEVEL, KS_CRITICAL_RECORD, w), ks_critical_expr(w, alphas)),
            _rule(recording_name(FEATURE_LEVEL, PSI_CRITICAL_RECORD, w),
                  psi_critical_expr(w, alphas, max_bins)),
            _rule(recording_name(MODEL_LEVEL, CONCEPT_PSI_CRITICAL_RECORD, w),
                  concept_psi_critical_expr(w, alphas))]
        for kind in FeatureKind:
            for method in TESTS.values():
                spec = method.rules.get(kind)
                if spec is not None:
                    rules.append(_rule(recording_name(spec.level, spec.record, w), spec.expr(w)))
        # each version's own traffic, for the models that run more than one (a canary)
        rules += [
            _rule(recording_name(v.level, N_RECORD, w), count_rule_expr(w, v)),
            _rule(recording_name(v.level, KS_CRITICAL_RECORD, w), ks_critical_expr(w, alphas, v)),
            _rule(recording_name(v.level, KS_RECORD, w), ks_rule_expr(w, scope=v))]
    if windows:
        first = windows[0]
        rules.append(_rule(LEGACY_DATA_DRIFT, recording_name(FEATURE_LEVEL, KS_RECORD, first)))
        rules.append(_rule(LEGACY_CONCEPT_DRIFT,
                           recording_name(MODEL_LEVEL, CONCEPT_PSI_RECORD, first)))
    return rules
