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

