"""The drift recording rules of one model: every registered test that has a rule, per window.

Each rule is a dict ``{"record", "expr", "labels"}`` ready for a Prometheus rule group. Per
feature rules share their name across features, so each carries ``labels={"feature": name}``
(the value its expression yields anyway): promtool's duplicate-rule lint and any consumer tell
them apart without reading the expression.
"""

from __future__ import annotations

from typing import Sequence

from ..baseline import Baseline
from ..errors import DriftError
from ..metrics import LEGACY_CONCEPT_DRIFT, LEGACY_DATA_DRIFT, recording_name
from ..promql import selector
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
    concept_count_rule_expr,
    concept_psi_critical_expr,
    count_rule_expr,
    ks_critical_expr,
    psi_critical_expr,
)
from .methods import TESTS, FeatureKind
from .significance import DEFAULT_ALPHA

__all__ = ["drift_recording_rules"]


def _features(baseline: Baseline, kind: FeatureKind) -> list[str | None]:
    """The features a rule of ``kind`` is written for (None: the model level)."""
    if kind == FeatureKind.NUMERIC:
        return list(baseline.numeric)
    if kind == FeatureKind.CATEGORICAL:
        return list(baseline.categorical)
    return [None] if baseline.confidence_fractions is not None else []


def _evidence_rules(model_name: str, baseline: Baseline, window: str,
                    alpha: float) -> list[dict]:
    """Per window: each numeric feature's count n with its KS and PSI critical values, and the
    confidence histogram's n with its PSI critical value (the drift alerts' evidence)."""
    rules = []
    for feature in baseline.numeric:
        labels = {"feature": feature}
        rules += [
            {"record": recording_name(FEATURE_LEVEL, N_RECORD, window),
             "expr": count_rule_expr(model_name, feature, window), "labels": labels},
            {"record": recording_name(FEATURE_LEVEL, KS_CRITICAL_RECORD, window),
             "expr": ks_critical_expr(model_name, feature, baseline, window, alpha),
             "labels": labels},
            {"record": recording_name(FEATURE_LEVEL, PSI_CRITICAL_RECORD, window),
             "expr": psi_critical_expr(model_name, feature, baseline, window, alpha),
             "labels": labels}]
    if baseline.confidence_fractions is not None:
        rules += [
            {"record": recording_name(MODEL_LEVEL, CONCEPT_N_RECORD, window),
             "expr": concept_count_rule_expr(model_name, window), "labels": {}},
            {"record": recording_name(MODEL_LEVEL, CONCEPT_PSI_CRITICAL_RECORD, window),
             "expr": concept_psi_critical_expr(model_name, baseline, window, alpha),
             "labels": {}}]
    return rules


def drift_recording_rules(model_name: str, baseline: Baseline,
                          windows: Sequence[str] = ("1h",), *,
                          alpha: float = DEFAULT_ALPHA) -> list[dict]:
    """Recording rules for KS and PSI per feature and concept-drift PSI, per window.

    Names: ``model_name_feature:ml_feature_drift_ks:<w>``, ``…:ml_feature_drift_psi:<w>`` and
    ``model_name:ml_concept_drift_psi:<w>``; the seed's ``ml_data_drift_score`` (KS per feature)
    and ``ml_concept_drift_psi`` follow the first window. Sums across replicas; the baseline's
    shares are literals, so the rules depend only on the bucket counters and must be regenerated
    with the baseline (the committed rule files are checked for staleness).
    """
    if not isinstance(model_name, str) or not model_name:
        raise DriftError(f"drift_recording_rules needs the model's name as a string, not "
                         f"{type(model_name).__name__} {model_name!r:.60}; pass e.g. model.name")
    if not isinstance(baseline, Baseline):
        raise DriftError(f"drift_recording_rules needs a Baseline, not {type(baseline).__name__}; "
                         f"load one with Baseline.load(path)")
    rules: list[dict] = []
    for w in windows:
        rules += _evidence_rules(model_name, baseline, w, alpha)
        for kind in FeatureKind:
            for feature in _features(baseline, kind):
                for method in TESTS.values():
                    spec = method.rules.get(kind)
                    if spec is None:
                        continue
                    rules.append({"record": recording_name(spec.level, spec.record, w),
                                  "expr": spec.expr(model_name, feature, baseline, w),
                                  "labels": {"feature": feature} if spec.per_feature else {}})
    if windows:
        first = windows[0]
        if baseline.numeric:
            rules.append({"record": LEGACY_DATA_DRIFT, "expr": selector(
                recording_name(FEATURE_LEVEL, KS_RECORD, first), model_name=model_name),
                "labels": {}})
        if baseline.confidence_fractions is not None:
            rules.append({"record": LEGACY_CONCEPT_DRIFT, "expr": selector(
                recording_name(MODEL_LEVEL, CONCEPT_PSI_RECORD, first), model_name=model_name),
                "labels": {}})
    return rules
