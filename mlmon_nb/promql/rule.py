"""The typed rule model: recording rules, alerting rules and groups, as Prometheus reads them.

The generation stages build these frozen values; :meth:`RuleGroup.to_dict` renders them to the
YAML-ready dicts of a rule file in one place, so every rule's keys come out in the same order and
a recording rule always carries its static labels (``model_name``, and ``slo`` or ``feature``
where rules share a name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..config import parse_duration
from .baselines import one_baseline
from .names import (
    CHAIN_STEP,
    HISTORY_AGE,
    LONG_INTERVAL,
    LONG_WINDOW_SECONDS,
    UNREAD_WINDOW_SECONDS,
    group_name,
    record_window,
)

__all__ = ["RecordingRule", "AlertingRule", "Rule", "RuleGroup", "groups_to_dicts", "split_group",
           "long_window", "stage_groups", "names_read", "unhurried", "shared_reads"]


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


_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def names_read(expr: str, names: set[str]) -> set[str]:
    """The ``names`` (records, metrics) a PromQL expression reads, as whole names."""
    return names.intersection(_NAME.findall(expr))


def unhurried(stages: Sequence[Sequence[RuleGroup]]) -> list[list[RuleGroup]]:
    """``stages`` with each record over :data:`UNREAD_WINDOW_SECONDS` or more that no rule
    reads (a dashboard's, a notebook's) moved from its stage's group at the global interval to
    the head of the stage's ``-long`` group, every :data:`LONG_INTERVAL`.

    Together with it move only records that read nothing else of the global interval, so every
    rule's value at its evaluation is what it was: what moves is how often an unread record is
    written, not what any rule computes.
    """
    fast = [r for groups in stages for g in groups if not g.interval for r in g.rules]
    rest = [r for groups in stages for g in groups if g.interval for r in g.rules]
    records = {r.record for r in fast if isinstance(r, RecordingRule)}
    moving = {name for name in records if (w := record_window(name)) is not None
              and parse_duration(w) >= UNREAD_WINDOW_SECONDS}
    moving -= {r.record for r in rest if isinstance(r, RecordingRule)}  # written at two paces
    while True:  # a record stays where a rule reads it, or it reads one that stays
        stay = [r for r in (*fast, *rest)
                if not (isinstance(r, RecordingRule) and r.record in moving)]
        read = set().union(*(names_read(r.expr, moving) for r in stay))
        reading = {r.record for r in fast if isinstance(r, RecordingRule)
                   and r.record in moving and names_read(r.expr, records - moving)}
        if not read | reading:
            break
        moving -= read | reading
    return [_move(list(groups), moving) for groups in stages]


def _move(groups: list[RuleGroup], moving: set[str]) -> list[RuleGroup]:
    """A stage's groups with the ``moving`` records of its global-interval groups at the head
    of its ``-long`` group (made after them where the stage has none)."""
    out: list[RuleGroup] = []
    moved: list[Rule] = []
    for group in groups:
        if group.interval:
            out.append(group)
            continue
        keep: list[Rule] = []
        for rule in group.rules:
            (moved if isinstance(rule, RecordingRule) and rule.record in moving
             else keep).append(rule)
        if keep:
            out.append(replace(group, rules=tuple(keep)))
    if not moved:
        return out
    name = next(g.name for g in groups if not g.interval) + "-long"
    for i, group in enumerate(out):
        if group.name == name:
            out[i] = replace(group, rules=(*moved, *group.rules))
            return out
    return [*out, RuleGroup(name, tuple(moved), LONG_INTERVAL)]


def _level(labels: str) -> str:
    return "_".join(label.strip() for label in labels.split(","))


def _sum_name(labels: str, op: str, metric: str, window: str) -> str:
    return f"{_level(labels)}:{metric.removesuffix('_total')}:{op}{window}"


def _max_name(labels: str, metric: str) -> str:
    return f"{_level(labels)}:{metric}:max"


# what a group reads once, and the name it is recorded under: a window's sum across replicas,
# read from the raw counters, or a raw static series (a baseline's, a curve's; no colon, so not
# a record) deduplicated across the replicas exporting it
_SHARED: tuple[tuple[re.Pattern[str], Callable[..., str]], ...] = (
    (re.compile(r"sum by \(([\w, ]+)\) \((rate|increase)\(([A-Za-z_:][A-Za-z0-9_:]*)"
                r"\[(\d+[smhdwy])\]\)\)"), _sum_name),
    (re.compile(r"max by \(([\w, ]+)\) \(([A-Za-z_][A-Za-z0-9_]*)"
                rf"(?:{re.escape(one_baseline(''))})?\)"), _max_name))


def shared_reads(stages: Sequence[Sequence[RuleGroup]]) -> list[list[RuleGroup]]:
    """``stages`` with each raw read a group makes more than once recorded once at the head of
    the group and read from there: a window's sum (``sum by (…) (rate(m[w]))``, ``…
    (increase(m[w]))``, as ``model_name:m:rate<w>``, the metric without ``_total``) and a static
    series deduplicated across replicas (``max by (…) (m)``, or of the models running one
    baseline, :func:`~mlmon_nb.promql.baselines.one_baseline`, as ``model_name:m:max``), both
    without matchers.

    Rules of a group are evaluated in order at one timestamp, each seeing what those before it
    wrote, so every rule computes exactly what it did: the sum or maximum is the same number,
    written once and read back, instead of read from every replica's raw samples once per use.
    A read whose name another group records (or records with labels, or otherwise) is left
    inline.
    """
    writers: dict[str, set[str]] = {}
    for groups in stages:
        for g in groups:
            for r in g.rules:
                if isinstance(r, RecordingRule):
                    writers.setdefault(r.record, set()).add(g.name)
    return [[_share(g, writers) for g in groups] for groups in stages]


def _share(group: RuleGroup, writers: dict[str, set[str]]) -> RuleGroup:
    """One group with its repeated raw reads recorded once; ``writers`` (record → the groups
    writing it) learns the names it adds."""
    count: dict[str, int] = {}
    names: dict[str, str] = {}
    for rule in group.rules:
        for pattern, name_of in _SHARED:
            for match in pattern.finditer(rule.expr):
                names[match.group(0)] = name_of(*match.groups())
                count[match.group(0)] = count.get(match.group(0), 0) + 1
    here = [r for r in group.rules if isinstance(r, RecordingRule)]
    shared: dict[str, str] = {}
    for expr, name in names.items():
        same = [r for r in here if r.record == name]
        free = writers.get(name, {group.name}) == {group.name} and name not in shared.values()
        # a record of this group that is this very read moves to the head; any other keeps it
        reusable = not same or (len(same) == 1 and same[0].expr == expr and not same[0].labels)
        if count[expr] > 1 and free and reusable:
            shared[expr] = name
            writers[name] = {group.name}
    if not shared:
        return group
    rules: list[Rule] = [RecordingRule(name, expr) for expr, name in shared.items()]
    for rule in group.rules:
        if isinstance(rule, RecordingRule) and shared.get(rule.expr) == rule.record:
            continue  # recorded already: now at the head, before every use
        expr = rule.expr
        for inline, name in shared.items():
            expr = expr.replace(inline, name)
        rules.append(replace(rule, expr=expr))
    return replace(group, rules=tuple(rules))
