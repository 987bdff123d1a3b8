"""The notebook window and context: a notebook's papermill parameters made concrete.

:func:`resolve_window` and :func:`notebook_context` turn the parameters every notebook and runbook
shares (``start``, ``end``, ``window``, ``step``, ``prometheus_url``) into a time window and a
Prometheus client; every notebook and runbook calls one of them first::

    ctx = notebook_context(model_name, prometheus_url, start, end, window, step)
    frame = ctx.prom.range(queries.request_rate(ctx.model_name, ctx.window.rate), *ctx.window.range)

The PromQL itself lives in :mod:`mlmon_nb.queries` (pure); this module is where it meets I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import metrics as m
from . import promql
from .config import Config, ModelConfig, load_config, parse_duration
from .errors import ConfigError, PrometheusError
from .prom import Prometheus, default_prometheus_url, parse_step, to_timestamp

__all__ = [
    "Window",
    "NotebookContext",
    "resolve_window",
    "notebook_context",
    "format_duration",
    "auto_step",
]

_NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400)


# -- the window ----------------------------------------------------------------------------------

def format_duration(seconds: float) -> str:
    """A PromQL duration covering ``seconds``, rounded up to whole seconds: ``90.5`` → ``91s``."""
    return promql.duration(max(math.ceil(seconds), 1))


@dataclass(frozen=True)
class Window:
    """A resolved time window: UTC ``start``/``end``, ``step`` seconds, and PromQL durations.

    ``rate`` is the range selector for ``rate()`` at this resolution: Grafana's
    ``$__rate_interval``, one step plus a scrape and at least four scrapes, so that every range
    holds two samples or more, also where the range excludes its left end (Prometheus 3) or
    the scrapes jitter; the dashboards use the same. ``duration`` is the whole window as a
    PromQL duration (for ``increase``).
    """

    start: pd.Timestamp
    end: pd.Timestamp
    step: float
    scrape_interval: float = 15.0

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def rate(self) -> str:
        return format_duration(max(self.step + self.scrape_interval, 4 * self.scrape_interval))

    @property
    def duration(self) -> str:
        return format_duration(max(self.seconds, self.scrape_interval))

    @property
    def range(self) -> tuple[pd.Timestamp, pd.Timestamp, float]:
        """``(start, end, step)``, to unpack into :meth:`Prometheus.range`."""
        return self.start, self.end, self.step

    def __str__(self) -> str:
        return (f"{self.start:%Y-%m-%d %H:%M:%S} → {self.end:%Y-%m-%d %H:%M:%S} UTC "
                f"(step {format_duration(self.step)})")


def auto_step(seconds: float, points: int = 400, minimum: float = 1.0) -> float:
    """The smallest round step that covers ``seconds`` in at most ``points`` points."""
    target = max(seconds / max(points, 1), minimum)
    for step in _NICE_STEPS:
        if step >= target:
            return float(step)
    return float(math.ceil(target / 86400) * 86400)


def resolve_window(start: Any = "", end: Any = "", window: str = "6h", step: Any = "", *,
                   now: pd.Timestamp | None = None, scrape_interval: float = 15.0,
                   points: int = 400) -> Window:
    """Concrete ``Window`` from notebook parameters.

    ``end`` empty → now; ``start`` empty → ``end - window``; ``step`` empty → a round step giving
    at most ``points`` points (never finer than the scrape interval). Times take anything
    :func:`mlmon_nb.prom.to_timestamp` does (ISO-8601, unix seconds, ``now-1h``); times are
    truncated to whole seconds. Raises ``ValueError`` with what to write on bad input.
    """
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    t1 = to_timestamp(end, now) if _given(end) else now
    if _given(start):
        t0 = to_timestamp(start, now)
    else:
        try:
            span = parse_duration(window or "6h")
        except ConfigError as exc:
            raise ValueError(f"window {window!r} is not a duration; write e.g. 1h, 6h or 7d") from exc
        t0 = t1 - pd.Timedelta(seconds=span)
    t0, t1 = t0.floor("s"), t1.floor("s")
    if t1 <= t0:
        raise ValueError(f"the window is empty: start {t0} is not before end {t1}")
    seconds = (t1 - t0).total_seconds()
    resolved = parse_step(step) if _given(step) else auto_step(seconds, points, scrape_interval)
    return Window(t0, t1, resolved, scrape_interval)


# the usual scrape intervals, to which a measured sample interval is rounded
_NICE_INTERVALS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600)
# samples this much sparser than the configured scrape interval size a notebook's ranges instead
SPARSER = 1.5


def sample_interval(prom: Prometheus, model_name: str, at: Any) -> float:
    """Seconds between the stored samples of the model's request counter in the 30 minutes
    before ``at``: its real scrape interval, or a backfilled history's resolution. NaN with
    fewer than two samples there or no answer (the configured interval then stands)."""
    sel = promql.selector(m.REQUESTS.sample, model_name=model_name)
    try:
        n = prom.scalar(f"max(count_over_time({sel}[30m]))", at)
    except PrometheusError:
        return float("nan")
    return 1800 / (n - 1) if n > 1 else float("nan")


def stored_interval(configured: float, measured: float) -> float:
    """The interval to read a model's series at: the configured scrape interval, or the
    measured one where the samples are sparser, rounded to a usual interval."""
    base = configured if math.isnan(measured) else max(configured, measured)
    return float(min(_NICE_INTERVALS, key=lambda s: abs(s - base))
                 if base <= _NICE_INTERVALS[-1] else base)


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


@dataclass(frozen=True)
class NotebookContext:
    """What a notebook needs after its parameters cell: client, window, model config."""

    model_name: str
    prom: Prometheus
    window: Window
    config: Config
    model: ModelConfig
    baseline_path: Path = field(default=Path())

    def __str__(self) -> str:
        return f"model {self.model_name} · {self.window} · {self.prom.url}"


def notebook_context(model_name: str, prometheus_url: str = "", start: Any = "", end: Any = "",
                     window: str = "6h", step: Any = "", baseline_path: str = "", *,
                     config: Config | str | Path | None = None, timeout: float = 30.0,
                     now: pd.Timestamp | None = None,
                     measure_interval: bool = True) -> NotebookContext:
    """Resolve a notebook's parameters in one place.

    ``prometheus_url`` empty → ``$MLMON_PROMETHEUS_URL`` → the configuration's; the configuration
    is ``config`` or :func:`~mlmon_nb.config.load_config`'s default; ``baseline_path`` empty → the
    model's configured baseline. An unknown model is a :class:`~mlmon_nb.errors.ConfigError`.
    With ``measure_interval``, where the model's samples are sparser than the configured scrape
    interval (:func:`sample_interval`), the window's step and rate ranges are sized from the
    samples, so that no range holds a single point.
    """
    cfg = config if isinstance(config, Config) else load_config(config)
    model = cfg.model(model_name)
    url = prometheus_url.strip() if prometheus_url and prometheus_url.strip() else \
        default_prometheus_url(cfg)
    configured = cfg.stack.scrape_interval_seconds
    now = now if now is not None else pd.Timestamp.now(tz="UTC")  # one "now" for both windows
    win = resolve_window(start, end, window, step, now=now, scrape_interval=configured)
    prom = Prometheus(url, timeout=timeout)
    if measure_interval and (measured := sample_interval(prom, model_name, win.end)) \
            > SPARSER * configured:  # NaN compares False: the configured interval stands
        win = resolve_window(start, end, window, step, now=now,
                             scrape_interval=stored_interval(configured, measured))
    baseline = Path(baseline_path) if baseline_path else cfg.baseline_path(model_name)
    return NotebookContext(model_name, prom, win, cfg, model, baseline)
