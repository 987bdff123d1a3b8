"""What an alert's rule judges, read from the alert catalogue's firing row of the alert's
severity (:class:`~mlmon_nb.rules.catalogue.Firing`): the window of the value the alert reports
(5m, 1h) and the setting its threshold compares with (``error_ratio_critical``), the same row
its rule is built from. A runbook's condition is built from these
(:meth:`RuleConditions.alert_condition`), so it judges the same window and threshold as the
alert that started it; a test checks every alert.

A ratio alert judges a Wilson bound in its own window or, where that is too thin, in a longer
look-back (its catalogue entry names its ratio in :data:`~mlmon_nb.promql.evidence.EVIDENCE`):
its verdict reads the same windows. Where the own
window has no events at all (labels arrive in bursts), the alert keeps firing on the look-back,
and so does the runbook's condition."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import Config
from ..findings.investigation import InvestigationBase
from ..promql.evidence import EVIDENCE, RatioEvidence
from ..rules import catalogue
from ..signals import Condition, Signal

__all__ = ["RuleCondition", "RuleConditions", "rule_condition"]


@dataclass(frozen=True)
class RuleCondition:
    """The alert rule of one severity: its expression, the window of the value it reports
    (None for an instant condition such as ``up == 0``, or the SLO burn windows its labels give),
    its threshold's setting key and the setting key of the fewest events it needs."""

    alertname: str
    severity: str
    expr: str
    window: str | None
    setting: str | None
    least: str | None = None
    evidence: RatioEvidence | None = None  # the ratio whose bound it judges, if any

    def threshold(self, config: Config, model_name: str) -> float | None:
        """The threshold's value for ``model_name`` (None when the rule has no setting)."""
        return _setting(self.setting, config, model_name)

    def least_events(self, config: Config, model_name: str, slo: str | None = None) -> float:
        """The fewest events its window needs for ``model_name`` (``alerts.min_events``, an
        SLO's own floor for ``slo`` where its events are not requests; 1 when the rule names
        none: an empty window is never evidence)."""
        key = catalogue.SLO_LEAST.get(slo, self.least) if slo else self.least
        value = _setting(key, config, model_name)
        return 1.0 if value is None else float(value)


def _setting(key: str | None, config: Config, model_name: str) -> float | None:
    if key is None:
        return None
    found = next((s for s in catalogue.ALERT_SETTINGS if s.key == key), None)
    return None if found is None else found.of(config.model(model_name))


def rule_condition(alertname: str, severity: str, config: Config) -> RuleCondition:
    """The firing row of ``alertname`` at ``severity`` (else its first) and its rule, as the
    catalogue writes it for ``config``; KeyError for an alert the catalogue does not have."""
    spec = catalogue.get(alertname)
    rows = spec.firings_for(config)
    row = next((r for r in rows if r.severity == severity), rows[0])
    rule = next(r for r in spec.rules(config) if r.labels.get("severity") == row.severity)
    return RuleCondition(alertname, str(row.severity), rule.expr, row.window, row.threshold,
                         row.least, None if spec.evidence is None else EVIDENCE[spec.evidence])


class RuleConditions(InvestigationBase):
    """The alert's own condition for :class:`~mlmon_nb.investigate.Investigation`."""

    @property
    def rule(self) -> RuleCondition:
        """The alert's rule at this run's severity, from the catalogue."""
        if "rule" not in self._cache:
            self._cache["rule"] = rule_condition(self.alertname, self.severity,
                                                 self.ctx.config)
        return self._cache["rule"]

    def alert_condition(self, signal: Signal, what: str, window: str = "5m", *,
                        own_threshold: bool = False) -> Condition:
        """``signal``'s condition over the alert rule's own window and against its own
        threshold (both from the catalogue; ``window`` and the signal's threshold only where
        the rule has none), described as "the <window> <what>". ``own_threshold``: a signal the
        rule does not judge (a categorical feature's PSI under the KS rule of data drift) keeps
        its threshold."""
        rule = self.rule
        used = rule.window or window
        setting = None if own_threshold else rule.setting
        threshold = None if own_threshold else rule.threshold(self.ctx.config, self.model_name)
        judged = used
        if rule.evidence is not None and not own_threshold and used in rule.evidence.windows:
            judged = self._window_with_events(signal, used, rule.evidence.windows)
        condition = signal.condition(f"the {judged} {what}", judged)
        if threshold is not None:
            condition = replace(condition, threshold=float(threshold))
        fell_back = (f" (no {signal.sample_unit or 'events'} over {used}: its look-back "
                     f"{judged})" if judged != used else "")
        self.numbers["alert_rule"] = (f"{rule.alertname} ({rule.severity}): window "
                                      f"{used}{fell_back}, threshold {setting or 'as the runbook'}")
        return condition

    def _window_with_events(self, signal: Signal, own: str, windows: tuple[str, ...]) -> str:
        """``own``, unless it counted no events at all (a series, at 0) while a longer window of
        the rule's look-back did: the alert then fires on that window's evidence, its own
        window's ratio being 0/0. A window without series is no data, not a gap: ``own``."""
        if signal.sample is None:
            return own
        end = self.incident.end
        if self.prom.scalar(signal.sample(own), end) != 0:
            return own
        for window in windows[windows.index(own) + 1:]:
            n = self.prom.scalar(signal.sample(window), end)
            if n == n and n > 0:
                return window
        return own
