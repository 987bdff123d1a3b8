"""Package attributes loaded on first use (PEP 562), so a light import stays light."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any, Callable


def forward(package: str, *modules: str) -> Callable[[str], Any]:
    """A package ``__getattr__`` that loads its submodule of that name, or else the name from
    the first of ``modules`` (relative to ``package``) that defines it, when first asked for;
    the value is then kept in the package, so later uses do not come here again."""
    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if importlib.util.find_spec(f"{package}.{name}") is not None:
            return importlib.import_module(f"{package}.{name}")
        for module in modules:
            loaded = importlib.import_module(module, package)
            if hasattr(loaded, name):
                value = getattr(loaded, name)
                setattr(sys.modules[package], name, value)
                return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__
