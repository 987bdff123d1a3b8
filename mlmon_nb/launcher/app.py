"""The launcher over HTTP: routes, the Host check on every request, and ``serve`` (uvicorn with
header, keep-alive and body deadlines, and a bounded drain at SIGTERM). Every rule it applies
comes from ``security``; every page from ``pages``; the work from ``engine``.

The console's calls to Alertmanager and Prometheus run on a pool of their own
(``CONSOLE_THREADS``), and concurrent loads of one view share one read of the alerts: however
slow those sources are, page loads never take the threads that answer the webhook and
``/healthz``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from ..config import Config, parse_duration
from ..errors import ParameterError, RunbookError, UnknownRunbook
from ..runbooks import Registry, validate_parameters
from ..runstore import RUN_STATUSES, Run, is_run_id
from . import console, pages
from .engine import Launcher
from .security import (
    CSRF_COOKIE,
    ClientGone,
    CsrfSigner,
    Guard,
    RequestError,
    allowed_hosts,
    header_deadline_protocol,
    parse_json,
    read_body,
    security_headers,
)
from .settings import LauncherSettings

__all__ = ["create_app", "serve"]

log = logging.getLogger("mlmon_nb.launcher")
FORM = "application/x-www-form-urlencoded"
JUPYTER_TOKEN_FILE = "jupyter_token"  # the stack's JupyterLab token, in the state dir
CONSOLE_THREADS = 8  # the console's own threads for Alertmanager and Prometheus calls


def wants_html(request: Request) -> bool:
    """Whether the client prefers a page to JSON: its Accept names text/html before (or
    without) application/json — a browser's navigation or form POST, never an API client
    asking for JSON."""
    accept = request.headers.get("accept", "").lower()
    page, data = accept.find("text/html"), accept.find("application/json")
    return page >= 0 and (data < 0 or page < data)


def jupyter_token(config: Config) -> str | None:
    """JupyterLab's token as the stack wrote it (for "open in JupyterLab" links), or None: the
    launcher only reads it, it never makes one."""
    try:
        token = (config.stack.state_dir / JUPYTER_TOKEN_FILE).read_text().strip()
    except OSError:
        return None
    return token or None


def _guard(config: Config, engine: Launcher, host: str, port: int) -> Guard:
    opts = engine.settings
    url_host = urlsplit(config.launcher_url).netloc if config.launcher_url else ""
    return Guard(hosts=allowed_hosts(host, port, (*opts.allowed_hosts, url_host)),
                 write_token=opts.resolved_token(), read_token=opts.resolved_read_token(),
                 protect_reads=opts.protect_reads,
                 csrf=CsrfSigner.from_state_dir(engine.store.root))


def create_app(config: Config, *, settings: LauncherSettings | None = None,
               registry: Registry | None = None, launcher: Launcher | None = None,
               host: str = "127.0.0.1", port: int | None = None) -> Starlette:
    """The launcher's Starlette app for a server bound to ``host:port`` (default: the config's
    launcher port); workers start and stop with the app's lifespan."""
    engine = launcher or Launcher(config, settings, registry)
    opts = engine.settings
    guard = _guard(config, engine, host, port or config.stack.ports["launcher"])

    def html_response(text: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(text, status_code=status, headers=security_headers())

    def error(request: Request, message: str, status: int,
              headers: dict[str, str] | None = None) -> Response:
        if wants_html(request):  # a browser: a page, for a GET or a form's POST alike
            resp: Response = html_response(pages.error_page(status, message), status)
        else:
            resp = JSONResponse({"error": message}, status_code=status)
        resp.headers.update(headers or {})
        return resp

    def refusal(exc: RunbookError) -> tuple[int, dict[str, str] | None]:
        """A refusal's status and headers: its own, 400 for a bad parameter, 404 for an
        unknown runbook."""
        if isinstance(exc, RequestError):
            return exc.status, exc.headers
        return (400 if isinstance(exc, ParameterError) else 404), None

    def refused(request: Request, exc: RunbookError) -> Response:
        """4xx for a refused request (a page for a browser, JSON for an API client)."""
        status, headers = refusal(exc)
        return error(request, exc.public if isinstance(exc, UnknownRunbook) else str(exc),
                     status, headers)

    def gone(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        log.info("client %s disconnected before its %s %s body arrived", client, request.method,
                 request.url.path)
        return Response(status_code=400)

    def reader(handler):
        """A read route: the read token when reads are protected."""
        async def route(request: Request) -> Response:
            try:
                guard.check_read(request.headers)
            except RequestError as exc:
                return refused(request, exc)
            return await handler(request)
        route.__name__ = handler.__name__
        return route

    def accept(raw: bytes) -> dict[str, Any]:
        # parsing a megabyte takes a few hundred ms at worst: off the event loop, like the queue
        return engine.accept_webhook(parse_json(raw, opts.max_json_depth))

    async def webhook(request: Request) -> Response:
        try:
            guard.check_write(request.headers, "application/json")
            raw = await read_body(request, opts.max_body_bytes, opts.body_timeout)
            result = await run_in_threadpool(accept, raw)
        except ClientGone:
            return gone(request)
        except RequestError as exc:
            engine.webhooks_total.labels("refused").inc()
            log.warning("webhook refused (%d): %s", exc.status, exc)
            return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=exc.headers)
        except RunbookError as exc:  # ParameterError included: a label failed its check
            engine.webhooks_total.labels("refused").inc()
            log.warning("webhook refused (400): %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        engine.webhooks_total.labels("accepted").inc()
        log.info("webhook: %d run(s) queued, %d already known, %d resolved, %d skipped, "
                 "%d refused", sum(r["created"] for r in result["runs"]),
                 sum(not r["created"] for r in result["runs"]), result["resolved"],
                 len(result["skipped"]), len(result["refused"]))
        return JSONResponse(result, status_code=200)

    def query_params(request: Request) -> dict[str, str]:
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
        names = [k for k, _ in pairs]
        if len(names) != len(set(names)):
            raise RequestError("a parameter is given twice; give each once")
        return dict(pairs)

    def csrf_nonce(request: Request) -> str:
        """The browser's CSRF nonce (cookie), or a new one."""
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if not (16 <= len(nonce) <= 64 and nonce.replace("-", "").replace("_", "").isalnum()):
            nonce = guard.csrf.nonce()
        return nonce

    def with_csrf_cookie(resp: Response, nonce: str) -> Response:
        # one cookie for every page with a form (the console and the launch form)
        resp.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict", path="/")
        return resp

    async def checked_form(request: Request) -> dict[str, str]:
        """A form POST that passed the launcher's write rules: same origin, form content type,
        the write token when configured, and the signed CSRF token bound to the cookie (unless
        a bearer token came). The form without its ``csrf_token`` and ``access_token``."""
        guard.check_same_origin(request.headers)
        raw = await read_body(request, opts.max_form_bytes, opts.body_timeout)
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise RequestError("the form is not UTF-8") from None
        form = dict(pairs)
        if len(form) != len(pairs):
            raise RequestError("a parameter is given twice; give each once")
        csrf, access = form.pop("csrf_token", ""), form.pop("access_token", "")
        via_bearer = guard.check_write(request.headers, FORM, form_token=access)
        if not via_bearer and not guard.csrf.valid(request.cookies.get(CSRF_COOKIE, ""), csrf):
            raise RequestError("the form's CSRF token is missing or stale; reload the page and "
                               "submit again", 403)
        return form

    async def runbook_get(request: Request) -> Response:
        alertname = request.path_params["alertname"]
        try:
            runbook = engine.registry.get(alertname)
            raw = query_params(request)
            rerun = raw.pop("rerun", "") == "1"
            params = validate_parameters(runbook, raw, untrusted=True)
        except RunbookError as exc:
            return refused(request, exc)
        since = 0.0 if rerun else time.time() - opts.dedupe_window
        run = await run_in_threadpool(engine.store.latest_matching, alertname, params, since)
        if run is not None and not rerun:
            return RedirectResponse(f"/runs/{run.run_id}", status_code=303)
        nonce = csrf_nonce(request)
        resp = html_response(pages.form_page(alertname, runbook, params, guard.csrf.token(nonce),
                                             guard.write_token is not None, rerun=rerun,
                                             previous=run))
        return with_csrf_cookie(resp, nonce)

    def form_again(request: Request, alertname: str, form: dict[str, str],
                   exc: RunbookError) -> Response:
        """A browser's refused launch form: the form again, with what was typed and why it was
        refused, under the refusal's status."""
        status, headers = refusal(exc)
        nonce = csrf_nonce(request)
        text = pages.form_page(alertname, engine.registry.get(alertname), form,
                               guard.csrf.token(nonce), guard.write_token is not None,
                               error=str(exc))
        resp = with_csrf_cookie(html_response(text, status), nonce)
        resp.headers.update(headers or {})
        return resp

    async def runbook_post(request: Request) -> Response:
        alertname = request.path_params["alertname"]
        form: dict[str, str] | None = None
        try:
            if alertname not in engine.registry:
                engine.registry.get(alertname)  # raises with the known names
            form = await checked_form(request)
            raw_params = {k: v for k, v in form.items() if v != ""}
            run, _ = await run_in_threadpool(engine.submit, alertname, raw_params, source="link")
        except ClientGone:
            return gone(request)
        except RunbookError as exc:
            if form is not None and wants_html(request):  # a browser's form: keep what it typed
                return form_again(request, alertname, form, exc)
            return refused(request, exc)
        return RedirectResponse(f"/runs/{run.run_id}", status_code=303)

    async def runs(request: Request) -> Response:
        q = request.query_params
        status = q.get("status") or None
        if status and status not in RUN_STATUSES:
            return error(request, f"status must be one of {', '.join(RUN_STATUSES)}", 400)
        try:
            limit = min(max(int(q.get("limit", "200")), 1), 1000)
            offset = min(max(int(q.get("offset", "0")), 0), 2 ** 62)  # SQLite's integers
        except ValueError:
            return error(request, "limit and offset must be numbers", 400)
        try:
            model = console.check_model_filter(q.get("model_name"))
        except RunbookError as exc:
            return refused(request, exc)
        filters: dict[str, Any] = {"model_name": model, "alertname": q.get("alertname") or None,
                                   "status": status}
        found = await run_in_threadpool(engine.store.list, **filters, limit=limit, offset=offset)
        if q.get("format") == "json" or "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"runs": [r.to_dict() for r in found],
                                 "max_attempts": opts.max_attempts})
        total = await run_in_threadpool(engine.store.count, **filters)
        models = await run_in_threadpool(engine.store.models)
        view = pages.RunsView(found, total, offset, limit, sorted(models))
        return html_response(pages.runs_page(view, q, opts.max_attempts))

    def find_run(request: Request) -> Run | None:
        run_id = request.path_params["run_id"]
        return engine.store.get(run_id) if is_run_id(run_id) else None

    async def run_page(request: Request) -> Response:
        run = await run_in_threadpool(find_run, request)
        if run is None:
            return error(request, "no such run; list runs at /runs", 404)
        if request.query_params.get("format") == "json":
            return JSONResponse({**run.to_dict(), "max_attempts": opts.max_attempts})
        token = jupyter_token(config)
        # "open in JupyterLab" only where a JupyterLab is known to serve the run store: the
        # stack's (it wrote its token) or one the configuration names; a user's own Prometheus
        # and launcher have none, and the derived default port would be a dead link
        known = token or not config.url_is_derived("jupyter_url")
        lab_url = config.jupyter_url if known else ""
        text = await run_in_threadpool(
            lambda: pages.run_page(run, engine.store.run_dir(run.run_id), lab_url,
                                   opts.max_attempts, jupyter_token=token,
                                   rerunnable=run.alertname in engine.registry))
        return html_response(text)

    async def run_notebook(request: Request) -> Response:
        run = await run_in_threadpool(find_run, request)
        path = engine.store.run_dir(run.run_id) / "output.ipynb" if run else None
        if run is None or path is None or not path.exists():
            return error(request, "no notebook for this run (yet); see /runs", 404)
        return FileResponse(path, media_type="application/x-ipynb+json",
                            filename=f"{run.alertname}-{run.run_id}.ipynb")

    async def healthz(request: Request) -> Response:
        counts = engine.counts()
        return JSONResponse({"status": "ok", "runbooks": len(engine.registry.names()),
                             "queued": counts.get("queued", 0),
                             "running": counts.get("running", 0),
                             "executing_here": engine.busy(),
                             "warm_kernels": engine.pool.ready()})

    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        data = await run_in_threadpool(generate_latest, engine.metrics)
        return Response(data, media_type=CONTENT_TYPE_LATEST)

    am_url = console.alertmanager_url(config, opts.alertmanager_url)
    sources = ThreadPoolExecutor(CONSOLE_THREADS, thread_name_prefix="console")
    reading: dict[str | None, asyncio.Future] = {}

    async def off_loop(fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the console's own threads, never the webhook's."""
        return await asyncio.get_running_loop().run_in_executor(sources, fn, *args)

    async def read_feed(model: str | None) -> console.AlertFeed:
        """The alerts of ``model`` (None: all); loads arriving while a read is under way wait
        for that read instead of starting another (each read is bounded by its deadline)."""
        pending = reading.get(model)
        if pending is None:
            pending = asyncio.ensure_future(off_loop(
                console.fetch_alerts, am_url, config.prometheus_url, opts.source_timeout, model))
            reading[model] = pending
            pending.add_done_callback(lambda _: reading.pop(model, None))
        return await asyncio.shield(pending)

    def console_view(feed: console.AlertFeed, nonce: str, notice: str, model: str | None) -> str:
        now = time.time()
        # each shown model's recent runs, read through the run store's model index
        matched = {}
        for group in console.group_by_model(feed.alerts)[:pages.MAX_GROUPS]:
            recent = engine.store.list(model_name=group.model_name or None, limit=200)
            for i, alert in group.alerts:
                run = console.match_run(alert, recent)
                if run is not None:
                    matched[i] = run
        declared = {a.alertname: frozenset(engine.registry.get(a.alertname).parameters)
                    for a in feed.alerts if a.alertname in engine.registry}
        resolved = engine.store.list(model_name=model, resolved=True, limit=20)
        known = set(engine.store.models()) | {a.model_name for a in feed.alerts if a.model_name}
        known |= {m.name for m in config.models}
        return pages.console_page(feed, matched, console.recently_resolved(resolved), declared,
                                  guard.csrf.token(nonce), guard.write_token is not None, now,
                                  notice, model_name=model, models=sorted(known),
                                  refresh_every=opts.console_refresh)

    def notice_of(request: Request) -> str:
        for key, words in (("silenced", "Silence {} created in Alertmanager."),
                           ("expired", "Silence {} expired in Alertmanager.")):
            value = request.query_params.get(key, "")
            if value and len(value) <= 64 and value.replace("-", "").isalnum():
                return words.format(value)
        return ""

    async def index(request: Request) -> Response:
        notice = notice_of(request)
        try:
            model = console.check_model_filter(request.query_params.get("model_name"))
        except RunbookError as exc:
            return refused(request, exc)
        nonce = csrf_nonce(request)
        feed = await read_feed(model)
        text = await off_loop(console_view, feed, nonce, notice, model)
        return with_csrf_cookie(html_response(text), nonce)

    async def silence_action(request: Request, act) -> Response:
        """A silence form's POST: checked, ``act(form)`` off the event loop, then back to the
        console (``act`` returns the redirect); refusals and Alertmanager's answers as pages."""
        try:
            return await act(await checked_form(request))
        except ClientGone:
            return gone(request)
        except console.SilenceError as exc:
            return html_response(pages.error_page(exc.status, str(exc)), exc.status)
        except RunbookError as exc:
            return refused(request, exc)

    async def silence_post(request: Request) -> Response:
        async def create(form) -> Response:
            wanted = console.silence_request(form, parse_duration)
            silence_id = await off_loop(console.create_silence, am_url, wanted, time.time(),
                                        opts.source_timeout)
            log.info("silence %s created by %r for %r", silence_id, wanted.author,
                     wanted.matchers.get("alertname"))
            return RedirectResponse(f"/?silenced={silence_id}", status_code=303)
        return await silence_action(request, create)

    async def silence_expire(request: Request) -> Response:
        silence_id = request.path_params["silence_id"]

        async def expire(form) -> Response:
            await off_loop(console.expire_silence, am_url, silence_id, opts.source_timeout)
            log.info("silence %s expired from the console", silence_id)
            return RedirectResponse(f"/?expired={silence_id}", status_code=303)
        return await silence_action(request, expire)

    @asynccontextmanager
    async def lifespan(app):
        await run_in_threadpool(engine.start)
        try:
            yield
        finally:
            sources.shutdown(wait=False, cancel_futures=True)
            await run_in_threadpool(engine.stop)

    app = Starlette(routes=[
        Route("/", reader(index)),
        Route("/silences", silence_post, methods=["POST"]),
        Route("/silences/{silence_id}/expire", silence_expire, methods=["POST"]),
        Route("/alertmanager", webhook, methods=["POST"]),
        Route("/runbook/{alertname}", reader(runbook_get), methods=["GET"]),
        Route("/runbook/{alertname}", runbook_post, methods=["POST"]),
        Route("/runs", reader(runs)),
        Route("/runs/{run_id}", reader(run_page)),
        Route("/runs/{run_id}/output.ipynb", reader(run_notebook)),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
    ], lifespan=lifespan)
    app.state.launcher = engine
    app.state.guard = guard
    return _HostCheck(app, guard)  # type: ignore[return-value]


class _HostCheck:
    """ASGI wrapper: every HTTP request's ``Host`` is checked before routing (DNS rebinding);
    ``.state`` is the wrapped app's, so callers reach the engine as before."""

    def __init__(self, app: Starlette, guard: Guard):
        self.app, self.guard = app, guard

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope.get("headers", [])}
            try:
                self.guard.check_host(headers)
            except RequestError as exc:
                await JSONResponse({"error": str(exc)}, status_code=exc.status,
                                   headers={"Connection": "close"})(scope, receive, send)
                return
        await self.app(scope, receive, send)


def serve(config: Config, port: int | None = None, host: str = "127.0.0.1",
          settings: LauncherSettings | None = None) -> None:
    """Run the launcher in the foreground (127.0.0.1 by default) until SIGINT/SIGTERM; at
    shutdown, requests in flight get 5 s and running runs ``settings.drain_timeout``."""
    import uvicorn
    opts = settings or LauncherSettings()
    port = port or config.stack.ports["launcher"]
    app = create_app(config, settings=opts, host=host, port=port)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5,
                **server_limits(opts))


def server_limits(opts: LauncherSettings) -> dict[str, Any]:
    """uvicorn options for the header, keep-alive and header-size limits of ``opts``."""
    return {"timeout_keep_alive": opts.keep_alive, "h11_max_incomplete_event_size": 16 << 10,
            "http": header_deadline_protocol(opts.header_timeout)}
