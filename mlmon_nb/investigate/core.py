"""The investigation a runbook drives: comparing the incident window with the days before,
breaking the change down by label, deploys and baseline changes near onset, and the verdict;
:func:`open_investigation` builds one from a runbook's parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from .. import plots
from .. import queries as q
from ..config import parse_duration
from ..context import Window, auto_step, notebook_context
from ..drift.investigate import DriftEvidence
from ..drift.multivariate_evidence import MultivariateEvidence
from ..estimated.investigate import EstimatedAccuracyEvidence
from ..findings import Finding, Stat
from ..findings.investigation import FALLBACK_WINDOW, REFERENCE_DAYS, SEARCH_BEFORE, InvestigationBase
from ..findings.record import _cap, _factor, _factor_text, _fmt_kind, _plain, _record
from ..humanize import Kind, fmt, fmt_duration, fmt_pair, rate_unit
from ..promql.evidence import poisson_interval, wilson_interval, z_of
from ..signals import Condition, Signal
from ..slo.investigate import SloEvidence
from .chance import WindowEvidence, evidence_window
from .onset_search import OnsetSearch, place
from .rule_condition import RuleConditions

__all__ = ["Investigation", "against_words", "evidence_words", "open_investigation"]


def evidence_words(said: str, value: float, low: float, high: float, threshold: float,
                   above: bool, *, confidence: str = "", cause: str = "chance",
                   short: str = "too few events", kind: str = Kind.RATIO.value,
                   unit: str | None = None) -> tuple[str, float]:
    """What an interval [``low``, ``high``] around ``value`` says of its side of ``threshold``,
    in words after ``said`` (the value and its sample), and the bound the words state (read as
    ``kind``: a ratio, or a rate in ``unit`` for a count's bound).

    On the alert's side (over the threshold when ``above``, else under it): the bound nearer
    the threshold, and whether ``cause`` explains crossing it. On the healthy side: that side,
    and the bound nearer the threshold; "``short`` yet" only where that bound reaches past the
    threshold, so the sample is too small to rule a crossing out."""
    crossed = value > threshold if above else value < threshold
    lower = crossed == above  # the bound on the threshold's side of the value
    bound = low if lower else high
    settled = (bound > threshold if above else bound < threshold) == crossed
    limit = fmt(threshold, kind, unit)
    stated = f"{confidence}{'at least' if lower else 'at most'} {fmt(bound, kind, unit)}"
    if crossed and settled:
        return f"{said}: {stated}, so {cause} alone does not explain crossing {limit}", bound
    if crossed:
        return (f"{said}: {stated}, so {cause} could still explain crossing {limit}: "
                f"{short} yet"), bound
    side = "at" if value == threshold else "below" if above else "above"
    if settled:
        return f"{said}, {side} {limit}: {stated}", bound
    return f"{said}, {side} {limit}, but {stated}: {short} yet to rule out crossing it", bound


def against_words(now: float, before: float, reference: str, kind: str) -> str:
    """How ``now`` compares with ``before``, the mean of ``reference`` (the same hours of the
    days before), in words; a reference without data is said to be one."""
    if before != before:
        return f"no data in {reference} to compare with"
    return f"{_factor_text(now, before)} against {reference} ({fmt(before, kind)})"


def _constant(promql: str) -> Callable[[str], str]:
    """A signal's query that is the same whatever the ``rate()`` range (a fixed expression)."""
    return lambda _rate: promql


@dataclass
class Investigation(RuleConditions, OnsetSearch, EstimatedAccuracyEvidence,
                    MultivariateEvidence, DriftEvidence,
                    SloEvidence, InvestigationBase):
    """One runbook run: its context, the incident window, the search window around the alert,
    the findings recorded so far and the numbers behind the verdict."""

    # -- evidence -------------------------------------------------------------------------------

    def _before(self, query: str) -> tuple[pd.DataFrame, str]:
        """``query`` over the same hours of the days before, else the span just before onset."""
        frames = []
        inc = self.incident
        for d in range(1, REFERENCE_DAYS + 1):
            shift = pd.Timedelta(days=d)
            frame = self.prom.range(query, inc.start - shift, inc.end - shift, inc.step)
            if not frame.empty:
                frames.append(frame)
        if frames:
            n = len(frames)
            return pd.concat(frames), f"the same hours {n} day{'s' if n > 1 else ''} before"
        span = inc.end - inc.start
        frame = self.prom.range(query, inc.start - span, inc.start, inc.step)
        return frame, f"the {fmt_duration(span.total_seconds())} before"

    def _sample(self, signal: Signal) -> float | None:
        if signal.sample is None:
            return None
        value = self.prom.scalar(f"sum({signal.sample(self.incident.duration)})", self.incident.end)
        return value if value == value else None

    def compare(self, signals: Sequence[Signal] | Mapping[str, str | Callable[[str], str]]
                ) -> pd.DataFrame:
        """Mean and peak of each signal since onset against the same hours of the days before
        (the span just before onset when those days have no data). Records the finding
        "Against the days before"; one row per signal."""
        if isinstance(signals, Mapping):
            signals = [Signal(k, v if callable(v) else _constant(v))
                       for k, v in signals.items()]
        rows: list[dict[str, Any]] = []
        shown: list[dict[str, str]] = []
        stats: list[Stat] = []
        interesting = False
        first_before = ""
        for i, signal in enumerate(signals):
            promql = signal.query(self.rate)
            now = self.range(signal.promql(self.rate))  # a missing point now means `missing`
            before, before_what = self._before(promql)  # a day without data is no reference
            mean_now = float(now["value"].mean()) if not now.empty else float("nan")
            peak = (float(now["value"].max() if signal.above else now["value"].min())
                    if not now.empty else float("nan"))
            mean_before = float(before["value"].mean()) if not before.empty else float("nan")
            change = _factor(mean_now, mean_before)
            n = self._sample(signal)
            rows.append({"measure": signal.name, "incident mean": mean_now, "incident peak": peak,
                         "before (mean)": mean_before, "change ×": change, "n": n})
            unit = rate_unit(mean_now, peak, mean_before)  # one unit across the row
            shown.append({"measure": signal.name, "since onset": fmt(mean_now, signal.kind, unit),
                          "worst": fmt(peak, signal.kind, unit),
                          "before": fmt(mean_before, signal.kind, unit), "reference": before_what,
                          "change": _factor_text(mean_now, mean_before),
                          "sample": (f"{fmt(n, Kind.COUNT)} {signal.sample_unit}".strip()
                                     if n is not None else "—")})
            self.numbers[f"{signal.name} (incident)"] = _plain(mean_now)
            self.numbers[f"{signal.name} (before)"] = _plain(mean_before)
            if i == 0:
                stats = [Stat(f"{signal.name} since onset", mean_now, signal.kind, n,
                              signal.sample_unit),
                         Stat(f"{signal.name}, {before_what}", mean_before, signal.kind)]
                moved = (change == change and (change >= 1.5 or change <= 1 / 1.5)) or \
                    (mean_before == 0 and mean_now == mean_now and mean_now > 0)
                interesting = bool(moved)
                self._cache["compare_first"] = (signal, mean_now, mean_before, before_what)
                first_before = before_what
                if n is not None:
                    self.tiles.append({"label": f"{signal.sample_unit or 'sample'} since onset",
                                       "value": fmt(n, Kind.COUNT),
                                       "detail": f"behind the {signal.name}"})
        first = rows[0] if rows else None
        if first is None:
            message = "Nothing to compare."
        else:
            sig = signals[0]
            message = (f"{_cap(sig.name)} averaged {fmt(first['incident mean'], sig.kind)} "
                       f"since onset (worst {fmt(first['incident peak'], sig.kind)}) against "
                       f"{fmt(first['before (mean)'], sig.kind)} ({first_before}): "
                       f"{_factor_text(first['incident mean'], first['before (mean)'])}.")
        promql = signals[0].query(self.rate) if signals else ""
        self.record(Finding("Against the days before", interesting, message, stats, None,
                            promql, self.link(promql) if promql else "", shown))
        return pd.DataFrame(rows).set_index("measure") if rows else pd.DataFrame()

    def breakdown(self, name: str, query_by: Callable[[str, Sequence[str]], str],
                  labels: Sequence[str], *, kind: str = Kind.RATE.value, additive: bool = True,
                  sample_by: Callable[[str, Sequence[str]], str] | None = None,
                  sample_unit: str = "") -> pd.DataFrame:
        """The signal split by each of ``labels`` (those it carries), ranked by how much of the
        change since before onset each value explains (``additive``: its share of the total
        change; else by how far it moved). Records "What changed, by label" with a chart."""
        rows = []
        for label in labels:
            promql = query_by(self.rate, [label])
            now = self.range(promql)
            if now.empty or label not in now or (now[label].astype(str) == "").all():
                continue
            before, before_what = self._before(promql)
            mean_now = now.groupby(now[label].astype(str))["value"].mean()
            mean_before = (before.groupby(before[label].astype(str))["value"].mean()
                           if not before.empty and label in before else pd.Series(dtype=float))
            values = sorted(set(mean_now.index) | set(mean_before.index))
            delta = {v: float(mean_now.get(v, 0.0)) - float(mean_before.get(v, 0.0))
                     for v in values}
            total = sum(delta.values())
            samples = {}
            if sample_by is not None:
                frame = self.prom.query(sample_by(self.incident.duration, [label]),
                                        self.incident.end)
                if not frame.empty and label in frame:
                    samples = dict(zip(frame[label].astype(str), frame["value"]))
            for v in values:
                share = (delta[v] / total if additive and total else float("nan"))
                rows.append({"label": label, "value": v, "values": len(values),
                             "before": float(mean_before.get(v, float("nan"))),
                             "now": float(mean_now.get(v, float("nan"))), "change": delta[v],
                             "share of change": share, "n": samples.get(v)})
        frame = pd.DataFrame(rows)
        if frame.empty:
            self.record(Finding("What changed, by label", False,
                                f"No label of {name} to break down in the incident window."))
            return frame
        key = frame["share of change"].abs() if additive else frame["change"].abs()
        frame = frame.assign(_key=key.fillna(0)).sort_values("_key", ascending=False, kind="stable") \
            .drop(columns="_key").reset_index(drop=True)
        split = frame[frame["values"] > 1]
        top = (split.iloc[0] if not split.empty else frame.iloc[0])
        if additive:
            single = frame[frame["values"] == 1]
            message = (f"{top['value']} ({top['label']}) explains "
                       f"{fmt(top['share of change'], Kind.RATIO)} of the change in {name}"
                       if not split.empty else
                       "Every label has a single value, so the change is all of: "
                       + ", ".join(f"{r['label']}={r['value']}" for _, r in single.iterrows()))
            # a single value carrying the whole change names the cause as much as a split does
            # (error_type=InjectedFault): interesting when the signal itself grew markedly
            grew = (top["now"] >= 1.5 * top["before"] if top["before"] > 0
                    else top["now"] > 0) if top["now"] == top["now"] else False
            interesting = bool(abs(top["share of change"]) >= 0.5 if not split.empty
                               else grew)
        else:
            message = (f"{top['value']} ({top['label']}) moved most: "
                       f"{fmt(top['before'], kind)} → {fmt(top['now'], kind)}")
            interesting = bool(not split.empty)
        self.numbers[f"{name}: top contributor"] = f"{top['label']}={top['value']}"
        self._cache["breakdown_top"] = (top["label"], top["value"], top["share of change"],
                                        interesting)
        top_rows = frame.head(12)
        unit = rate_unit(*top_rows["before"], *top_rows["now"])  # one unit per column
        shown = [{"label": r["label"], "value": r["value"], "before": fmt(r["before"], kind, unit),
                  "now": fmt(r["now"], kind, unit),
                  **({"share of change": fmt(r["share of change"], Kind.RATIO)} if additive else
                     {"change": fmt(r["change"], kind, unit)}),
                  **({"sample": fmt(r["n"], Kind.COUNT) + (f" {sample_unit}" if sample_unit
                                                           else "")} if sample_by else {})}
                 for _, r in top_rows.iterrows()]
        chart_data = pd.Series(
            (frame["share of change"] if additive else frame["change"]).to_numpy(),
            index=[f"{r['label']}={r['value']}" for _, r in frame.iterrows()]).head(10)[::-1]
        chart = None
        if not split.empty or not additive:  # single values all carry 100%: no chart says more
            fig = plots.bars(chart_data, f"{name}: "
                             f"{'share of the change' if additive else 'change'} by label value",
                             percent=additive or kind == Kind.RATIO.value)
            chart = plots.png(fig)
        promql = query_by(self.rate, [frame.iloc[0]["label"]])
        self.record(Finding("What changed, by label", interesting, message + ".", [], chart,
                            promql, self.link(promql), shown))
        return frame

    def what_changed(self) -> pd.DataFrame:
        """Model versions and baseline ids seen before and since onset, with when each first
        appeared; a deploy or baseline change within an hour of onset is called out."""
        start = self.incident.start - pd.Timedelta(days=1)
        frame = self.prom.range(q.model_info(self.model_name), start, self.incident.end,
                                max(self.resolution, 60))
        rows, near = [], []
        for key in ("model_version", "baseline_id"):
            if frame.empty or key not in frame:
                continue
            first = frame.groupby(frame[key].astype(str))["timestamp"].min()
            last = frame.groupby(frame[key].astype(str))["timestamp"].max()
            for value in first.index:
                appeared = first[value]
                new = appeared > start + pd.Timedelta(minutes=5)
                rows.append({"what": key, "value": value,
                             "first seen": f"{appeared:%Y-%m-%d %H:%M} UTC" if new
                             else f"before {start:%Y-%m-%d %H:%M} UTC",
                             "last seen": f"{last[value]:%Y-%m-%d %H:%M} UTC"})
                if new and abs(appeared - self.incident.start) <= pd.Timedelta(hours=1):
                    near.append(f"{key} {value} appeared at {appeared:%H:%M} UTC")
        out = pd.DataFrame(rows)
        versions = sorted({r["value"] for r in rows if r["what"] == "model_version"})
        self.numbers["model_version_changed"] = bool(near)
        self.numbers["model_versions"] = ", ".join(versions) or "none seen"
        if near:
            message = "Near onset: " + "; ".join(near) + "."
        elif rows:
            message = ("No deploy or baseline change in the day before onset: model version "
                       f"{', '.join(versions) or 'unknown'}.")
        else:
            message = "No model_info series: the model version and baseline are unknown."
        promql = q.model_info(self.model_name)
        self.record(Finding("Deploys and baselines", bool(near), message, [], None, promql,
                            self.link(promql, start, self.incident.end), rows))
        return out

    # -- the verdict ----------------------------------------------------------------------------

    def conclude(self, signal: Signal | pd.DataFrame | None = None, measure: str = "", *,
                 cause: str = "", next_step: str = "", notes: tuple[str, ...] = (),
                 status: str = "firing", fmt: str = "") -> dict[str, Any]:
        """The verdict: what (the signal now against its threshold), since when (the onset),
        how far from normal (against the days before), why (``cause``, the top contributor, a
        deploy near onset) and what next (``next_step``); recorded with the key numbers."""
        condition, now = self._cache.get("condition", (None, float("nan")))
        first = self._cache.get("compare_first")
        sig = signal if isinstance(signal, Signal) else (first[0] if first else None)
        kind = sig.kind if sig is not None else Kind.NUMBER.value
        name = sig.name if sig is not None else (measure or "the signal")
        own = first if first is not None and first[0].name == name else None  # its comparison
        parts = []
        stated = condition is not None and now == now and not self._cache.get("not_firing")
        if stated:
            value, limit = fmt_pair(now, condition.threshold, condition.kind)
            parts.append(f"{_cap(condition.description)} is {value} (threshold {limit})")
        elif own is not None:
            parts.append(f"{_cap(name)} averaged {_fmt_kind(own[1], kind)}")
        if self.onset is not None:
            lead = self._cache.get("onset_lead", "")
            where = place(self.onset.band, self.onset.level)
            parts[-1:] = [(parts[-1] if parts else f"{_cap(name)} {where}")
                          + f" since {self.onset.time:%H:%M:%S} UTC "
                            f"±{fmt_duration(self.onset.uncertainty)}" + (f", {lead}" if lead
                                                                          else "")]
        if own is not None:
            # after the alert's own window, the comparison's mean is another figure: named
            parts.append((f"the {name} averaged {_fmt_kind(own[1], kind)} since onset, "
                          if stated else "") + against_words(own[1], own[2], own[3], kind))
        elif first is not None:  # another measure's comparison: its figures under its name
            other, mean, before, reference = first
            compared = (f"the {other.name} averaged {_fmt_kind(mean, other.kind)} "
                        f"{'since onset' if self.onset is not None else 'in the window'}, "
                        + against_words(mean, before, reference, other.kind))
            parts.append(compared if parts else _cap(compared))
        top = self._cache.get("breakdown_top")
        if cause:
            parts.append(cause)
        elif top is not None and top[3]:  # a contributor its finding found telling
            share = top[2]
            parts.append(f"{top[0]}={top[1]}" + (f" carries {_fmt_kind(share, Kind.RATIO.value)}"
                                                 f" of it" if share == share else " moved most"))
        if sig is not None and condition is not None and now == now:
            parts.extend(w for w in [self._evidence_words(sig, condition, now)] if w)
        if self.numbers.get("model_version_changed"):
            parts.append("a deploy or baseline change came near onset")
        parts.extend(n for n in notes if n)
        said = "; ".join(parts)
        not_firing = self._cache.get("not_firing")
        if not_firing and status == "firing":  # a run started by hand, the condition not met
            status = "not_firing"
            verdict = f"{not_firing}." + (f" Evidence over the window: {said}." if said else "")
        else:
            verdict = f"{said or _cap(name)}."
        if condition is not None and now == now:
            label = condition.description.removeprefix("the ")
            value, limit = fmt_pair(now, condition.threshold, condition.kind)
            self.tiles.insert(0, {"label": f"{label} now", "value": value,
                                  "detail": f"threshold {limit}"})
        if first is not None:
            self.tiles.insert(1 if len(self.tiles) else 0, {
                "label": "against days before", "value": _factor_text(first[1], first[2]),
                "detail": f"{first[0].name}: {_fmt_kind(first[2], first[0].kind)} → "
                          f"{_fmt_kind(first[1], first[0].kind)}"})
        return _record(self._summary(verdict, status, next_step=next_step))


    def _evidence_words(self, sig: Signal, condition: Condition, value: float) -> str:
        """Which side of its threshold the alert's measure is on beyond chance, in words, with
        the events the statistic was computed on: a count's Poisson bound (throughput), an
        estimate's band, or a ratio's Wilson bound at the model's ``alerts.alpha`` over the
        window the alert fired on (its own, or the look-back it fell back to)."""
        if sig.sample is None:
            return ""
        if sig.kind == Kind.RATE.value and condition.kind == Kind.RATE.value and condition.window:
            return self._count_words(sig, condition, value)
        if sig.kind != Kind.RATIO.value:
            return ""
        if sig.band is not None:
            if condition.kind != Kind.RATIO.value or not condition.window:
                return ""
            n = self.prom.scalar(sig.sample(condition.window), self.incident.end)
            return self._band_words(sig, condition, value, n) if n == n and n > 0 else ""
        plan = self._evidence_plan(sig, condition)
        if plan is None:
            return ""
        windows, threshold, above, least = plan
        alpha = self.ctx.model.alerts.alpha
        z = z_of(alpha)
        seen = []
        for w in windows:
            # the condition's own window at the value it was judged at; the others queried
            ratio = (value if w == condition.window and condition.kind == Kind.RATIO.value
                     else self.prom.scalar(f"sum({sig.query(w)})", self.incident.end))
            n = self.prom.scalar(sig.sample(w), self.incident.end)
            seen.append(WindowEvidence(w, ratio, n, *wilson_interval(ratio, n, z)))
        chosen = evidence_window(seen, threshold, above, least)
        if chosen is None:
            return ""
        unit = sig.sample_unit or "events"
        words, bound = evidence_words(
            f"{fmt(chosen.value, Kind.RATIO)} of {fmt(chosen.n, Kind.COUNT)} {unit} over "
            f"{chosen.window}", chosen.value, chosen.low, chosen.high, threshold, above,
            confidence=f"with {fmt(1 - alpha, Kind.RATIO)} confidence ",
            short=f"too few {unit}")
        passed = chosen.passes(threshold, above, least)
        thinner = [self._thin_words(w, above, unit) for w in seen[:seen.index(chosen)]]
        if thinner:
            words = "; ".join([*thinner, (f"the alert fired on its {chosen.window} look-back: "
                                          if passed else "") + words])
        self.numbers.update(evidence_window=chosen.window, evidence_n=_plain(chosen.n),
                            evidence_bound=_plain(bound), evidence_confidence=1 - alpha)
        return words

    @staticmethod
    def _thin_words(w: WindowEvidence, above: bool, unit: str) -> str:
        """A window before the one the alert fired on, in words: empty, or too thin."""
        if not w.has_events:
            return f"no {unit} over {w.window}"
        return (f"too few {unit} over {w.window} to tell ({fmt(w.value, Kind.RATIO)} of "
                f"{fmt(w.n, Kind.COUNT)}, {'at least' if above else 'at most'} "
                f"{fmt(w.bound(above), Kind.RATIO)})")

    def _evidence_plan(self, sig: Signal, condition: Condition
                       ) -> tuple[tuple[str, ...], float, bool, float] | None:
        """The windows whose bound the alert judges, its own first then its look-back, with
        the threshold, its side and the fewest events, as the alert's rule has them: a ratio
        alert's evidence windows, an SLO burn's long window (its labels name it; the
        ``short_window`` only resets it), else the condition's own window."""
        try:
            rule = self.rule
        except KeyError:  # a runbook of the user's own alert: its condition's window alone
            rule = None
        if rule is None or (rule.setting != "slo_burn" and rule.evidence is None):
            if condition.kind != Kind.RATIO.value or not condition.window:
                return None
            return (condition.window,), condition.threshold, condition.above, 1.0
        if rule.setting == "slo_burn":
            slo = self.labels.get("slo") or "availability"
            long = self.labels.get("long_window") or "1h"
            least = rule.least_events(self.ctx.config, self.model_name, slo)
            return (long,), self.burn_threshold(slo, long), True, least
        least = rule.least_events(self.ctx.config, self.model_name)
        if condition.kind != Kind.RATIO.value or not condition.window or rule.evidence is None:
            return None
        return rule.evidence.windows, condition.threshold, condition.above, least

    def _count_words(self, sig: Signal, condition: Condition, value: float) -> str:
        """A rate judged on its window's count, in words: the count and the score interval of
        a Poisson count at ``alerts.alpha`` (the bound the throughput alert judges), per
        second of the window (the caller checked ``sig.sample``)."""
        assert sig.sample is not None and condition.window
        n = self.prom.scalar(sig.sample(condition.window), self.incident.end)
        if not n == n:
            return ""
        alpha = self.ctx.model.alerts.alpha
        seconds = parse_duration(condition.window)
        low, high = poisson_interval(n, z_of(alpha))
        per = rate_unit(value, high / seconds, condition.threshold)  # one unit in the words
        words, bound = evidence_words(
            f"{fmt(n, Kind.COUNT)} {sig.sample_unit or 'events'} over {condition.window} "
            f"({fmt(value, Kind.RATE, per)})", value, low / seconds, high / seconds,
            condition.threshold, condition.above,
            confidence=f"with {fmt(1 - alpha, Kind.RATIO)} confidence ",
            short="a window too short to tell", kind=Kind.RATE.value, unit=per)
        self.numbers.update(evidence_window=condition.window, evidence_n=_plain(n),
                            evidence_bound=_plain(bound), evidence_confidence=1 - alpha)
        return words

    def _band_words(self, sig: Signal, condition: Condition, value: float, n: float) -> str:
        """Which side of its threshold an estimate is on beyond its own uncertainty, in words:
        its 95 % band over the alert's window (the band its rule records, whose edge the alert
        judges), with the events it was computed on."""
        assert sig.band is not None
        margin = self.prom.scalar(sig.band(condition.window), self.incident.end)
        if not margin == margin:
            return ""
        record = f" (`{sig.band_record(condition.window)}`)" if sig.band_record else ""
        words, edge = evidence_words(
            f"{fmt(value, Kind.RATIO)} ± {fmt(margin, Kind.RATIO)} from {fmt(n, Kind.COUNT)} "
            f"{sig.sample_unit} over {condition.window}, the 95% band its rule records{record}",
            value, value - margin, value + margin, condition.threshold, condition.above,
            cause="the estimate's own uncertainty",
            short=f"too few {sig.sample_unit} or a thin curve")
        self.numbers.update(evidence_n=_plain(n), evidence_bound=_plain(edge),
                            evidence_margin=_plain(margin), evidence_confidence=0.95)
        return words


def open_investigation(alertname: str, model_name: str, prometheus_url: str = "", start: str = "",
                       end: str = "", window: str = "6h", step: str = "", baseline_path: str = "",
                       *, starts_at: str = "", severity: str = "", show: bool = False,
                       **labels: str) -> Investigation:
    """An :class:`Investigation` from a runbook's parameters.

    With the alert's ``starts_at`` (and no ``start``), the onset is searched from
    ``SEARCH_BEFORE`` before it to ``end`` (default now) and the incident window is the hour
    before it until :meth:`Investigation.find_onset` narrows it; with ``start``/``end`` both the
    search and the incident are that window; else the last ``window``.
    """
    from ..prom import to_timestamp

    alert_at = to_timestamp(starts_at) if starts_at else None
    search_start = start
    if not start and alert_at is not None:
        search_start = (alert_at - SEARCH_BEFORE).isoformat()
    ctx = notebook_context(model_name, prometheus_url, search_start, end, window, step,
                           baseline_path, measure_interval=False)  # its own: resolution
    search = ctx.window
    inc = search
    if not start and alert_at is not None:
        inc_start = max(search.start, min(alert_at - FALLBACK_WINDOW,
                                          search.end - pd.Timedelta(minutes=5)))
        inc = Window(inc_start, search.end,
                     auto_step((search.end - inc_start).total_seconds(), 400,
                                 search.scrape_interval), search.scrape_interval)
    reference = Window(inc.start - pd.Timedelta(days=REFERENCE_DAYS), inc.start,
                       max(inc.step, 300.0), inc.scrape_interval)
    inv = Investigation(alertname, ctx, inc, reference,
                        {"starts_at": starts_at, **{k: str(v) for k, v in labels.items()}},
                        severity=severity, alert_at=alert_at, search=search)
    inv.numbers["incident_window"] = fmt_duration(inc.seconds)
    if show:
        inv.header()
    return inv
