"""Named PromQL for RED, throughput, model quality and resources (pure).

Every query of a model's metrics carries a ``model_name`` matcher, so a notebook of one model in a
fleet of a hundred reads that model's series only; which models exist is one cheap query
(:func:`model_names`: one series per model, no samples of the others' metrics).

Every query is a pure function returning a PromQL string built from the metric contract
(``mlmon_nb.metrics``) with :mod:`mlmon_nb.promql`, so notebooks, runbooks and Grafana panels ask
the same questions the same way. Queries read the raw contract metrics (not recording rules), so
they also work over backfilled history, which rules never evaluated. The notebook window and the
client that runs them are :mod:`mlmon_nb.context`'s.
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from . import metrics as m
from . import promql
from .config import NODE_JOB
from .promql import selector
from .promql.baselines import version_baselines

__all__ = [
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
    "prediction_count",
    "model_info",
    "model_replicas",
    "baselines_served",
    "model_names",
    # resources
    "process_cpu",
    "process_memory",
    "node_cpu",
    "node_memory",
    "node_disk",
    "buckets_to_bins",
]


# -- RED and throughput --------------------------------------------------------------------------

def _model(metric: str, model_name: str, **labels: str) -> str:
    return selector(metric, model_name=model_name, **labels)


def request_rate(model_name: str, rate: str = "5m", by: Iterable[str] = (),
                 **labels: str) -> str:
    """Requests per second; ``labels`` narrow it (``model_version``: one version's)."""
    return promql.sum_rate(_model(m.REQUESTS.sample, model_name, **labels), rate,
                           ("model_name", *by))


def error_rate(model_name: str, rate: str = "5m", by: Iterable[str] = (),
               **labels: str) -> str:
    """Failed requests per second; ``labels`` narrow it."""
    return promql.sum_rate(_model(m.ERRORS.sample, model_name, **labels), rate,
                           ("model_name", *by))


def error_ratio(model_name: str, rate: str = "5m", by: Iterable[str] = (),
                **labels: str) -> str:
    """Share of requests that failed (0–1): 0 while no request has failed (the error counter
    has no series before its first error), no series while there are no requests; ``labels``
    narrow it (``model_version``: one version's requests)."""
    return promql.ratio(error_rate(model_name, rate, by, **labels),
                        request_rate(model_name, rate, by, **labels),
                        drop_zero_total=True)


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


def confidence_buckets(model_name: str, duration: str = "1h", **labels: str) -> str:
    """Cumulative confidence histogram counts over ``duration`` (per ``le``; instant query);
    ``labels`` narrow it (``model_version``: one version's)."""
    return promql.sum_increase(_model(m.CONFIDENCE.series("_bucket"), model_name, **labels),
                               duration, ("le",))


def confidence_sum(model_name: str, duration: str = "1h", **labels: str) -> str:
    """The sum of the confidences observed over ``duration`` (the histogram's ``_sum``);
    ``labels`` narrow it."""
    return promql.sum_increase(_model(m.CONFIDENCE.series("_sum"), model_name, **labels),
                               duration)


def scaled_confidence_sum(model_name: str, duration: str = "1h", **labels: str) -> str:
    """The sum of the predictions' temperature-scaled top scores over ``duration``
    (``ml_prediction_scaled_confidence_total``, counted under a curve that scales them);
    ``labels`` narrow it."""
    return promql.sum_increase(_model(m.SCALED_CONFIDENCE.sample, model_name, **labels),
                               duration)


def purity_sum(model_name: str, duration: str = "1h", **labels: str) -> str:
    """The sum of the predictions' class-score purities over ``duration``
    (``ml_prediction_purity_total``); ``labels`` narrow it."""
    return promql.sum_increase(_model(m.PURITY.sample, model_name, **labels), duration)


def invalid_feature_rate(model_name: str, rate: str = "5m", by: Iterable[str] = ()) -> str:
    """Feature values rejected per second (NaN, inf, missing, wrong type, unknown feature)."""
    return promql.sum_rate(_model(m.FEATURE_INVALID.sample, model_name), rate, ("model_name", *by))


def low_confidence_share(model_name: str, rate: str = "5m", by: Iterable[str] = (),
                         **labels: str) -> str:
    """Share of predictions under the low-confidence threshold (per ``by``, e.g. version), 0
    before the first low-confidence one; ``labels`` narrow it."""
    keep = ("model_name", *by)
    return promql.ratio(
        promql.sum_rate(_model(m.LOW_CONFIDENCE.sample, model_name, **labels), rate, keep),
        promql.sum_rate(_model(m.PREDICTIONS.sample, model_name, **labels), rate, keep),
        drop_zero_total=True)


def prediction_count(model_name: str, duration: str = "1h", by: Iterable[str] = (),
                     **labels: str) -> str:
    """Predictions made over ``duration`` (the sample size behind the low-confidence share);
    ``labels`` narrow it."""
    return promql.sum_increase(_model(m.PREDICTIONS.sample, model_name, **labels), duration,
                               ("model_name", *by))


def accuracy(model_name: str, rate: str = "1h", by: Iterable[str] = (), **labels: str) -> str:
    """Share of ground-truth-labelled predictions that were correct (per ``by``, e.g. segment),
    0 while none was; ``labels`` narrow it."""
    keep = ("model_name", *by)
    gt = m.GROUND_TRUTH.sample
    return promql.ratio(
        promql.sum_rate(_model(gt, model_name, **labels, outcome="correct"), rate, keep),
        promql.sum_rate(_model(gt, model_name, **labels), rate, keep),
        drop_zero_total=True)


def ground_truth_count(model_name: str, duration: str = "1h", by: Iterable[str] = (),
                       **labels: str) -> str:
    """Labelled predictions received over ``duration`` (the sample size behind accuracy);
    ``labels`` narrow it."""
    return promql.sum_increase(_model(m.GROUND_TRUTH.sample, model_name, **labels), duration,
                               ("model_name", *by))


def model_info(model_name: str) -> str:
    """The live model version and baseline id (value 1 per version)."""
    return (f"max by (model_name, model_version, baseline_id) "
            f"({_model(m.MODEL_INFO.sample, model_name)})")


def model_replicas(model_name: str, **labels: str) -> str:
    """Each live replica of the model (``job``, ``instance``) with the version and baseline id
    it serves; ``labels`` narrow it (``model_version``: one version's)."""
    return (f"max by (job, instance, model_version, baseline_id) "
            f"({_model(m.MODEL_INFO.sample, model_name, **labels)})")


def baselines_served(model_name: str, **labels: str) -> str:
    """The most baselines any one version of the model serves at once (``labels``: e.g. one
    version's): over 1, its replicas disagree (``BaselineConflict``)."""
    return f"max({version_baselines(model_name=model_name, **labels)})"


def model_names() -> str:
    """One series per monitored model (its ``model_name`` label only): what a model picker
    lists, without reading any model's metrics."""
    return f"group by (model_name) ({m.MODEL_INFO.sample})"


# -- resources -----------------------------------------------------------------------------------

def process_cpu(job: str, rate: str = "5m") -> str:
    """CPU cores used by the processes of scrape job ``job`` (a model's ``ModelConfig.job``;
    prometheus_client's process collector)."""
    return promql.sum_rate(selector("process_cpu_seconds_total", job=job), rate,
                           ("job", "instance"))


def process_memory(job: str) -> str:
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
