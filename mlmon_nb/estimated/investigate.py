"""The estimated-accuracy evidence of an investigation: the accuracy the live confidences
promise through the baseline's reliability curve, set against the realized accuracy of the
labels that arrived (with their counts), the confidence distribution against the baseline's, and
the assumption the estimate rests on, stated plainly with how to check it. The estimate counts
as evidence only when its whole 95 % band is under the threshold and the window does not sit on
thin parts of the curve (more than :data:`THIN_SHARE` of its predictions where the curve rests
on fewer than :data:`THIN_ROWS` labelled rows): there it is marked uncertain."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics as m
from .. import plots
from .. import queries as q
from ..context import format_duration
from ..errors import BaselineError
from ..findings import Finding, Stat
from ..findings.investigation import InvestigationBase
from ..humanize import Kind, fmt
from ..promql import matcher, selector
from ..promql.names import estimated_accuracy_margin
from ..signals import Signal
from .accuracy import (
    ASSUMPTION,
    accuracy_comparison,
    calibration_of,
    window_confidence_counts,
)
from .calibration import Z_95
from .rules import (
    MODEL_SCOPE,
    THIN_ROWS,
    THIN_SHARE,
    VERSION_SCOPE,
    Scope,
    estimated_accuracy_expr,
    estimated_accuracy_margin_expr,
)

__all__ = ["EstimatedAccuracyEvidence", "GAP_TOLERANCE", "THIN_ROWS", "THIN_SHARE"]

# |estimated − realized| beyond which the labels are said to disagree with the estimate
GAP_TOLERANCE = 0.05


class EstimatedAccuracyEvidence(InvestigationBase):
    """The estimated-accuracy methods of :class:`~mlmon_nb.investigate.Investigation`."""

    def require_calibration(self):
        """The baseline's reliability curve, or end the run early (status ``no_data``) saying
        how to give the baseline one."""
        baseline = self.load_baseline()  # DriftEvidence's
        try:
            if baseline is None:
                raise BaselineError(f"the baseline at {self.ctx.baseline_path} is missing; build "
                                    f"it with `mlmon-nb baseline build … --label COLUMN`")
            return calibration_of(baseline)
        except BaselineError as exc:
            self._early(f"No calibration for model {self.model_name}, so the accuracy cannot "
                        f"be estimated: {exc}.", "no_data")
            return None

    def estimated_accuracy_signal(self, threshold: float | None = None, *,
                                  model_version: str = "") -> Signal | None:
        """The accuracy estimated from the confidences over a ``rate()`` range (the recording
        rule's own expression), with the predictions behind it; too low is bad. With
        ``model_version`` (a canary the alert judged alone), that version's predictions through
        the model's curve."""
        baseline = self.load_baseline()  # type: ignore[attr-defined]
        if baseline is None or baseline.calibration is None:
            return None
        version = {"model_version": model_version} if model_version else {}
        sel = selector(m.CONFIDENCE.series("_count"), model_name=self.model_name, **version)
        matchers = [matcher("model_name", self.model_name),
                    *(matcher(k, v) for k, v in version.items())]
        name = "estimated accuracy" + (f" of version {model_version}" if model_version else "")
        scope = VERSION_SCOPE if model_version else MODEL_SCOPE  # the rule's record of the band
        return Signal(name, lambda r: estimated_accuracy_expr(r, *matchers, recorded=False),
                      threshold, above=False, kind=Kind.RATIO.value,
                      sample=lambda r: f"sum(increase({sel}[{r}]))", sample_unit="predictions",
                      band=lambda r: estimated_accuracy_margin_expr(r, *matchers,
                                                                    recorded=False),
                      band_record=lambda r: scope.name(estimated_accuracy_margin(r)))

    def estimated_accuracy_by_version(self):
        """The estimate split by ``model_version`` (each version's predictions through the
        model's curve, with their count), ranked by how far it moved since before onset:
        which version the drop is on. Records "What changed, by label"."""
        model = matcher("model_name", self.model_name)
        return self.breakdown(
            "estimated accuracy",
            lambda r, by: estimated_accuracy_expr(r, model, recorded=False,
                                                  scope=Scope(("model_name", *by))),
            ["model_version"], kind=Kind.RATIO.value, additive=False,
            sample_by=lambda d, by: q.prediction_count(self.model_name, d, by=by),
            sample_unit="predictions")

    def _comparison(self, model_version: str = "") -> pd.DataFrame:
        """Estimated and realized accuracy per step from twice the incident's span before it."""
        inc = self.incident
        span = max(inc.end - inc.start, pd.Timedelta(hours=1))
        step = max(int(inc.step), 300)
        return accuracy_comparison(self.prom, self.load_baseline(),  # type: ignore[attr-defined]
                                   inc.start - 2 * span, inc.end, format_duration(step),
                                   window=format_duration(max(step, 1800)),
                                   model_name=self.model_name, model_version=model_version)

    def _thin_share(self, model_version: str = "") -> float:
        """The share of the incident window's predictions (of ``model_version`` alone when
        given) on thin parts of the curve."""
        key = "share on a thin curve" + (f" (version {model_version})" if model_version else "")
        if key not in self.numbers:
            cal = self.load_baseline().calibration  # type: ignore[attr-defined]
            counts = window_confidence_counts(self.prom, self.model_name,
                                              window=self.incident.duration,
                                              time=self.incident.end, edges=cal.edges,
                                              model_version=model_version)
            self.numbers[key] = cal.thin_share(counts, THIN_ROWS)
        return self.numbers[key]

    def estimated_vs_realized(self, model_version: str = "") -> Finding:
        """The estimate over time, with its band, against the realized accuracy where labels
        arrived (with their count), the gap between them in the incident window, and what it
        means; uncertain where the window sits on thin parts of the curve. With
        ``model_version``, that version's predictions and labels alone."""
        table = self._comparison(model_version)
        inc = self.incident
        stamps = pd.to_datetime(table["timestamp"], utc=True) if len(table) else pd.Series([])
        inside = table[stamps >= inc.start] if len(table) else table
        # the latest window: the estimate now, and the latest one the labels can be paired with
        shown = inside.dropna(subset=["estimated"]) if len(inside) else inside
        est = float(shown["estimated"].iloc[-1]) if len(shown) else float("nan")
        n = float(shown["n"].iloc[-1]) if len(shown) else 0.0
        margin = Z_95 * float(shown["stderr"].iloc[-1]) if len(shown) else float("nan")
        thin = self._thin_share(model_version)
        uncertain = thin == thin and thin > THIN_SHARE
        labelled = shown.dropna(subset=["realized"]) if len(shown) else shown
        real = float(labelled["realized"].iloc[-1]) if len(labelled) else float("nan")
        labels = float(labelled["n_labels"].iloc[-1]) if len(labelled) else 0.0
        gap = float(labelled["gap"].iloc[-1]) if len(labelled) else float("nan")
        self.numbers.update({"estimated accuracy (incident)": est,
                             "estimate's 95% margin": margin,
                             "realized accuracy (incident)": real, "gap (estimated - realized)": gap})
        stats = [Stat("estimated accuracy", est, Kind.RATIO.value, n, "predictions"),
                 Stat("realized accuracy", real, Kind.RATIO.value, labels or None, "labels")]
        limit = self.thresholds.accuracy_min
        band = (f"{fmt(est, Kind.RATIO)} (95% band {fmt(max(est - margin, 0.0), Kind.RATIO)}–"
                f"{fmt(min(est + margin, 1.0), Kind.RATIO)})")
        caveat = (f" Uncertain: {fmt(thin, Kind.RATIO)} of the window's predictions fall where "
                  f"the curve rests on fewer than {THIN_ROWS} labelled rows (more than "
                  f"{fmt(THIN_SHARE, Kind.RATIO)}); refit the curve on labelled data that "
                  f"covers these confidences." if uncertain else "")
        whose = f"Version {model_version}'s confidences" if model_version else "The confidences"
        if real != real:
            message = (f"{whose} promise {band} accuracy over the latest "
                       f"window; no label has arrived for it yet, so the estimate is all there "
                       f"is until they do.")
        else:
            verdict = (f"The labels that arrived confirm the drop: realized "
                       f"{fmt(real, Kind.RATIO)} on {fmt(labels, Kind.COUNT)} labels"
                       if real < limit else
                       f"The labels that arrived do not show the drop: realized "
                       f"{fmt(real, Kind.RATIO)} on {fmt(labels, Kind.COUNT)} labels")
            message = (f"{verdict} (threshold {fmt(limit, Kind.RATIO)}) against an estimate of "
                       f"{band} for the same window (gap {gap:+.1%}). ")
            if abs(gap) <= GAP_TOLERANCE:
                message += "The estimate holds: the model is less often right on these inputs."
            elif gap > 0:
                message += ("The model does worse than its confidences promise: part of the "
                            "change is concept shift (confidently wrong), or the curve is thin "
                            "where these confidences fall.")
            else:
                message += ("The confidences fell without the accuracy falling as much: the "
                            "calibration changed (inputs that make the model hesitate but not "
                            "err); refit the curve on fresh labels rather than retrain.")
        chart = None
        if len(table):
            data = table.set_index(pd.to_datetime(table["timestamp"], utc=True))
            wide = pd.DataFrame({"estimated": data["estimated"], "realized": data["realized"],
                                 "gap (estimated − realized)": data["gap"]})
            chart = plots.png(plots.series(wide, "Estimated and realized accuracy", percent=True,
                                           thresholds={"accuracy_min": (
                                               self.thresholds.accuracy_min, "critical")}))
        rows = [{"time": f"{pd.Timestamp(r['timestamp']):%m-%d %H:%M}",
                 "estimated": fmt(r["estimated"], Kind.RATIO),
                 "predictions": fmt(r["n"], Kind.COUNT),
                 "realized": fmt(r["realized"], Kind.RATIO) if r["realized"] == r["realized"]
                 else "no labels",
                 "labels": fmt(r["n_labels"], Kind.COUNT) if r["n_labels"] == r["n_labels"]
                 else "0"}
                for _, r in table.tail(8).iterrows()] if len(table) else []
        promql = q.accuracy(self.model_name, "1h",
                            by=("model_version",) if model_version else ())
        message += caveat
        # evidence when the whole band is under the threshold, on a curve that covers the window
        below = bool(est == est and est + margin < limit and not uncertain)
        return self.record(Finding("Estimated against realized accuracy", below,
                                   message, stats, chart, promql, self.link(promql), rows))

    def assumption(self, model_version: str = "") -> Finding:
        """The assumption behind the estimate, plainly, and whether the labels so far bear it
        out (recorded as a finding); the curve's coverage of ``model_version``'s predictions
        alone when given."""
        gap = self.numbers.get("gap (estimated - realized)", float("nan"))
        cal = self.load_baseline().calibration  # type: ignore[attr-defined]
        held = ("The labels so far bear it out." if gap == gap and abs(gap) <= GAP_TOLERANCE
                else "No label to check it yet." if gap != gap
                else f"The labels so far do not (gap {gap:+.1%}).")
        share = self._thin_share(model_version)
        coverage = (f" {fmt(share, Kind.RATIO)} of the incident window's predictions fall where "
                    f"the curve rests on fewer than {THIN_ROWS} labelled rows (there it is "
                    f"mostly the curve around it, and the band widens)."
                    + (" The estimate is uncertain." if share > THIN_SHARE else "")
                    if share == share else "")
        kind = cal.miscalibration
        message = (f"{ASSUMPTION} The curve was fitted on {fmt(cal.n, Kind.COUNT)} labelled "
                   f"rows ({fmt(cal.reference_accuracy, Kind.RATIO)} accurate"
                   f"{'; ' + kind if kind else ''})."
                   f"{coverage} {held}")
        rows = [{"confidence ≤": "+Inf" if not np.isfinite(r["le"]) else f"{r['le']:g}",
                 "reference rows": fmt(r["rows"], Kind.COUNT),
                 "calibrated accuracy": fmt(r["calibrated"], Kind.RATIO)}
                for r in cal.table() if r["rows"] > 0]
        return self.record(Finding("The assumption", bool(gap == gap and abs(gap) > GAP_TOLERANCE),
                                   message, [], None, "", "", rows))
