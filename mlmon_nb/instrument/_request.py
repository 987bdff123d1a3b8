"""The request the ASGI middleware is counting, so an inner ``monitor.track`` does not count it
again.

``MetricsMiddleware`` sets :data:`CURRENT` for the duration of a request; ``track`` of the same
monitor inside it (a decorated handler, a ``with`` block) then only notes an exception's type for
the middleware and counts nothing itself: one request, one ``ml_requests_total`` increment, under
the middleware's endpoint (the route template). Context variables follow ``await`` and
Starlette's thread pool for sync handlers.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["RequestScope", "CURRENT"]


class RequestScope:
    """One request under the middleware: its monitor and the first error type seen inside."""

    __slots__ = ("monitor", "error_type")

    def __init__(self, monitor: Any):
        self.monitor = monitor
        self.error_type: str | None = None


CURRENT: ContextVar[RequestScope | None] = ContextVar("mlmon_request", default=None)
