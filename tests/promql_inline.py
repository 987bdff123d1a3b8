"""Inline recording rules into one self-contained PromQL expression (test support).

The generated rules chain: a drift statistic reads the bucket counts and the count n that earlier
rules of its group recorded in the same evaluation. Recording rules do not run over backfilled
history, so to read what Prometheus would have recorded at a past time the tests evaluate the
rule with every recorded series it reads replaced by the expression that records it:

- a reference ``record{matchers}`` (metric names with a colon are recording rules) becomes
  ``(expr)`` of the rule of that name whose static labels the equality matchers name, with those
  static labels added back (``label_replace``) so joins on them still match;
- matchers on other labels are pushed into every raw selector of the inlined expression, which
  is exact for the rules here: they aggregate ``by`` the labels they are filtered on.

Pure text work on the generated rules' own shapes; :func:`inline` raises where it cannot.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

_STRING = r'"(?:[^"\\]|\\.)*"'
_REFERENCE = re.compile(r'(?<![\w:"])([a-zA-Z_][\w]*:[\w:]*)(\{[^}]*\})?')
_MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*(' + _STRING + r')\s*,?')
_IDENT = re.compile(r'(?<![\w:."])([a-zA-Z_][\w]*)(\{[^}]*\})?(?![\w:])')
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                       "unless", "bool", "offset", "inf", "nan", "Inf", "NaN"})


def _matchers(text: str | None) -> list[tuple[str, str, str]]:
    if not text:
        return []
    body = text[1:-1]
    out, pos = [], 0
    while pos < len(body.strip()):
        m = _MATCHER.match(body, pos)
        if m is None:
            raise ValueError(f"cannot read matchers {text!r}")
        out.append((m.group(1), m.group(2), m.group(3)))
        pos = m.end()
    return out


def _mask(expr: str) -> str:
    """``expr`` with every string literal's content blanked (same length), so patterns see
    the structure only."""
    return re.sub(_STRING, lambda m: '"' + "_" * (len(m.group(0)) - 2) + '"', expr)


def _sub(expr: str, pattern: re.Pattern, repl) -> str:
    """``pattern.sub(repl)`` matching on the structure (strings blanked), replacing in ``expr``;
    ``repl`` gets the match on the masked text and the original text of the match."""
    parts, last = [], 0
    for m in pattern.finditer(_mask(expr)):
        parts.append(expr[last:m.start()])
        parts.append(repl(m, expr[m.start():m.end()]))
        last = m.end()
    parts.append(expr[last:])
    return "".join(parts)


def _grouping_spans(expr: str) -> list[tuple[int, int]]:
    """Spans of label lists: ``by (…)``, ``on (…)``, ``group_left (…)`` …"""
    return [(m.start(1), m.end(1)) for m in re.finditer(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*(\([^()]*\))", expr)]


def push(expr: str, matchers: Sequence[tuple[str, str, str]]) -> str:
    """Add ``matchers`` to every raw series selector of ``expr``."""
    if not matchers:
        return expr
    skip = _grouping_spans(_mask(expr))
    extra = ",".join(f"{k}{op}{v}" for k, op, v in matchers)

    masked = _mask(expr)

    def repl(m: re.Match, original: str) -> str:
        name = m.group(1)
        after = masked[m.end():].lstrip()
        if (name in _KEYWORDS or after.startswith("(") or after.startswith("by")
                or after.startswith("without") or any(a <= m.start() < b for a, b in skip)):
            return original
        sel = original[len(name):]
        body = sel[1:-1].strip() if sel else ""
        return f"{name}{{{body + ',' if body else ''}{extra}}}"

    return _sub(expr, _IDENT, repl)


def inline(expr: str, rules: Iterable[Mapping], depth: int = 0) -> str:
    """``expr`` with every recorded series it reads replaced by its rule's expression."""
    if depth > 20:
        raise ValueError("recording rules nest deeper than 20: a cycle?")
    by_record: dict[str, list[Mapping]] = {}
    for rule in rules:
        if "record" in rule:
            by_record.setdefault(rule["record"], []).append(rule)

    def repl(m: re.Match, original: str) -> str:
        name = m.group(1)
        sel = original[len(name):] or None
        candidates = by_record.get(name)
        if not candidates:
            raise ValueError(f"{name} is not a recording rule of the given rules")
        wanted = _matchers(sel)
        chosen, rest = [], []
        for rule in candidates:
            static = dict(rule.get("labels") or {})
            if all(static.get(k) == v.strip('"') for k, op, v in wanted if op == "=" and k in static):
                chosen.append(rule)
        statics = {k for rule in candidates for k in (rule.get("labels") or {})}
        rest = [(k, op, v) for k, op, v in wanted if k not in statics]
        if len(chosen) != 1:
            raise ValueError(f"{name}{sel or ''} matches {len(chosen)} rules; name one")
        rule = chosen[0]
        body = push(inline(rule["expr"], rules, depth + 1), rest)
        for k, v in (rule.get("labels") or {}).items():
            body = f'label_replace({body}, "{k}", "{v}", "", "")'
        return f"({body})"

    return _sub(expr, _REFERENCE, repl)
