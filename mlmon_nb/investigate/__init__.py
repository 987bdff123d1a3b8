"""What runbook notebooks call: when the alert's signal left its band, what changed, the verdict.

A runbook's cells stay thin. They open an :class:`Investigation` from their papermill
parameters, stop early when there is no data or the alert condition no longer holds
(:meth:`Investigation.require_data`, :meth:`Investigation.check_still_firing`), find when the
alert's own signal left its normal band (:meth:`Investigation.find_onset`, which makes onset →
end the incident window), compare that window with the same hours of the days before
(:meth:`Investigation.compare`), break the change down by every label the signal carries
(:meth:`Investigation.breakdown`), look for deploys and baseline changes near onset
(:meth:`Investigation.what_changed`) and :meth:`Investigation.conclude` with a verdict.

The alert's condition and its signals (:class:`Condition`, :class:`Signal` and their
factories) come from :mod:`mlmon_nb.signals` and are re-exported here for the runbooks.

Each check records a :class:`~mlmon_nb.findings.Finding` (a display output of type
:data:`~mlmon_nb.findings.FINDING_MIME`, with its chart, numbers, sample sizes, PromQL and a
link to Prometheus); the verdict is a display output of type ``SUMMARY_MIME`` that the launcher
reads back into its run index. Charts are findings' PNGs, never displayed twice.

Ending early is not an error: :func:`end_early` records the reason and makes the kernel skip the
remaining cells, so the run is ``done`` with a clear message instead of a traceback.

The package: :mod:`.record` (showing and recording findings and the verdict), :mod:`.base` (the
run's state and guards), :mod:`.onset_search`, :mod:`.drift`, :mod:`.estimated`, :mod:`.slo`
(the evidence) and
:mod:`.core` (comparison, breakdown, the verdict, :func:`open_investigation`).
"""

from __future__ import annotations

from ..findings import FINDING_MIME, SUMMARY_MIME
from ..findings.investigation import REFERENCE_DAYS
from ..findings.record import end_early, record_finding, record_summary
from ..signals import (
    Condition,
    Signal,
    accuracy,
    baselines_served,
    error_ratio,
    in_flight,
    latency,
    low_confidence,
    request_rate,
    scrape_up,
)
from ..slo.investigate import burn_rate_factor
from .core import Investigation, open_investigation

__all__ = [
    "Investigation",
    "Condition",
    "Signal",
    "error_ratio",
    "request_rate",
    "latency",
    "low_confidence",
    "accuracy",
    "in_flight",
    "scrape_up",
    "baselines_served",
    "open_investigation",
    "record_summary",
    "record_finding",
    "end_early",
    "burn_rate_factor",
    "SUMMARY_MIME",
    "FINDING_MIME",
    "REFERENCE_DAYS",
]

