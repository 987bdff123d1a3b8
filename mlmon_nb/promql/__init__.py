"""The one PromQL builder: escaped selectors, sums of rates, guarded ratios and literals.

Every PromQL string of the package — named queries, generated rules, drift rule expressions,
Grafana panels — is assembled from these pure functions, so a label value is escaped the same
way everywhere and a duration or number is written the same way everywhere.

- :func:`selector` escapes label values (a hostile label cannot end the string);
- :func:`sum_rate` / :func:`sum_increase` aggregate across replicas ``by`` the given labels;
- :func:`ratio` divides with the two guards PromQL needs: a ``bad`` series that does not exist yet
  (no errors so far) counts as 0, and optionally a zero denominator gives no series instead of NaN;
- :func:`number` writes a float literal that round-trips exactly (so a rule equals its Python
  rerun); :func:`duration` writes the shortest exact Prometheus duration for whole seconds.
"""

from __future__ import annotations

import math
from typing import Iterable

__all__ = [
    "PromQLError",
    "quote",
    "matcher",
    "selector",
    "by",
    "sum_rate",
    "sum_increase",
    "histogram_quantile",
    "ratio",
    "number",
    "duration",
]

_OPERATORS = ("=", "!=", "=~", "!~")
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


class PromQLError(ValueError):
    """A PromQL fragment cannot be written as asked (a bad operator, a fractional duration)."""


def quote(value: object) -> str:
    """A PromQL string literal: ``"…"`` with backslash, quote and newline escaped."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def matcher(label: str, value: object, op: str = "=") -> str:
    """One label matcher, e.g. ``matcher("le", "+Inf", "!=")`` → ``le!="+Inf"``."""
    if op not in _OPERATORS:
        raise PromQLError(f"matcher operator {op!r} is not one of {', '.join(_OPERATORS)}")
    return f"{label}{op}{quote(value)}"


def selector(metric: str, *matchers: str, **labels: object) -> str:
    """``metric{label="value",…}`` with every value escaped.

    ``labels`` are equality matchers (``None`` values are left out); ``matchers`` are extra ones
    built with :func:`matcher` (``!=``, ``=~``, ``!~``).
    """
    parts = [matcher(k, v) for k, v in labels.items() if v is not None] + list(matchers)
    return f"{metric}{{{','.join(parts)}}}" if parts else metric


def by(*labels: str, extra: Iterable[str] = ()) -> str:
    """``by (a, b)`` with duplicates dropped, first occurrence first."""
    names = list(dict.fromkeys([*labels, *extra]))
    return f"by ({', '.join(names)})"


def sum_rate(series: str, window: str, labels: Iterable[str] = ("model_name",),
             offset: str | None = None) -> str:
    """``sum by (labels) (rate(series[window]))``: per-second rate summed across replicas;
    ``offset`` moves the window back (``1w``: the same time last week)."""
    shift = f" offset {offset}" if offset else ""
    return f"sum {by(*labels)} (rate({series}[{window}]{shift}))"


def sum_increase(series: str, window: str, labels: Iterable[str] = ("model_name",)) -> str:
    """``sum by (labels) (increase(series[window]))``: the window's count across replicas."""
    return f"sum {by(*labels)} (increase({series}[{window}]))"


def histogram_quantile(q: float, bucket_series: str, window: str,
                       labels: Iterable[str] = ("model_name",)) -> str:
    """The ``q`` quantile of a histogram over ``window``, summed across replicas by ``labels``."""
    if not 0 < q < 1:
        raise PromQLError(f"quantile must be between 0 and 1, not {q}")
    return f"histogram_quantile({number(q)}, {sum_rate(bucket_series, window, ('le', *labels))})"


def ratio(bad: str, total: str, *, bad_may_be_absent: bool = True,
          drop_zero_total: bool = False) -> str:
    """``bad / total`` with the guards a ratio of counters needs.

    ``bad_may_be_absent``: a ``bad`` side with no series yet (a model without errors) counts as 0
    instead of making the ratio empty. ``drop_zero_total``: no traffic gives no series rather
    than NaN (0/0), for charts and tiles that should show a gap.
    """
    numerator = f"({bad} or 0 * {total})" if bad_may_be_absent else f"({bad})"
    denominator = f"({total} > 0)" if drop_zero_total else total
    return f"{numerator} / {denominator}"


def number(value: float) -> str:
    """A PromQL float literal that round-trips exactly: ``5`` → ``5``, ``0.1`` → ``0.1``."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def duration(seconds: float) -> str:
    """The shortest Prometheus duration for whole ``seconds``: ``2592000`` → ``30d``.

    Raises :class:`PromQLError` for a negative or fractional number of seconds; round first
    (``math.ceil``) where a window may be widened.
    """
    if seconds < 0 or not float(seconds).is_integer():
        raise PromQLError(f"{seconds!r}s is not a whole, non-negative number of seconds; "
                          f"write e.g. 30s, 5m or 30d")
    whole = int(seconds)
    if whole == 0:
        return "0s"
    for unit, size in _UNITS:
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"  # unreachable: size 1 divides everything
