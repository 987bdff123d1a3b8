"""Named PromQL for RED, throughput, model quality and resources, and the notebook window.

Every query is a pure function returning a PromQL string built from the metric contract
(``mlmon_nb.metrics``), so notebooks, runbooks and Grafana panels ask the same questions the same
way. Queries read the raw contract metrics (not recording rules), so they also work over
backfilled history, which rules never evaluated.

:func:`resolve_window` and :func:`notebook_context` turn a notebook's papermill parameters
(``start``, ``end``, ``window``, ``step``, ``prometheus_url``) into concrete values; every notebook
and runbook calls one of them first::

    ctx = notebook_context(model_name, prometheus_url, start, end, window, step)
    frame = ctx.prom.range(queries.request_rate(ctx.model_name, ctx.window.rate), *ctx.window.range)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from . import metrics as m
from . import promql
from .config import NODE_JOB, SERVICE_JOB, Config, ModelConfig, load_config, parse_duration
from .errors import ConfigError
from .promql import selector

__all__ = [
    "Window",
    "NotebookContext",
    "resolve_window",
    "notebook_context",
    "format_duration",
    "DEMO_JOB",
    "NODE_JOB",
    # RED and throughput
    "request_rate",
    "error_rate",
    "invalid_feature_rate",
    "error_ratio",
    "latency_quantile",
    "latency_quantiles",
    "in_flight",
    "throughput",
    "normal_request_rate",
    # model quality
    "class_share",
    "confidence_buckets",
    "low_confidence_share",
    "accuracy",
    "ground_truth_count",
    "model_info",
    # resources
    "process_cpu",
    "process_memory",
    "node_cpu",
    "node_memory",
    "node_disk",
    "buckets_to_bins",
    # health tiles
    "Tile",
    "status_of",
    "health_tiles",
    "health_series",
    "quality_series",
    "resource_series",
    "auto_step",
]

DEMO_JOB = SERVICE_JOB  # the monitored service's scrape job (defined in config, with NODE_JOB)
_NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400)


# -- the window ----------------------------------------------------------------------------------

def format_duration(seconds: float) -> str:
    """A PromQL duration covering ``seconds``, rounded up to whole seconds: ``90.5`` → ``91s``."""
    return promql.duration(max(math.ceil(seconds), 1))


@dataclass(frozen=True)
class Window:
    """A resolved time window: UTC ``start``/``end``, ``step`` seconds, and PromQL durations.

    ``rate`` is the range selector for ``rate()`` at this resolution (at least four scrapes, at
    least one step); ``duration`` is the whole window as a PromQL duration (for ``increase``).
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
        return format_duration(max(self.step, 4 * self.scrape_interval))

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
    from .prom import parse_step, to_timestamp

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


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


@dataclass(frozen=True)
class NotebookContext:
    """What a notebook needs after its parameters cell: client, window, model config."""

    model_name: str
    prom: Any  # mlmon_nb.prom.Prometheus
    window: Window
    config: Config
    model: ModelConfig
    baseline_path: Path = field(default=Path())

    def __str__(self) -> str:
        return f"model {self.model_name} · {self.window} · {self.prom.url}"


def notebook_context(model_name: str, prometheus_url: str = "", start: Any = "", end: Any = "",
                     window: str = "6h", step: Any = "", baseline_path: str = "", *,
                     config: Config | str | Path | None = None, timeout: float = 30.0,
                     now: pd.Timestamp | None = None) -> NotebookContext:
    """Resolve a notebook's parameters in one place.

    ``prometheus_url`` empty → ``$MLMON_PROMETHEUS_URL`` → the configuration's; the configuration
    is ``config`` or :func:`~mlmon_nb.config.load_config`'s default; ``baseline_path`` empty → the
    model's configured baseline. An unknown model is a :class:`~mlmon_nb.errors.ConfigError`.
    """
    from .prom import Prometheus, default_prometheus_url

    cfg = config if isinstance(config, Config) else load_config(config)
    model = cfg.model(model_name)
    url = prometheus_url.strip() if prometheus_url and prometheus_url.strip() else \
        default_prometheus_url(cfg)
    win = resolve_window(start, end, window, step, now=now,
                         scrape_interval=cfg.stack.scrape_interval_seconds)
    baseline = Path(baseline_path) if baseline_path else cfg.baseline_path(model_name)
    return NotebookContext(model_name, Prometheus(url, timeout=timeout), win, cfg, model, baseline)


# -- RED and throughput --------------------------------------------------------------------------

def _model(metric: str, model_name: str, **labels: str) -> str:
    return selector(metric, model_name=model_name, **labels)


def request_rate(model_name: str, rate: str = "5m", by: Iterable[str] = ()) -> str:
    """Requests per second."""
    return promql.sum_rate(_model(m.REQUESTS.sample, model_name), rate, ("model_name", *by))


def error_rate(model_name: str, rate: str = "5m", by: Iterable[str] = ()) -> str:
    """Failed requests per second."""
    return promql.sum_rate(_model(m.ERRORS.sample, model_name), rate, ("model_name", *by))


def error_ratio(model_name: str, rate: str = "5m", by: Iterable[str] = ()) -> str:
    """Share of requests that failed (0–1); no series while there are no requests."""
    return promql.ratio(error_rate(model_name, rate, by), request_rate(model_name, rate, by),
                        bad_may_be_absent=False, drop_zero_total=True)


def latency_quantile(q: float, model_name: str, rate: str = "5m", by: Iterable[str] = ()) -> str:
    """The ``q`` quantile of request duration in seconds, from the histogram buckets."""
    bucket = _model(m.REQUEST_DURATION.series("_bucket"), model_name)
    return promql.histogram_quantile(q, bucket, rate, ("model_name", *by))


def latency_quantiles(model_name: str, rate: str = "5m",
                      quantiles: Iterable[float] = (0.5, 0.95, 0.99)) -> dict[str, str]:
    """``{"p50": …, "p95": …, "p99": …}``."""
    return {f"p{round(q * 100):g}": latency_quantile(q, model_name, rate) for q in quantiles}


def in_flight(model_name: str) -> str:
    """Requests being served right now."""
    return f"sum by (model_name) ({_model(m.IN_PROGRESS.sample, model_name)})"


def throughput(model_name: str, rate: str = "5m") -> str:
    """Predictions per second."""
    return promql.sum_rate(_model(m.PREDICTIONS.sample, model_name), rate)


def normal_request_rate(model_name: str, rate: str = "5m", lookback: str = "7d",
                        resolution: str = "5m") -> str:
    """The usual request rate: the median over ``lookback`` of the rate (an instant query)."""
    return (f"quantile_over_time(0.5, ({request_rate(model_name, rate)})"
            f"[{lookback}:{resolution}])")


# -- model quality -------------------------------------------------------------------------------

def class_share(model_name: str, rate: str = "5m") -> str:
    """Share of predictions per predicted class (sums to 1 over classes)."""
    inner = f"rate({_model(m.PREDICTIONS.sample, model_name)}[{rate}])"
    return (f"sum by (model_name, predicted_class) ({inner}) / ignoring (predicted_class) "
            f"group_left sum by (model_name) ({inner})")


def confidence_buckets(model_name: str, duration: str = "1h") -> str:
    """Cumulative confidence histogram counts over ``duration`` (per ``le``; instant query)."""
    return promql.sum_increase(_model(m.CONFIDENCE.series("_bucket"), model_name), duration,
                               ("le",))


def invalid_feature_rate(model_name: str, rate: str = "5m", by: Iterable[str] = ()) -> str:
    """Feature values rejected per second (NaN, inf, missing, wrong type, unknown feature)."""
    return promql.sum_rate(_model(m.FEATURE_INVALID.sample, model_name), rate, ("model_name", *by))


def low_confidence_share(model_name: str, rate: str = "5m") -> str:
    """Share of predictions under the low-confidence threshold."""
    return promql.ratio(promql.sum_rate(_model(m.LOW_CONFIDENCE.sample, model_name), rate),
                        promql.sum_rate(_model(m.PREDICTIONS.sample, model_name), rate),
                        bad_may_be_absent=False, drop_zero_total=True)


def accuracy(model_name: str, rate: str = "1h", by: Iterable[str] = ()) -> str:
    """Share of ground-truth-labelled predictions that were correct (per ``by``, e.g. segment)."""
    labels = ("model_name", *by)
    gt = m.GROUND_TRUTH.sample
    return promql.ratio(promql.sum_rate(_model(gt, model_name, outcome="correct"), rate, labels),
                        promql.sum_rate(_model(gt, model_name), rate, labels),
                        bad_may_be_absent=False, drop_zero_total=True)


def ground_truth_count(model_name: str, duration: str = "1h", by: Iterable[str] = ()) -> str:
    """Labelled predictions received over ``duration`` (the sample size behind accuracy)."""
    return promql.sum_increase(_model(m.GROUND_TRUTH.sample, model_name), duration,
                               ("model_name", *by))


def model_info(model_name: str) -> str:
    """The live model version and baseline id (value 1 per version)."""
    return (f"max by (model_name, model_version, baseline_id) "
            f"({_model(m.MODEL_INFO.sample, model_name)})")


# -- resources -----------------------------------------------------------------------------------

def process_cpu(job: str = DEMO_JOB, rate: str = "5m") -> str:
    """CPU cores used by the service's processes (prometheus_client's process collector)."""
    return promql.sum_rate(selector("process_cpu_seconds_total", job=job), rate,
                           ("job", "instance"))


def process_memory(job: str = DEMO_JOB) -> str:
    """Resident memory of the service's processes, in bytes."""
    return f"sum by (job, instance) ({selector('process_resident_memory_bytes', job=job)})"


def node_cpu(job: str = NODE_JOB, rate: str = "5m") -> str:
    """Share of the machine's CPU time that is busy (0–1)."""
    idle = selector("node_cpu_seconds_total", job=job, mode="idle")
    return f"1 - avg by (instance) (rate({idle}[{rate}]))"


def node_memory(job: str = NODE_JOB) -> str:
    """Share of the machine's memory in use (0–1)."""
    return (f"1 - {selector('node_memory_MemAvailable_bytes', job=job)} / "
            f"{selector('node_memory_MemTotal_bytes', job=job)}")


_REAL_FS = promql.matcher("fstype", "tmpfs|ramfs|devtmpfs|overlay|squashfs|nsfs|proc|sysfs|autofs",
                          "!~")


def node_disk(job: str = NODE_JOB) -> str:
    """Share of each real filesystem's space in use (0–1), per mountpoint."""
    avail = selector("node_filesystem_avail_bytes", _REAL_FS, job=job)
    size = selector("node_filesystem_size_bytes", _REAL_FS, job=job)
    return f"max by (instance, mountpoint) (1 - {avail} / {size})"


# -- transformations -----------------------------------------------------------------------------

def buckets_to_bins(frame: pd.DataFrame) -> pd.DataFrame:
    """Cumulative ``le`` bucket counts → one row per bin: ``lower``, ``upper``, ``count``, ``share``.

    Input is a tidy frame with an ``le`` column (e.g. from :func:`confidence_buckets`); ``+Inf``
    becomes the last bin's upper edge. Counter resets can make cumulative counts dip: they are
    clipped at zero rather than reported as negative bins.
    """
    if frame.empty or "le" not in frame:
        return pd.DataFrame({"lower": [], "upper": [], "count": [], "share": []})
    edges = frame.assign(upper=frame["le"].astype(str).astype(float)).groupby("upper")["value"].sum()
    edges = edges.sort_index()
    counts = edges.diff().fillna(edges.iloc[0]).clip(lower=0)
    uppers = edges.index.to_numpy(dtype=float)
    lowers = [float("-inf"), *uppers[:-1]]
    total = counts.sum()
    return pd.DataFrame({"lower": lowers, "upper": uppers, "count": counts.to_numpy(),
                         "share": counts.to_numpy() / total if total > 0 else 0.0})


# -- health tiles --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tile:
    """One status tile: a headline number, its status and the reference it is judged against."""

    title: str
    value: float
    status: str  # ok | warning | critical | unknown
    text: str
    detail: str
    reference: float = float("nan")  # the normal level or threshold the value is judged by


def status_of(value: float, warning: float, critical: float, *, higher_is_better: bool = False) -> str:
    """ok / warning / critical for a value against two thresholds; unknown for NaN."""
    if value is None or value != value:
        return "unknown"
    if higher_is_better:
        return "critical" if value < critical else "warning" if value < warning else "ok"
    return "critical" if value > critical else "warning" if value > warning else "ok"


def _fmt_rate(value: float) -> str:
    return "no data" if value != value else f"{value:.2f}/s"


def _fmt_pct(value: float) -> str:
    return "no data" if value != value else f"{value:.1%}"


def _fmt_ms(value: float) -> str:
    return "no data" if value != value else f"{value * 1000:.0f} ms"


def health_tiles(ctx: NotebookContext, *, recent: str = "5m", accuracy_window: str = "1h") -> list[Tile]:
    """The four system-health tiles at the window's end, judged against the configuration.

    Request rate against its median over the 7 days before (and the throughput SLO), error ratio
    against the alert thresholds, P95 against the latency SLO (warning above it, critical above
    its warning factor), accuracy over ``accuracy_window`` against the objective and the minimum.
    """
    prom, model, name, at = ctx.prom, ctx.model, ctx.model_name, ctx.window.end
    slo, alerts = model.slo, model.alerts
    rate_now = prom.scalar(request_rate(name, recent), at)
    normal = prom.scalar(normal_request_rate(name, recent), at)
    ratio = rate_now / normal if normal and normal == normal and normal > 0 else float("nan")
    if rate_now != rate_now:
        rate_status = "unknown"
    elif rate_now < slo.throughput_min_rps or (ratio == ratio and (ratio < 0.25 or ratio > 4)):
        rate_status = "critical"
    elif ratio == ratio and (ratio < 0.5 or ratio > 2):
        rate_status = "warning"
    else:
        rate_status = "ok"
    errors = prom.scalar(error_ratio(name, recent), at)
    if errors != errors and rate_now == rate_now and rate_now > 0:
        errors = 0.0  # requests but no error series yet: nothing failed
    p95 = prom.scalar(latency_quantile(0.95, name, recent), at)
    threshold = slo.latency_threshold_seconds
    acc = prom.scalar(accuracy(name, accuracy_window), at)
    return [
        Tile("Request rate", rate_now, rate_status, _fmt_rate(rate_now),
             f"normal {_fmt_rate(normal)} · SLO ≥ {slo.throughput_min_rps:g}/s", normal),
        Tile("Error ratio", errors,
             status_of(errors, alerts.error_ratio_warning, alerts.error_ratio_critical),
             _fmt_pct(errors),
             f"warn > {alerts.error_ratio_warning:.0%} · crit > {alerts.error_ratio_critical:.0%}",
             alerts.error_ratio_warning),
        Tile("Latency P95", p95,
             status_of(p95, threshold, threshold * alerts.latency_p95_factor_warning),
             _fmt_ms(p95), f"SLO {threshold * 1000:.0f} ms", threshold),
        Tile("Accuracy", acc,
             status_of(acc, slo.accuracy_objective, alerts.accuracy_min, higher_is_better=True),
             _fmt_pct(acc),
             f"objective {slo.accuracy_objective:.0%} · min {alerts.accuracy_min:.0%} "
             f"({accuracy_window})", slo.accuracy_objective),
    ]


def health_series(ctx: NotebookContext) -> dict[str, pd.DataFrame]:
    """The series behind the health tiles over the window (tidy frames, possibly empty)."""
    name, w = ctx.model_name, ctx.window
    frames = {
        "request_rate": request_rate(name, w.rate),
        "error_ratio": error_ratio(name, w.rate),
        "accuracy": accuracy(name, format_duration(max(3600.0, w.step))),
    }
    out = {key: ctx.prom.range(promql, *w.range) for key, promql in frames.items()}
    latency = [ctx.prom.range(promql, *w.range).assign(quantile=key)
               for key, promql in latency_quantiles(name, w.rate).items()]
    out["latency"] = pd.concat(latency, ignore_index=True) if any(
        not f.empty for f in latency) else latency[0]
    return out


def quality_series(ctx: NotebookContext) -> dict[str, pd.DataFrame]:
    """Model-quality data over the window: class shares, confidence bins, low-confidence share,
    accuracy over time and per segment (``segment``, ``accuracy``, ``labelled``) at the end."""
    name, w, prom = ctx.model_name, ctx.window, ctx.prom
    acc_rate = format_duration(max(3600.0, w.step))
    correct = prom.query(ground_truth_count(name, w.duration, by=("segment", "outcome")), w.end)
    per_segment = pd.DataFrame({"segment": [], "accuracy": [], "labelled": []})
    if not correct.empty:
        table = correct.pivot_table(index="segment", columns="outcome", values="value",
                                    aggfunc="sum", observed=True).fillna(0.0)
        labelled = table.sum(axis=1)
        hits = table["correct"] if "correct" in table else 0.0 * labelled
        per_segment = pd.DataFrame({"segment": labelled.index.astype(str),
                                    "accuracy": (hits / labelled.where(labelled > 0)).to_numpy(),
                                    "labelled": labelled.round().to_numpy()})
    return {
        "class_share": prom.range(class_share(name, w.rate), *w.range),
        "confidence": buckets_to_bins(prom.query(confidence_buckets(name, w.duration), w.end)),
        "low_confidence_share": prom.range(low_confidence_share(name, w.rate), *w.range),
        "accuracy": prom.range(accuracy(name, acc_rate), *w.range),
        "accuracy_by_segment": per_segment,
    }


def resource_series(ctx: NotebookContext, job: str = DEMO_JOB,
                    node_job: str = NODE_JOB) -> dict[str, pd.DataFrame]:
    """Resource series over the window: service process CPU/memory, node CPU/memory/disk."""
    w = ctx.window
    named = {
        "process_cpu": process_cpu(job, w.rate),
        "process_memory": process_memory(job),
        "node_cpu": node_cpu(node_job, w.rate),
        "node_memory": node_memory(node_job),
        "node_disk": node_disk(node_job),
        "in_flight": in_flight(ctx.model_name),
    }
    return {key: ctx.prom.range(promql, *w.range) for key, promql in named.items()}
