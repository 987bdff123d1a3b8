"""Which baseline a model's statistics compare with, when its versions run more than one.

A service exports its baseline's series (:data:`mlmon_nb.metrics.BASELINE_SERIES`) labelled
with the version it serves. A model's statistics (drift, estimated accuracy, the multivariate
check) sum its versions' traffic and compare it with the model's baseline; while its live
versions run two (a canary retrained on other data, or a rollout of one), there is none to
compare with: the two baselines' buckets differ, so their shares would blend, and joining them
on their edges fails the rule for every model. :func:`one_baseline` keeps a model's baseline
series only where its versions run one; a model running two is judged version by version, each
against its own (:mod:`mlmon_nb.drift.expressions`).
"""

from __future__ import annotations

from ..metrics import MODEL_INFO

__all__ = ["MIXED_BASELINES", "one_baseline"]

# the models whose live versions export more than one baseline (``ml_model_info``'s
# ``baseline_id``)
MIXED_BASELINES = (f"count by (model_name) (group by (model_name, baseline_id) "
                   f"({MODEL_INFO.name})) > 1")
_GUARD = f" unless on (model_name) ({MIXED_BASELINES})"


def one_baseline(series: str) -> str:
    """``series`` (a selector of a baseline's or a reliability curve's series) for the models
    whose live versions all run one baseline."""
    return f"{series}{_GUARD}"
