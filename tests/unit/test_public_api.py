"""The public surface: every exported name resolves, public modules declare __all__.

(That importing the instrumentation stays light is checked in test_instrument.py.)
"""

from __future__ import annotations

import importlib
import pkgutil

import mlmon_nb

MODULES = sorted(m.name for m in pkgutil.walk_packages(mlmon_nb.__path__, "mlmon_nb.")
                 if not m.name.rsplit(".", 1)[1].startswith("_"))


def test_every_exported_name_resolves():
    for name in mlmon_nb.__all__:
        assert getattr(mlmon_nb, name) is not None, name


def test_public_modules_declare_all_and_define_it():
    for module_name in MODULES:
        if module_name.endswith(".cli") or module_name.endswith("__main__"):
            continue
        module = importlib.import_module(module_name)
        assert hasattr(module, "__all__"), f"{module_name} has no __all__"
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, f"{module_name}.__all__ names what it does not define: {missing}"



# The top-level surface is deliberate: a name added to or dropped from `mlmon_nb` is an API change
# and must be made here too (as httpx's test_exported_members does).
PUBLIC = {
    "__version__",
    # configuration and the metric contract's producer
    "Config", "load_config", "ModelMonitor", "Baseline",
    # reading Prometheus, drift exploration, alerting
    "Prometheus", "DriftExplorer", "Severity", "render_rule_files", "render_alertmanager",
    # runbooks
    "RunStore", "LauncherSettings",
    # errors: one root, a type per failure a user can act on
    "MlmonError", "ConfigError", "PrometheusError", "PrometheusUnreachable",
    "PrometheusQueryError", "PrometheusTimeout", "BaselineError", "DriftError", "RulesError",
    "StackError", "RunbookError", "ParameterError", "InstrumentError",
}


def test_the_public_surface_is_exactly_the_deliberate_one():
    assert set(mlmon_nb.__all__) == PUBLIC
    assert len(mlmon_nb.__all__) == len(PUBLIC)  # no name exported twice


def test_every_error_has_the_one_root():
    exported = [getattr(mlmon_nb, n) for n in PUBLIC - {"__version__"}]
    errors = [e for e in exported if isinstance(e, type) and issubclass(e, Exception)]
    assert len(errors) == 13
    assert all(issubclass(e, mlmon_nb.MlmonError) for e in errors)


def test_a_lazily_loaded_name_is_kept_in_its_package():
    import mlmon_nb.slo as slo
    value = slo.burn_rate
    assert vars(slo)["burn_rate"] is value  # later uses are plain attribute reads
