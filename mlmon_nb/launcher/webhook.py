"""The Alertmanager webhook (version 4) as data: checked alerts, their dedupe keys and their
place in the queue. Pure functions; the engine queues what ``plan`` returns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .security import RequestError

__all__ = ["SEVERITY_PRIORITY", "WEBHOOK_VERSION", "Planned", "dedupe_key", "group_key",
           "priority", "webhook_alerts"]

WEBHOOK_VERSION = "4"
SEVERITY_PRIORITY = {"critical": 0, "page": 0, "warning": 1, "info": 2}  # anything else: 3
LINK_PRIORITY = 0  # a person clicked: ahead of the storm


@dataclass(frozen=True)
class Planned:
    """One firing alert that has a runbook: its validated parameters and queue placement."""

    alertname: str
    params: dict[str, Any]
    dedupe_key: str
    priority: int
    group_key: str


def webhook_alerts(payload: Any, limit: int) -> list[dict]:
    """The notification's alerts, each checked for shape; RequestError otherwise."""
    if not isinstance(payload, dict):
        raise RequestError("the body must be an Alertmanager webhook JSON object")
    if str(payload.get("version")) != WEBHOOK_VERSION:
        raise RequestError(f"webhook payload version {str(payload.get('version'))[:20]!r} is not "
                           f"supported; Alertmanager sends version {WEBHOOK_VERSION}")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise RequestError("the payload has no `alerts` list")
    if len(alerts) > limit:
        raise RequestError(f"{len(alerts)} alerts in one notification; at most {limit}", 413)
    for alert in alerts:
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise RequestError("each alert needs a `labels` object")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in alert["labels"].items()):
            raise RequestError("alert labels must map strings to strings")
        if alert.get("status") not in ("firing", "resolved"):
            raise RequestError(f"alert status {str(alert.get('status'))[:40]!r} is neither firing "
                               f"nor resolved")
        if not isinstance(alert.get("startsAt"), str):
            raise RequestError("each alert needs a `startsAt` time")
        if "fingerprint" in alert and not isinstance(alert["fingerprint"], str):
            raise RequestError("an alert's `fingerprint` must be a string")
    return alerts


def dedupe_key(alert: Mapping[str, Any]) -> str:
    """One key per alert occurrence, bound to everything that identifies it: a hash of the
    fingerprint, startsAt, alertname and every label. A sender cannot pre-claim a real alert's
    run by reusing its fingerprint with other labels; a re-send of the same alert maps to it."""
    labels = alert["labels"]
    ident = json.dumps([str(alert.get("fingerprint") or ""), alert["startsAt"],
                        labels.get("alertname", ""), sorted(labels.items())],
                       separators=(",", ":"), ensure_ascii=True)
    return "a1:" + hashlib.sha256(ident.encode()).hexdigest()


def priority(labels: Mapping[str, str]) -> int:
    """Queue priority from the ``severity`` label: critical 0, warning 1, info 2, other 3."""
    return SEVERITY_PRIORITY.get(labels.get("severity", "").lower(), 3)


def group_key(payload: Mapping[str, Any]) -> str:
    """The alert group of a notification (Alertmanager's ``groupKey``, hashed; else the
    receiver and group labels): runs of one group queue behind each other, not ahead of others."""
    raw = payload.get("groupKey")
    if not isinstance(raw, str) or not raw:
        raw = json.dumps([str(payload.get("receiver", "")),
                          sorted((str(k), str(v)) for k, v in
                                 (payload.get("groupLabels") or {}).items())]
                         if isinstance(payload.get("groupLabels"), dict) else [], default=str)
    return "g:" + hashlib.sha256(raw.encode()).hexdigest()[:24]
