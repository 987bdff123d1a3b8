"""One rule set for the whole fleet: what differs between models travels as series.

The rules are written once for every model, in the style of kube-prometheus' label-generic
rules: no ``model_name="…"`` matcher, no per-model literal. What differs between models
reaches them as series joined on ``model_name``:

- the baseline (shares, counts, calibration) is exported by each service
  (:data:`mlmon_nb.metrics.BASELINE_SERIES`), labelled with the version it serves, and read
  through :func:`mlmon_nb.promql.baselines.one_baseline`: a model whose live versions run two
  baselines (a canary retrained on other data) is judged version by version, never against a
  blend of both, and never stops another model's rules;
- every numeric setting of the configuration (thresholds, minimum evidence, objectives, burn
  thresholds, the drift alpha) is a series of :data:`SETTING` ``{model_name, setting="<key>"}``,
  recorded by one rule per key: the fleet's default for every configured model
  (:data:`CONFIGURED_MODELS`, one short literal per model), overridden by a literal only for the
  models whose configuration differs. So the rules' size grows with the keys, the models' names
  and the overrides, never with models × features × buckets. The rules watch the models the
  configuration lists, as the launcher runs runbooks for those only;
- what cannot be a series (an SLO's latency bucket ``le``, its period's window) is a variant:
  one expression per distinct value, each with a ``model_name`` regex of its models, joined
  with ``or`` (the default variant takes every model not named by another).

:func:`setting_rules` writes the settings stage; :func:`setting` and :func:`compare` are what the
alert builders use to read a setting back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from .. import promql
from ..config import Config, ModelConfig
from ..metrics import recording_name
from .rule import RecordingRule

__all__ = [
    "SETTING",
    "CONFIGURED_MODELS",
    "Setting",
    "setting",
    "compare",
    "setting_text",
    "model_series",
    "query_text",
    "setting_rules",
    "model_regex",
    "Variant",
    "variants",
    "join_variants",
    "DEFAULT_MODEL",
]

SETTING = recording_name("model_name", "mlmon_setting", "value")
CONFIGURED_MODELS = recording_name("model_name", "mlmon_model", "configured")
# the configuration a model the config does not list is watched with
DEFAULT_MODEL = ModelConfig(name="__default__")


@dataclass(frozen=True)
class Setting:
    """One per-model number the rules read: its key and how a model's config gives it
    (``None``: the model has no such setting, e.g. no cost). ``record`` names its series
    (default :data:`SETTING`); ``labels`` are extra static labels (e.g. ``slo``)."""

    key: str
    of: Callable[[ModelConfig], float | None]
    labels: Mapping[str, str] | None = None
    record: str = SETTING

    def rule_labels(self) -> dict[str, str]:
        keyed = {"setting": self.key} if self.record == SETTING else {}
        return {**keyed, **(self.labels or {})}


def setting(key: str, **labels: str) -> str:
    """The selector of a setting's series (``model_name`` and ``setting`` labels)."""
    return promql.selector(SETTING, setting=key, **labels)


def compare(expr: str, op: str, key: str, on: Sequence[str] = ("model_name",),
            **labels: str) -> str:
    """``expr <op> on (model_name) group_left () <setting>``: a per-model threshold (the
    comparison keeps ``expr``'s labels and value)."""
    return f"{expr} {op} on ({', '.join(on)}) group_left () {setting(key, **labels)}"


def model_series(name: str, **labels: str) -> str:
    """A Go template expression: the PromQL of ``name`` for the firing model (and ``labels``)."""
    extra = "".join(f",{k}=%q" for k in labels)
    args = " ".join(f'"{v}"' for v in labels.values())
    return f"printf `{name}{{model_name=%q{extra}}}` $labels.model_name {args}".rstrip()


def query_text(template_selector: str, fmt: str) -> str:
    """An annotation template printing one series' value; ``template_selector`` is a Go
    template expression yielding the PromQL (e.g. :func:`model_series`); ``fmt`` a printf
    format or a template function (``humanizePercentage``)."""
    value = f'printf "{fmt}"' if fmt.startswith("%") else fmt
    return f"{{{{ with {template_selector} | query }}}}{{{{ . | first | value | {value} }}}}{{{{ end }}}}"


def setting_text(key: str, fmt: str = "%g", **labels: str) -> str:
    """An annotation template printing the firing model's value of a setting."""
    return query_text(model_series(SETTING, setting=key, **labels), fmt)


def model_regex(names: Iterable[str]) -> str:
    """An anchored RE2 alternation matching exactly ``names`` (metacharacters escaped)."""
    return "|".join(re.escape(n) for n in sorted(set(names)))


def _literal(model_name: str, value: float) -> str:
    return (f"label_replace(vector({promql.number(value)}), \"model_name\", "
            f"{promql.quote(model_name)}, \"\", \"\")")


def _or_tree(parts: Sequence[str], op: str = "or") -> str:
    """``parts`` joined with ``op`` as a balanced tree of parenthesized halves: the same series
    as the flat ``a or b or c …`` (``or`` keeps the left side's series, so the first listed
    wins either way), but each ``or`` copies its operands once per level, O(n log n) for n
    parts instead of the flat chain's O(n²) (15 s per evaluation at 1,000 models)."""
    if len(parts) <= 2:
        return f" {op} ".join(parts)
    half = len(parts) // 2
    left, right = (_or_tree(p, op) if len(p) == 1 else f"({_or_tree(p, op)})"
                   for p in (parts[:half], parts[half:]))
    return f"{left} {op} {right}"


def _configured_models(config: Config) -> RecordingRule:
    """The models the configuration lists, one series each (value 1)."""
    listed = _or_tree([_literal(m.name, 1) for m in config.models]) or "vector(1) == 0"
    return RecordingRule(CONFIGURED_MODELS, listed)


def setting_rules(config: Config, settings: Sequence[Setting]) -> list[RecordingRule]:
    """The configured models, then one rule per setting: the default for every configured
    model, or the model's own value where its configuration differs."""
    rules = [_configured_models(config)]
    for s in settings:
        default = s.of(DEFAULT_MODEL)
        overrides = [_literal(m.name, value) for m in config.models
                     if (value := s.of(m)) is not None and value != default]
        parts = overrides + ([f"{promql.number(default)} * {CONFIGURED_MODELS}"]
                             if default is not None else [])
        if not parts:
            continue
        expr = _or_tree(parts, "or on (model_name)")
        rules.append(RecordingRule(s.record, expr, s.rule_labels()))
    return rules


@dataclass(frozen=True)
class Variant:
    """Models sharing one value of a setting that cannot be a series: the value, and the
    matchers of its models (the default variant: every model not in another)."""

    value: object
    matchers: tuple[str, ...]


def variants(config: Config, of: Callable[[ModelConfig], object]) -> list[Variant]:
    """One :class:`Variant` per distinct value of ``of`` among the configured models and the
    default: the default's value first, for every model the others do not name."""
    default = of(DEFAULT_MODEL)
    by_value: dict[object, list[str]] = {}
    for model in config.models:
        value = of(model)
        if value != default:
            by_value.setdefault(value, []).append(model.name)
    others = [n for names in by_value.values() for n in names]
    first = Variant(default, (promql.matcher("model_name", model_regex(others), "!~"),)
                    if others else ())
    return [first] + [Variant(v, (promql.matcher("model_name", model_regex(names), "=~"),))
                      for v, names in by_value.items()]


def join_variants(config: Config, of: Callable[[ModelConfig], object],
                  expr: Callable[[Variant], str]) -> str:
    """``expr`` of each variant of ``of``, joined with ``or`` (disjoint model sets)."""
    parts = [expr(v) for v in variants(config, of)]
    return parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)
