"""Package attributes loaded on first use (PEP 562), so a light import stays light."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any, Callable, Mapping


def forward(package: str, *modules: str,
            names: Mapping[str, str] | None = None) -> Callable[[str], Any]:
    """A package ``__getattr__`` that, when a name is first asked for, loads it from the module
    ``names`` maps it to, else the package's submodule of that name, else the name from the
    first of ``modules`` that defines it (modules relative to ``package``); the value is then
    kept in the package, so later uses do not come here again. The one lazy-export mechanism
    of the library's packages."""
    def keep(name: str, value: Any) -> Any:
        setattr(sys.modules[package], name, value)
        return value

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if names and name in names:
            return keep(name, getattr(importlib.import_module(names[name], package), name))
        if importlib.util.find_spec(f"{package}.{name}") is not None:
            return importlib.import_module(f"{package}.{name}")
        for module in modules:
            loaded = importlib.import_module(module, package)
            if hasattr(loaded, name):
                return keep(name, getattr(loaded, name))
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__
