"""Prometheus rule files and Alertmanager routing, generated from the configuration.

This package holds the rule set as a whole; each signal's rules live with the signal, on the
PromQL building blocks of :mod:`mlmon_nb.promql`:

- :mod:`mlmon_nb.promql.names`, :mod:`mlmon_nb.promql.rule`, :mod:`mlmon_nb.promql.fleet`,
  :mod:`mlmon_nb.promql.evidence` — recording-rule names, the typed rules (``RecordingRule``,
  ``AlertingRule``, ``RuleGroup``), per-model settings as series, the evidence bounds;
- :mod:`mlmon_nb.slo.rules`, :mod:`mlmon_nb.estimated.rules`, :mod:`mlmon_nb.drift.rules` — each
  signal's rule groups;
- :mod:`.catalogue` — every alert, one row each;
- :mod:`.generate` — the stages validate → recording → alerts (from :mod:`.catalogue`) →
  drift → estimated accuracy, each a pure function returning rule groups;
- :mod:`.render` — the stages joined into rule-file text;
- :mod:`.alertmanager` — the routing;
- :mod:`.files` — the I/O edge: baselines from disk, writing, promtool/amtool, staleness.

This package's own names are re-exported here lazily (PEP 562), so importing one building block
does not import the generation machinery; the building blocks are read from their packages
(``mlmon_nb.promql.rule.RecordingRule``, ``mlmon_nb.slo.rules.slo_groups``).
"""

from __future__ import annotations

from .._lazy import forward

# public name -> module that defines it (relative to this package)
_EXPORTS = {
    **dict.fromkeys(("validate", "settings_groups", "recording_groups", "alert_groups",
                     "drift_groups", "alpha_variants", "runbook_url"), ".generate"),
    **dict.fromkeys(("RULE_FILES", "render_rule_files", "render_rules"), ".render"),
    **dict.fromkeys(("render_alertmanager", "receivers_from_env"), ".alertmanager"),
    **dict.fromkeys(("ALERTMANAGER_FILE", "load_baselines", "write_generated", "check_files",
                     "stale_files"), ".files"),
}
_SUBMODULES = ("catalogue", "generate", "render", "alertmanager", "files")

__all__ = sorted(_EXPORTS)

__getattr__ = forward(__name__, names=_EXPORTS)


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
