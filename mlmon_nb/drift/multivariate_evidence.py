"""The multivariate evidence of an investigation: the reconstruction error of the incident window
against the baseline's (KS, critical value, mean, with the number of predictions), a chart of
the error's median against the baseline's interquartile band, the features whose residuals grew
(from the sampled ``ml_feature_reconstruction_residual_total``), and the baseline-correlated
pair whose correlation change best explains those residuals. scipy-backed :mod:`mlmon_nb.drift`
is imported only when the multivariate runbook asks."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from .. import metrics as m
from .. import plots
from ..findings import Finding, Stat
from ..findings.investigation import InvestigationBase
from ..humanize import Kind, fmt, fmt_duration
from ..promql import matcher, selector, sum_increase
from ..signals import Condition, Signal
from .investigate import POINT_WINDOW
from .multivariate import pair_changes, residual_shares
from .multivariate_rules import reconstruction_ks_expr, reconstruction_n_expr
from .prometheus import reconstruction_query, window_reconstruction

__all__ = ["MultivariateEvidence"]


def _reference_quantile(edges: np.ndarray, cumulative: np.ndarray, q: float) -> float:
    """The baseline error's ``q`` quantile, interpolated between its bucket edges."""
    return float(np.interp(q, cumulative, edges))


class MultivariateEvidence(InvestigationBase):
    """The multivariate-drift methods of :class:`~mlmon_nb.investigate.Investigation`."""

    def require_joint(self):
        """The baseline's joint structure, or end the run early (status ``no_data``) saying how
        to get one."""
        baseline = self.load_baseline()  # DriftEvidence's
        joint = None if baseline is None else baseline.multivariate
        if joint is None:
            self._early(f"The baseline of {self.model_name} at {self.ctx.baseline_path} has no "
                        f"joint structure (missing, older than the multivariate check, or fewer "
                        f"than two numeric features): rebuild it with `mlmon-nb baseline build`.",
                        "no_data")
        return joint

    def require_errors(self) -> None:
        """End the run early (status ``no_data``) when the model observed no reconstruction
        error in the window. The alert's data are the predictions' errors: a service that
        calls ``record_prediction`` without the HTTP middleware counts no requests."""
        count = selector(m.RECONSTRUCTION_ERROR.series("_count"), model_name=self.model_name)
        self.require_data(f"sum(rate({count}[{self.rate}]))",
                          what="predictions with a reconstruction error")

    def _model(self) -> str:
        return matcher("model_name", self.model_name)

    def reconstruction_signal(self, threshold: float | None) -> Signal:
        """The binned KS of the reconstruction error against the baseline's over time (the
        rule's own expression over a short window), with the predictions behind it."""
        return Signal(f"{POINT_WINDOW} binned KS of the reconstruction error",
                      lambda r: reconstruction_ks_expr(self._drift_window(r),  # type: ignore[attr-defined]
                                                       self._model(), recorded=False),
                      threshold, kind=Kind.SCORE.value, window=POINT_WINDOW,
                      sample=lambda r: f"sum({reconstruction_n_expr(r, self._model())})",
                      sample_unit="predictions")

    def reconstruction_condition(self, condition: Condition) -> tuple[Condition, float]:
        """The alert's whole condition at the window's end, as a KS against the threshold it
        must pass there, with that KS (for ``check_still_firing``); ``condition``: the rule's
        KS condition (``alert_condition``), its window and ``ks.warning``.

        The rule fires on at least ``alerts.min_events.feature_values`` errors whose KS is past
        chance and either past ``ks.warning`` or with the mean error past chance too (a new
        segment raises the mean before it moves many quantiles). So the KS must pass the larger
        of ``ks.warning`` and its critical value, or only the critical value when the mean is
        past chance (the description says so), and nothing on too few errors."""
        result = window_reconstruction(self.prom, self.load_baseline(),  # type: ignore[attr-defined]
                                       time=self.incident.end, window=condition.window or "1h",
                                       model_name=self.model_name,
                                       alpha=self.ctx.model.drift_alpha)
        least = self.ctx.model.alerts.min_events.feature_values
        self.numbers.update({"alert window reconstruction KS critical": result.critical,
                             "alert window reconstruction error mean": result.mean,
                             "alert window reconstruction error mean critical":
                                 result.mean_critical})
        if result.n < least:
            return replace(condition, threshold=math.inf, description=(
                f"{condition.description} on {fmt(result.n, Kind.COUNT)} predictions (the "
                f"alert needs at least {fmt(least, Kind.COUNT)})")), result.ks
        threshold = max(condition.threshold, result.critical)
        if result.mean > result.mean_critical and not result.ks > threshold:
            return replace(condition, threshold=result.critical, description=(
                f"{condition.description} (its mean {fmt(result.mean)} is past the "
                f"{fmt(result.mean_critical)} chance gives, so the KS need only pass chance)")
            ), result.ks
        return replace(condition, threshold=threshold), result.ks

    def reconstruction_finding(self, joint, threshold: float):
        """The incident window's multivariate check (the rule's rerun) and the chart of the
        error's median against the baseline's interquartile band. Records the finding, shown
        among the findings as the runbook's key chart."""
        result = window_reconstruction(self.prom, self.load_baseline(),  # type: ignore[attr-defined]
                                       time=self.incident.end, window=self.incident.duration,
                                       model_name=self.model_name,
                                       alpha=self.ctx.model.drift_alpha)
        bucket = selector(m.RECONSTRUCTION_ERROR.series("_bucket"), model_name=self.model_name)
        median = f"histogram_quantile(0.5, sum by (le) (increase({bucket}[{self.rate}])))"
        frame = self.range(median)
        data = (frame.set_index("timestamp")["value"] if not frame.empty
                else pd.Series(dtype=float))
        band = (_reference_quantile(joint.edges, joint.cumulative, 0.25),
                _reference_quantile(joint.edges, joint.cumulative, 0.75))
        onset = self.onset
        fig = plots.incident(data, "Reconstruction error (median per point) against the "
                                   "baseline's interquartile band", ylabel="error",
                             band=band, incident_start=self.incident.start,
                             onset=(onset.time, onset.uncertainty) if onset is not None else None)
        drifted = result.drifted(threshold, self.ctx.model.alerts.min_events.feature_values)
        self.numbers.update({"reconstruction KS": result.ks, "reconstruction KS critical":
                             result.critical, "reconstruction error mean": result.mean,
                             "reconstruction error reference mean": result.reference_mean,
                             "predictions": result.n,
                             "reconstruction drifted (incident window)": bool(drifted)})
        span = fmt_duration(self.incident.seconds)
        message = (f"The reconstruction error of the {fmt(result.n, Kind.COUNT)} predictions in "
                   f"the {span} incident window has binned KS {fmt(result.ks)} against the baseline's "
                   f"{fmt(result.m, Kind.COUNT)} rows (chance alone reaches "
                   f"{fmt(result.critical)} at alpha {self.ctx.model.drift_alpha:g}; threshold "
                   f"{threshold:g}); its mean is {fmt(result.mean)} against "
                   f"{fmt(result.reference_mean)} on the baseline.")
        stats = [Stat(f"binned KS over {span}", result.ks, Kind.NUMBER.value, result.n, "predictions"),
                 Stat("mean error", result.mean, Kind.NUMBER.value, result.n, "predictions"),
                 Stat("baseline mean error", result.reference_mean, Kind.NUMBER.value, result.m,
                      "rows")]
        promql = reconstruction_query(self.model_name, self.incident.duration)
        # the multivariate runbook's key chart: among the findings whatever the window's test
        # says (its message says whether chance explains it), never under "nothing unusual"
        self.record(Finding("Reconstruction error", True, message, stats, plots.png(fig),
                            promql, self.link(promql)))
        return result

    def residual_finding(self, joint) -> pd.DataFrame:
        """Each feature's mean squared residual in the incident window against the baseline's:
        the features the error comes from, largest excess first. Records the finding."""
        window = self.incident.duration
        live = self.prom.query(sum_increase(selector(m.FEATURE_RESIDUAL.sample,
                                                     model_name=self.model_name),
                                            window, ("feature",)), time=self.incident.end)
        samples = self.prom.query(sum_increase(selector(m.RESIDUAL_SAMPLES.sample,
                                                        model_name=self.model_name), window),
                                  time=self.incident.end)
        n = float(samples["value"].iloc[0]) if len(samples) else 0.0
        sums = dict(zip(live.get("feature", []), live.get("value", [])))
        excess = residual_shares([float(sums.get(f, 0.0)) for f in joint.features], n,
                                 joint.residual)
        table = pd.DataFrame({"baseline": joint.residual, "excess": excess},
                             index=list(joint.features))
        table["incident"] = table["baseline"] + table["excess"]
        table = table.sort_values("excess", ascending=False)
        if n <= 0:
            self.record(Finding("Features behind the error", False,
                                "No sampled residuals in the incident window."))
            return table
        top = table.index[0]
        self.numbers["top residual feature"] = str(top)
        fig = plots.bars(table["excess"], "Mean squared residual beyond the baseline's, per "
                                          "feature")
        message = (f"{top} adds most to the error: its mean squared residual is "
                   f"{fmt(table.loc[top, 'incident'])} on {fmt(n, Kind.COUNT)} sampled "
                   f"predictions against {fmt(table.loc[top, 'baseline'])} on the baseline.")
        rows = [{"feature": str(f), "incident": fmt(r["incident"]), "baseline": fmt(r["baseline"]),
                 "excess": fmt(r["excess"]), "n": fmt(n, Kind.COUNT)}
                for f, r in table.iterrows()]
        promql = sum_increase(selector(m.FEATURE_RESIDUAL.sample, model_name=self.model_name),
                              window, ("feature",))
        self.record(Finding("Features behind the error", bool(table["excess"].max() > 0), message,
                            [Stat("sampled predictions", n, Kind.COUNT.value)], plots.png(fig),
                            promql, self.link(promql), rows))
        return table

    def pairs_finding(self, joint, residuals: pd.DataFrame) -> list[dict]:
        """The baseline-correlated pair whose correlation change best explains the residuals,
        with the correlation it implies. Records the finding."""
        excess = residuals.reindex(list(joint.features))["excess"].to_numpy()
        pairs = pair_changes(joint.components, joint.correlation, excess)
        if not pairs or not np.isfinite(excess).all():
            self.record(Finding("Correlations", False, "No pair of features was correlated on "
                                "the baseline (|r| ≥ 0.3), or there are no residuals: which "
                                "correlation changed cannot be shown from the exported series."))
            return pairs
        names = joint.features
        best = pairs[0]
        message = (f"{names[best['a']]} and {names[best['b']]}: correlation "
                   f"{best['baseline']:.2f} on the baseline; the residuals fit a change to "
                   f"{best['implied']:.2f} (explaining {best['fit']:.0%} of their excess, were it "
                   f"the only change).")
        rows = [{"pair": f"{names[p['a']]} – {names[p['b']]}",
                 "baseline correlation": f"{p['baseline']:.2f}",
                 "implied now": f"{p['implied']:.2f}", "explains": f"{p['fit']:.0%}"}
                for p in pairs[:5]]
        self.numbers["broken pair"] = f"{names[best['a']]}–{names[best['b']]}"
        self.record(Finding("Correlations", best["fit"] > 0.5, message, rows=rows))
        return pairs

    def reconstruction_cause(self, joint, residuals: pd.DataFrame, pairs: list[dict]) -> str:
        """The verdict's why, in words: the features whose residuals grew (those that carry
        most of the excess, at most three) and, when one pair's change explains most of it, that
        pair's correlation on the baseline and now; empty without sampled residuals."""
        excess = residuals["excess"].dropna()
        grew = excess[excess > 0]
        if grew.empty:
            return ""
        share = grew.cumsum() / grew.sum()
        named = list(grew.index[:min(3, int(np.searchsorted(share.to_numpy(), 0.8)) + 1)])
        words = (f"{named[0]} adds most to the error" if len(named) == 1 else
                 f"{', '.join(named[:-1])} and {named[-1]} add most to the error")
        if pairs and pairs[0]["fit"] > 0.5 and np.isfinite(excess.to_numpy()).all():
            best, names = pairs[0], joint.features
            words += (f"; the correlation of {names[best['a']]} and {names[best['b']]} was "
                      f"{best['baseline']:.2f} on the baseline and is about "
                      f"{best['implied']:.2f} now")
        return words

