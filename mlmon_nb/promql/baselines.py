"""Which baseline a model's statistics compare with, when its versions run more than one.

A service exports its baseline's series (:data:`mlmon_nb.metrics.BASELINE_SERIES`) labelled
with the version it serves. A model's statistics (drift, estimated accuracy, the multivariate
check) sum its versions' traffic and compare it with the model's baseline; while its live
versions run two (a canary retrained on other data, or a rollout of one), there is none to
compare with: the two baselines' buckets differ, so their shares would blend, and joining them
on their edges fails the rule for every model. :func:`one_baseline` keeps a model's baseline
series only where its versions run one; a model running two is judged version by version, each
against its own (:mod:`mlmon_nb.drift.expressions`). And a model's window sums only the
versions serving a baseline now (:func:`served`): after a rollout of a version retrained on
other data, the retired version's buckets, at edges the new baseline does not have, would
otherwise stay in the hour's counts and read as drift until they aged out.

The replicas of one version serving different baselines (:data:`VERSION_BASELINES` over 1: a
replica left with an old baseline file, one started without its file) leave the model with no
baseline to compare with either; the alert ``BaselineConflict`` says so instead of the
statistics going silent.
"""

from __future__ import annotations

from typing import Sequence

from ..metrics import FEATURE_BASELINE_VALUES, MODEL_INFO, MetricSpec
from . import by, matcher, selector

__all__ = ["MIXED_BASELINES", "VERSION_BASELINES", "one_baseline", "own_baseline", "served",
           "served_increase", "version_baselines"]

# the models whose live versions export more than one baseline (``ml_model_info``'s
# ``baseline_id``)
MIXED_BASELINES = (f"count by (model_name) (group by (model_name, baseline_id) "
                   f"({MODEL_INFO.name})) > 1")
_GUARD = f" unless on (model_name) ({MIXED_BASELINES})"


def version_baselines(**labels: str) -> str:
    """How many baselines the live replicas of each version serve (``ml_model_info``'s
    ``baseline_id``; a service without one: id ``none``); ``labels`` narrow it (one model's)."""
    return (f"count by (model_name, model_version) (group by (model_name, model_version, "
            f"baseline_id) ({selector(MODEL_INFO.name, **labels)}))")


# every model's: the alert BaselineConflict is this over 1
VERSION_BASELINES = version_baselines()


def one_baseline(series: str) -> str:
    """``series`` (a selector of a baseline's or a reliability curve's series) for the models
    whose live versions all run one baseline."""
    return f"{series}{_GUARD}"


def own_baseline(series: str) -> str:
    """``series`` (a selector of a baseline's series, by version) for the versions whose live
    replicas serve one baseline: two would blend (``BaselineConflict`` says so)."""
    return f"{series} unless on (model_name, model_version) ({VERSION_BASELINES} > 1)"


def served(series: str, values: MetricSpec = FEATURE_BASELINE_VALUES, *matchers: str) -> str:
    """``series`` (by ``model_name`` and ``model_version``, e.g. a window's bucket counts) of
    the versions whose services export their baseline now (``values``, a baseline series
    carrying ``model_version``); every version of the models that export none so labelled (no
    baseline, or a service from before the label). ``matchers``: the query's; those on
    ``model_name`` narrow the baseline series read alike."""
    model = [m for m in matchers if m.startswith("model_name")]
    live = (f"group by (model_name, model_version) "
            f"({selector(values.name, matcher('model_version', '', '!='), *model)})")
    return (f"({series} and on (model_name, model_version) {live}\n"
            f"  or {series} unless on (model_name) {live})")


def served_increase(series: str, window: str, labels: Sequence[str],
                    values: MetricSpec = FEATURE_BASELINE_VALUES, *matchers: str) -> str:
    """``sum by (labels) (increase(series[window]))`` over the versions :func:`served`
    (``matchers``: those ``series`` was selected with)."""
    return f"sum {by(*labels)} ({served(f'increase({series}[{window}])', values, *matchers)})"
