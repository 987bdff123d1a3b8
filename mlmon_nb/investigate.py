"""What runbook notebooks call: the incident window against the days before, and the verdict.

A runbook's cells stay thin: they open an :class:`Investigation` from their papermill
parameters, stop early when there is no data or the alert condition no longer holds
(:meth:`Investigation.require_data`, :meth:`Investigation.check_still_firing`), compare the
incident window with the same span over the days before (:meth:`Investigation.compare`), plot
the series with the incident shaded, and :func:`record_summary` a verdict with key numbers. The
summary is a display output of type ``application/vnd.mlmon.summary+json`` that the launcher
reads back into its run index.

Ending early is not an error: :func:`end_early` records the reason and makes the kernel skip the
remaining cells, so the run is ``done`` with a clear message instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from . import queries as q
from .context import NotebookContext, Window, format_duration, notebook_context
from .rules import names as rule_names
from .rules import slo as rule_slo
from .runbooks import SUMMARY_MIME

__all__ = [
    "Investigation",
    "Condition",
    "open_investigation",
    "record_summary",
    "end_early",
    "burn_rate_factor",
    "SUMMARY_MIME",
]

REFERENCE_DAYS = 3


def _display(obj: Any, raw: bool = False) -> None:
    from IPython.display import display
    display(obj, raw=raw)


def _markdown(text: str) -> None:
    from IPython.display import Markdown
    _display(Markdown(text))


def record_summary(verdict: str, *, status: str = "firing", **numbers: Any) -> dict[str, Any]:
    """Show the verdict and record it (with ``numbers``) for the launcher's run index."""
    clean = {k: (None if isinstance(v, float) and not np.isfinite(v) else
                 float(v) if isinstance(v, (np.floating, np.integer)) else v)
             for k, v in numbers.items()}
    summary = {"verdict": verdict, "status": status, "numbers": clean}
    lines = [f"**Verdict ({status})**: {verdict}", ""]
    lines += [f"- {k}: {_fmt(v)}" for k, v in clean.items()]
    _display({SUMMARY_MIME: summary, "text/markdown": "\n".join(lines)}, raw=True)
    return summary


def end_early(message: str, *, status: str, **numbers: Any) -> None:
    """Record ``message`` as the verdict and skip every remaining cell of the notebook."""
    record_summary(message, status=status, **numbers)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - only inside a kernel
        return
    shell = get_ipython()
    if shell is not None:
        shell.input_transformers_post.append(lambda lines: ["pass\n"])


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "n/a" if value is None else str(value)


def burn_rate_factor(long_window: str, period_seconds: float = 30 * 86400) -> float:
    """The burn-rate threshold factor of the multi-window alert whose long window this is
    (14.4 for 1h on a 30-day period, …): the rules' own factors, never a second copy."""
    for window in rule_slo.BURN_WINDOWS:
        if window.long == long_window:
            return window.factor(period_seconds)
    known = ", ".join(w.long for w in rule_slo.BURN_WINDOWS)
    raise ValueError(f"no burn-rate alert has the long window {long_window!r}; known: {known}")


def _known_slo(slo: str) -> str:
    return slo if slo in rule_names.SLOS else "availability"


# -- the investigation ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    """An alert's condition: PromQL for its value, the threshold and the direction."""

    description: str
    promql: str
    threshold: float
    above: bool = True  # firing when value > threshold (else when below)

    def holds(self, value: float) -> bool:
        if value != value:
            return False
        return value > self.threshold if self.above else value < self.threshold


@dataclass
class Investigation:
    """One runbook run: its context, the incident window and the reference before it."""

    alertname: str
    ctx: NotebookContext
    incident: Window
    reference: Window
    labels: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def model_name(self) -> str:
        return self.ctx.model_name

    @property
    def prom(self):
        return self.ctx.prom

    @property
    def rate(self) -> str:
        """The ``rate()`` range for the incident window: the window's own, at least 5 minutes
        (history backfilled at a coarse step has too few points in a shorter range)."""
        return format_duration(max(self.incident.step, 4 * self.incident.scrape_interval, 300))

    @property
    def reference_rate(self) -> str:
        """The ``rate()`` range for the reference window (its step, at least 5 minutes)."""
        return format_duration(max(self.reference.step, 300))

    @property
    def thresholds(self):
        """The model's alert thresholds from the configuration."""
        return self.ctx.model.alerts

    def header(self) -> None:
        """A short header: what is investigated, over which windows."""
        labels = ", ".join(f"{k}={v}" for k, v in self.labels.items() if v)
        _markdown(f"### {self.alertname} · model `{self.model_name}`\n\n"
                  f"- incident window: {self.incident}\n- reference: {self.reference} "
                  f"(the {REFERENCE_DAYS} days before)\n- Prometheus: {self.prom.url}"
                  + (f"\n- alert labels: {labels}" if labels else ""))

    # -- guards ---------------------------------------------------------------------------------

    def require_data(self, promql: str | None = None, what: str = "requests") -> None:
        """End the run early (status ``no_data``) when ``promql`` has no points in the window."""
        promql = promql or q.request_rate(self.model_name, self.rate)
        frame = self.prom.range(promql, *self.incident.range)
        if frame.empty:
            end_early(f"No data: Prometheus has no {what} for model {self.model_name} between "
                      f"{self.incident.start} and {self.incident.end}. Check that the service is "
                      f"scraped (`up{{job=\"{q.DEMO_JOB}\"}}`) and that the window is right.",
                      status="no_data")

    def check_still_firing(self, condition: Condition, value: float | None = None) -> None:
        """End early (status ``resolved``) when the alert condition no longer holds at the end
        of the window; otherwise record its current value. ``value`` skips the query (for
        conditions computed here, such as drift from buckets)."""
        if value is None:
            value = self.prom.scalar(condition.promql, self.incident.end)
        self.numbers["current_value"] = value
        self.numbers["threshold"] = condition.threshold
        if not condition.holds(value):
            side = "at or under" if condition.above else "at or over"
            end_early(f"Resolved: {condition.description} is {_fmt(value)} at "
                      f"{self.incident.end:%Y-%m-%d %H:%M} UTC, {side} the threshold "
                      f"{_fmt(condition.threshold)}; the alert condition no longer holds.",
                      status="resolved", current_value=value, threshold=condition.threshold)
            return
        _markdown(f"Still firing: {condition.description} is **{_fmt(value)}** at the end of the "
                  f"window (threshold {_fmt(condition.threshold)}).")

    # -- evidence -------------------------------------------------------------------------------

    def range(self, promql: str, *, reference: bool = False) -> pd.DataFrame:
        """A range query over the incident window (or the reference window)."""
        return self.prom.range(promql, *(self.reference if reference else self.incident).range)

    def compare(self, queries: Mapping[str, str | Callable[[str], str]]) -> pd.DataFrame:
        """Mean and peak of each query in the incident window against its mean before.

        ``queries`` maps a name to PromQL or to a function of the rate window (so the reference,
        at a coarser step, uses a fitting range). One row per name.
        """
        rows = []
        for name, query in queries.items():
            now = self.range(query(self.rate) if callable(query) else query)
            before = self.range(query(self.reference_rate) if callable(query) else query,
                                reference=True)
            mean_now = float(now["value"].mean()) if not now.empty else float("nan")
            peak = float(now["value"].max()) if not now.empty else float("nan")
            mean_before = float(before["value"].mean()) if not before.empty else float("nan")
            change = (mean_now / mean_before if mean_before and mean_before == mean_before
                      else float("nan"))
            rows.append({"measure": name, "incident mean": mean_now, "incident peak": peak,
                         "before (mean)": mean_before, "change ×": change})
            self.numbers[f"{name} (incident)"] = mean_now
            self.numbers[f"{name} (before)"] = mean_before
        return pd.DataFrame(rows).set_index("measure")

    def breakdown(self, promql: str, label: str) -> pd.DataFrame:
        """Mean of ``promql`` per ``label`` in the incident window, largest first."""
        frame = self.range(promql)
        if frame.empty or label not in frame:
            return pd.DataFrame({label: [], "mean": []}).set_index(label)
        out = (frame.groupby(frame[label].astype(str), observed=True)["value"].mean()
               .sort_values(ascending=False).rename("mean").to_frame())
        out.index.name = label
        return out

    def what_changed(self) -> pd.DataFrame:
        """Model versions and baseline ids seen in the incident window and before, and traffic."""
        rows = []
        for name, ref in (("before", True), ("incident", False)):
            frame = self.range(q.model_info(self.model_name), reference=ref)
            versions = sorted(frame["model_version"].astype(str).unique()) \
                if "model_version" in frame else []
            baselines = sorted(frame["baseline_id"].astype(str).unique()) \
                if "baseline_id" in frame else []
            rows.append({"window": name, "model versions": ", ".join(versions) or "none seen",
                         "baseline ids": ", ".join(baselines) or "none seen"})
        out = pd.DataFrame(rows).set_index("window")
        changed = out.loc["before", "model versions"] != out.loc["incident", "model versions"]
        self.numbers["model_version_changed"] = bool(changed)
        self.numbers["model_versions"] = out.loc["incident", "model versions"]
        return out

    def _window_drift(self, baseline) -> pd.DataFrame:
        """The drift rerun of the incident window (``mlmon_nb.drift.window_drift``), cached."""
        if "drift" not in self._cache:
            from .drift import thresholds_for, window_drift
            self._cache["drift"] = window_drift(
                self.prom, baseline, time=self.incident.end, window=self.incident.duration,
                model_name=self.model_name, thresholds=thresholds_for(self.ctx.model))
        return self._cache["drift"]

    def confidence_psi(self, baseline=None) -> dict[str, float]:
        """PSI of the prediction-confidence histogram in the incident window vs the baseline."""
        from .drift import CONCEPT_FEATURE
        baseline = baseline or self.load_baseline()
        if baseline is None:
            return {"psi": float("nan"), "n": 0.0}
        rows = self._window_drift(baseline)
        rows = rows[(rows["feature"] == CONCEPT_FEATURE) & (rows["test"] == "psi")]
        if rows.empty or rows["insufficient"].iloc[0]:
            return {"psi": float("nan"), "n": float(rows["n"].sum()) if not rows.empty else 0.0}
        return {"psi": float(rows["statistic"].iloc[0]), "n": float(rows["n"].iloc[0])}

    def drift_table(self, baseline=None, *, record: bool = True) -> pd.DataFrame:
        """Binned KS and PSI of every numeric feature in the incident window, with severities
        from the configured thresholds (the rerun of the drift recording rules)."""
        columns = ["ks", "psi", "n", "ks severity", "psi severity"]
        baseline = baseline or self.load_baseline()
        if baseline is None:
            return pd.DataFrame(columns=columns)
        rows = self._window_drift(baseline)
        rows = rows[rows["kind"] == "numeric"]
        if rows.empty:
            return pd.DataFrame(columns=columns)
        stat = rows.pivot_table(index="feature", columns="test", values="statistic", aggfunc="first")
        sev = rows.pivot_table(index="feature", columns="test", values="severity", aggfunc="first")
        out = pd.DataFrame({"ks": stat["ks"], "psi": stat["psi"],
                            "n": rows.groupby("feature")["n"].first(),
                            "ks severity": sev["ks"], "psi severity": sev["psi"]})
        out = out.sort_values("ks", ascending=False)
        if record:
            self.numbers["max_ks"] = float(out["ks"].max())
            self.numbers["most_drifted_feature"] = str(out.index[0])
        return out

    def invalid_rate(self, rate: str) -> str:
        """PromQL: rejected feature values per second (0 when none were rejected)."""
        return f"sum({q.invalid_feature_rate(self.model_name, rate)}) or vector(0)"

    def slo_bad_ratio(self, slo: str, rate: str) -> str:
        """PromQL for the share of bad events of an SLO, exactly as the SLO rules define it
        (an SLO without bad events of its own, such as throughput, reads as availability)."""
        return rule_slo.slo_bad_ratio(_known_slo(slo), self.ctx.model, rate)

    def slo_objective(self, slo: str) -> float:
        """The configured objective of an SLO."""
        return rule_slo.slo_objective(self.ctx.model, _known_slo(slo))

    def burn_rates(self, slo: str, windows: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Burn rate (bad share / error budget) of an SLO over each window (default: the burn
        alerts' windows) at the incident end."""
        budget = 1 - self.slo_objective(slo)
        rows = []
        for w in windows or rule_names.WINDOWS:
            bad = self.prom.scalar(f"sum({self.slo_bad_ratio(slo, w)})", self.incident.end)
            rows.append({"window": w, "bad share": bad, "burn rate": bad / budget})
        return pd.DataFrame(rows).set_index("window")

    def load_baseline(self):
        """The model's training baseline, or None (with a note) when its file is missing."""
        from .baseline import Baseline
        from .errors import BaselineError
        try:
            return Baseline.load(self.ctx.baseline_path)
        except (BaselineError, OSError) as exc:
            _markdown(f"*No baseline ({exc}); drift cannot be rerun. Build it with "
                      f"`mlmon-nb baseline build`.*")
            return None

    def plot(self, series: Mapping[str, str], *, title: str, threshold: float | None = None,
             unit: str = ""):
        """The series over the incident window and the day before it, incident shaded."""
        import matplotlib.pyplot as plt

        from .prom import to_wide

        context = Window(self.incident.start - pd.Timedelta(days=1), self.incident.end,
                         max(self.incident.step, 60.0), self.incident.scrape_interval)
        fig, ax = plt.subplots(figsize=(9, 3))
        for name, promql in series.items():
            wide = to_wide(self.prom.range(promql, *context.range))
            for column in wide.columns:
                label = name if column == "value" else f"{name}: {column}"
                ax.plot(wide.index, wide[column], label=label, linewidth=1.2)
        ax.axvspan(self.incident.start, self.incident.end, color="tab:red", alpha=0.08,
                   label="incident window")
        if threshold is not None:
            ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label="threshold")
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.legend(loc="upper left", fontsize=8)
        fig.autofmt_xdate()
        plt.show()
        return fig

    def conclude(self, table: pd.DataFrame, measure: str, *, fmt: str = "{:.3g}",
                 notes: tuple[str, ...] = (), status: str = "firing") -> dict[str, Any]:
        """A one-line verdict from a :meth:`compare` table's row plus ``notes``, recorded."""
        row = table.loc[measure]
        f = (lambda v: "n/a" if v != v else fmt.format(v))
        text = (f"{measure} averaged {f(row['incident mean'])} in the incident window (peak "
                f"{f(row['incident peak'])}) against {f(row['before (mean)'])} before")
        change = row["change ×"]
        if change == change:
            text += f" (×{change:.1f})"
        if self.numbers.get("model_version_changed"):
            text += "; the model version changed"
        return self.summary("; ".join([text, *[n for n in notes if n]]) + ".", status=status)

    def summary(self, verdict: str, *, status: str = "firing", **numbers: Any) -> dict[str, Any]:
        """Record the verdict with every number gathered so far (plus ``numbers``)."""
        return record_summary(verdict, status=status, **{**self.numbers, **numbers})


def open_investigation(alertname: str, model_name: str, prometheus_url: str = "", start: str = "",
                       end: str = "", window: str = "6h", step: str = "", baseline_path: str = "",
                       *, starts_at: str = "", show: bool = True, **labels: str) -> Investigation:
    """An :class:`Investigation` from a runbook's parameters.

    The incident window is ``start``–``end`` when given; else from an hour before the alert's
    ``starts_at`` to now; else the last ``window``. The reference is the same span's data over
    the ``REFERENCE_DAYS`` days before the incident.
    """
    from .prom import to_timestamp

    if not start and starts_at:
        start = (to_timestamp(starts_at) - pd.Timedelta(hours=1)).isoformat()
    ctx = notebook_context(model_name, prometheus_url, start, end, window, step, baseline_path)
    inc = ctx.window
    ref_start = inc.start - pd.Timedelta(days=REFERENCE_DAYS)
    reference = Window(ref_start, inc.start, max(inc.step, 300.0), inc.scrape_interval)
    inv = Investigation(alertname, ctx, inc, reference,
                        {"starts_at": starts_at, **{k: str(v) for k, v in labels.items()}})
    inv.numbers["incident_window"] = format_duration(inc.seconds)
    if show:
        inv.header()
    return inv
