"""Where the stack's binaries are: Prometheus, Alertmanager, node exporter, promtool, amtool,
and VictoriaMetrics with vmagent and vmalert (the stack's ``victoriametrics`` backend).

One lookup for the stack (which starts them) and the rule checks (which run promtool, amtool and
``vmalert -dryRun``):
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
    "victoria-metrics": ("MLMON_VICTORIAMETRICS_BIN", ("victoria-metrics",), "victoria-metrics"),
    "vmagent": ("MLMON_VMAGENT_BIN", ("vmagent",), "victoria-metrics"),
    "vmalert": ("MLMON_VMALERT_BIN", ("vmalert",), "victoria-metrics"),
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
