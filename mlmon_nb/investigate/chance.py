"""Which window's evidence an alert fired on: pure statistics for a verdict's words.

A ratio alert fires when the bound of its ratio is past its threshold in its own window, or in
a longer look-back window where its own is too thin (:data:`~mlmon_nb.promql.evidence.EVIDENCE`).
A verdict must state the evidence of the window that passed, not only its own window's:
:func:`evidence_window` picks it from each window's ratio, events and Wilson interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

__all__ = ["WindowEvidence", "evidence_window"]


@dataclass(frozen=True)
class WindowEvidence:
    """A ratio over one window: its value, the events behind it and its interval."""

    window: str
    value: float
    n: float
    low: float
    high: float

    @property
    def has_events(self) -> bool:
        """Events were counted in the window (NaN: no series; 0: none arrived)."""
        return self.n == self.n and self.n > 0 and self.value == self.value

    def bound(self, above: bool) -> float:
        """The bound the alert judges: the lower one when it fires above its threshold."""
        return self.low if above else self.high

    def healthy(self, threshold: float, above: bool) -> bool:
        """Its other bound is on the healthy side of ``threshold``: the window shows the ratio
        healthy beyond chance (what stops the alert in its own window)."""
        if not self.has_events:
            return False
        return self.high <= threshold if above else self.low >= threshold

    def passes(self, threshold: float, above: bool, least: float) -> bool:
        """Its bound is past ``threshold`` on the alert's side, with at least ``least``
        events: chance alone does not explain the crossing in this window."""
        if not self.has_events or self.n < least:
            return False
        b = self.bound(above)
        return b > threshold if above else b < threshold


def evidence_window(windows: Sequence[WindowEvidence], threshold: float, above: bool,
                    least: float) -> WindowEvidence | None:
    """The window the alert fired on: the first of ``windows`` (its own, then its look-back)
    whose bound passes ``threshold`` with ``least`` events, unless its own shows the ratio
    healthy beyond chance (which stops it whatever the look-back says); else the first with
    events (what the alert's own evidence says, past the threshold or not); None when none has
    events."""
    if windows and windows[0].healthy(threshold, above):
        return windows[0]
    for w in windows:
        if w.passes(threshold, above, least):
            return w
    return next((w for w in windows if w.has_events), None)
