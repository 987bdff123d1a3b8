"""Evidence is a statistic: the bounds a ratio alert fires on.

A ratio alert asks "could chance explain this?", not "are there 30 events?". For each ratio it
reads (bad events over all events of a window, ``p`` of ``n``), a recording rule gives the Wilson
score bound at the model's one-sided significance ``alerts.alpha`` (z = Φ⁻¹(1 − α), a setting
series)::

    (p + z²/2n ∓ z·sqrt(p(1 − p)/n + z²/4n²)) / (1 + z²/n)

clamped to [0, 1]: the lower bound for alerts that fire above a threshold (error ratio,
low-confidence share, SLO burn), the upper bound for those that fire below one (accuracy). An
alert fires when the bound is past its threshold in its window, or in a longer one where the
short window is too thin (:data:`EVIDENCE`). The other bound of the alert's own window is what
stops it (the window shows the ratio healthy beyond chance), and the short spike window's upper
bound is what resets an error-ratio alert's ``for`` (a burn alert's short window's, what resolves
it): a window whose own events show the ratio on the healthy side resets it; a window without
events, or with too few to tell, neither confirms nor resets.

:func:`wilson` is the PromQL; :func:`bound_rules` records every bound the alerts read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Callable, Mapping

from .. import promql
from .fleet import Setting, setting
from .names import (
    SLOS,
    accuracy,
    bound,
    error_ratio,
    ground_truth_count,
    low_confidence_ratio,
    prediction_count,
    request_count,
    slo_error_ratio,
    slo_event_count,
    spike_window,
    versioned,
)
from .rule import RecordingRule

__all__ = ["RatioEvidence", "EVIDENCE", "EVIDENCE_SETTINGS", "wilson", "wilson_interval",
           "poisson_interval", "poisson_upper", "bound_rules",
           "COUNT_WINDOWS", "z_of"]


@dataclass(frozen=True)
class RatioEvidence:
    """A ratio an alert fires on: its record and its count per window, the windows whose bound
    may give the evidence (the alert's own first, then a longer look-back), and the bound's side
    (``lower``: fires above a threshold; ``upper``: below)."""

    ratio: Callable[[str], str]
    count: Callable[[str], str]
    windows: tuple[str, ...]
    side: str
    labels: Mapping[str, str] = field(default_factory=dict)
    by: tuple[str, ...] = ("model_name",)  # the labels that name one ratio's series

    @property
    def healthy_side(self) -> str:
        """The bound that shows the ratio on the healthy side of a threshold: the other one."""
        return "upper" if self.side == "lower" else "lower"


def _versioned(name: Callable[[str], str]) -> Callable[[str], str]:
    return lambda window: versioned(name(window))


EVIDENCE: dict[str, RatioEvidence] = {
    "errors": RatioEvidence(error_ratio, request_count, ("5m", "30m"), "lower"),
    # each version of a model running several, on its own requests (a canary)
    "errors_version": RatioEvidence(_versioned(error_ratio), _versioned(request_count),
                                    ("5m", "30m"), "lower", by=("model_name", "model_version")),
    "accuracy": RatioEvidence(accuracy, ground_truth_count, ("1h", "6h"), "upper"),
    "accuracy_version": RatioEvidence(_versioned(accuracy), _versioned(ground_truth_count),
                                      ("1h", "6h"), "upper", by=("model_name", "model_version")),
    "low_confidence": RatioEvidence(low_confidence_ratio, prediction_count, ("30m", "2h"), "lower"),
    "low_confidence_version": RatioEvidence(_versioned(low_confidence_ratio),
                                            _versioned(prediction_count), ("30m", "2h"), "lower",
                                            by=("model_name", "model_version")),
    **{f"slo_{slo}": RatioEvidence(slo_error_ratio, slo_event_count, ("1h", "6h", "1d", "3d"),
                                   "lower", {"slo": slo}) for slo in SLOS},
}
# the counts the recording stage records for the evidence (besides those it had)
COUNT_WINDOWS: dict[Callable[[str], str], tuple[str, ...]] = {
    request_count: ("5m", "30m"),
    prediction_count: ("30m", "2h"),
    ground_truth_count: ("1h", "6h"),
}


def z_of(alpha: float) -> float:
    """Φ⁻¹(1 − α): the one-sided normal quantile of a significance level."""
    return NormalDist().inv_cdf(1 - alpha)


EVIDENCE_SETTINGS: tuple[Setting, ...] = (
    Setting("alert_alpha", lambda m: m.alerts.alpha),
    Setting("alert_confidence", lambda m: round(1 - m.alerts.alpha, 9)),
    Setting("alert_z", lambda m: z_of(m.alerts.alpha)),
    Setting("alert_z2", lambda m: z_of(m.alerts.alpha) ** 2),
)


def wilson_interval(ratio: float, count: float, z: float) -> tuple[float, float]:
    """The Wilson score interval of ``ratio`` over ``count`` events at normal quantile ``z``:
    the bounds :func:`wilson` records, computed here for a runbook's words (NaN without
    events)."""
    if not count > 0 or ratio != ratio:
        return float("nan"), float("nan")
    a = z * z / count
    centre = ratio + a / 2
    spread = z * math.sqrt(max(ratio * (1 - ratio), 0.0) / count + a / (4 * count))
    return (min(max((centre - spread) / (1 + a), 0.0), 1.0),
            min(max((centre + spread) / (1 + a), 0.0), 1.0))


def poisson_interval(count: float, z: float) -> tuple[float, float]:
    """The score interval of a Poisson ``count`` at normal quantile ``z``:
    ``c + z²/2 ∓ z·sqrt(c + z²/4)``, the lower end clamped at 0 (NaN for a missing count).
    The bounds :func:`poisson_upper` records (its upper end, what the throughput alert
    compares with its floor), computed here for a runbook's words."""
    if count != count or count < 0:
        return float("nan"), float("nan")
    centre = count + z * z / 2
    spread = z * math.sqrt(count + z * z / 4)
    return max(centre - spread, 0.0), centre + spread


def _per_model(name: str, series: str) -> str:
    """Each model's setting ``name`` times each of its series in ``series`` (their labels)."""
    return f"({setting(name)} * on (model_name) group_right () {series})"


def wilson(ratio: str, count: str, side: str) -> str:
    """The Wilson score bound of ``ratio`` over ``count`` events at each model's ``alert_z``
    (series of the same labels as ``ratio``; none where the count is 0)."""
    if side not in ("lower", "upper"):
        raise ValueError(f"a bound is 'lower' or 'upper', not {side!r}")
    z = _per_model("alert_z", f"(0 * {count} + 1)")
    a = _per_model("alert_z2", f"(1 / {count})")
    sign = "-" if side == "lower" else "+"
    return (f"clamp(({ratio} + {a} / 2 {sign} {z} * sqrt({ratio} * (1 - {ratio}) / {count} "
            f"+ {a} / (4 * {count}))) / (1 + {a}), 0, 1)")


def poisson_upper(count: str) -> str:
    """The score upper bound of a Poisson count at each model's ``alert_z``,
    ``c + z²/2 + z·sqrt(c + z²/4)``: the most events a window's count ``c`` is consistent with
    (0 events are consistent with up to z² ≈ 2.7 at α = 0.05). A count alert (too few requests)
    fires only when this is under its threshold, so 0 requests where 1 was expected is no
    evidence."""
    z = _per_model("alert_z", f"(0 * {count} + 1)")
    z2 = _per_model("alert_z2", f"(0 * {count} + 1)")
    return f"({count} + {z2} / 2 + {z} * sqrt({count} + {z2} / 4))"


def _bound_rule(evidence: RatioEvidence, window: str, side: str) -> RecordingRule:
    labels = dict(evidence.labels)
    ratio = promql.selector(evidence.ratio(window), **labels)
    count = promql.selector(evidence.count(window), **labels)
    return RecordingRule(bound(evidence.ratio(window), side), wilson(ratio, count, side), labels)


def bound_rules(scrape_interval_seconds: float, *, slo: bool,
                short_windows: tuple[str, ...] = ()) -> list[RecordingRule]:
    """The bounds the alerts read: every window of :data:`EVIDENCE` (the SLO ones with
    ``slo=True``, the others without), the other bound of each non-SLO alert's own window (what
    stops it), the spike window's upper bound of the error ratio, and with ``slo=True`` the
    upper bound of each burn alert's ``short_windows`` (what resets a burn alert: only a short
    window whose own events show the ratio under the threshold)."""
    wanted: list[tuple[str, str, str]] = []  # (EVIDENCE key, window, side)
    for key, evidence in EVIDENCE.items():
        if key.startswith("slo_") != slo:
            continue
        wanted += [(key, w, evidence.side) for w in evidence.windows]
        if slo:
            wanted += [(key, w, evidence.healthy_side) for w in short_windows]
        else:
            wanted.append((key, evidence.windows[0], evidence.healthy_side))
    if not slo:
        spike = spike_window(scrape_interval_seconds)
        wanted += [(key, spike, "upper") for key in ("errors", "errors_version")]
    # each bound once: the spike window may be an alert's own (4 scrapes of 75 s are 5m)
    return [_bound_rule(EVIDENCE[key], w, side) for key, w, side in dict.fromkeys(wanted)]
