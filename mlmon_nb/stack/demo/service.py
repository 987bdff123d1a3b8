"""The demo model service: the sentiment classifier behind HTTP, instrumented with ModelMonitor.

Endpoints: ``POST /predict`` {"text", "channel"?, "request_id"?} → {"request_id", "label",
"confidence", "review"}; ``POST /feedback`` {"request_id", "true_label"} → {"matched"};
``GET /`` (a page listing these and the models served); ``GET /metrics``; ``GET /health``
(with ``models``: each served model and its path); ``POST /faults`` {"kind", "seconds",
"model_name"?} and ``GET /faults``. A demo fleet (``demo up --models N``) serves its other
models the same way under ``/models/<name>/predict`` and ``…/feedback``, each counted under
its own ``model_name`` in the one ``/metrics``.

A share of predictions is sampled for human review (``"review": true`` in the answer, and a line
in ``<state_dir>/reviews/<model>.jsonl``); the traffic generator plays the reviewer and posts
the true label of those to ``/feedback``. Bad requests get a 400 with one clear message.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import random
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from ...baseline import Baseline
from ...config import Config
from ...errors import BaselineError
from ...instrument import (
    GroundTruthSampler,
    JsonLinesSink,
    MetricsApp,
    MetricsMiddleware,
    ModelMonitor,
)
from ...instrument._asgi import ERROR_TYPE_STATE
from .faults import (
    BROKEN_FEATURE,
    DEFAULT_SECONDS,
    ERROR_SHARE,
    LATENCY_RANGE,
    SWAP_POOL,
    FaultState,
)
from .history import FEEDBACK_ENDPOINT, INJECTED_ERROR_TYPE, PREDICT_ENDPOINT
from .model import CHANNELS, CLASSES, MODEL_NAME, MODEL_VERSION, SentimentModel, is_fleet_name

__all__ = ["create_app", "serve", "app_from_env", "model_path", "REVIEW_RATE", "MAX_TEXT_CHARS"]

log = logging.getLogger(__name__)

REVIEW_RATE = 0.2
MAX_TEXT_CHARS = 10_000


def _load_baseline(config: Config, model: str) -> Baseline | None:
    path = config.baseline_path(model)
    if not path.exists():
        log.warning("no baseline at %s: running without one (build it with `mlmon-nb demo up`)",
                    path)
        return None
    try:
        return Baseline.load(path)
    except BaselineError as exc:
        log.error("%s; running without a baseline", exc)
        return None


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _json_object(request: Request) -> dict | JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return _bad_request("the body must be a JSON object")
    if not isinstance(body, dict):
        return _bad_request("the body must be a JSON object")
    return body


def _monitor(config: Config, name: str, baseline: Baseline | None, registry: CollectorRegistry,
             review_rate: float, review_path: str | Path | None, seed: int | None) -> ModelMonitor:
    """The monitor of one served model: its own ``model_name`` label in the shared registry,
    its own review sample file."""
    model_cfg = config.model(name)
    sink = JsonLinesSink(review_path or config.stack.state_dir / "reviews" / f"{name}.jsonl")
    return ModelMonitor(
        name, model_version=model_cfg.version or MODEL_VERSION, baseline=baseline,
        registry=registry, low_confidence_threshold=model_cfg.low_confidence_threshold,
        segments=CHANNELS, sampler=GroundTruthSampler(review_rate, sink, seed=seed),
        endpoints=(PREDICT_ENDPOINT,), error_types=(INJECTED_ERROR_TYPE,), classes=CLASSES)


def _model_app(monitor: ModelMonitor | None, model: SentimentModel, faults: FaultState,
               own: FaultState, rng: random.Random) -> Starlette:
    """``/predict`` and ``/feedback`` of one model, counted by its own monitor; ``faults`` hit
    every model, ``own`` this one."""

    def faulty(kind: str) -> bool:
        return faults.is_active(kind) or own.is_active(kind)

    pool: list[float] = []  # the last requests' word counts, for correlation-break

    def broken(features: dict) -> dict:
        """The features with ``word_count`` of a random one of the last requests (kept as they
        come, so its distribution stays the one traffic has)."""
        value = features[BROKEN_FEATURE]
        if len(pool) < SWAP_POOL:
            pool.append(value)
            return features
        i = rng.randrange(SWAP_POOL)
        pool[i], value = value, pool[i]
        return {**features, BROKEN_FEATURE: value}

    async def predict(request: Request) -> JSONResponse:
        body = await _json_object(request)
        if isinstance(body, JSONResponse):
            return body
        text, channel = body.get("text"), body.get("channel", "web")
        rid = body.get("request_id") or uuid.uuid4().hex
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
            return _bad_request(f"`text` must be a non-empty string of at most {MAX_TEXT_CHARS} "
                                f"characters")
        if not isinstance(channel, str) or not isinstance(rid, str) or len(rid) > 128:
            return _bad_request("`channel` must be a string and `request_id` a string of at most "
                                "128 characters")
        if faulty("latency"):
            await asyncio.sleep(rng.uniform(*LATENCY_RANGE))
        if faulty("errors") and rng.random() < ERROR_SHARE:
            setattr(request.state, ERROR_TYPE_STATE, INJECTED_ERROR_TYPE)
            return JSONResponse({"error": "injected fault (mlmon-nb demo inject errors)"},
                                status_code=500)
        pred = model.predict(text, channel)
        features = broken(pred.features) if faulty("correlation-break") else pred.features
        review = False
        if monitor is not None:
            review = monitor.record_prediction(pred.label, pred.confidence, features=features,
                                               request_id=rid, segment=channel,
                                               scores=pred.probabilities)
        return JSONResponse({"request_id": rid, "label": pred.label,
                             "confidence": pred.confidence, "review": review})

    async def feedback(request: Request) -> JSONResponse:
        body = await _json_object(request)
        if isinstance(body, JSONResponse):
            return body
        rid, label = body.get("request_id"), body.get("true_label")
        if not isinstance(rid, str) or label not in CLASSES:
            return _bad_request(f"`request_id` must be a string and `true_label` one of "
                                f"{', '.join(CLASSES)}")
        matched = monitor.record_feedback(rid, label) if monitor is not None else False
        return JSONResponse({"matched": matched})

    app = Starlette(routes=[Route(PREDICT_ENDPOINT, predict, methods=["POST"]),
                            Route(FEEDBACK_ENDPOINT, feedback, methods=["POST"])])
    if monitor is not None:
        app.add_middleware(MetricsMiddleware, monitor=monitor, exclude=())
    return app


def index_page(served: list[str], version: str) -> str:
    """The service's own page (``GET /``): what it serves and where, so the address `stack
    status` prints opens on something."""
    rows = "".join(
        f"<tr><td>{method}</td><td>{f'<a href={path!r}>{path}</a>' if method == 'GET' else path}"
        f"</td><td>{what}</td></tr>"
        for method, path, what in (
            ("GET", "/metrics", "Prometheus metrics of every model served"),
            ("GET", "/health", "status, version and the models served (JSON)"),
            ("GET", "/faults", "the faults injected now (JSON)"),
            ("POST", "/faults", 'inject one: {"kind", "seconds", "model_name"?}'),
            ("POST", f"&lt;model path&gt;{PREDICT_ENDPOINT}", 'a prediction: {"text", '
             '"channel"?, "request_id"?}'),
            ("POST", f"&lt;model path&gt;{FEEDBACK_ENDPOINT}",
             'a true label: {"request_id", "true_label"}')))
    models = "".join(f"<tr><td>{html.escape(name)}</td><td>{html.escape(model_path(name)) or '/'}"
                     f"</td></tr>" for name in served)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>mlmon-nb demo model service</title><style>body{font-family:sans-serif;"
        "max-width:60rem;margin:2rem auto;padding:0 1rem}td,th{text-align:left;padding:.2rem "
        "1rem .2rem 0}</style></head><body><h1>mlmon-nb demo model service</h1>"
        f"<p>Model version {html.escape(version)}; {len(served)} model"
        f"{'' if len(served) == 1 else 's'} served.</p>"
        f"<h2>Endpoints</h2><table><tr><th>method</th><th>path</th><th>what</th></tr>{rows}"
        f"</table><h2>Models</h2><table><tr><th>model</th><th>model path</th></tr>{models}"
        "</table></body></html>")


def model_path(name: str) -> str:
    """Where a fleet model's ``/predict`` and ``/feedback`` live: the demo model at the root,
    every other model of the fleet under ``/models/<name>``."""
    return "" if name == MODEL_NAME else f"/models/{name}"


def create_app(config: Config, *, baseline: Baseline | None = None,
               registry: CollectorRegistry | None = None, instrumented: bool = True,
               review_rate: float = REVIEW_RATE, review_path: str | Path | None = None,
               seed: int | None = None) -> Starlette:
    """The demo service as a Starlette app.

    It serves the demo model and every other model of the demo fleet the configuration lists
    (``sentiment_classifier_2`` …, written by ``demo up --models N``), each under
    :func:`model_path`, with its own monitor and baseline in one registry; a fault applies to
    all of them, or to the one its ``model_name`` names.
    ``baseline`` (the demo model's) defaults to the model's baseline file when it exists, as do
    the others'. ``registry`` defaults to a fresh one with the process and platform collectors
    (CPU, memory, open files: the resources pages read them). ``instrumented=False`` serves the
    same model without any monitoring (the HTTP benchmark's anchor).
    """
    model_cfg = config.model(MODEL_NAME)
    served = [MODEL_NAME] + [m.name for m in config.models
                             if is_fleet_name(m.name) and m.name != MODEL_NAME]
    if registry is None:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    model = SentimentModel()
    faults = FaultState()
    rng = random.Random(seed)
    monitors: dict[str, ModelMonitor | None] = {}
    for i, name in enumerate(served):
        if not instrumented:
            monitors[name] = None
            continue
        base = baseline if name == MODEL_NAME and baseline is not None \
            else _load_baseline(config, name)
        monitors[name] = _monitor(config, name, base, registry, review_rate,
                                  review_path if name == MODEL_NAME else None,
                                  None if seed is None else seed + i)
    monitor = monitors[MODEL_NAME]
    version = model_cfg.version or MODEL_VERSION

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model_name": MODEL_NAME,
                             "model_version": version,
                             "baseline_id": monitor.baseline_id if monitor else "none",
                             "instrumented": monitor is not None, "pid": os.getpid(),
                             "models": {name: model_path(name) for name in served}})

    own = {name: FaultState() for name in served}

    def faults_state() -> dict:
        now = faults.clock()

        def shown(state: FaultState) -> dict:
            return {k: {"until": t, "seconds_left": round(t - now, 3)}
                    for k, t in sorted(state.active().items())}
        by_model = {name: shown(state) for name, state in own.items() if state.active()}
        return {"active": shown(faults), **({"models": by_model} if by_model else {})}

    page = index_page(served, version)  # built once: what it lists does not change

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    async def get_faults(request: Request) -> JSONResponse:
        return JSONResponse(faults_state())

    async def post_faults(request: Request) -> JSONResponse:
        body = await _json_object(request)
        if isinstance(body, JSONResponse):
            return body
        name = body.get("model_name")
        if name is not None and name not in own:
            return _bad_request(f"`model_name` {str(name)[:80]!r} is not served here; one of "
                                f"{', '.join(served)}")
        kind = str(body.get("kind"))
        try:
            if name is None and kind == "clear":
                for state in own.values():
                    state.set("clear", 0)
            seconds = float(body.get("seconds", DEFAULT_SECONDS))
            (faults if name is None else own[name]).set(kind, seconds,
                                                        extend="seconds" not in body)
        except (TypeError, ValueError) as exc:
            return _bad_request(str(exc))
        log.warning("fault %s for %ss%s", kind, seconds, f" in {name}" if name else "")
        return JSONResponse(faults_state())

    routes: list[BaseRoute] = [
        Route("/", index, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/faults", get_faults, methods=["GET"]),
        Route("/faults", post_faults, methods=["POST"]),
        Route("/metrics", MetricsApp(registry), methods=["GET"]),
    ]
    apps = {name: _model_app(monitors[name], model, faults, own[name], rng) for name in served}
    routes += [Mount(model_path(name), app=apps[name]) for name in served if name != MODEL_NAME]
    routes.append(Mount("", app=apps[MODEL_NAME]))  # last: the demo model at the root
    app = Starlette(routes=routes)
    app.state.monitor = monitor
    app.state.monitors = monitors
    app.state.faults = faults
    app.state.registry = registry
    return app


def app_from_env() -> Starlette:
    """App factory for ``uvicorn --factory`` (multiple workers): the config at ``MLMON_CONFIG``."""
    from ...config import load_config
    return create_app(load_config(),
                      instrumented=os.environ.get("MLMON_DEMO_INSTRUMENTED", "1") != "0")


def serve(config: Config, port: int, *, instrumented: bool = True) -> None:
    """Serve the demo on ``config.stack.host:port`` until interrupted (blocking)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(config, instrumented=instrumented)
    uvicorn.run(app, host=config.stack.host, port=port, log_level="warning", access_log=False)
