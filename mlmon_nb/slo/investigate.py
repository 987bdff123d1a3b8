"""The SLO evidence of an investigation: bad-event shares, objectives and burn rates, read from
the SLO rules' own definitions (never a second copy of them)."""

from __future__ import annotations

import pandas as pd

from .. import queries as q
from ..findings import Finding
from ..findings.investigation import InvestigationBase
from ..humanize import Kind, fmt
from ..promql import names as rule_names
from . import rules as rule_slo

__all__ = ["SloEvidence", "burn_rate_factor"]


def burn_rate_factor(long_window: str, period_seconds: float = 30 * 86400) -> float:
    """The burn-rate threshold factor of the multi-window alert whose long window this is
    (14.4 for 1h on a 30-day period, …): the rules' own factors, never a second copy."""
    return _burn_window(long_window).factor(period_seconds)


def _burn_window(long_window: str) -> rule_slo.BurnWindow:
    """The rules' burn window whose long window this is; ValueError naming the known ones."""
    for window in rule_slo.BURN_WINDOWS:
        if window.long == long_window:
            return window
    known = ", ".join(w.long for w in rule_slo.BURN_WINDOWS)
    raise ValueError(f"no burn-rate alert has the long window {long_window!r}; known: {known}")


def _known_slo(slo: str) -> str:
    return slo if slo in rule_names.SLOS else "availability"



class SloEvidence(InvestigationBase):
    """The SLO methods of :class:`~mlmon_nb.investigate.Investigation`."""

    def invalid_rate(self, rate: str) -> str:
        """PromQL: rejected feature values per second (0 when none were rejected)."""
        return f"sum({q.invalid_feature_rate(self.model_name, rate)}) or vector(0)"

    def slo_bad_ratio(self, slo: str, rate: str) -> str:
        """PromQL for the share of bad events of an SLO, exactly as the SLO rules define it
        (an SLO without bad events of its own, such as throughput, reads as availability)."""
        return rule_slo.slo_bad_ratio(_known_slo(slo), self.ctx.model, rate)

    def slo_event_count(self, slo: str, rate: str) -> str:
        """PromQL for how many events an SLO counted over ``rate``, as the SLO rules count them
        (requests; ground-truth outcomes for accuracy): the sample behind its bad share."""
        _, total = rule_slo.slo_events(_known_slo(slo), self.ctx.model, rate, count=True)
        return total

    def burn_threshold(self, slo: str, long_window: str) -> float:
        """The bad share the burn alert of ``long_window`` fires above (its factor × the SLO's
        error budget), as the SLO rules compute it."""
        return rule_slo.burn_threshold(self.ctx.model, _known_slo(slo), _burn_window(long_window))

    def slo_objective(self, slo: str) -> float:
        """The configured objective of an SLO."""
        return rule_slo.slo_objective(self.ctx.model, _known_slo(slo))

    def burn_rates(self, slo: str, windows: tuple[str, ...] | None = None, *,
                   record: bool = False, factor: float | None = None) -> pd.DataFrame:
        """Burn rate (bad share / error budget) of an SLO over each window (default: the burn
        alerts' windows) at the incident end; ``record`` adds the finding "Burn rates"."""
        budget = 1 - self.slo_objective(slo)
        rows = []
        for w in windows or rule_names.WINDOWS:
            bad = self.prom.scalar(f"sum({self.slo_bad_ratio(slo, w)})", self.incident.end)
            rows.append({"window": w, "bad share": bad, "burn rate": bad / budget})
        out = pd.DataFrame(rows).set_index("window")
        if record:
            hot = out[out["burn rate"] > (factor or 1.0)]
            message = (f"The {slo} SLO ({fmt(self.slo_objective(slo), Kind.RATIO)} objective, "
                       f"{fmt(budget, Kind.RATIO)} error budget) burns above "
                       f"{fmt(factor or 1.0)}× over " + (", ".join(hot.index) or "no window")
                       + ".")
            shown = [{"window": str(w), "bad share": fmt(r["bad share"], Kind.RATIO),
                      "burn rate": "—" if r["burn rate"] != r["burn rate"]
                      else f"{r['burn rate']:.1f}×"} for w, r in out.iterrows()]
            promql = f"sum({self.slo_bad_ratio(slo, '1h')})"
            self.record(Finding("Burn rates", bool(len(hot)), message, [], None, promql,
                                self.link(promql), shown))
        return out

