"""How a runbook shows and records what it found: finding cards, the verdict, ending early.

The verdict is a display output of type ``SUMMARY_MIME`` that the launcher reads back into its
run index; a finding is a display output of type :data:`~mlmon_nb.findings.FINDING_MIME`.
Ending early is not an error: :func:`end_early` records the reason and makes the kernel skip the
remaining cells. Also the small number-formatting helpers the investigation's messages share.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..humanize import fmt
from . import SUMMARY_MIME, Finding, tiles_html, verdict_card

__all__ = ["record_summary", "record_finding", "end_early"]


def _display(obj: Any, raw: bool = False) -> None:
    from IPython.display import display  # only inside a kernel
    display(obj, raw=raw)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    return value


def _record(summary: dict[str, Any]) -> dict[str, Any]:
    html = verdict_card(summary) + tiles_html(summary.get("tiles") or ())
    _display({SUMMARY_MIME: summary, "text/html": html, "text/plain": summary["verdict"]},
             raw=True)
    return summary


def record_summary(verdict: str, *, status: str = "firing", **numbers: Any) -> dict[str, Any]:
    """Show the verdict and record it (with ``numbers``) for the launcher's run index."""
    clean = {k: _plain(v) for k, v in numbers.items()}
    tiles = [{"label": k, "value": fmt(v)} for k, v in clean.items()
             if isinstance(v, (int, float, str)) and not isinstance(v, bool)][:6]
    return _record({"verdict": verdict, "status": status, "numbers": clean, "tiles": tiles})


def record_finding(finding: Finding) -> Finding:
    """Show ``finding`` as a card and record it for the run page."""
    _display(finding.bundle(), raw=True)
    return finding


def _skip_remaining_cells() -> None:
    try:
        from IPython import get_ipython  # only inside a kernel
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is not None:
        shell.input_transformers_post.append(lambda lines: ["pass\n"])


def end_early(message: str, *, status: str, **numbers: Any) -> None:
    """Record ``message`` as the verdict and skip every remaining cell of the notebook."""
    record_summary(message, status=status, **numbers)
    _skip_remaining_cells()


def _one(frame: pd.DataFrame, above: bool = True) -> pd.Series:
    """One series from a range frame (the worst of several series at each time); with no
    rows, an empty series still indexed by UTC time, so a comparison with a time holds."""
    if frame.empty:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    grouped = frame.groupby("timestamp")["value"]
    return (grouped.max() if above else grouped.min()).sort_index()


def _factor(now: float, before: float) -> float:
    if not (now == now and before == before) or before == 0:
        return float("nan")
    return now / before


def _factor_text(now: float, before: float) -> str:
    """How many times ``before`` ``now`` is, as a person reads it: ×3.2, ×40, ×0.04 (never
    ×0.0: a drop to a small fraction keeps two significant digits), "none now", "new"."""
    k = _factor(now, before)
    if k != k:
        return "new" if before == 0 and now and now > 0 else "—"
    if k <= 0:
        return "none now" if k == 0 else "—"
    if k >= 10:
        return f"×{k:.0f}"
    return f"×{k:.1f}" if k >= 0.1 else f"×{k:.2g}"


def _cap(text: str) -> str:
    """``text`` with its first letter upper-cased (the rest kept: KS stays KS)."""
    return text[:1].upper() + text[1:]


def _fmt_kind(value: Any, kind: str) -> str:
    return fmt(value, kind)

