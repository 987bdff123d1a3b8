"""Prometheus rule files and Alertmanager routing, generated from the configuration.

One job per module, in the order the data flows (like Sloth: a typed model, stages, storage
apart):

- :mod:`.names` — recording-rule names, windows and SLO labels (light: dashboards and notebooks
  import it alone);
- :mod:`.model` — the typed rules (``RecordingRule``, ``AlertingRule``, ``RuleGroup``) and their
  one rendering to YAML-ready dicts;
- :mod:`.slo` — burn-rate windows and the SLO stage (bad-event ratios, objectives, budgets);
- :mod:`.estimated` — the estimated-accuracy rules of a calibrated baseline;
- :mod:`.generate` — the stages validate → recording → alerts (from :mod:`.catalogue`) →
  drift → estimated accuracy, each a pure function returning rule groups;
- :mod:`.render` — the stages joined into rule-file text;
- :mod:`.alertmanager` — the routing;
- :mod:`.files` — the I/O edge: baselines from disk, writing, promtool/amtool, staleness.

Names are re-exported here lazily (PEP 562), so ``mlmon_nb.rules.catalogue`` can build on
:mod:`.model` and :mod:`.names` while :mod:`.generate` reads the catalogue, and importing
:mod:`.names` does not import the generation machinery.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule that defines it
_EXPORTS = {
    **dict.fromkeys(("WINDOWS", "LATENCY_WINDOWS", "LATENCY_QUANTILES", "ACCURACY_WINDOWS",
                     "LOW_CONFIDENCE_WINDOWS", "SLOS", "request_rate", "error_ratio",
                     "latency_quantile", "accuracy", "segment_accuracy", "low_confidence_ratio",
                     "slo_error_ratio", "request_count", "prediction_count",
                     "ground_truth_count", "slo_event_count", "spike_window", "HISTORY_AGE",
                     "HISTORY_COVERAGE", "SLO_OBJECTIVE", "ERROR_BUDGET_REMAINING", "COST_PER_1K",
                     "group_name", "ESTIMATED_ACCURACY_WINDOWS", "ESTIMATED_ACCURACY_ALERT_WINDOW",
                     "estimated_accuracy", "DRIFT_WINDOWS"), "names"),
    **dict.fromkeys(("RecordingRule", "AlertingRule", "RuleGroup"), "model"),
    **dict.fromkeys(("BurnWindow", "BURN_WINDOWS", "burn_windows", "slo_events", "slo_bad_ratio",
                     "slo_objective", "slo_budget", "burn_threshold", "slo_settings",
                     "period_variants", "slo_groups"), "slo"),
    **dict.fromkeys(("estimated_accuracy_expr", "estimated_accuracy_rules"), "estimated"),
    **dict.fromkeys(("validate", "settings_groups", "recording_groups", "alert_groups",
                     "drift_groups", "alpha_variants", "runbook_url"), "generate"),
    **dict.fromkeys(("SETTING", "CONFIGURED_MODELS", "Setting", "setting",
                     "compare", "setting_text", "setting_rules", "model_regex", "Variant",
                     "variants", "join_variants"), "fleet"),
    **dict.fromkeys(("RULE_FILES", "render_rule_files", "render_rules"), "render"),
    **dict.fromkeys(("render_alertmanager", "receivers_from_env"), "alertmanager"),
    **dict.fromkeys(("ALERTMANAGER_FILE", "load_baselines", "write_generated", "check_files",
                     "stale_files"), "files"),
}
_SUBMODULES = ("names", "model", "fleet", "slo", "estimated", "generate", "render",
               "alertmanager", "files")

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
