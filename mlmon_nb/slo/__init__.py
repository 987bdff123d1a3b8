"""Service level objectives: one package for the signal.

:mod:`.report` computes compliance, error budgets and burn rates from Prometheus history (what the
SLO report notebook calls, re-exported here); :mod:`.rules` writes the SLO recording rules and
burn-rate alerts; :mod:`.investigate` is the SLOErrorBudgetBurn runbook's investigation.

Names load on first use: generating rules imports :mod:`.rules` without pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import forward

if TYPE_CHECKING:
    from .report import (
        MEETING,
        NO_DATA,
        THROUGHPUT_OBJECTIVE,
        THROUGHPUT_WINDOW,
        VIOLATING,
        SLOResult,
        burn_down,
        burn_down_from,
        burn_rate,
        burn_rates_from,
        compliance_from,
        error_budget_remaining,
        month_bounds,
        monthly_from,
        report_context,
        slo_result,
        status,
        tiles,
    )

__all__ = ["MEETING", "NO_DATA", "THROUGHPUT_OBJECTIVE", "THROUGHPUT_WINDOW", "VIOLATING",
           "SLOResult", "burn_down", "burn_down_from", "burn_rate", "burn_rates_from",
           "compliance_from", "error_budget_remaining", "month_bounds", "monthly_from",
           "report_context", "slo_result", "status", "tiles"]

__getattr__ = forward(__name__, ".report")
