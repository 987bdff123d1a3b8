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
from .expressions import CONCEPT_PSI_RECORD, FEATURE_LEVEL, KS_RECORD, MODEL_LEVEL
from .methods import TESTS, FeatureKind

__all__ = ["drift_recording_rules"]


def _features(baseline: Baseline, kind: FeatureKind) -> list[str | None]:
    """The features a rule of ``kind`` is written for (None: the model level)."""
    if kind == FeatureKind.NUMERIC:
        return list(baseline.numeric)
    if kind == FeatureKind.CATEGORICAL:
        return list(baseline.categorical)
    return [None] if baseline.confidence_fractions is not None else []


def drift_recording_rules(model_name: str, baseline: Baseline,
                          windows: Sequence[str] = ("1h",)) -> list[dict]:
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
