"""Estimated accuracy from Prometheus: the Python rerun of the estimated-accuracy rules, for any
window, next to the realized accuracy of the labels that arrived.

Reads through a :class:`~mlmon_nb.drift.QuerySource` (a :class:`mlmon_nb.prom.Prometheus`, or
anything with its ``query``/``range``): the confidence histogram's bucket increases over a
window, summed across replicas, turned into per-bucket counts at the calibration's own edges
(a baseline saved with the earlier 0.1-wide buckets is read at those, the finer edges near 1
left out, as the rules do) and put through the baseline's
:class:`~mlmon_nb.estimated.calibration.Calibration`. The value for a window equals the recording rule
``model_name:ml_estimated_accuracy:<window>`` at its end (see
:mod:`mlmon_nb.estimated.rules`), and :meth:`Calibration.estimate` on the same counts.

The estimate assumes no concept shift — P(correct | confidence) is what it was on the labelled
reference data. :func:`accuracy_comparison` sets it against the realized accuracy where labels
exist; a gap that widens is the sign the assumption (or the calibration) broke. Each estimate
carries its 95 % band (``lower``, ``upper``: the curve's uncertainty and the window's noise), as
the rule ``model_name:ml_estimated_accuracy_margin:<window>`` records it. ``model_version``
narrows each to one version's predictions (and labels), through the model's curve: the rules
``model_name_model_version:…`` of a model running several.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from .. import queries
from ..context import format_duration
from ..errors import BaselineError, DriftError
from ..prom import parse_step, to_timestamp
from .calibration import EDGES, AccuracyEstimate, Calibration

if TYPE_CHECKING:  # the protocol only: scipy-backed drift stays off this light path; a Baseline
    # holds its Calibration, so the baseline package imports this one, not the reverse
    from ..baseline import Baseline
    from ..drift.prometheus import QuerySource

__all__ = [
    "ASSUMPTION",
    "calibration_of",
    "confidence_counts",
    "window_confidence_counts",
    "window_confidence_sum",
    "window_purity_sum",
    "window_scaled_sum",
    "estimated_accuracy",
    "estimated_accuracy_series",
    "realized_accuracy_series",
    "accuracy_comparison",
]

ASSUMPTION = ("The estimate assumes no concept shift: P(correct | confidence) is what it was on "
              "the labelled reference data. Inputs moving to where the model is less sure "
              "(covariate shift) are what it sees; a model confidently wrong on new inputs it "
              "cannot see. Check it when labels arrive: the realized accuracy of the same "
              "windows should lie within the estimate's spread; a gap that widens means concept "
              "shift or a calibration that no longer holds (refit it on fresh labelled data).")


def calibration_of(baseline: Baseline) -> Calibration:
    """The baseline's reliability curve, or a BaselineError saying how to get one."""
    if baseline.calibration is None:
        raise BaselineError(f"baseline {baseline.baseline_id} of {baseline.model_name} has no "
                            f"calibration; build it with label=COLUMN (mlmon-nb baseline build "
                            f"--label) or add a validation set's curve with "
                            f"Baseline.with_calibration(fit_calibration(...))")
    return baseline.calibration


def confidence_counts(frame: pd.DataFrame, edges: Sequence[float] = EDGES
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps, per-bucket counts T × buckets) from the confidence histogram's cumulative
    bucket rows (``le``, ``value``, optionally ``timestamp``) at ``edges`` (``+Inf`` last; a
    calibration's :attr:`~Calibration.edges`; other buckets the histogram has are left out); no
    rows give T = 0."""
    edges = [float(e) for e in edges]
    if frame.empty:
        return np.array([], dtype="datetime64[ns]"), np.zeros((0, len(edges)))
    les = frame["le"].astype(str).map(lambda s: float(s.replace("Inf", "inf"))).to_numpy()
    stamped = (frame if "timestamp" in frame.columns
               else frame.assign(timestamp=pd.Series(pd.NaT, index=frame.index)))
    table = stamped.assign(_le=les).pivot_table(index="timestamp", columns="_le", values="value",
                                                aggfunc="sum", dropna=False)
    missing = [le for le in edges if le not in table.columns]
    if missing:
        raise DriftError(f"the confidence histogram has no buckets at {missing[:5]}; the "
                         f"calibration's buckets are {tuple(edges)}")
    cumulative = table[edges].to_numpy(dtype=float)
    counts = np.diff(np.concatenate([np.zeros((len(table), 1)), cumulative], axis=1), axis=1)
    return table.index.to_numpy(), counts


def _version(model_version: str) -> dict[str, str]:
    """The matcher of one version's series (none: every version's)."""
    return {"model_version": model_version} if model_version else {}


def window_confidence_counts(source: QuerySource, model_name: str, *, window: str = "1h",
                             time: Any = None, edges: Sequence[float] = EDGES,
                             model_version: str = "") -> np.ndarray:
    """The confidences of the ``window`` ending at ``time`` (default now) per bucket (of
    ``edges``, ``+Inf`` last), summed across replicas (of ``model_version`` alone when given);
    zeros when there were none."""
    query = queries.confidence_buckets(model_name, window, **_version(model_version))
    _, counts = confidence_counts(source.query(query, time=time), edges)
    return counts[0] if len(counts) else np.zeros(len(edges))


def _window_total(source: QuerySource, query: str, time: Any) -> float | None:
    """An instant sum query's value summed over its series; None where it has none."""
    frame = source.query(query, time=time)
    return float(frame["value"].sum()) if not frame.empty else None


def window_confidence_sum(source: QuerySource, model_name: str, *, window: str = "1h",
                          time: Any = None, model_version: str = "") -> float:
    """The sum of the confidences of the ``window`` ending at ``time`` (the histogram's
    ``_sum``), summed across replicas (of ``model_version`` alone when given); 0 when there
    were none."""
    return _window_total(source, queries.confidence_sum(
        model_name, window, **_version(model_version)), time) or 0.0


def window_scaled_sum(source: QuerySource, model_name: str, *, window: str = "1h",
                      time: Any = None, model_version: str = "") -> float | None:
    """The sum of the predictions' temperature-scaled top scores of the ``window`` ending at
    ``time`` (``ml_prediction_scaled_confidence_total``), summed across replicas; None when the
    service counts none (a curve that scales the scores then has no estimate)."""
    return _window_total(source, queries.scaled_confidence_sum(
        model_name, window, **_version(model_version)), time)


def window_purity_sum(source: QuerySource, model_name: str, *, window: str = "1h",
                      time: Any = None, model_version: str = "") -> float | None:
    """The sum of the predictions' class-score purities of the ``window`` ending at ``time``
    (``ml_prediction_purity_total``), summed across replicas; None when the service exports
    none (a curve fitted with class scores then has no estimate)."""
    return _window_total(source, queries.purity_sum(
        model_name, window, **_version(model_version)), time)


def _confidence_sum_query(calibration: Calibration) -> Callable[..., str]:
    """The query of a window's confidences as ``calibration`` weighs them: the scaled top
    scores' sum for a curve with a scaling, the histogram's ``_sum`` for the others."""
    return queries.scaled_confidence_sum if calibration.scaling != 1.0 else queries.confidence_sum


def _no_scaled(model: str) -> DriftError:
    return DriftError(f"{model}'s calibration scales the class scores by a temperature, but "
                      f"Prometheus has no ml_prediction_scaled_confidence_total for the window: "
                      f"load the baseline in the service's ModelMonitor (baseline=) with an "
                      f"mlmon_nb that counts it")


def _no_purity(model: str) -> DriftError:
    return DriftError(f"{model}'s calibration was fitted with class scores, but Prometheus has "
                      f"no ml_prediction_purity_total for the window: upgrade the service's "
                      f"mlmon_nb, or rebuild the baseline without scores=")


def estimated_accuracy(source: QuerySource, baseline: Baseline, *, window: str = "1h",
                       time: Any = None, model_name: str | None = None,
                       model_version: str = "") -> AccuracyEstimate:
    """The accuracy the ``window`` ending at ``time`` should have, from its confidences alone:
    equals the rule ``model_name:ml_estimated_accuracy:<window>`` at ``time``; with
    ``model_version``, that version's through the model's curve (the rule
    ``model_name_model_version:ml_estimated_accuracy:<window>`` of a model running several)."""
    calibration = calibration_of(baseline)
    model = model_name or baseline.model_name
    counts = window_confidence_counts(source, model, window=window, time=time,
                                      edges=calibration.edges, model_version=model_version)
    purities = None
    if calibration.purity_sums is not None and counts.sum() > 0:
        purities = window_purity_sum(source, model, window=window, time=time,
                                     model_version=model_version)
        if purities is None:
            raise _no_purity(model)
    total = _window_total(source, _confidence_sum_query(calibration)(
        model, window, **_version(model_version)), time)
    if total is None and calibration.scaling != 1.0 and counts.sum() > 0:
        raise _no_scaled(model)
    return calibration.estimate(counts, total or 0.0, purities)


def _range(start: Any, end: Any, step: Any, window: str | None
           ) -> tuple[pd.Timestamp, pd.Timestamp, str, str]:
    """``start`` and ``end`` resolved against one "now" (so the range queries of one comparison
    share their timestamps), the step as a PromQL duration (``600`` → ``10m``) and the window
    (default: the step)."""
    now = pd.Timestamp.now(tz="UTC")
    step_text = format_duration(parse_step(step))
    return (to_timestamp(start, now), to_timestamp(end, now), step_text, window or step_text)


def estimated_accuracy_series(source: QuerySource, baseline: Baseline, start: Any, end: Any,
                              step: str | float = "5m", *, window: str | None = None,
                              model_name: str | None = None,
                              model_version: str = "") -> pd.DataFrame:
    """One estimate per ``step`` over the range, each over the ``window`` (default ``step``)
    ending at its timestamp (of ``model_version``'s predictions alone when given):
    ``timestamp``, ``estimated``, ``stderr``, the 95 % band's ``lower`` and ``upper`` edges,
    ``n`` (confidences)."""
    calibration = calibration_of(baseline)
    model = model_name or baseline.model_name
    version = _version(model_version)
    start, end, step, window = _range(start, end, step, window)
    ts, counts = confidence_counts(source.range(
        queries.confidence_buckets(model, window, **version), start, end, step),
        calibration.edges)
    purities: dict[Any, float] | None = None
    if calibration.purity_sums is not None:
        purities = _by_time(source.range(queries.purity_sum(model, window, **version), start,
                                         end, step))
        if len(ts) and not purities:
            raise _no_purity(model)
    by_time = _by_time(source.range(_confidence_sum_query(calibration)(model, window, **version),
                                    start, end, step))
    if calibration.scaling != 1.0 and len(ts) and not by_time:
        raise _no_scaled(model)
    rows = []
    for t, c in zip(ts, counts):
        est = calibration.estimate(c, by_time.get(t, float("nan")),
                                   None if purities is None else purities.get(t, float("nan")))
        rows.append({"timestamp": t, "estimated": est.accuracy, "stderr": est.stderr,
                     "lower": est.lower, "upper": est.upper, "n": float(c.sum())})
    frame = pd.DataFrame(rows, columns=["timestamp", "estimated", "stderr", "lower", "upper", "n"])
    return frame[(frame["n"] > 0) & frame["estimated"].notna()].reset_index(drop=True)


def _by_time(frame: pd.DataFrame) -> dict[Any, float]:
    """A range query's values by timestamp."""
    if frame.empty:
        return {}
    return dict(zip(frame["timestamp"].to_numpy(), frame["value"].to_numpy(dtype=float)))


def realized_accuracy_series(source: QuerySource, model_name: str, start: Any, end: Any,
                             step: str | float = "5m", *, window: str | None = None,
                             model_version: str = "") -> pd.DataFrame:
    """The accuracy of the labels that arrived, per ``step`` over ``window`` (of
    ``model_version``'s predictions alone when given): ``timestamp``, ``realized`` and
    ``n_labels`` (no row where no label arrived)."""
    start, end, step, window = _range(start, end, step, window)
    by = tuple(_version(model_version))

    def of_version(frame: pd.DataFrame) -> pd.DataFrame:
        if not model_version or frame.empty:
            return frame
        return frame[frame["model_version"].astype(str) == model_version]
    acc = of_version(source.range(queries.accuracy(model_name, window, by=by), start, end, step))
    count = of_version(source.range(queries.ground_truth_count(model_name, window, by=by),
                                    start, end, step))
    out = pd.DataFrame(columns=["timestamp", "realized", "n_labels"])
    if acc.empty or count.empty:
        return out
    acc = acc[["timestamp", "value"]].rename(columns={"value": "realized"})
    count = count[["timestamp", "value"]].rename(columns={"value": "n_labels"})
    return acc.merge(count, on="timestamp", how="inner").sort_values("timestamp") \
        .reset_index(drop=True)


def accuracy_comparison(source: QuerySource, baseline: Baseline, start: Any, end: Any,
                        step: str | float = "1h", *, window: str | None = None,
                        model_name: str | None = None, model_version: str = "") -> pd.DataFrame:
    """Estimated and realized accuracy per ``step`` side by side (of ``model_version`` alone
    when given), with ``gap`` = estimated − realized (NaN where no label arrived):
    ``timestamp``, ``estimated``, ``stderr``, ``lower``, ``upper``, ``n``, ``realized``,
    ``n_labels``, ``gap``."""
    model = model_name or baseline.model_name
    start, end, step, window = _range(start, end, step, window)
    est = estimated_accuracy_series(source, baseline, start, end, step, window=window,
                                    model_name=model, model_version=model_version)
    real = realized_accuracy_series(source, model, start, end, step, window=window,
                                    model_version=model_version)
    out = est.merge(real, on="timestamp", how="outer").sort_values("timestamp")
    out["gap"] = out["estimated"] - out["realized"]
    return out.reset_index(drop=True)
