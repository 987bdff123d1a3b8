"""mlmon_nb: Jupyter-driven monitoring for ML models in production.

Public names are re-exported here lazily (PEP 562, :func:`mlmon_nb._lazy.forward`):
``from mlmon_nb import ModelMonitor`` inside a model service imports only the instrumentation,
not pandas or the notebook machinery. Nothing runs at import beyond defining names.
"""

from __future__ import annotations

from ._lazy import forward

__version__ = "0.1.0"

# public name -> module that defines it (relative to this package)
_EXPORTS = {
    "Config": ".config",
    "load_config": ".config",
    "MlmonError": ".errors",
    "ConfigError": ".errors",
    "PrometheusError": ".errors",
    "PrometheusUnreachable": ".errors",
    "PrometheusQueryError": ".errors",
    "PrometheusTimeout": ".errors",
    "BaselineError": ".errors",
    "StackError": ".errors",
    "RunbookError": ".errors",
    "ParameterError": ".errors",
    "Baseline": ".baseline",
    "RulesError": ".errors",
    "InstrumentError": ".errors",
    "Severity": ".rules.catalogue",
    "render_rule_files": ".rules",
    "render_alertmanager": ".rules",
    "DriftError": ".errors",
    "DriftExplorer": ".widgets",
    "Prometheus": ".prom",
    "ModelMonitor": ".instrument",
    "RunStore": ".runstore",
    "LauncherSettings": ".launcher",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

__getattr__ = forward(__name__, names=_EXPORTS)


def __dir__() -> list[str]:
    return __all__
