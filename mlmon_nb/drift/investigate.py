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
from ..context import parse_step
from ..errors import BaselineError, DriftError, ParameterError
from ..findings import Finding, Stat
from ..findings.record import _cap
from ..humanize import Kind, fmt, fmt_duration
from ..promql import matcher, number, quote, selector, sum_increase
from ..signals import Signal
from .baseline_evidence import BaselineEvidence
from .compare import thresholds_for
from .expressions import (
    MODEL_SCOPE,
    RULE_WINDOW,
    VERSION_SCOPE,
    category_counts_query,
    concept_psi_rule_expr,
    confidence_buckets_query,
    feature_buckets_query,
    ks_rule_expr,
)
from .methods import CONCEPT_FEATURE
from .prometheus import window_counts, window_drift
from .stats import PSI_EPSILON

__all__ = ["DriftEvidence", "POINT_WINDOW", "category_psi_expr", "most_drifted",
           "no_confidence_words"]

# each point of a drift signal over time: drift statistics need a few hundred values
POINT_WINDOW = "10m"
REBUILD_CONFIDENCE = ("with `mlmon-nb baseline build … --confidence COLUMN` (the column of the "
                      "model's confidence) and point the model's `baseline:` at it")


def no_confidence_words(model_name: str, path: object, missing: bool = False) -> str:
    """Why the live confidences cannot be compared with training, and how to give the baseline
    a confidence histogram."""
    if missing:
        return (f"there is no baseline of {model_name} at {path} to compare the model's "
                f"confidences with; build one {REBUILD_CONFIDENCE}")
    return (f"the baseline of {model_name} at {path} has no confidence histogram (it was built "
            f"without `--confidence`) to compare the model's confidences with; rebuild it "
            f"{REBUILD_CONFIDENCE}")


def most_drifted(rows: pd.DataFrame) -> str:
    """The feature of the largest binned KS among the numeric features of a drift rerun's
    ``rows``, else of the largest PSI among the categorical ones ("" when there is none)."""
    for kind, test in (("numeric", "ks"), ("categorical", "psi")):
        part = rows[(rows["kind"] == kind) & (rows["test"] == test)]
        if not part.empty:
            return str(part.sort_values("statistic", ascending=False)["feature"].iloc[0])
    return ""


def category_psi_expr(category_series: str, categories: tuple[str, ...],
                      reference: np.ndarray, window: str) -> str:
    """PSI of a categorical feature's counts over ``window`` against the baseline's shares
    (``stats.psi``: both clipped below at ε), written with the shares as literals: no series
    carries a categorical baseline. A category the window did not see counts 0."""
    shares = " or ".join(
        f'label_replace(vector({number(max(float(r), PSI_EPSILON))}), "category", '
        f'{quote(c.replace("$", "$$"))}, "", "")' for c, r in zip(categories, reference))
    counts = sum_increase(category_series, window, ("category",))
    total = f"sum(increase({category_series}[{window}]))"
    current = (f"clamp_min(({counts} or ({shares}) * 0) / on () group_left () {total}, "
               f"{number(PSI_EPSILON)})")
    return (f"sum(\n  ({current} - on (category) ({shares}))\n"
            f"  * ln({current} / on (category) ({shares}))\n)")


class DriftEvidence(BaselineEvidence):
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
                  model_version: str = "") -> Signal:
        """The binned KS of ``feature`` against the baseline over time (the drift rule's own
        expression over a short window), with the feature's sample size; on one version's own
        traffic when ``model_version`` is given (a canary the alert judged alone). A feature the
        baseline has no bins of is a DriftError."""
        baseline = baseline or self.load_baseline()
        if baseline is None or feature not in baseline.numeric:
            known = ", ".join(baseline.numeric) if baseline is not None else "none (no baseline)"
            raise DriftError(f"binned KS needs a numeric feature of the baseline of "
                             f"{self.model_name}, not {feature!r}: give one of {known}")
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

    def category_signal(self, feature: str, threshold: float | None, baseline=None) -> Signal:
        """The PSI of categorical ``feature`` against the baseline's category shares over time,
        with the feature's sample size. Categories are counted for the whole model (no
        ``model_version`` label), so there is no per-version variant."""
        baseline = baseline or self.load_baseline()
        spec = baseline.categorical.get(feature) if baseline is not None else None
        if spec is None:
            raise DriftError(f"{feature!r} is not a categorical feature of the baseline of "
                             f"{self.model_name}")
        sel = selector(m.FEATURE_CATEGORY.sample, model_name=self.model_name, feature=feature)
        return Signal(f"{POINT_WINDOW} PSI of {feature}",
                      lambda r: category_psi_expr(sel, spec.labels, spec.fractions,
                                                  self._drift_window(r)),
                      threshold, kind=Kind.SCORE.value, window=POINT_WINDOW,
                      sample=lambda r: f"sum(increase({sel}[{r}]))", sample_unit="values")

    def feature_signal(self, feature: str, severity: str = "", *,
                       model_version: str = "") -> Signal:
        """The drift of ``feature`` over time against the ``drift`` threshold of ``severity``
        (warning unless critical): the binned KS of a numeric feature (what DataDriftDetected
        judges), the PSI of a categorical one (which no alert judges). A canary's
        ``model_version`` applies to numeric features only: categories are not counted per
        version (a ParameterError)."""
        baseline = self.load_baseline()
        categorical = baseline is not None and feature in baseline.categorical
        limits = self.ctx.model.psi if categorical else self.ctx.model.ks
        threshold = limits.critical if severity == "critical" else limits.warning
        if not categorical:
            return self.ks_signal(feature, threshold, model_version=model_version)
        if model_version:
            raise ParameterError(f"the categorical feature {feature!r} is counted for the whole "
                                 f"model, not per version: leave model_version empty")
        return self.category_signal(feature, threshold)

    def psi_signal(self, threshold: float | None, baseline=None) -> Signal:
        """PSI of the confidence histogram against the baseline over time; a baseline without
        a confidence histogram is a BaselineError saying how to rebuild it."""
        baseline = baseline or self.load_baseline()
        if baseline is None or baseline.confidence_fractions is None:
            raise BaselineError(no_confidence_words(self.model_name, self.ctx.baseline_path,
                                                    missing=baseline is None))
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
        name = title or f"Distribution of {feature}"
        if feature == CONCEPT_FEATURE and baseline.confidence_fractions is None:
            return self.record(Finding(name, False, _cap(no_confidence_words(
                self.model_name, self.ctx.baseline_path)) + "."))
        if feature != CONCEPT_FEATURE and feature not in baseline.features:
            return self.record(Finding(name, False, f"The baseline has no feature {feature!r} "
                                       f"(its features: {', '.join(baseline.features)})."))
        counts = window_counts(self.prom, baseline, time=self.incident.end,
                               window=self.incident.duration, model_name=self.model_name)
        bins = counts.get(feature)
        rows = self._window_drift(baseline)
        rows = rows[rows["feature"] == feature]
        stat = {t: float(rows.loc[rows["test"] == t, "statistic"].iloc[0])
                for t in ("ks", "psi") if (rows["test"] == t).any()}
        n = float(rows["n"].iloc[0]) if not rows.empty else 0.0
        # the severity of the test that applies: KS for a numeric feature, PSI for a
        # categorical one and the confidence histogram (its key chart is a finding, not
        # "nothing unusual")
        judged = "ks" if (rows["test"] == "ks").any() else "psi"
        severity = (str(rows.loc[rows["test"] == judged, "severity"].iloc[0])
                    if (rows["test"] == judged).any() else "")
        if bins is None or not len(bins.totals) or not bins.totals[-1]:
            return self.record(Finding(name, False,
                                       f"No values of {feature} in the incident window."))
        categorical = feature in baseline.categorical
        labels = [lbl if categorical or lbl == "+Inf" else f"≤{float(lbl):.3g}"
                  for lbl in bins.labels]
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
                   + f"; the {'category' if categorical else 'bucket'} {labels[moved]} moved "
                     f"most ({fmt(bins.reference[moved], Kind.RATIO)} → {fmt(current[moved], Kind.RATIO)}).")
        stats = [Stat(f"binned {t.upper()} over {span}", v, Kind.NUMBER.value, n, "values")
                 for t, v in stat.items()]
        promql = (confidence_buckets_query if feature == CONCEPT_FEATURE else
                  category_counts_query if categorical else
                  feature_buckets_query)(self.model_name, self.incident.duration)
        return self.record(Finding(name,
                                   key or bool(severity and severity
                                               not in ("ok", "insufficient")),
                                   message, stats, plots.png(fig), promql, self.link(promql)))

    def drift_finding(self, baseline=None) -> pd.DataFrame:
        """Every numeric feature's binned KS and PSI over the alert rules' window, as a
        finding."""
        baseline = baseline or self.load_baseline()
        table = self.drift_table(baseline)
        window = (f"in the {RULE_WINDOW} to {self.incident.end:%H:%M} UTC (the drift alerts' "
                  f"window)")
        if table.empty:
            why = ("No baseline: input drift was not rerun." if baseline is None else
                   "The baseline has no numeric features: binned KS does not apply to its "
                   "categorical ones (DataDriftDetected with -p feature NAME shows one's PSI)."
                   if not baseline.numeric else
                   f"No values of the numeric features {window}: input drift was not rerun.")
            self.record(Finding("Input drift", False, why))
            return table
        drifted = table[table["ks severity"].isin(["warning", "critical"])]
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

    def require_confidence(self):
        """The baseline, when it has a confidence histogram; else end the run early (status
        ``no_data``) saying how to rebuild it with one."""
        baseline = self.load_baseline()
        if baseline is None or baseline.confidence_fractions is None:
            self._early("Concept drift cannot be judged: "
                        + no_confidence_words(self.model_name, self.ctx.baseline_path,
                                              missing=baseline is None) + ".", "no_data")
            return None
        return baseline

    def watched_feature(self, feature: str = "") -> str:
        """The feature to investigate: ``feature`` when given (numeric or categorical; a
        ParameterError naming the baseline's features when it has no such feature), else the
        one that drifted most over the alert rules' window (the largest binned KS, or the
        largest PSI of a baseline with categorical features only)."""
        baseline = self.load_baseline()
        if baseline is None:
            return feature
        if feature:
            if feature not in baseline.features:
                raise ParameterError(
                    f"the baseline of {self.model_name} at {self.ctx.baseline_path} has no "
                    f"feature {feature!r}; its features are {', '.join(baseline.features)}: "
                    f"give one of them (-p feature NAME), or none for the most drifted")
            return feature
        return most_drifted(self._rule_window_drift(baseline)) or baseline.features[0]

