"""The public surface: every exported name resolves, modules declare __all__, imports are light."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

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


def test_instrumentation_import_is_light_and_has_no_side_effects():
    code = ("import sys; from mlmon_nb import ModelMonitor; "
            "print(sorted(m for m in ('pandas', 'scipy', 'matplotlib', 'papermill', 'starlette')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
