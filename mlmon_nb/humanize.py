"""Numbers for people: counts with thousands separators, ratios as percentages, durations as
``6m 12s``, no ``nan``. Pure functions; the run page and the findings use them."""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from typing import Any

__all__ = ["Kind", "fmt", "fmt_pair", "fmt_count", "fmt_ratio", "fmt_duration", "fmt_number",
           "fmt_rate", "fmt_time", "rate_unit", "utc", "MISSING"]

MISSING = "—"


class Kind(StrEnum):
    """How a number reads: what :func:`fmt` does with it."""

    COUNT = "count"  # 431577 → 431,577
    RATIO = "ratio"  # 0.0219 → 2.19%
    SECONDS = "seconds"  # 0.2512 → 251 ms; 372 → 6m 12s
    RATE = "rate"  # 4.93 → 4.93/s; 0.0034 → 0.204/min
    NUMBER = "number"  # 0.90312 → 0.903
    SCORE = "score"  # a number that is never negative (KS, PSI, a distance): reads as NUMBER
    TEXT = "text"


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, float) and not math.isfinite(value)
    except TypeError:  # pragma: no cover - odd numeric types
        return False


def fmt_count(value: Any) -> str:
    """An integer count with thousands separators."""
    return MISSING if _missing(value) else f"{round(float(value)):,}"


def fmt_ratio(value: Any) -> str:
    """A share as a percentage with about three significant digits."""
    if _missing(value):
        return MISSING
    pct = float(value) * 100
    if pct == 0:
        return "0%"
    digits = 2 if abs(pct) < 10 else 1 if abs(pct) < 100 else 0
    text = f"{pct:.{digits}f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"


def fmt_duration(seconds: Any) -> str:
    """A duration as ``251 ms``, ``42s``, ``6m 12s``, ``2h 5m`` or ``3d 4h``."""
    if _missing(seconds):
        return MISSING
    s = float(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 1:
        return f"{sign}{s * 1000:.0f} ms"
    if s < 60:
        return f"{sign}{s:.0f}s" if s >= 10 else f"{sign}{s:.1f}s".replace(".0s", "s")
    total = round(s)
    d, rem = divmod(total, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    parts = [(d, "d"), (h, "h"), (m, "m"), (sec, "s")]
    while parts and parts[0][0] == 0:
        parts.pop(0)
    return sign + " ".join(f"{v}{u}" for v, u in parts[:2] if v)


def fmt_number(value: Any) -> str:
    """A plain number with three significant digits (no exponent for everyday magnitudes)."""
    if _missing(value):
        return MISSING
    v = float(value)
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) < 1e-3:  # 1.05e-4, not 0.000105: the zeros are where the eye loses count
        mantissa, exponent = f"{v:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{v:.3g}"


_RATE_UNITS = {"s": 1, "min": 60, "h": 3600}


def rate_unit(*per_second: Any) -> str:
    """The unit a column of rates reads in: the largest (``s``, ``min``, ``h``) in which its
    largest value reads above 0.1, so every cell of the column shares it."""
    values = [abs(float(v)) for v in per_second if not _missing(v)]
    top = max(values, default=0.0)
    return next((u for u, seconds in _RATE_UNITS.items() if top == 0 or top * seconds >= 0.1),
                "h")


def fmt_rate(per_second: Any, unit: str | None = None) -> str:
    """An event rate in ``unit`` (``s``, ``min``, ``h``), by default the largest that reads
    above 0.1: ``4.93/s``, ``1.2/min``, ``0.378/h`` (a rare event per hour, not
    ``0.000105/s``). A table passes one :func:`rate_unit` for a whole column."""
    if _missing(per_second):
        return MISSING
    unit = unit or rate_unit(per_second)
    return f"{fmt_number(float(per_second) * _RATE_UNITS[unit])}/{unit}"


def fmt_time(value: Any) -> str:
    """A UTC time as ``2026-11-28 20:52:15 UTC``."""
    if _missing(value) or value == "":
        return MISSING
    return f"{utc(value):%Y-%m-%d %H:%M:%S} UTC"


def utc(value: Any) -> dt.datetime:
    """A datetime (or pandas Timestamp), ISO-8601 string or unix seconds as an aware UTC time."""
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.strip())
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def fmt(value: Any, kind: Kind | str = Kind.NUMBER, unit: str | None = None) -> str:
    """``value`` formatted as ``kind`` (strings and booleans read as they are); ``unit`` fixes
    a rate's unit (one per table column, see :func:`rate_unit`)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value or MISSING
    kind = Kind(kind)
    if kind == Kind.COUNT:
        return fmt_count(value)
    if kind == Kind.RATIO:
        return fmt_ratio(value)
    if kind == Kind.SECONDS:
        return fmt_duration(value)
    if kind == Kind.RATE:
        return fmt_rate(value, unit)
    if kind == Kind.TEXT:
        return MISSING if _missing(value) else str(value)
    return fmt_number(value)


def fmt_pair(value: Any, other: Any, kind: Kind | str) -> tuple[str, str]:
    """Two figures read side by side (a value and its threshold) in one unit: rates in the unit
    both read in ("0.05/s (threshold 0.5/s)", never "3/min (threshold 0.5/s)")."""
    unit = rate_unit(value, other) if Kind(kind) == Kind.RATE else None
    return fmt(value, kind, unit), fmt(other, kind, unit)
