"""VictoriaMetrics as a second, Prometheus-compatible backend for the suite.

A real ``victoria-metrics`` (Debian package ``victoria-metrics``; ``make system-deps`` installs
it) on a free loopback port with a temporary storage dir, fed the same synthetic history as the
fixture Prometheus through ``/api/v1/import/prometheus``. That endpoint reads Prometheus
exposition text whose optional timestamps are in *milliseconds*; the history is OpenMetrics with
timestamps in seconds, so :func:`to_import_text` converts it.

Flags: ``-search.disableCache`` because the data is backfilled into the past (VictoriaMetrics'
documented advice for backfilling), ``-search.latencyOffset=0s`` so the last points (end ≈ now)
are visible at once, a long retention so nothing of the history is dropped, and the stack's query
limits (``vm_search_flags``: a query length above the inlined recording rules of
``tests/integration/test_grafana.py``, and room for a fleet's drift rules, which select every
feature bucket at once and may read for the drift group's interval).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import requests

from mlmon_nb.stack import _terminate, free_port
from mlmon_nb.stack.backends import vm_search_flags

BINARY_ENV = "MLMON_VICTORIAMETRICS_BIN"
# What VictoriaMetrics does differently from Prometheus, as documented by VictoriaMetrics
# (https://docs.victoriametrics.com/MetricsQL.html, https://docs.victoriametrics.com/#prometheus-querying-api-usage)
MAX_POINTS_PER_SERIES = 30_000  # -search.maxPointsPerTimeseries default; Prometheus: 11,000
PARSE_ERROR = "unexpected token"  # Prometheus says "parse error"


def to_import_text(openmetrics: str) -> bytes:
    """OpenMetrics sample lines with timestamps in seconds → exposition text with milliseconds.

    Comment lines (``# TYPE``, ``# EOF``) are dropped: the import endpoint needs only samples.
    """
    out = []
    for line in openmetrics.splitlines():
        if not line or line.startswith("#"):
            continue
        head, seconds = line.rsplit(" ", 1)
        out.append(f"{head} {round(float(seconds) * 1000)}")
    return ("\n".join(out) + "\n").encode()


def _series_of(openmetrics: str) -> int:
    return len({line.rsplit(" ", 2)[0] for line in openmetrics.splitlines()
                if line and not line.startswith("#")})


def _binary() -> str:
    path = os.environ.get(BINARY_ENV) or shutil.which("victoria-metrics")
    if not path:
        raise RuntimeError("victoria-metrics not found: run `make system-deps` (Debian package "
                           f"victoria-metrics) or set {BINARY_ENV}")
    return path


def _wait(url: str, promql: str, predicate, at: float | None = None, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            params = {"query": promql, **({"time": at} if at is not None else {})}
            left = max(deadline - time.monotonic(), 1.0)
            last = requests.get(f"{url}/api/v1/query", params=params, timeout=left).json()
            if predicate(last["data"]["result"]):
                return
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"VictoriaMetrics at {url}: {promql!r} not ready in {timeout}s: {last}")


@contextmanager
def running_victoriametrics(chunks: Iterable[tuple[float, str]], storage: Path,
                            end: float) -> Iterator[str]:
    """Start VictoriaMetrics, import ``chunks``, wait until the data at ``end`` is queryable."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(Path(storage) / "victoria-metrics.log", "ab")
    proc = subprocess.Popen(
        [_binary(), f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={storage / 'data'}",
         "-retentionPeriod=100y", "-search.disableCache", "-search.latencyOffset=0s",
         *vm_search_flags(), "-loggerLevel=WARN"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"victoria-metrics did not start; see {log.name}")
            time.sleep(0.1)
        last = ""
        with requests.Session() as session:
            for _, text in chunks:
                response = session.post(f"{url}/api/v1/import/prometheus",
                                        data=to_import_text(text), timeout=60)
                response.raise_for_status()
                last = text
        requests.get(f"{url}/internal/force_flush", timeout=30)
        expected = _series_of(last)
        # a fleet's millions of new series take minutes to become searchable, and one count
        # over them seconds: the wait grows with them
        _wait(url, 'count(last_over_time({__name__!=""}[10m]))',
              lambda result: bool(result) and int(float(result[0]["value"][1])) == expected,
              at=end, timeout=60.0 + expected / 10_000)
        yield url
    finally:
        _terminate(proc.pid)
        proc.wait(timeout=10)
        log.close()
