"""The drift evidence of an investigation: the drift rerun against the model's training baseline
(binned KS and PSI per feature, the confidence histogram's PSI) and their findings.
scipy-backed :mod:`mlmon_nb.drift` is imported only when a drift runbook asks.

Each figure says its window, and one window gives one figure on a page: the alert's own
(:data:`~mlmon_nb.drift.expressions.RULE_WINDOW`, 1h, ending at the run's end: the value the
drift rules record, so every runbook run at the same end reports the same input drift), the
incident window (onset → end: the distribution charts), and the :data:`POINT_WINDOW` (10m) of
each point of a drift signal over time (the onset search and the comparison with the days
before)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics as m
from .. import plots
from ..baseline import Baseline
from ..context import parse_step
from ..errors import BaselineError
from ..findings import Finding, Stat
from ..findings.investigation import InvestigationBase
from ..findings.record import _cap
from ..humanize import Kind, fmt, fmt_duration
from ..promql import matcher, selector
from ..signals import Signal
from .compare import thresholds_for
from .expressions import (
    MODEL_SCOPE,
    RULE_WINDOW,
    VERSION_SCOPE,
    concept_psi_rule_expr,
    confidence_buckets_query,
    feature_buckets_query,
    ks_rule_expr,
)
from .methods import CONCEPT_FEATURE
from .prometheus import window_counts, window_drift

__all__ = ["DriftEvidence", "POINT_WINDOW"]

# each point of a drift signal over time: drift statistics need a few hundred values
POINT_WINDOW = "10m"


class DriftEvidence(InvestigationBase):
    """The drift methods of :class:`~mlmon_nb.investigate.Investigation`."""

    def _window_drift(self, baseline) -> pd.DataFrame:
        """The drift rerun of the incident window (``mlmon_nb.drift.window_drift``), cached."""
        if "drift" not in self._cache:
            self._cache["drift"] = window_drift(
                self.prom, baseline, time=self.incident.end, window=self.incident.duration,
                model_name=self.model_name, thresholds=thresholds_for(self.ctx.model),
                alpha=self.ctx.model.drift_alpha)
        return self._cache["drift"]

    def _rule_window_drift(self, baseline) -> pd.DataFrame:
        """The drift rerun of the alert rules' window (:data:`RULE_WINDOW` ending at the run's
        end): the drift recording rules' values, whatever this run's onset; cached."""
        if "drift_rule" not in self._cache:
            self._cache["drift_rule"] = window_drift(
                self.prom, baseline, time=self.incident.end, window=RULE_WINDOW,
                model_name=self.model_name, thresholds=thresholds_for(self.ctx.model),
                alpha=self.ctx.model.drift_alpha)
        return self._cache["drift_rule"]

    def confidence_psi(self, baseline=None) -> dict[str, float]:
        """PSI of the prediction-confidence histogram in the incident window vs the baseline."""
        baseline = baseline or self.load_baseline()
        if baseline is None:
            return {"psi": float("nan"), "n": 0.0}
        rows = self._window_drift(baseline)
        rows = rows[(rows["feature"] == CONCEPT_FEATURE) & (rows["test"] == "psi")]
        if rows.empty or rows["insufficient"].iloc[0]:
            return {"psi": float("nan"), "n": float(rows["n"].sum()) if not rows.empty else 0.0}
        return {"psi": float(rows["statistic"].iloc[0]), "n": float(rows["n"].iloc[0])}

    def drift_table(self, baseline=None, *, record: bool = True) -> pd.DataFrame:
        """Binned KS and PSI of every numeric feature over the alert rules' window
        (:data:`RULE_WINDOW` ending at the run's end), with severities from the configured
        thresholds: the rerun of the drift recording rules, the same in every runbook run at
        the same end."""
        columns = ["ks", "psi", "n", "ks critical", "ks severity", "psi severity"]
        baseline = baseline or self.load_baseline()
        if baseline is None:
            return pd.DataFrame(columns=columns)
        rows = self._rule_window_drift(baseline)
        rows = rows[rows["kind"] == "numeric"]
        if rows.empty:
            return pd.DataFrame(columns=columns)
        stat = rows.pivot_table(index="feature", columns="test", values="statistic", aggfunc="first")
        sev = rows.pivot_table(index="feature", columns="test", values="severity", aggfunc="first")
        chance = rows.pivot_table(index="feature", columns="test", values="critical",
                                  aggfunc="first")
        out = pd.DataFrame({"ks": stat["ks"], "psi": stat["psi"],
                            "n": rows.groupby("feature")["n"].first(),
                            # what chance alone reaches for this n at the configured alpha
                            "ks critical": chance["ks"],
                            "ks severity": sev["ks"], "psi severity": sev["psi"]})
        out = out.sort_values("ks", ascending=False)
        if record:
            self.numbers["max_ks"] = float(out["ks"].max())
            self.numbers["most_drifted_feature"] = str(out.index[0])
        return out

    def ks_signal(self, feature: str, threshold: float | None, baseline=None, *,
                  model_version: str = "") -> Signal | None:
        """The binned KS of ``feature`` against the baseline over time (the drift rule's own
        expression over a short window), with the feature's sample size; on one version's own
        traffic when ``model_version`` is given (a canary the alert judged alone)."""
        baseline = baseline or self.load_baseline()
        if baseline is None or feature not in baseline.numeric:
            return None
        version = {"model_version": model_version} if model_version else {}
        sel = selector(m.FEATURE_VALUE.series("_bucket"), model_name=self.model_name,
                       feature=feature, le="+Inf", **version)
        matchers = [matcher("model_name", self.model_name), matcher("feature", feature),
                    *(matcher("model_version", v) for v in version.values())]
        scope = VERSION_SCOPE if model_version else MODEL_SCOPE
        name = f"{POINT_WINDOW} binned KS of {feature}" + (f" on version {model_version}'s traffic"
                                            if model_version else "")
        return Signal(name,
                      lambda r: ks_rule_expr(self._drift_window(r), *matchers, recorded=False,
                                             scope=scope),
                      threshold, kind=Kind.SCORE.value, window=POINT_WINDOW,
                      sample=lambda r: f"sum(increase({sel}[{r}]))", sample_unit="values")

    def psi_signal(self, threshold: float | None, baseline=None) -> Signal | None:
        """PSI of the confidence histogram against the baseline over time."""
        baseline = baseline or self.load_baseline()
        if baseline is None or baseline.confidence_fractions is None:
            return None
        sel = selector(m.CONFIDENCE.series("_count"), model_name=self.model_name)
        return Signal(f"{POINT_WINDOW} confidence PSI",
                      lambda r: concept_psi_rule_expr(self._drift_window(r),
                                                      matcher("model_name", self.model_name),
                                                      recorded=False),
                      threshold, kind=Kind.SCORE.value, window=POINT_WINDOW,
                      sample=lambda r: f"sum(increase({sel}[{r}]))", sample_unit="predictions")

    def _drift_window(self, rate: str) -> str:
        """The window of each point of a drift signal: :data:`POINT_WINDOW`, the one its name
        states, for any ``rate()`` range shorter than the alert rules' :data:`RULE_WINDOW` (a
        step longer than it samples those points); that window or longer is the range itself
        (the alert's own condition, over 1h)."""
        return rate if parse_step(rate) >= parse_step(RULE_WINDOW) else POINT_WINDOW

    def distribution(self, feature: str, *, title: str = "", baseline=None,
                     key: bool = False) -> Finding | None:
        """The baseline's distribution of ``feature`` (or ``confidence``) against the incident
        window's, with binned KS, PSI and the sample size. Records the finding; the ``key``
        chart of a runbook is shown among the findings even where its test says nothing moved
        (never folded under "nothing unusual")."""
        baseline = baseline or self.load_baseline()
        if baseline is None:
            return None
        counts = window_counts(self.prom, baseline, time=self.incident.end,
                               window=self.incident.duration, model_name=self.model_name)
        bins = counts.get(feature)
        rows = self._window_drift(baseline)
        rows = rows[rows["feature"] == feature]
        stat = {t: float(rows.loc[rows["test"] == t, "statistic"].iloc[0])
                for t in ("ks", "psi") if (rows["test"] == t).any()}
        n = float(rows["n"].iloc[0]) if not rows.empty else 0.0
        # the severity of the test that applies: KS for a numeric feature, PSI for the
        # confidence histogram (its key chart is a finding, not "nothing unusual")
        judged = "ks" if (rows["test"] == "ks").any() else "psi"
        severity = (str(rows.loc[rows["test"] == judged, "severity"].iloc[0])
                    if (rows["test"] == judged).any() else "")
        if bins is None or not len(bins.totals) or not bins.totals[-1]:
            finding = Finding(title or f"Distribution of {feature}", False,
                              f"No values of {feature} in the incident window.")
            return self.record(finding)
        labels = [lbl if lbl == "+Inf" else f"≤{float(lbl):.3g}" for lbl in bins.labels]
        current = bins.counts[-1] / bins.totals[-1]
        fig = plots.distributions(labels, bins.reference.tolist(), current,
                                  title or f"{feature}: training baseline against the incident "
                                           f"window")
        what = "confidence" if feature == CONCEPT_FEATURE else feature
        moved = int(np.argmax(np.abs(current - bins.reference)))
        span = fmt_duration(self.incident.seconds)
        message = (f"{_cap(what)} over the {span} incident window against the training "
                   f"baseline: " + ", ".join(f"{t.upper()} {fmt(v)}" for t, v in stat.items())
                   + f" on {fmt(n, Kind.COUNT)} values"
                   + (f" ({severity})" if severity and severity != "ok" else "")
                   + f"; the bucket {labels[moved]} moved most "
                     f"({fmt(bins.reference[moved], Kind.RATIO)} → {fmt(current[moved], Kind.RATIO)}).")
        stats = [Stat(f"binned {t.upper()} over {span}", v, Kind.NUMBER.value, n, "values")
                 for t, v in stat.items()]
        promql = (confidence_buckets_query(self.model_name, self.incident.duration)
                  if feature == CONCEPT_FEATURE
                  else feature_buckets_query(self.model_name, self.incident.duration))
        return self.record(Finding(title or f"Distribution of {feature}",
                                   key or bool(severity and severity
                                               not in ("ok", "insufficient")),
                                   message, stats, plots.png(fig), promql, self.link(promql)))

    def drift_finding(self, baseline=None) -> pd.DataFrame:
        """Every numeric feature's binned KS and PSI over the alert rules' window, as a
        finding."""
        table = self.drift_table(baseline)
        if table.empty:
            self.record(Finding("Input drift", False, "No baseline or no feature values: "
                                "input drift was not rerun."))
            return table
        drifted = table[table["ks severity"].isin(["warning", "critical"])]
        window = (f"in the {RULE_WINDOW} to {self.incident.end:%H:%M} UTC (the drift alerts' "
                  f"window)")
        message = (f"{len(drifted)} of {len(table)} features drifted {window}: "
                   + ", ".join(f"{f} ({RULE_WINDOW} KS {fmt(r['ks'])})"
                               for f, r in drifted.iterrows())
                   if len(drifted) else f"No input feature drifted {window}: the largest "
                   f"{RULE_WINDOW} binned KS is {fmt(table['ks'].max())} ({table.index[0]}).")
        rows = [{"feature": str(f), f"{RULE_WINDOW} binned KS": fmt(r["ks"]),
                 "KS by chance": fmt(r["ks critical"]), f"{RULE_WINDOW} PSI": fmt(r["psi"]),
                 "n": fmt(r["n"], Kind.COUNT), "severity": str(r["ks severity"])}
                for f, r in table.iterrows()]
        self.record(Finding("Input drift", bool(len(drifted)), message, [], None, "", "", rows))
        return table

    def require_baseline(self):
        """The baseline, or end the run early (status ``no_data``) saying how to build it."""
        baseline = self.load_baseline()
        if baseline is None:
            self._early(f"No baseline for model {self.model_name} at {self.ctx.baseline_path}: "
                        f"drift cannot be rerun. Build it with `mlmon-nb baseline build`.",
                        "no_data")
        return baseline

    def most_drifted_feature(self, feature: str = "") -> str:
        """``feature`` when the baseline knows it, else the feature with the largest KS."""
        baseline = self.load_baseline()
        if baseline is not None and feature in baseline.numeric:
            return feature
        table = self.drift_table(record=False)
        return str(table.index[0]) if len(table) else ""

    def load_baseline(self):
        """The model's training baseline, or None when its file is missing (cached)."""
        if "baseline" not in self._cache:
            try:
                self._cache["baseline"] = Baseline.load(self.ctx.baseline_path)
            except (BaselineError, OSError) as exc:
                self._cache["baseline"] = None
                self.record(Finding("Training baseline", True,
                                    f"No baseline ({exc}); drift cannot be rerun. Build it with "
                                    f"`mlmon-nb baseline build`."))
        return self._cache["baseline"]

