"""Kubernetes output for clusters run with the Prometheus Operator.

:mod:`~mlmon_nb.kubernetes.manifests` turns the generated rule files, the Alertmanager routing
and the Grafana dashboards into ``PrometheusRule``, ``ServiceMonitor``, ``PodMonitor``,
``AlertmanagerConfig`` and ``ConfigMap`` resources plus a ``kustomization.yaml`` (pure: text in,
text out); :mod:`~mlmon_nb.kubernetes.validation` checks each against the operator's CRD schemas
bundled in ``schemas/``. ``mlmon-nb rules generate --format prometheus-operator -o DIR`` writes
the files.
"""

from .manifests import KubernetesOptions, Scrape, SecretKey, parse_labels, render_manifests
from .validation import schema_errors, validate

__all__ = ["KubernetesOptions", "Scrape", "SecretKey", "parse_labels", "render_manifests",
           "schema_errors", "validate"]
