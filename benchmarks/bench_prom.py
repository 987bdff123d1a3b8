"""Range result → DataFrame: mlmon_nb.prom against prometheus-api-client, in one run.

A canned /api/v1/query_range answer of 100 series x 10,000 points (the same bytes for everyone)
is turned into a DataFrame by ``mlmon_nb.prom.parse_response`` and by prometheus-api-client's
``MetricRangeDataFrame``; ``json.loads`` alone is the decode-only floor. Time is the best of a
few runs; memory is the tracemalloc peak of one run (measured separately, untimed). Goal: at
least 5x faster and 5x less memory than MetricRangeDataFrame.
"""

from __future__ import annotations

import gc
import json
import time
import tracemalloc

import numpy as np
from prometheus_api_client import MetricRangeDataFrame

from mlmon_nb.prom import parse_response

SERIES, POINTS = 100, 10_000


def canned_body(series: int = SERIES, points: int = POINTS, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    t0 = 1_700_000_000
    result = []
    for i in range(series):
        values = rng.gamma(2.0, 0.05, points)
        result.append({"metric": {"__name__": "ml_request_duration_seconds", "model_name": "m",
                                  "endpoint": f"/e{i % 5}", "instance": f"10.0.0.{i}:8000",
                                  "job": "mlmon-demo"},
                       "values": [[t0 + 15 * k, repr(float(v))] for k, v in enumerate(values)]})
    doc = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    return json.dumps(doc, separators=(",", ":")).encode()


def ours(body: bytes):
    return parse_response(body)


def anchor(body: bytes):
    return MetricRangeDataFrame(json.loads(body)["data"]["result"])


def decode_only(body: bytes):
    return json.loads(body)


def best_time(fn, body: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        result = fn(body)
        best = min(best, time.perf_counter() - t)
        del result
    return best


def peak_mib(fn, body: bytes) -> float:
    gc.collect()
    tracemalloc.start()
    result = fn(body)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return peak / 2**20


def main() -> None:
    body = canned_body()
    frame = ours(body)
    assert len(frame) == SERIES * POINTS, len(frame)
    print(f"response: {SERIES} series x {POINTS} points, {len(body) / 2**20:.1f} MiB of JSON")
    rows = {}
    for name, fn, repeat in (("mlmon_nb.prom", ours, 5), ("json.loads only", decode_only, 2),
                             ("MetricRangeDataFrame", anchor, 2)):
        rows[name] = (best_time(fn, body, repeat), peak_mib(fn, body))
    base_t, base_m = rows["MetricRangeDataFrame"]
    dec_t, _ = rows["json.loads only"]
    print(f"{'':22s} {'time s':>8s} {'peak MiB':>9s}")
    for name, (t, mem) in rows.items():
        print(f"{name:22s} {t:8.3f} {mem:9.1f}")
    t, mem = rows["mlmon_nb.prom"]
    print(f"speed-up vs MetricRangeDataFrame: {base_t / t:.1f}x (goal >= 5x)")
    print(f"memory vs MetricRangeDataFrame:   {base_m / mem:.1f}x less (goal >= 5x)")
    print(f"time vs json.loads alone:         {t / dec_t:.2f}x of the decode-only time")


if __name__ == "__main__":
    main()
