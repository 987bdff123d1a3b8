"""The typed rule model: recording rules, alerting rules and groups, as Prometheus reads them.

The generation stages build these frozen values; :meth:`RuleGroup.to_dict` renders them to the
YAML-ready dicts of a rule file in one place, so every rule's keys come out in the same order and
a recording rule always carries its static labels (``model_name``, and ``slo`` or ``feature``
where rules share a name).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

from ..config import parse_duration
from .names import (
    CHAIN_STEP,
    HISTORY_AGE,
    LONG_INTERVAL,
    LONG_WINDOW_SECONDS,
    group_name,
    record_window,
)

__all__ = ["RecordingRule", "AlertingRule", "Rule", "RuleGroup", "groups_to_dicts", "split_group",
           "long_window", "stage_groups"]


@dataclass(frozen=True)
class RecordingRule:
    """``record: expr`` with static ``labels`` (kept in their given order)."""

    record: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The rule as a rule file holds it (``labels`` only when there are some)."""
        out: dict[str, Any] = {"record": self.record, "expr": self.expr}
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


@dataclass(frozen=True)
class AlertingRule:
    """``alert`` firing when ``expr`` has held for ``for_`` (``None``: at once)."""

    alert: str
    expr: str
    for_: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    def with_annotations(self, **annotations: str) -> AlertingRule:
        """The same rule with ``annotations`` added after the existing ones."""
        return replace(self, annotations={**self.annotations, **annotations})

    def to_dict(self) -> dict[str, Any]:
        """The rule as a rule file holds it (``for`` only when set)."""
        out: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_:
            out["for"] = self.for_
        out["labels"] = dict(self.labels)
        out["annotations"] = dict(self.annotations)
        return out


Rule = RecordingRule | AlertingRule


@dataclass(frozen=True)
class RuleGroup:
    """A named group of rules, evaluated together at the global evaluation interval or at its
    own ``interval``."""

    name: str
    rules: tuple[Rule, ...]
    interval: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"name": …, ["interval": …,] "rules": […]}`` as a rule file's ``groups:`` entry
        holds it."""
        head: dict[str, Any] = {"name": self.name}
        if self.interval:
            head["interval"] = self.interval
        return {**head, "rules": [rule.to_dict() for rule in self.rules]}


def groups_to_dicts(groups: Iterable[RuleGroup]) -> list[dict[str, Any]]:
    """Rule groups as the ``groups:`` list of a rule file."""
    return [group.to_dict() for group in groups]


def split_group(name: str, rules: Iterable[Rule], slow: Callable[[Rule], bool],
                interval: str, suffix: str = "-long") -> list[RuleGroup]:
    """``rules`` as group ``name`` at the global interval, and the ``slow`` ones (in their order)
    as ``name + suffix`` every ``interval``; a group only where it has rules."""
    rules = tuple(rules)
    fast = tuple(r for r in rules if not slow(r))
    late = tuple(r for r in rules if slow(r))
    return ([RuleGroup(name, fast)] if fast else []) + (
        [RuleGroup(name + suffix, late, interval)] if late else [])


def long_window(rule: Rule) -> bool:
    """Whether a rule records over a window of :data:`LONG_WINDOW_SECONDS` or more (or the
    history age, at 5m resolution): what a stage evaluates in its slower "-long" group."""
    if not isinstance(rule, RecordingRule):
        return False
    window = record_window(rule.record)
    return rule.record == HISTORY_AGE or (
        window is not None and parse_duration(window) >= LONG_WINDOW_SECONDS)


def stage_groups(stage: str, rules: Iterable[Rule], chain: Iterable[Rule] = ()
                 ) -> list[RuleGroup]:
    """A stage's rules in its group at the global interval, those over long windows in
    ``<stage>-long`` every :data:`LONG_INTERVAL`, and the ``chain`` counts the chained windows
    sum in ``<stage>-chain`` every :data:`CHAIN_STEP`."""
    chain = tuple(chain)
    groups = split_group(group_name(stage), rules, long_window, LONG_INTERVAL)
    if chain:  # before the long group that sums it (the order promtool evaluates them in)
        groups.insert(len(groups) - 1 if groups[-1].interval else len(groups),
                      RuleGroup(group_name(f"{stage}-chain"), chain, CHAIN_STEP))
    return groups
