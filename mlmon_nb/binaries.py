"""Where the stack's binaries are: Prometheus, Alertmanager, node exporter, promtool, amtool.

One lookup for the stack (which starts them) and the rule checks (which run promtool and amtool):
an ``MLMON_*_BIN`` environment variable wins, else the first candidate on ``PATH``; a missing
binary is a :class:`StackError` naming the Debian package that provides it.
"""

from __future__ import annotations

import os
import shutil

from .errors import StackError

__all__ = ["BINARIES", "find_binary"]

# name -> (env override, candidate binaries, Debian package)
BINARIES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "prometheus": ("MLMON_PROMETHEUS_BIN", ("prometheus",), "prometheus"),
    "promtool": ("MLMON_PROMTOOL_BIN", ("promtool",), "prometheus"),
    "alertmanager": ("MLMON_ALERTMANAGER_BIN", ("prometheus-alertmanager", "alertmanager"),
                     "prometheus-alertmanager"),
    "amtool": ("MLMON_AMTOOL_BIN", ("amtool",), "prometheus-alertmanager"),
    "node_exporter": ("MLMON_NODE_EXPORTER_BIN", ("prometheus-node-exporter", "node_exporter"),
                      "prometheus-node-exporter"),
}


def find_binary(name: str) -> str:
    """The path of a stack binary, or a StackError saying how to install it."""
    env, candidates, package = BINARIES[name]
    override = os.environ.get(env)
    if override:
        found = shutil.which(override)
        if found:
            return found
        raise StackError(f"{env}={override} is not an executable; fix or unset it")
    for candidate in candidates:
        path = shutil.which(candidate)
        if path:
            return path
    raise StackError(f"{candidates[0]} not found: install it (Debian: apt-get install {package}) "
                     f"or set {env} to its path")
