"""The bundled stack, apart from the library: its processes (:mod:`.lifecycle`), the backends
(:mod:`.backends`: Prometheus, or VictoriaMetrics with vmagent and vmalert), the demo model
service (:mod:`.demo`) and the Grafana and docker-compose files (:mod:`.grafana`).

Names load on first use, so ``mlmon_nb.stack.demo.faults`` stays as light as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import forward

if TYPE_CHECKING:
    from .lifecycle import (
        COMPONENTS,
        ComponentStatus,
        Stack,
        backfill,
        effective_config_yaml,
        free_port,
        free_ports,
        iter_blocks,
        render_prometheus_config,
    )

__all__ = ["COMPONENTS", "ComponentStatus", "Stack", "backfill", "effective_config_yaml",
           "free_port", "free_ports", "iter_blocks", "render_prometheus_config"]

__getattr__ = forward(__name__, ".lifecycle")
