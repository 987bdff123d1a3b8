"""Fault injection into the demo: the service's fault state, and the client of ``POST /faults``.

``errors``, ``latency`` and ``correlation-break`` act inside the service (a share of /predict
fails with 500; /predict sleeps long enough to break the 0.25 s latency SLO; each prediction's
``word_count`` is the one of an earlier request, as after a wrong join upstream: every feature's
distribution stays the same, only the joint one changes, which the multivariate check sees).
``drift``, ``low-confidence`` and ``covariate-shift`` act on the input side: the traffic
generator reads ``GET /faults`` and shifts what it sends (``covariate-shift``: texts the model is
less sure of and less often right on, so the estimated accuracy falls before the sampled labels
say so).

A fault hits every model the service serves, or, with ``model_name``, one model of a demo fleet
(``demo up --models N``): the service keeps one more state per model, and ``GET /faults`` lists
the models with faults of their own under ``models``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import MlmonError, ServiceUnreachable
from ...humanize import fmt_duration

__all__ = ["KINDS", "FaultState", "inject", "fault_line", "active_faults", "ERROR_SHARE",
           "LATENCY_RANGE", "DEFAULT_SECONDS"]

KINDS = ("errors", "latency", "drift", "low-confidence", "covariate-shift", "correlation-break")
BROKEN_FEATURE = "word_count"  # what correlation-break takes from an earlier request
SWAP_POOL = 64  # earlier requests it takes it from (a random one of them)
ERROR_SHARE = 0.3            # share of /predict that fail while `errors` is active
LATENCY_RANGE = (0.4, 0.8)   # seconds added to /predict while `latency` is active
DEFAULT_SECONDS = 600.0      # a fault injected without a duration


@dataclass
class FaultState:
    """Which faults are active and until when (the service's clock, seconds since the epoch)."""

    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def set(self, kind: str, seconds: float, *, extend: bool = False) -> dict[str, float]:
        """Activate ``kind`` for ``seconds`` (``clear`` ends every fault); the new state. With
        ``extend``, a fault already active longer keeps its end (a default duration never
        shortens a fault someone asked to run longer)."""
        if kind == "clear":
            with self._lock:
                self._until.clear()
            return self.active()
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(KINDS)} or clear")
        seconds = float(seconds)
        if not 0 < seconds <= 7 * 86400:
            raise ValueError(f"seconds must be in (0, 604800], got {seconds}")
        with self._lock:
            until = self.clock() + seconds
            self._until[kind] = max(until, self._until.get(kind, until)) if extend else until
        return self.active()

    def active(self) -> dict[str, float]:
        """Active fault → its expiry (unix seconds)."""
        now = self.clock()
        with self._lock:
            for kind in [k for k, t in self._until.items() if t <= now]:
                del self._until[kind]
            return dict(self._until)

    def is_active(self, kind: str) -> bool:
        """Whether ``kind`` is active now."""
        until = self._until.get(kind)
        return until is not None and until > self.clock()


def _request(method: str, url: str, json: dict[str, Any] | None = None,
             timeout: float = 5.0) -> dict[str, Any]:
    import requests

    try:
        resp = requests.request(method, url, json=json, timeout=timeout)
    except requests.RequestException as exc:
        raise ServiceUnreachable(url.rsplit("/faults", 1)[0], type(exc).__name__) from exc
    if resp.status_code != 200:
        raise MlmonError(f"the demo service at {url} refused the fault: "
                         f"{resp.status_code} {resp.text.strip()[:200]}")
    return resp.json()


def inject(url: str, kind: str, seconds: float | None = None,
           model_name: str | None = None) -> dict[str, Any]:
    """Activate a fault in the demo service at ``url`` for ``seconds`` (in one model of its
    fleet with ``model_name``, else in all); the active faults. Without ``seconds`` it lasts
    ``DEFAULT_SECONDS``, or longer where it already runs longer."""
    body: dict[str, Any] = {"kind": kind}
    if seconds is not None:
        body["seconds"] = seconds
    if model_name:
        body["model_name"] = model_name
    return _request("POST", f"{url.rstrip('/')}/faults", body)


def fault_line(kind: str, state: Mapping[str, Any], url: str,
               model_name: str | None = None) -> str:
    """What an injection did, in words, from the service's answer (``state``): "injected
    latency into http://… (fraud_scorer): active for 10m more", "cleared every fault in …"."""
    where = f"{url} ({model_name})" if model_name else url
    active = (state.get("models", {}).get(model_name, {}) if model_name
              else state.get("active", {}))
    if kind == "clear":
        return f"cleared every fault in {where} (active now: {', '.join(sorted(active)) or 'none'})"
    left = active.get(kind, {}).get("seconds_left")
    return f"injected {kind} into {where}: active for {fmt_duration(left)} more"


def active_faults(url: str, timeout: float = 2.0) -> dict[str, Any]:
    """The demo service's active faults (``GET /faults``)."""
    return _request("GET", f"{url.rstrip('/')}/faults", timeout=timeout)
