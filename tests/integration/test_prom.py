"""mlmon_nb.prom against the real fixture Prometheus, and faults a real one cannot produce."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
import requests

from mlmon_nb import Prometheus
from mlmon_nb.errors import (
    PrometheusError,
    PrometheusQueryError,
    PrometheusTimeout,
    PrometheusUnreachable,
    QueryArgumentError,
)
from mlmon_nb.prom import _parse_matrix_fast, _parse_result, to_timestamp, to_wide
from mlmon_nb.stack import free_port


@pytest.fixture(scope="module")
def prom(backend):
    """A client of each backend in turn (Prometheus, VictoriaMetrics) over the same history."""
    with Prometheus(backend.url, timeout=20) as client:
        yield client


def test_range_is_tidy_and_matches_instant_queries(prom, history):
    end = history.end - 600
    frame = prom.range('sum by (endpoint) (ml_requests_total{model_name="sentiment_classifier"})',
                       end - 3600, end, 60)
    assert list(frame.columns) == ["endpoint", "timestamp", "value"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["value"].dtype == np.float64
    assert frame.groupby("endpoint", observed=True).size().eq(61).all()
    last = frame[frame["timestamp"] == frame["timestamp"].max()]
    instant = prom.query('sum by (endpoint) (ml_requests_total{model_name="sentiment_classifier"})',
                         time=end)
    merged = last.merge(instant, on="endpoint", suffixes=("_range", "_instant"))
    assert len(merged) == len(instant) > 0
    assert np.allclose(merged["value_range"], merged["value_instant"])
    assert (instant["timestamp"] == pd.Timestamp(end, unit="s", tz="UTC")).all()


def test_client_reaches_the_rest_of_the_api_on_the_same_session(prom):
    """``prom.client`` (PrometheusConnect) shares the session: metadata calls work on it."""
    assert prom.client._session is prom._session
    assert "ml_requests_total" in prom.client.all_metrics()
    assert "sentiment_classifier" in prom.client.get_label_values("model_name")


def test_fast_parser_equals_json_on_real_bodies(backend, history):
    """The numpy fast path and json.loads agree on labels, times, NaN and ±Inf."""
    end = history.end - 600
    promql = ('label_replace(rate(ml_requests_total[5m]) / 0, "odd", "q\\"u,o[te]]", "", "") '
              'or label_replace(ml_requests_total * 0 / 0, "kind", "nan", "", "") '
              'or label_replace(ml_requests_total / 0.3, "kind", "third", "", "")')
    body = requests.post(f"{backend.url}/api/v1/query_range",
                         data={"query": promql, "start": end - 1800, "end": end, "step": 60.5},
                         timeout=20).content
    fast = _parse_matrix_fast(body)
    slow = _parse_result(json.loads(body)["data"])
    assert fast[0] == slow[0] and len(fast[0]) > 2
    assert any(m.get("odd") == 'q"u,o[te]]' for m in fast[0])
    for a, b in zip(fast[1], slow[1]):
        assert np.array_equal(a, b)
    values = np.concatenate(fast[2])
    assert np.isinf(values).any()
    # VictoriaMetrics drops NaN points from responses (documented); Prometheus returns them
    assert np.isnan(values).any() == (backend.name == "prometheus")
    for a, b in zip(fast[2], slow[2]):
        assert np.array_equal(a, b, equal_nan=True)


def test_long_ranges_are_chunked_and_joined_without_duplicates(backend, history):
    end, start = history.end - 60, history.end - 60 - 3 * 3600
    promql = 'ml_requests_in_progress{model_name="sentiment_classifier"} or vector(1)'
    whole = Prometheus(backend.url).range(promql, start, end, 15)
    chunked = Prometheus(backend.url, max_points=97).range(promql, start, end, 15)
    assert len(chunked) == len(whole) > 97
    assert not chunked.duplicated(["timestamp"] + [c for c in chunked.columns
                                                   if c not in ("timestamp", "value")]).any()
    key = [c for c in whole.columns if c != "value"]
    pd.testing.assert_frame_equal(whole.sort_values(key).reset_index(drop=True).astype({
        c: str for c in key if c != "timestamp"}),
        chunked.sort_values(key).reset_index(drop=True).astype({c: str for c in key if c != "timestamp"}))
    # more than 11,000 points per series in one go is refused by Prometheus; chunked it works
    long = Prometheus(backend.url).range("vector(1)", history.end - 2 * 86400, history.end, 10)
    assert len(long) == 2 * 8640 + 1 and long["timestamp"].is_unique


def test_points_per_series_limit_differs_by_backend(backend, history):
    """Unchunked, 17,281 points are refused by Prometheus (about 11,000 max) and served by
    VictoriaMetrics (-search.maxPointsPerTimeseries, 30,000 by default); 3x that by both."""
    from victoria_support import MAX_POINTS_PER_SERIES as VM_MAX

    def raw(points: int):
        end = history.end
        return requests.post(f"{backend.url}/api/v1/query_range", timeout=20, data={
            "query": "vector(1)", "start": end - (points - 1) * 10, "end": end, "step": 10})

    over = raw(3 * VM_MAX)
    assert over.status_code in (400, 422) and over.json()["status"] == "error"
    served = raw(2 * 8640 + 1)
    assert (served.status_code == 200) == (backend.name == "victoriametrics")
    if served.status_code == 200:
        assert len(served.json()["data"]["result"][0]["values"]) == 2 * 8640 + 1


def test_empty_result_has_the_columns(prom, history):
    frame = prom.range('ml_requests_total{model_name="no_such_model"}', history.end - 600,
                       history.end, 60)
    assert frame.empty and list(frame.columns) == ["timestamp", "value"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert to_wide(frame).empty
    assert prom.query('absent_over_time(up[1m]) and on() vector(0) == 1').empty


def test_wide_form_one_column_per_series(prom, history):
    wide = prom.wide('sum by (predicted_class) (rate(ml_predictions_total[5m]))',
                     history.end - 3600, history.end - 60, 300)
    assert sorted(wide.columns) == ["negative", "neutral", "positive"]
    assert wide.index.is_monotonic_increasing and str(wide.index.tz) == "UTC"


def test_bad_promql_raises_the_servers_message(prom, backend):
    from victoria_support import PARSE_ERROR as VM_PARSE_ERROR

    said = "parse error" if backend.name == "prometheus" else VM_PARSE_ERROR
    with pytest.raises(PrometheusQueryError, match=said) as info:
        prom.query("sum(rate(ml_requests_total[5m])")
    assert info.value.query == "sum(rate(ml_requests_total[5m])"
    with pytest.raises(PrometheusQueryError, match=said):
        prom.range("rate(", "now-1h", "now", 60)


def test_unreachable_names_the_url_and_the_fix():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PrometheusUnreachable, match="mlmon-nb stack up") as info:
        Prometheus(url, timeout=3, retries=1, backoff=0.01).query("up")
    assert url in str(info.value)


class _Fault(BaseHTTPRequestHandler):
    """Faults a real Prometheus does not produce on demand: stalls, drips, transient 503s."""

    mode = "stall"
    release = threading.Event()
    failures = 0
    seen = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        cls = type(self)
        cls.seen += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if cls.mode == "stall":
            cls.release.wait(30)
            return
        if cls.mode == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            for _ in range(300):
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
                if cls.release.wait(0.1):
                    return
            return
        if cls.seen <= cls.failures:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"overloaded")
            return
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"job": "x"}, "value": [1700000000.5, "42"]}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fault_server():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Fault)
    server.daemon_threads = True
    server.block_on_close = False
    _Fault.release.clear()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Fault.seen = 0
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    _Fault.release.set()
    server.shutdown()
    server.server_close()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("mode", ["stall", "drip"])
def test_a_stalled_or_dripping_server_times_out(fault_server, mode):
    _Fault.mode = mode
    _, url = fault_server
    with pytest.raises(PrometheusTimeout, match="did not answer within 1s"):
        Prometheus(url, timeout=1, retries=0).query("up")


def test_transient_failures_are_retried_with_backoff(fault_server):
    _, url = fault_server
    _Fault.mode, _Fault.failures = "flaky", 2
    frame = Prometheus(url, retries=2, backoff=0.01).query("up")
    assert _Fault.seen == 3 and frame["value"].tolist() == [42.0]
    assert frame["timestamp"].iloc[0] == pd.Timestamp(1700000000.5, unit="s", tz="UTC")
    _Fault.seen = 0
    with pytest.raises(PrometheusError, match="HTTP 503: overloaded"):
        Prometheus(url, retries=1, backoff=0.01).query("up")
    assert _Fault.seen == 2


def test_not_a_prometheus(fault_server):
    with pytest.raises(ValueError, match="http://"):
        Prometheus("127.0.0.1:9090")
    with socket.socket() as s:  # a port that is bound but not listening refuses connections
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(PrometheusUnreachable):
            Prometheus(url, timeout=2, retries=0).query("up")


@pytest.mark.parametrize("value, expected", [
    (1700000000, "2023-11-14T22:13:20+00:00"),
    (1700000000.5, "2023-11-14T22:13:20.500000+00:00"),
    ("2023-11-14T22:13:20Z", "2023-11-14T22:13:20+00:00"),
    ("2023-11-14T23:13:20+01:00", "2023-11-14T22:13:20+00:00"),
    (pd.Timestamp("2023-11-14 22:13:20"), "2023-11-14T22:13:20+00:00"),
    ("now-6h", "2023-11-14T16:13:20+00:00"),
    ("now", "2023-11-14T22:13:20+00:00"),
    ("now+90s", "2023-11-14T22:14:50+00:00"),
])
def test_time_arguments(value, expected):
    now = pd.Timestamp("2023-11-14T22:13:20Z")
    assert to_timestamp(value, now).isoformat() == expected


@pytest.mark.parametrize("bad", ["yesterday-ish", "now-6x", None, True, float("nan")])
def test_bad_time_arguments(bad):
    with pytest.raises(ValueError, match="time"):
        to_timestamp(bad)


def test_a_fractional_timeout_reaches_either_backend(backend, history):
    """A timeout of 2.5 s is no Prometheus duration as "2.5s"; the client sends milliseconds."""
    with Prometheus(backend.url, timeout=2.5) as client:
        assert client.scalar("vector(1)") == 1.0


def test_a_range_of_too_many_points_says_which_step_would_do(prom):
    with pytest.raises(QueryArgumentError, match=r"raise the step to at least \d+s"):
        prom.range("up", "now-3650d", "now", "1s")


@pytest.mark.parametrize("args, said", [
    (["--start", "now", "--end", "now-1h"], "is before start"),
    (["--start", "yesterday"], "is not a time"),
    (["--start", "now-1h", "--step", "0s"], "step must be a positive duration"),
    (["--start", "now-1h", "--step", "fast"], "is not a duration"),
    (["--timeout", "0"], "timeout must be positive"),
])
def test_the_cli_says_a_bad_query_argument_in_one_line(prom, args, said):
    run = subprocess.run([sys.executable, "-m", "mlmon_nb.cli", "query", "up", "--url", prom.url,
                          *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.startswith("mlmon-nb: ") and said in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
