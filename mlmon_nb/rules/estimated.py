"""The estimated-accuracy recording rules: what the accuracy of live traffic should be, from its
confidences alone, through the baseline's reliability curve (confidence-based performance
estimation). Pure: a baseline in, rules out.

For a window, with ``S`` the confidences' sum (the histogram's ``_sum``), ``C_b`` its
cumulative bucket counts (both summed across replicas) and ``g_b`` the calibration gap of bucket
``b`` (calibrated accuracy − mean confidence, see :mod:`mlmon_nb.calibration`)::

    (S + Σ_b g_b (C_b − C_{b−1})) / C_+Inf  =  (S + C_+Inf · g_last − Σ_{b<last} C_b (g_{b+1} − g_b)) / C_+Inf

clamped to [0, 1]. The right-hand side needs no bucket differences, and a term whose weight
(``g_last`` or ``g_{b+1} − g_b``) is 0 is left out. The gaps are written as exact literals
(:func:`mlmon_nb.promql.number`), so a rule equals :meth:`Calibration.estimate` on the same
counts and sum; an empty window gives no series rather than NaN. The rules must be regenerated
with the baseline, like the drift rules.

Per window ``w`` of :data:`~mlmon_nb.rules.names.ESTIMATED_ACCURACY_WINDOWS`:
``model_name:ml_estimated_accuracy:<w>`` and the prediction count it rests on
(``model_name:ml_predictions:increase<w>``; the 30m one is the recording stage's).
"""

from __future__ import annotations

from typing import Sequence

from .. import promql
from ..baseline import Baseline
from ..calibration import Calibration
from ..errors import RulesError
from ..metrics import CONFIDENCE, PREDICTIONS, le_label
from ..queries import confidence_sum
from .model import RecordingRule
from .names import ESTIMATED_ACCURACY_WINDOWS, estimated_accuracy, prediction_count

__all__ = ["estimated_accuracy_expr", "estimated_accuracy_rules", "RECORDED_COUNT_WINDOWS"]

# prediction counts the recording stage already records (``generate._recording``)
RECORDED_COUNT_WINDOWS: tuple[str, ...] = ("30m",)


def _bucket(model_name: str, le: str, window: str) -> str:
    return promql.sum_increase(promql.selector(CONFIDENCE.series("_bucket"), model_name=model_name,
                                               le=le), window)


def estimated_accuracy_expr(model_name: str, calibration: Calibration, window: str) -> str:
    """The PromQL of a model's estimated accuracy over ``window``: (Σ confidence + Σ bucket
    count × bucket gap) / Σ count over the live confidence histogram, summed across replicas."""
    gap = [float(g) for g in calibration.gap]
    total = _bucket(model_name, "+Inf", window)
    weights = [(total, gap[-1])] + [(_bucket(model_name, le_label(edge), window), gap[i] - gap[i + 1])
                                    for i, edge in enumerate(calibration.edges[:-1])]
    numerator = confidence_sum(model_name, window) + "".join(
        f"\n  {'+' if w > 0 else '-'} {count} * {promql.number(abs(w))}"
        for count, w in weights if w != 0)
    ratio = promql.ratio(numerator, total, bad_may_be_absent=False, drop_zero_total=True)
    return f"clamp(\n  {ratio},\n  0, 1)"


def estimated_accuracy_rules(model_name: str, baseline: Baseline,
                             windows: Sequence[str] = ESTIMATED_ACCURACY_WINDOWS
                             ) -> list[RecordingRule]:
    """The estimated accuracy of ``model_name`` per window, and the prediction count behind it
    (except where the recording stage has it); none when the baseline has no calibration."""
    if not isinstance(baseline, Baseline):
        raise RulesError(f"estimated_accuracy_rules needs a Baseline, not "
                         f"{type(baseline).__name__}; load one with Baseline.load(path)")
    if baseline.calibration is None:
        return []
    labels = {"model_name": model_name}
    rules = []
    for w in windows:
        rules.append(RecordingRule(estimated_accuracy(w),
                                   estimated_accuracy_expr(model_name, baseline.calibration, w),
                                   labels))
        if w not in RECORDED_COUNT_WINDOWS:
            rules.append(RecordingRule(prediction_count(w), promql.sum_increase(
                promql.selector(PREDICTIONS.sample, model_name=model_name), w), labels))
    return rules
