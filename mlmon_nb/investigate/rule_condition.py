"""What an alert's rule judges, read from the alert catalogue's firing row of the alert's
severity (:class:`~mlmon_nb.rules.catalogue.Firing`): the window of the value the alert reports
(5m, 1h) and the setting its threshold compares with (``error_ratio_critical``), the same row
its rule is built from. A runbook's condition is built from these
(:meth:`RuleConditions.alert_condition`), so it judges the same window and threshold as the
alert that started it; a test checks every alert."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import Config
from ..findings.investigation import InvestigationBase
from ..rules import catalogue
from ..signals import Condition, Signal

__all__ = ["RuleCondition", "RuleConditions", "rule_condition"]


@dataclass(frozen=True)
class RuleCondition:
    """The alert rule of one severity: its expression, the window of the value it reports
    (None for an instant condition such as ``up == 0``, or the SLO burn windows its labels give)
    and its threshold's setting key."""

    alertname: str
    severity: str
    expr: str
    window: str | None
    setting: str | None

    def threshold(self, config: Config, model_name: str) -> float | None:
        """The threshold's value for ``model_name`` (None when the rule has no setting)."""
        if self.setting is None:
            return None
        found = next((s for s in catalogue.ALERT_SETTINGS if s.key == self.setting), None)
        return None if found is None else found.of(config.model(model_name))


def rule_condition(alertname: str, severity: str, config: Config) -> RuleCondition:
    """The firing row of ``alertname`` at ``severity`` (else its first) and its rule, as the
    catalogue writes it for ``config``; KeyError for an alert the catalogue does not have."""
    spec = catalogue.get(alertname)
    rows = spec.firings_for(config)
    row = next((r for r in rows if r.severity == severity), rows[0])
    rule = next(r for r in spec.rules(config) if r.labels.get("severity") == row.severity)
    return RuleCondition(alertname, str(row.severity), rule.expr, row.window, row.threshold)


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
        condition = signal.condition(f"the {used} {what}", used)
        if threshold is not None:
            condition = replace(condition, threshold=float(threshold))
        self.numbers["alert_rule"] = (f"{rule.alertname} ({rule.severity}): window "
                                      f"{used}, threshold {setting or 'as the runbook'}")
        return condition
