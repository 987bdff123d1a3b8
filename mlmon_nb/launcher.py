"""The runbook launcher: alert links, the Alertmanager webhook, run history and run pages.

``create_app(config)`` returns a Starlette app; ``serve(config, port)`` runs it with uvicorn on
127.0.0.1. Routes:

- ``GET /runbook/<AlertName>?<labels>``: the latest matching run (within the dedupe window), else
  a launch form pre-filled from the link. A GET never executes (chat previews fetch links).
- ``POST /runbook/<AlertName>``: execute (form with CSRF token, or a bearer token).
- ``POST /alertmanager``: Alertmanager webhook v4; each firing alert's runbook runs once per
  fingerprint and startsAt; resolved alerts mark their run.
- ``GET /runs`` (filters ``model_name``, ``alertname``, ``status``; ``?format=json``),
  ``GET /runs/<id>``, ``GET /runs/<id>/output.ipynb``, ``GET /healthz``, ``GET /metrics``.

Accepted runs are committed to the SQLite queue before the answer, and executed by a bounded
pool of worker threads, each on a warm kernel when one is ready (``mlmon_nb.runbooks``).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .config import Config
from .errors import ParameterError, RunbookError
from .runbooks import (RESERVED_PARAMETERS, KernelPool, Registry, execute_run, kernel_env,
                       sanitize_html, server_defaults, validate_parameters)
from .runstore import FINAL_STATUSES, RUN_STATUSES, Run, RunStore, is_run_id

__all__ = ["LauncherSettings", "Launcher", "create_app", "serve", "WEBHOOK_VERSION"]

WEBHOOK_VERSION = "4"
CSRF_COOKIE = "mlmon_csrf"
_CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@dataclass(frozen=True)
class LauncherSettings:
    """How the launcher executes and what it accepts."""

    workers: int = 2                 # runs executing at once
    warm_kernels: int = 2            # kernels kept started and ready
    run_timeout: float = 600.0       # seconds per run before its kernel is killed
    dedupe_window: float = 6 * 3600  # a link shows a run at most this old instead of a form
    token: str | None = None         # bearer token for POSTs (also $MLMON_LAUNCHER_TOKEN[_FILE])
    max_body_bytes: int = 1 << 20    # webhook bodies
    max_form_bytes: int = 64 << 10   # form bodies
    max_alerts: int = 1000           # alerts per webhook notification

    def resolved_token(self) -> str | None:
        """The bearer token: the setting, else ``$MLMON_LAUNCHER_TOKEN``, else the file named
        by ``$MLMON_LAUNCHER_TOKEN_FILE`` (what Alertmanager's ``credentials_file`` reads)."""
        if self.token:
            return self.token
        if os.environ.get("MLMON_LAUNCHER_TOKEN"):
            return os.environ["MLMON_LAUNCHER_TOKEN"]
        path = os.environ.get("MLMON_LAUNCHER_TOKEN_FILE")
        if path:
            return Path(path).read_text().strip() or None
        return None


class RequestError(RunbookError):
    """A request the launcher refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        self.status = status
        super().__init__(message)


# -- the engine ---------------------------------------------------------------------------------


class Launcher:
    """The run store, the registry, the kernel pool and the workers, without HTTP."""

    def __init__(self, config: Config, settings: LauncherSettings | None = None,
                 registry: Registry | None = None):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.config = config
        self.settings = settings or LauncherSettings()
        self.registry = registry or Registry()
        self.store = RunStore(config.stack.state_dir / "runs")
        self.pool = KernelPool(self.settings.warm_kernels, cwd=self.store.root,
                               env=kernel_env(config))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.metrics = CollectorRegistry()
        self.runs_total = Counter("mlmon_launcher_runs", "Runs finished, by alert and status.",
                                  ["alertname", "status"], registry=self.metrics)
        self.run_seconds = Histogram("mlmon_launcher_run_duration_seconds",
                                     "Run duration from start to finish.", ["alertname"],
                                     buckets=(0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 120, 300, 600),
                                     registry=self.metrics)
        self.wait_seconds = Histogram("mlmon_launcher_queue_wait_seconds",
                                      "Seconds from acceptance to start.",
                                      buckets=(0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
                                      registry=self.metrics)
        self.webhooks_total = Counter("mlmon_launcher_webhooks", "Webhook notifications, by outcome.",
                                      ["outcome"], registry=self.metrics)
        self.accepted_total = Counter("mlmon_launcher_runs_accepted", "Runs queued, by source.",
                                      ["source"], registry=self.metrics)
        depth = Gauge("mlmon_launcher_queue_depth", "Runs waiting to execute.",
                      registry=self.metrics)
        depth.set_function(lambda: self.store.counts().get("queued", 0))
        warm = Gauge("mlmon_launcher_warm_kernels", "Kernels started and ready.",
                     registry=self.metrics)
        warm.set_function(lambda: self.pool.ready())

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Requeue runs a dead process left running, start the pool and the workers."""
        self.store.requeue_interrupted()
        self.pool.start()
        for i in range(max(1, self.settings.workers)):
            thread = threading.Thread(target=self._work, name=f"mlmon-runner-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._wake.set()

    def stop(self) -> None:
        """Stop taking runs, wait for the running ones, shut the kernels down."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=self.settings.run_timeout + 30)
        self.pool.shutdown()

    def _work(self) -> None:
        while not self._stop.is_set():
            run = self.store.claim_next()
            if run is None:
                self._wake.wait(timeout=0.5)
                self._wake.clear()
                continue
            self.wait_seconds.observe(max(0.0, (run.started or time.time()) - run.created))
            try:
                outcome = execute_run(self.store, self.registry, self.config, run,
                                      kernel=self.pool.acquire(),
                                      timeout=self.settings.run_timeout)
                status, duration = outcome.status, outcome.duration
            except Exception as exc:  # never lose a worker; record and go on
                self.store.finish(run.run_id, "failed", error=f"{type(exc).__name__}: {exc}")
                status, duration = "failed", 0.0
            self.runs_total.labels(run.alertname, status).inc()
            self.run_seconds.labels(run.alertname).observe(duration)

    # -- accepting work -------------------------------------------------------------------------

    def submit(self, alertname: str, raw: dict[str, Any], *, source: str,
               dedupe_key: str | None = None, ignore_undeclared: bool = False) -> tuple[Run, bool]:
        """Validate and queue one run (RunbookError/ParameterError when refused)."""
        runbook = self.registry.get(alertname)
        params = validate_parameters(runbook, raw, untrusted=True,
                                     ignore_undeclared=ignore_undeclared)
        return self._queue(runbook, params, source, dedupe_key)

    def _queue(self, runbook, params, source, dedupe_key) -> tuple[Run, bool]:
        run, created = self.store.submit(runbook.alertname,
                                         server_defaults(runbook, self.config, params),
                                         source=source, dedupe_key=dedupe_key)
        if created:
            self.accepted_total.labels(source).inc()
            self._wake.set()
        return run, created

    def accept_webhook(self, payload: Any) -> dict[str, Any]:
        """Queue the runbook of each firing alert once; mark resolved ones. All-or-nothing:
        one invalid alert refuses the whole notification and queues nothing."""
        alerts = _webhook_alerts(payload, self.settings.max_alerts)
        planned, resolved, skipped = [], [], []
        for alert in alerts:
            labels = alert["labels"]
            name = labels.get("alertname", "")
            key = _dedupe_key(alert)
            if alert["status"] == "resolved":
                resolved.append((key, str(alert.get("endsAt", ""))))
                continue
            if name not in self.registry:
                skipped.append(name)
                continue
            runbook = self.registry.get(name)
            raw = {**labels, "starts_at": alert["startsAt"], "alertname": name}
            params = validate_parameters(runbook, raw, untrusted=True, ignore_undeclared=True)
            planned.append((runbook, params, key))
        if not planned and not resolved:
            raise RequestError(f"no alert in this notification has a runbook (alerts: "
                               f"{', '.join(sorted(set(skipped)))[:200]}); runbooks exist for: "
                               f"{', '.join(self.registry.names())}", 422)
        runs = []
        for runbook, params, key in planned:
            run, created = self._queue(runbook, params, "webhook", key)
            runs.append({"run_id": run.run_id, "alertname": run.alertname, "created": created})
        marked = sum(self.store.mark_resolved(key, ends) for key, ends in resolved)
        return {"runs": runs, "resolved": marked, "skipped": skipped}


def _webhook_alerts(payload: Any, limit: int) -> list[dict]:
    if not isinstance(payload, dict):
        raise RequestError("the body must be an Alertmanager webhook JSON object")
    if str(payload.get("version")) != WEBHOOK_VERSION:
        raise RequestError(f"webhook payload version {payload.get('version')!r} is not supported; "
                           f"Alertmanager sends version {WEBHOOK_VERSION}")
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
    return alerts


def _dedupe_key(alert: dict) -> str:
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        fingerprint = hashlib.sha256(json.dumps(alert["labels"], sort_keys=True).encode()).hexdigest()[:16]
    return f"{fingerprint}|{alert['startsAt']}"


# -- HTML -----------------------------------------------------------------------------------------

_E = html.escape
_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left;font-size:.9rem}.status{font-weight:600}.done{color:#2a7a2a}.failed,.timeout,
.dead_kernel{color:#b02020}.queued,.running{color:#a06000}nav a{margin-right:1rem}
.nb{border-top:2px solid #eee;margin-top:1rem;padding-top:1rem}pre{background:#f6f6f6;
padding:.5rem;overflow-x:auto}.verdict{background:#f4f8ff;padding:.5rem;border-left:4px solid #4a7}
input{min-width:24rem}"""


def _page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="2">' if refresh else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'>{meta}<title>{_E(title)}</title>"
            f"<style>{_STYLE}</style></head><body><nav><a href='/runs'>runs</a>"
            f"<a href='/healthz'>health</a></nav>{body}</body></html>")


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else ""


def _run_rows(runs: list[Run]) -> str:
    rows = "".join(
        f"<tr><td><a href='/runs/{r.run_id}'>{r.run_id}</a></td><td>{_E(r.alertname)}</td>"
        f"<td>{_E(r.model_name)}</td><td class='status {r.status}'>{r.status}</td>"
        f"<td>{'' if r.duration is None else f'{r.duration:.1f}s'}</td><td>{_E(r.source)}</td>"
        f"<td>{_fmt_time(r.created)}</td><td>{_E(r.verdict[:160])}</td></tr>" for r in runs)
    return ("<table><tr><th>run</th><th>alert</th><th>model</th><th>status</th><th>duration</th>"
            f"<th>source</th><th>created</th><th>verdict</th></tr>{rows}</table>")


def _run_page(launcher: Launcher, run: Run) -> str:
    cfg = launcher.config
    params = "".join(f"<tr><th>{_E(k)}</th><td>{_E(str(v))}</td></tr>"
                     for k, v in sorted(run.params.items()))
    lab = f"{cfg.jupyter_url}/lab/tree/runs/{run.run_id}/output.ipynb"
    out = launcher.store.run_dir(run.run_id) / "output.html"
    notebook = sanitize_html(out.read_text()) if out.exists() and run.status in FINAL_STATUSES \
        else "<p>The notebook is being executed; this page refreshes itself.</p>"
    duration = "" if run.duration is None else f"{run.duration:.1f}s"
    body = (f"<h1>{_E(run.alertname)} · {_E(run.model_name)}</h1>"
            f"<p>Run <code>{run.run_id}</code> — status <span class='status {run.status}'>"
            f"{run.status}</span> {duration} · {_E(run.source)} · created {_fmt_time(run.created)}"
            + (f" · alert resolved {_E(run.resolved_at)}" if run.resolved_at else "") + "</p>"
            + (f"<p class='verdict'>{_E(run.verdict)}</p>" if run.verdict else "")
            + (f"<p class='failed'>{_E(run.error)}</p>" if run.error else "")
            + f"<p><a href='/runs/{run.run_id}/output.ipynb' download>download .ipynb</a> · "
              f"<a href='{_E(lab)}'>open in JupyterLab</a> · "
              f"<a href='/runbook/{_E(run.alertname)}?"
              f"{_E(urlencode({k: v for k, v in run.params.items() if k not in RESERVED_PARAMETERS}))}"
              f"&amp;rerun=1'>run again</a></p>"
            f"<details><summary>parameters</summary><table>{params}</table></details>"
            f"<div class='nb'>{notebook}</div>")
    return _page(f"{run.alertname} {run.run_id}", body,
                 refresh=run.status not in FINAL_STATUSES)


def _form_page(alertname: str, runbook, values: dict[str, Any], csrf: str,
               token_needed: bool) -> str:
    fields = "".join(
        f"<tr><th><label for='p-{_E(n)}'>{_E(n)}</label></th><td><input id='p-{_E(n)}' "
        f"name='{_E(n)}' value='{_E(str(values.get(n, '')))}'></td>"
        f"<td>{_E(p.help)}</td></tr>"
        for n, p in sorted(runbook.parameters.items()) if n not in RESERVED_PARAMETERS)
    token = ("<tr><th>token</th><td><input type='password' name='access_token'></td>"
             "<td>the launcher's bearer token</td></tr>") if token_needed else ""
    body = (f"<h1>Run the {_E(alertname)} runbook</h1><p>No run of this alert with these "
            f"parameters yet. Check them and run:</p>"
            f"<form method='post' action='/runbook/{_E(alertname)}'>"
            f"<input type='hidden' name='csrf_token' value='{_E(csrf)}'>"
            f"<table>{fields}{token}</table><button type='submit'>Run</button></form>")
    return _page(f"run {alertname}", body)


# -- the app ------------------------------------------------------------------------------------


def create_app(config: Config, *, settings: LauncherSettings | None = None,
               registry: Registry | None = None, launcher: Launcher | None = None):
    """The launcher's Starlette app; workers start and stop with the app's lifespan."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import (FileResponse, HTMLResponse, JSONResponse, RedirectResponse,
                                     Response)
    from starlette.routing import Route

    engine = launcher or Launcher(config, settings, registry)
    opts = engine.settings
    token = opts.resolved_token()

    def html_response(text: str, status: int = 200, **kw) -> HTMLResponse:
        resp = HTMLResponse(text, status_code=status, **kw)
        resp.headers["Content-Security-Policy"] = _CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp

    def error(request: Request, message: str, status: int) -> Response:
        if "text/html" in request.headers.get("accept", "") and request.method == "GET":
            return html_response(_page("error", f"<h1>{status}</h1><p>{_E(message)}</p>"), status)
        return JSONResponse({"error": message}, status_code=status)

    def refused(request: Request, exc: RunbookError) -> Response:
        """4xx for a refused request: its own status, 400 for a bad parameter, 404 for an
        unknown runbook."""
        status = exc.status if isinstance(exc, RequestError) else \
            400 if isinstance(exc, ParameterError) else 404
        return error(request, str(exc), status)

    async def body(request: Request, limit: int) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise RequestError(f"the body is larger than {limit} bytes", 413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(f"the body is larger than {limit} bytes", 413)
            chunks.append(chunk)
        return b"".join(chunks)

    def bearer_ok(request: Request) -> bool:
        if token is None:
            return True
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and hmac.compare_digest(
            header[7:].strip().encode(), token.encode())

    async def webhook(request: Request) -> Response:
        try:
            if not bearer_ok(request):
                raise RequestError("missing or wrong bearer token (Alertmanager: set "
                                   "http_config.authorization.credentials_file)", 401)
            raw = await body(request, opts.max_body_bytes)
            try:
                payload = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise RequestError("the body is not JSON; Alertmanager sends a JSON webhook") from None
            result = await run_in_threadpool(engine.accept_webhook, payload)
        except RequestError as exc:
            engine.webhooks_total.labels("refused").inc()
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except RunbookError as exc:  # ParameterError included: a label failed its check
            engine.webhooks_total.labels("refused").inc()
            return JSONResponse({"error": str(exc)}, status_code=400)
        engine.webhooks_total.labels("accepted").inc()
        return JSONResponse(result, status_code=200)

    def query_params(request: Request) -> dict[str, str]:
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
        names = [k for k, _ in pairs]
        if len(names) != len(set(names)):
            raise RequestError("a parameter is given twice; give each once")
        return dict(pairs)

    async def runbook_get(request: Request) -> Response:
        alertname = request.path_params["alertname"]
        try:
            runbook = engine.registry.get(alertname)
            raw = query_params(request)
            rerun = raw.pop("rerun", "") == "1"
            params = validate_parameters(runbook, raw, untrusted=True)
        except RunbookError as exc:
            return refused(request, exc)
        if not rerun:
            run = engine.store.latest_matching(alertname, params,
                                               time.time() - opts.dedupe_window)
            if run is not None:
                return RedirectResponse(f"/runs/{run.run_id}", status_code=303)
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        resp = html_response(_form_page(alertname, runbook, params, csrf, token is not None))
        resp.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/runbook")
        return resp

    async def runbook_post(request: Request) -> Response:
        alertname = request.path_params["alertname"]
        try:
            if alertname not in engine.registry:
                engine.registry.get(alertname)  # raises with the known names
            raw = await body(request, opts.max_form_bytes)
            ctype = request.headers.get("content-type", "").split(";")[0].strip()
            if ctype != "application/x-www-form-urlencoded":
                raise RequestError("send the form as application/x-www-form-urlencoded", 415)
            try:
                pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
            except UnicodeDecodeError:
                raise RequestError("the form is not UTF-8") from None
            form = dict(pairs)
            if len(form) != len(pairs):
                raise RequestError("a parameter is given twice; give each once")
            csrf, access = form.pop("csrf_token", ""), form.pop("access_token", "")
            if token is not None and not (bearer_ok(request) or hmac.compare_digest(
                    access.encode(), token.encode())):
                raise RequestError("missing or wrong token", 401)
            cookie = request.cookies.get(CSRF_COOKIE, "")
            via_bearer = token is not None and bearer_ok(request)
            if not via_bearer and not (cookie and csrf and hmac.compare_digest(
                    cookie.encode(), csrf.encode())):
                raise RequestError("the form's CSRF token is missing or stale; reload the runbook "
                                   "link and submit again", 403)
            raw_params = {k: v for k, v in form.items() if v != ""}
            run, _ = await run_in_threadpool(engine.submit, alertname, raw_params, source="link")
        except RunbookError as exc:
            return refused(request, exc)
        return RedirectResponse(f"/runs/{run.run_id}", status_code=303)

    async def runs(request: Request) -> Response:
        q = request.query_params
        status = q.get("status") or None
        if status and status not in RUN_STATUSES:
            return error(request, f"status must be one of {', '.join(RUN_STATUSES)}", 400)
        try:
            limit = min(max(int(q.get("limit", "200")), 1), 1000)
        except ValueError:
            return error(request, "limit must be a number", 400)
        found = await run_in_threadpool(engine.store.list, model_name=q.get("model_name") or None,
                                        alertname=q.get("alertname") or None, status=status,
                                        limit=limit)
        if q.get("format") == "json" or "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"runs": [r.to_dict() for r in found]})
        filters = "".join(
            f"<label>{name} <input name='{name}' value='{_E(q.get(name, ''))}'></label> "
            for name in ("model_name", "alertname", "status"))
        return html_response(_page("runs", f"<h1>Runbook runs</h1><form method='get'>{filters}"
                                           f"<button>filter</button></form>{_run_rows(found)}"))

    def find_run(request: Request) -> Run | None:
        run_id = request.path_params["run_id"]
        return engine.store.get(run_id) if is_run_id(run_id) else None

    async def run_page(request: Request) -> Response:
        run = await run_in_threadpool(find_run, request)
        if run is None:
            return error(request, "no such run; list runs at /runs", 404)
        if request.query_params.get("format") == "json":
            return JSONResponse(run.to_dict())
        return html_response(await run_in_threadpool(_run_page, engine, run))

    async def run_notebook(request: Request) -> Response:
        run = await run_in_threadpool(find_run, request)
        path = engine.store.run_dir(run.run_id) / "output.ipynb" if run else None
        if path is None or not path.exists():
            return error(request, "no notebook for this run (yet); see /runs", 404)
        return FileResponse(path, media_type="application/x-ipynb+json",
                            filename=f"{run.alertname}-{run.run_id}.ipynb")

    async def healthz(request: Request) -> Response:
        counts = await run_in_threadpool(engine.store.counts)
        return JSONResponse({"status": "ok", "runbooks": len(engine.registry.names()),
                             "queued": counts.get("queued", 0),
                             "running": counts.get("running", 0),
                             "warm_kernels": engine.pool.ready()})

    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        data = await run_in_threadpool(generate_latest, engine.metrics)
        return Response(data, media_type=CONTENT_TYPE_LATEST)

    async def index(request: Request) -> Response:
        return RedirectResponse("/runs", status_code=303)

    @asynccontextmanager
    async def lifespan(app):
        await run_in_threadpool(engine.start)
        try:
            yield
        finally:
            await run_in_threadpool(engine.stop)

    app = Starlette(routes=[
        Route("/", index),
        Route("/alertmanager", webhook, methods=["POST"]),
        Route("/runbook/{alertname}", runbook_get, methods=["GET"]),
        Route("/runbook/{alertname}", runbook_post, methods=["POST"]),
        Route("/runs", runs),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/output.ipynb", run_notebook),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
    ], lifespan=lifespan)
    app.state.launcher = engine
    return app


def serve(config: Config, port: int | None = None, host: str = "127.0.0.1",
          settings: LauncherSettings | None = None) -> None:
    """Run the launcher in the foreground (127.0.0.1 by default) until interrupted."""
    import uvicorn
    app = create_app(config, settings=settings)
    uvicorn.run(app, host=host, port=port or config.stack.ports["launcher"], log_level="warning",
                timeout_graceful_shutdown=5)
