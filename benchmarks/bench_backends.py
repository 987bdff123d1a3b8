"""VictoriaMetrics against Prometheus (the anchor) on the same synthetic history, in one run.

Loads two days of the demo history (one point a minute) into both: Prometheus by promtool
backfill of the OpenMetrics chunks, VictoriaMetrics by ``/api/v1/import/prometheus``; then runs
the dashboards' named queries (``mlmon_nb.queries``) as 2-day range queries through
``mlmon_nb.Prometheus`` and prints the median time per backend and the ratio VM / Prometheus.
VictoriaMetrics runs with its response cache off (as in the suite), so repeats are not cached.
Not part of the test suite; timings depend on the machine, only the ratios mean something.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from conftest import config_on_free_ports, demo_baseline  # noqa: E402
from victoria_support import running_victoriametrics  # noqa: E402

from mlmon_nb import Prometheus  # noqa: E402
from mlmon_nb import queries as q  # noqa: E402
from mlmon_nb.stack import Stack, backfill  # noqa: E402
from mlmon_nb.stack.demo.history import openmetrics_chunks, synthesize  # noqa: E402
from mlmon_nb.stack.demo.model import MODEL_NAME  # noqa: E402

DAYS, STEP, REPEAT = 2.0, 60.0, 5
QUERIES = {
    "request_rate": q.request_rate(MODEL_NAME, "5m"),
    "error_ratio": q.error_ratio(MODEL_NAME, "5m"),
    "latency_p95": q.latency_quantile(0.95, MODEL_NAME, "5m"),
    "class_share": q.class_share(MODEL_NAME, "5m"),
    "accuracy_by_segment": q.accuracy(MODEL_NAME, "1h", by=("segment",)),
    "low_confidence_share": q.low_confidence_share(MODEL_NAME, "5m"),
}


def median_seconds(prom: Prometheus, promql: str, start: float, end: float) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        rows = len(prom.range(promql, start, end, STEP))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = config_on_free_ports(Path(tmp) / "state")
        history = synthesize(demo_baseline(), end=time.time(), days=DAYS, step=STEP, seed=42)
        chunks = list(openmetrics_chunks(history))
        stack = Stack(config)
        t0 = time.perf_counter()
        backfill(chunks, stack.tsdb)
        stack.up(["prometheus"], timeout=120)
        prom_load = time.perf_counter() - t0
        try:
            vm_dir = Path(tmp) / "vm"
            vm_dir.mkdir()
            t0 = time.perf_counter()
            with running_victoriametrics(chunks, vm_dir, history.end) as vm_url:
                vm_load = time.perf_counter() - t0
                print(f"history: {len(history.series)} series x {len(history.timestamps)} points")
                print(f"{'load (s)':<22}{'prometheus':>11}{'victoria':>11}{'vm/prom':>9}")
                print(f"{'backfill/import+start':<22}{prom_load:>11.2f}{vm_load:>11.2f}"
                      f"{vm_load / prom_load:>9.2f}")
                print(f"{'range query (ms)':<22}{'prometheus':>11}{'victoria':>11}{'vm/prom':>9}"
                      f"{'rows':>8}")
                ratios = []
                with Prometheus(stack.url("prometheus"), timeout=60) as p, \
                        Prometheus(vm_url, timeout=60) as v:
                    for name, promql in QUERIES.items():
                        tp, rows_p = median_seconds(p, promql, history.start, history.end)
                        tv, rows_v = median_seconds(v, promql, history.start, history.end)
                        ratios.append(tv / tp)
                        print(f"{name:<22}{tp * 1000:>11.1f}{tv * 1000:>11.1f}{tv / tp:>9.2f}"
                              f" {rows_p:>6}/{rows_v}")
                print(f"geometric mean vm/prom: {statistics.geometric_mean(ratios):.2f}")
        finally:
            stack.down()


if __name__ == "__main__":
    main()
