"""PromQL over histograms that more than one signal reads: per-bucket values of a cumulative
series, and the confidence histogram's recorded bucket counts (the estimated accuracy and the
concept-drift rules both read them)."""

from __future__ import annotations

from typing import Sequence

from ..metrics import CONFIDENCE, recording_name
from . import sum_increase

__all__ = ["CONFIDENCE_BUCKETS_LEVEL", "bins", "own_bins", "confidence_buckets_record",
           "confidence_buckets_rule_expr"]

CONFIDENCE_BUCKETS_LEVEL = "model_name_le"
_MODEL_LE = ("model_name", "le")


def _at_lower(series: str) -> str:
    """``series`` with each bucket's ``le`` copied to ``lower``: joined ``on`` ``lower``, it
    gives every bucket the value at its lower edge."""
    return f'label_replace({series}, "lower", "$1", "le", "(.*)")'


def bins(cumulative: str, mapping: str, by: Sequence[str]) -> str:
    """Per-bucket values of a cumulative series (``le``-keyed): each minus the one at its
    bucket's lower edge, which ``mapping``'s ``lower`` label names; the first bucket as is.
    The difference matches ``on`` the buckets' own labels, so ``lower`` leaves it without an
    aggregation over every bucket."""
    keys, lower = ", ".join((*by, "le")), ", ".join((*by, "lower"))
    below = f"(0 * {mapping} + on ({lower}) group_left () {_at_lower(cumulative)})"
    return f"(({cumulative} - on ({keys}) {below}) or {cumulative})"


def own_bins(cumulative: str, by: Sequence[str]) -> str:
    """Per-bucket values of a cumulative series that carries each bucket's ``lower`` edge
    itself (a baseline's shares): one join, no mapping; the result keeps ``lower``."""
    lower = ", ".join((*by, "lower"))
    return (f"(({cumulative} - on ({lower}) group_left () {_at_lower(cumulative)}) "
            f"or {cumulative})")


def confidence_buckets_record(window: str) -> str:
    """The confidence histogram's bucket counts over ``window`` summed across replicas."""
    return recording_name(CONFIDENCE_BUCKETS_LEVEL, CONFIDENCE.series("_bucket"),
                          f"increase{window}")


def confidence_buckets_rule_expr(window: str) -> str:
    return sum_increase(CONFIDENCE.series("_bucket"), window, _MODEL_LE)
