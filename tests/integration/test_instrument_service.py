"""A service instrumented as the README shows: the decorator and the middleware together count
each request once; wrong arguments and a missing multiprocess directory fail clearly (or not at
all); a baseline loads for serving without numpy or pandas."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mlmon_nb.baseline import Baseline
from mlmon_nb.config import load_config
from mlmon_nb.errors import BaselineError, InstrumentError
from mlmon_nb.instrument import MetricsMiddleware, ModelMonitor, load_baseline, mount_metrics
from mlmon_nb.metrics import UNMATCHED_ENDPOINT
from mlmon_nb.stack import free_port
from mlmon_nb.stack.demo.model import MODEL_NAME, training_baseline

REPO = Path(__file__).resolve().parents[2]


def samples(reg: CollectorRegistry, name: str) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value
            for f in text_string_to_metric_families(generate_latest(reg).decode())
            for s in f.samples if s.name == name}


def requests_by_endpoint(reg: CollectorRegistry) -> dict[str, float]:
    return {dict(k)["endpoint"]: v for k, v in samples(reg, "ml_requests_total").items()}


def errors_by_type(reg: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {(dict(k)["endpoint"], dict(k)["error_type"]): v
            for k, v in samples(reg, "ml_errors_total").items()}


class Boom(RuntimeError):
    pass


def service(reg: CollectorRegistry, other: ModelMonitor | None = None):
    """The README's pattern: a tracked predict function inside handlers, plus the middleware."""
    monitor = ModelMonitor("m", registry=reg)

    @monitor.track("predict")
    def predict(text: str) -> str:
        if text == "boom":
            raise Boom("no")
        return "positive"

    @monitor.track("predict")
    async def predict_async(text: str) -> str:
        return predict.__wrapped__(text)

    def sync_handler(request: Request) -> JSONResponse:  # Starlette runs it in its thread pool
        return JSONResponse({"label": predict(request.query_params.get("text", ""))})

    async def async_handler(request: Request) -> JSONResponse:
        with monitor.track("predict"):
            label = await predict_async(request.query_params.get("text", ""))
        if other is not None:
            with other.track("predict"):  # another model's monitor counts its own
                pass
        return JSONResponse({"label": label})

    async def handled(request: Request) -> JSONResponse:
        try:
            predict("boom")
        except Boom:
            return JSONResponse({"error": "boom"}, status_code=500)
        return JSONResponse({})

    app = Starlette(routes=[Route("/predict", sync_handler, methods=["POST"]),
                            Route("/predict_async/{kind}", async_handler, methods=["POST"]),
                            Route("/handled", handled, methods=["POST"])])
    app.add_middleware(MetricsMiddleware, monitor=monitor)
    mount_metrics(app, registry=reg)
    return app, monitor, predict


def call(app, requests_: list[tuple[str, str, dict | None]]) -> list[httpx.Response]:
    """Send requests through the whole ASGI app (middleware, router, thread pool) in order."""
    async def run():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.request(method, path, json=body)
                    for method, path, body in requests_]
    return asyncio.run(run())


def test_decorator_inside_the_middleware_counts_each_request_once():
    reg, other_reg = CollectorRegistry(), CollectorRegistry()
    other = ModelMonitor("other", registry=other_reg)
    app, _, predict = service(reg, other)
    answers = call(app, [("POST", "/predict?text=hi", None)] * 3
                   + [("POST", "/predict_async/x?text=hi", None)] * 2
                   + [("POST", "/predict?text=boom", None), ("POST", "/handled", None),
                      ("GET", "/metrics", None)])
    assert [a.status_code for a in answers] == [200] * 5 + [500, 500, 200]
    assert answers[0].json() == {"label": "positive"}
    assert requests_by_endpoint(reg) == {"/predict": 4, "/predict_async/{kind}": 2, "/handled": 1}
    # the error type the inner track saw names both an unhandled and a handled 5xx
    assert errors_by_type(reg) == {("/predict", "Boom"): 1, ("/handled", "Boom"): 1}
    assert requests_by_endpoint(other_reg) == {"predict": 2}
    # outside a request the decorator counts as before
    predict("hi")
    assert requests_by_endpoint(reg)["predict"] == 1
    assert samples(reg, "ml_requests_in_progress") == {(("model_name", "m"),): 0.0}


def test_paths_no_route_serves_are_one_endpoint_not_one_each():
    reg = CollectorRegistry()
    app, _, _ = service(reg)
    probes = ["/favicon.ico", "/wp-login.php", "/.env", "/predict/../../etc/passwd"]
    answers = call(app, [("GET", p, None) for p in probes] + [("POST", "/predict?text=hi", None),
                                                               ("GET", "/predict", None)])
    assert [a.status_code for a in answers] == [404] * 4 + [200, 405]
    # a matched route keeps its template whatever it answers (405 here, a handler's 404 too)
    assert requests_by_endpoint(reg) == {UNMATCHED_ENDPOINT: 4, "/predict": 2}
    assert errors_by_type(reg) == {}


def test_the_demo_service_counts_each_predict_once(tmp_path):
    from mlmon_nb.stack.demo.service import create_app
    reg = CollectorRegistry()
    config = load_config(REPO / "stack" / "mlmon.yaml").with_ports({}, state_dir=tmp_path)
    app = create_app(config, baseline=training_baseline(500), registry=reg)
    answers = call(app, [("POST", "/predict", {"text": f"great {i}"}) for i in range(5)])
    assert [a.status_code for a in answers] == [200] * 5
    assert requests_by_endpoint(reg) == {"/predict": 5}


def test_a_model_config_where_a_name_is_expected_is_refused_with_what_to_pass():
    model = load_config(REPO / "stack" / "mlmon.yaml").model(MODEL_NAME)
    with pytest.raises(InstrumentError, match=r"takes the model's name.*ModelMonitor\(model.name"):
        ModelMonitor(model, registry=CollectorRegistry())
    with pytest.raises(InstrumentError, match="model_version must be a string"):
        ModelMonitor("m", model_version=model, registry=CollectorRegistry())
    with pytest.raises(InstrumentError, match=r"baseline must be a loaded baseline.*load_baseline"):
        ModelMonitor("m", baseline="baselines/m.json", registry=CollectorRegistry())
    with pytest.raises(InstrumentError, match=r"segments=\['web'\]"):
        ModelMonitor("m", segments="web", registry=CollectorRegistry())


def test_load_baseline_reads_what_baseline_writes_without_numpy(tmp_path):
    base = training_baseline(800)
    path = base.save(tmp_path / "b.json")
    served = load_baseline(path)
    assert served.baseline_id == base.baseline_id == Baseline.load(path).baseline_id
    assert served.features == base.features
    reg_a, reg_b = CollectorRegistry(), CollectorRegistry()
    for reg, b in ((reg_a, base), (reg_b, served)):
        mon = ModelMonitor(MODEL_NAME, baseline=b, registry=reg)
        mon.record_prediction("positive", 0.9, features={"text_length": 40.0,
                                                          "sentiment_score": 0.3,
                                                          "channel": "web"})
    def exposed(reg):  # every sample but the creation timestamps
        return [line for line in generate_latest(reg).decode().splitlines()
                if "_created{" not in line]
    assert exposed(reg_a) == exposed(reg_b)
    code = (f"import sys; from mlmon_nb.instrument import load_baseline; "
            f"load_baseline({str(path)!r}); "
            f"print([m for m in ('numpy', 'pandas') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    doc = json.loads(path.read_text())
    doc["numeric"]["text_length"]["fractions"][0] += 0.01
    doc["numeric"]["text_length"]["fractions"][1] -= 0.01
    (tmp_path / "edited.json").write_text(json.dumps(doc))
    with pytest.raises(BaselineError, match="edited.json.*baseline_id"):
        load_baseline(tmp_path / "edited.json")
    with pytest.raises(BaselineError, match="missing.json.*mlmon-nb baseline build"):
        load_baseline(tmp_path / "missing.json")


MP_WORKER = """
from prometheus_client import generate_latest
from mlmon_nb.instrument import ModelMonitor, exposition_registry
mon = ModelMonitor("m")
with mon.track("predict"):
    mon.record_prediction("positive", 0.9, request_id="r1")
assert mon.record_feedback("r1", "positive")
print(generate_latest(exposition_registry()).decode())
"""


def test_a_missing_multiprocess_directory_is_created(tmp_path):
    mp_dir = tmp_path / "not" / "yet"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    out = subprocess.run([sys.executable, "-c", MP_WORKER], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'ml_requests_total{endpoint="predict"' in out.stdout
    assert any(mp_dir.glob("counter_*.db"))


def test_an_unusable_multiprocess_directory_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(blocker / "mp")}
    out = subprocess.run([sys.executable, "-c", MP_WORKER], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert "InstrumentError: PROMETHEUS_MULTIPROC_DIR=" in out.stderr
    assert "writable directory" in out.stderr


def test_uvicorn_workers_start_with_a_missing_multiprocess_directory(tmp_path):
    state = tmp_path / "state"
    training_baseline(500).save(state / "baselines" / f"{MODEL_NAME}.json")
    mp_dir = tmp_path / "mlmon-mp"  # not created: the README's one-liner used to loop here
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir), "MLMON_STATE_DIR": str(state),
           "MLMON_CONFIG": str(REPO / "stack" / "mlmon.yaml")}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory",
                             "mlmon_nb.stack.demo.service:app_from_env", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "2", "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "uvicorn workers did not start"
            time.sleep(0.2)
        for i in range(4):
            assert requests.post(f"{url}/predict", json={"text": f"fine {i}"}, timeout=5,
                                 headers={"Connection": "close"}).status_code == 200
        text = requests.get(f"{url}/metrics", timeout=5).text
        assert 'ml_requests_total{endpoint="/predict"' in text
    finally:
        proc.terminate()
        err = proc.communicate(timeout=30)[1].decode()
    assert "FileNotFoundError" not in err, err
