"""ASGI adapters for FastAPI/Starlette (or any ASGI app): request middleware and ``/metrics``.

No web framework is imported: both are plain ASGI callables.
"""

from __future__ import annotations

from typing import Any, Callable

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from ..metrics import UNMATCHED_ENDPOINT
from ._multiprocess import exposition_registry
from ._request import CURRENT, RequestScope

__all__ = ["MetricsMiddleware", "MetricsApp", "mount_metrics", "ERROR_TYPE_STATE"]

# A handler that answers 5xx without raising names the error type with
# ``request.state.mlmon_error_type = "..."`` (Starlette keeps request.state in scope["state"]).
ERROR_TYPE_STATE = "mlmon_error_type"


def _route_path(scope: dict) -> str:
    """The matched route's template (``/items/{id}``), else the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else scope.get("path", "")


class MetricsMiddleware:
    """Counts every HTTP request of the wrapped app as ``monitor.track`` does.

    The endpoint label is the route template where the router recorded it, else the path (capped
    like every label); a 404 that no route answered (``/favicon.ico``, a scanner's probe) is
    ``__unmatched__``, so unknown paths never become endpoints of their own. An exception is
    counted with its type and re-raised; a 5xx response without one is counted with
    ``request.state.mlmon_error_type`` or ``http_<status>``. 4xx answers are the client's errors
    and count as requests only. Paths in ``exclude`` (the
    scrape and health endpoints) are not counted.

    A ``monitor.track`` of the same monitor inside the request (a decorated handler) counts
    nothing itself, so the request is counted once, under the route template; an exception it
    saw names the error type of a 5xx answer that an exception handler made of it.
    """

    def __init__(self, app: Any, monitor: Any, *,
                 endpoint: Callable[[dict], str] = _route_path,
                 exclude: tuple[str, ...] = ("/metrics", "/health", "/healthz")):
        self.app = app
        self.monitor = monitor
        self.endpoint = endpoint
        self.exclude = frozenset(exclude)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exclude:
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        monitor = self.monitor
        request = RequestScope(monitor)
        token = CURRENT.set(request)  # an inner monitor.track of this monitor counts nothing
        start = monitor._begin()
        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            monitor._end(self.endpoint(scope), start, exc)
            raise
        finally:
            CURRENT.reset(token)
        unmatched = status == 404 and scope.get("route") is None
        endpoint = UNMATCHED_ENDPOINT if unmatched else self.endpoint(scope)
        label = monitor._end(endpoint, start, None)
        if status >= 500:
            state = scope.get("state") or {}
            monitor._count_error(endpoint, label, state.get(ERROR_TYPE_STATE)
                                 or request.error_type or f"http_{status}")


class MetricsApp:
    """An ASGI app answering with the exposition of ``registry`` (all workers in multiprocess
    mode); honours ``Accept`` for OpenMetrics."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers") or ()}
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        body = encoder(exposition_registry(self.registry))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type.encode("latin-1")),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def mount_metrics(app: Any, path: str = "/metrics", registry: CollectorRegistry | None = None,
                  ) -> Any:
    """Serve ``/metrics`` from a Starlette or FastAPI app; returns the app."""
    app.add_route(path, MetricsApp(registry), methods=["GET"])
    return app
