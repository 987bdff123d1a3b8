"""HTTP overhead of instrumentation: the demo service with and without ModelMonitor, same run.

Each variant runs as its own uvicorn process on a free loopback port; this process is the load
generator: an open-loop asyncio client sending ``POST /predict`` at a fixed rate (default
1000/s) over keep-alive connections for a bounded time (default 30 s per variant). Latency is
measured from each request's scheduled time, so a stalled server is not hidden (no coordinated
omission). Prints p50/p99 per variant and the ratio. Target (issue 3): p99 instrumented within
10% of the bare service.

    .venv/bin/python benchmarks/bench_http.py [--rate 1000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

from mlmon_nb.stack import free_port
from mlmon_nb.stack.demo.model import generate_texts

REPO = Path(__file__).resolve().parent.parent
SERVER = """
import sys, uvicorn
from mlmon_nb.config import load_config
from mlmon_nb.stack.demo.service import create_app
port, instrumented = int(sys.argv[1]), sys.argv[2] == "1"
app = create_app(load_config(), instrumented=instrumented, review_rate=0.0)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
"""


def start_server(instrumented: bool, state: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "MLMON_STATE_DIR": str(state),
           "MLMON_CONFIG": str(REPO / "stack" / "mlmon.yaml")}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), "1" if instrumented else "0"],
                            env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return proc, port
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the demo service did not start")


async def load(port: int, bodies: list[bytes], rate: float, seconds: float, conns: int) -> np.ndarray:
    n = int(rate * seconds)
    latencies = np.full(n, np.nan)
    next_i = 0
    t0 = time.perf_counter() + 0.2

    async def worker():
        nonlocal next_i
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while True:
            i = next_i
            if i >= n:
                break
            next_i += 1
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = bodies[i % len(bodies)]
            writer.write(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                         b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            latencies[i] = time.perf_counter() - due
        writer.close()

    await asyncio.gather(*(worker() for _ in range(conns)))
    return latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per variant")
    args = ap.parse_args()
    items = generate_texts(2000, np.random.default_rng(0))
    bodies = [json.dumps({"text": t.text, "channel": t.channel}).encode() for t in items]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        from mlmon_nb.stack.demo.model import MODEL_NAME, training_baseline
        training_baseline().save(Path(tmp) / "baselines" / f"{MODEL_NAME}.json")
        # alternate the variants in rounds so a noisy neighbour hits both alike
        per_round = args.seconds / args.rounds
        for _ in range(args.rounds):
            for name, instrumented in (("bare", False), ("instrumented", True)):
                proc, port = start_server(instrumented, Path(tmp))
                try:
                    asyncio.run(load(port, bodies[:200], args.rate, 1.0, args.connections))
                    lat = asyncio.run(load(port, bodies, args.rate, per_round, args.connections))
                finally:
                    proc.terminate()
                    proc.wait(timeout=10)
                results[name] = np.concatenate([results.get(name, np.empty(0)),
                                                lat[~np.isnan(lat)] * 1000])
    print(f"POST /predict at {args.rate:g}/s for {args.seconds:g}s per variant, "
          f"{args.connections} connections, latency from the scheduled time (ms)")
    for name, ms in results.items():
        print(f"{name:13} n={ms.size:6d}  p50={np.percentile(ms, 50):7.2f}  "
              f"p99={np.percentile(ms, 99):7.2f}  p99.9={np.percentile(ms, 99.9):8.2f}")
    ratio = np.percentile(results["instrumented"], 99) / np.percentile(results["bare"], 99)
    print(f"p99 ratio instrumented / bare: {ratio:.3f} (target <= 1.10: "
          f"{'met' if ratio <= 1.10 else 'NOT met'})")


if __name__ == "__main__":
    main()
