"""What an alert's rule judges, read from the alert catalogue's rules for the configuration:
the window of the value the alert reports (``ratio_rate5m`` → 5m, ``:1h`` → 1h) and the setting
its threshold compares with (``error_ratio_critical``), for the rule of the alert's severity.
A runbook's condition is built from these (:meth:`RuleConditions.alert_condition`), so it judges
the same window and threshold as the alert that started it; a test checks every alert."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..config import Config
from ..findings.investigation import InvestigationBase
from ..rules import catalogue
from ..signals import Condition, Signal

__all__ = ["RuleCondition", "RuleConditions", "rule_condition"]

_RECORDED = re.compile(r"[a-z_]+:[A-Za-z0-9_]+:[A-Za-z0-9_]+")
_WINDOW = re.compile(r"(?:rate|:|increase)(\d+[smhdw])(?:_\w+)?$")
_SETTING = re.compile(r'setting="([a-z0-9_]+)"')


@dataclass(frozen=True)
class RuleCondition:
    """The alert rule of one severity: its expression, the window of the value it reports
    (None for an instant condition such as ``up == 0``) and its threshold's setting key."""

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
    """The rule of ``alertname`` at ``severity`` (else its first rule) as the catalogue writes
    it for ``config``; KeyError for an alert the catalogue does not have."""
    rules = catalogue.get(alertname).rules(config)
    rule = next((r for r in rules if r.labels.get("severity") == severity), rules[0])
    leading = _RECORDED.search(rule.expr)
    window = _WINDOW.search(leading.group(0)) if leading else None
    setting = _SETTING.search(rule.expr)
    return RuleCondition(alertname, str(rule.labels.get("severity", "")), rule.expr,
                         window.group(1) if window else None,
                         setting.group(1) if setting else None)


class RuleConditions(InvestigationBase):
    """The alert's own condition for :class:`~mlmon_nb.investigate.Investigation`."""

    @property
    def rule(self) -> RuleCondition:
        """The alert's rule at this run's severity, from the catalogue."""
        if "rule" not in self._cache:
            self._cache["rule"] = rule_condition(self.alertname, self.severity,
                                                 self.ctx.config)
        return self._cache["rule"]

    def alert_condition(self, signal: Signal, what: str, window: str = "5m") -> Condition:
        """``signal``'s condition over the alert rule's own window and against its own
        threshold (both from the catalogue; ``window`` and the signal's threshold only where
        the rule has none), described as "the <window> <what>"."""
        rule = self.rule
        used = rule.window or window
        threshold = rule.threshold(self.ctx.config, self.model_name)
        condition = signal.condition(f"the {used} {what}", used)
        if threshold is not None:
            condition = replace(condition, threshold=float(threshold))
        self.numbers["alert_rule"] = (f"{rule.alertname} ({rule.severity}): window "
                                      f"{used}, threshold {rule.setting or 'as the runbook'}")
        return condition
