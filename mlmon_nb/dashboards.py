"""The dashboard notebooks' numbers: status tiles and the series each dashboard charts.

Reads Prometheus through a :class:`~mlmon_nb.context.NotebookContext` with the named queries of
:mod:`mlmon_nb.queries`, and judges values against the configuration's thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .baseline import Baseline
from .config import NODE_JOB
from .context import NotebookContext, format_duration
from .errors import BaselineError
from .estimated.accuracy import accuracy_comparison, calibration_of
from .queries import (
    accuracy,
    buckets_to_bins,
    class_share,
    confidence_buckets,
    error_ratio,
    ground_truth_count,
    in_flight,
    latency_quantile,
    latency_quantiles,
    low_confidence_share,
    node_cpu,
    node_disk,
    node_memory,
    normal_request_rate,
    process_cpu,
    process_memory,
    request_rate,
)

__all__ = ["Tile", "status_of", "health_tiles", "health_series", "quality_series",
           "accuracy_estimates", "resource_series", "GAP_NOTE"]

GAP_NOTE = ("The gap (estimated − realized) should hover around zero. A gap that widens means "
            "concept shift — the model is wrong where it used to be right at the same confidence "
            "— or a calibration change (the confidences moved without the accuracy moving); "
            "refit the baseline's curve on fresh labelled data, or retrain.")


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


def accuracy_estimates(ctx: NotebookContext) -> tuple[pd.DataFrame, str]:
    """Estimated (from the confidences, through the baseline's curve) and realized accuracy
    over the window, each over the same range as the accuracy chart (1h, or the step), with
    ``gap`` = estimated − realized; and why the frame is empty when it is (no baseline, no
    calibration, no predictions)."""
    try:
        baseline = Baseline.load(ctx.baseline_path)
        calibration_of(baseline)
    except BaselineError as exc:
        return pd.DataFrame(), f"No estimated accuracy: {exc}"
    w = ctx.window
    table = accuracy_comparison(ctx.prom, baseline, w.start, w.end, format_duration(w.step),
                                window=format_duration(max(3600.0, w.step)),
                                model_name=ctx.model_name)
    if table.empty:
        return table, f"No predictions for model `{ctx.model_name}` in this window."
    return table.set_index(pd.to_datetime(table["timestamp"], utc=True)), ""


def resource_series(ctx: NotebookContext, job: str = "",
                    node_job: str = NODE_JOB) -> dict[str, pd.DataFrame]:
    """Resource series over the window: service process CPU/memory (scrape job ``job``, default
    the model's configured one), node CPU/memory/disk."""
    w = ctx.window
    job = job or ctx.model.job
    named = {
        "process_cpu": process_cpu(job, w.rate),
        "process_memory": process_memory(job),
        "node_cpu": node_cpu(node_job, w.rate),
        "node_memory": node_memory(node_job),
        "node_disk": node_disk(node_job),
        "in_flight": in_flight(ctx.model_name),
    }
    return {key: ctx.prom.range(promql, *w.range) for key, promql in named.items()}
