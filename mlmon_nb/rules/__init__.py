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

Names are re-exported here lazily (PEP 562), so importing one building block does not import the
generation machinery.
"""

from __future__ import annotations

from .._lazy import forward

# public name -> module that defines it (relative to this package)
_EXPORTS = {
    **dict.fromkeys(("WINDOWS", "LATENCY_WINDOWS", "LATENCY_QUANTILES", "ACCURACY_WINDOWS",
                     "LOW_CONFIDENCE_WINDOWS", "SLOS", "request_rate", "error_ratio",
                     "latency_quantile", "accuracy", "segment_accuracy", "low_confidence_ratio",
                     "slo_error_ratio", "request_count", "prediction_count",
                     "ground_truth_count", "slo_event_count", "spike_window", "HISTORY_AGE",
                     "HISTORY_COVERAGE", "SLO_OBJECTIVE", "ERROR_BUDGET_REMAINING", "COST_PER_1K",
                     "group_name", "ESTIMATED_ACCURACY_WINDOWS", "ESTIMATED_ACCURACY_ALERT_WINDOW",
                     "estimated_accuracy", "DRIFT_WINDOWS"), "..promql.names"),
    **dict.fromkeys(("RecordingRule", "AlertingRule", "RuleGroup"), "..promql.rule"),
    **dict.fromkeys(("BurnWindow", "BURN_WINDOWS", "burn_windows", "slo_events", "slo_bad_ratio",
                     "slo_objective", "slo_budget", "burn_threshold", "slo_settings",
                     "period_variants", "slo_groups"), "..slo.rules"),
    **dict.fromkeys(("estimated_accuracy_expr", "estimated_accuracy_rules"), "..estimated.rules"),
    **dict.fromkeys(("validate", "settings_groups", "recording_groups", "alert_groups",
                     "drift_groups", "alpha_variants", "runbook_url"), ".generate"),
    **dict.fromkeys(("SETTING", "CONFIGURED_MODELS", "Setting", "setting",
                     "compare", "setting_text", "setting_rules", "model_regex", "Variant",
                     "variants", "join_variants"), "..promql.fleet"),
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
