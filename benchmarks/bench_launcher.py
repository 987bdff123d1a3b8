"""Alert received → run page ready, against a bare papermill run of an empty notebook.

Measured in one run on this machine:
- anchor: ``papermill.execute_notebook`` of a notebook with one empty cell (cold kernel);
- cold: ``mlmon_nb.runbooks.execute`` of an empty runbook on a freshly started kernel
  (parameters, execution, summary, sanitized HTML) — target within 2× the anchor; also a small
  runbook that imports ``mlmon_nb.investigate`` (pandas), for scale;
- warm: a webhook POSTed to a running launcher until its run of the small runbook is ``done``
  (HTML written), with a warm kernel ready — target p50 <= 1.5 s;
- guard: the JSON depth pre-scan plus ``json.loads`` of a real notification and of 1 MiB bodies
  built to be slow (escapes, quotes, brackets), and a lease-taking ``claim_next`` on a queue of
  1000 runs.

Run: ``.venv/bin/python benchmarks/bench_launcher.py [repeats]`` (``--guard`` for the last part
alone). Prints medians and ratios.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx
import nbformat
import papermill

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from launcher_support import InProcessLauncher, alert, fault_runbooks, payload, write_runbook  # noqa: E402

from mlmon_nb.config import load_config  # noqa: E402
from mlmon_nb.launcher import LauncherSettings  # noqa: E402
from mlmon_nb.launcher.security import RequestError, parse_json  # noqa: E402
from mlmon_nb.runbooks import Registry, execute  # noqa: E402
from mlmon_nb.runstore import RunStore  # noqa: E402


def empty_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def guard_costs(repeats: int = 5) -> None:
    import json
    real = json.dumps(payload(*[alert("Quick", fingerprint=f"g{i}") for i in range(20)])).encode()
    worst = {"real notification (20 alerts)": real,
             "1 MiB of escapes": b'{"a":"' + b'\\"' * (1 << 19) + b'"}',
             "1 MiB of quotes": b'"' * (1 << 20),
             "1 MiB of brackets": b"[" * (1 << 19) + b"]" * (1 << 19)}
    for name, raw in worst.items():
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            try:
                parse_json(raw, 32)
            except RequestError:
                pass  # refused as too deep: what is timed is the refusal
            times.append(time.perf_counter() - t0)
        print(f"guard:  pre-scan + parse, {name:<30} median {statistics.median(times) * 1000:7.1f} ms")
    store = RunStore(Path(tempfile.mkdtemp(prefix="bench-store-")))
    for i in range(1000):
        store.submit("Quick", {"model_name": f"m{i}"}, source="webhook", group_key=f"g{i % 7}",
                     priority=i % 3)
    t0 = time.perf_counter()
    for _ in range(200):
        store.finish(store.claim_next().run_id, "done")
    print(f"guard:  claim_next + finish on a 1000-run queue   "
          f"{(time.perf_counter() - t0) / 200 * 1000:7.2f} ms per run")
    store.stop_heartbeat()


def main(repeats: int = 5) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-launcher-"))
    empty = empty_notebook(tmp / "empty.ipynb")
    registry = Registry(fault_runbooks(tmp / "runbooks"))
    write_runbook(tmp / "runbooks", "Noop", "")
    quick, noop = registry.get("Quick"), registry.get("Noop")

    anchor = [timed(lambda i=i: papermill.execute_notebook(
        str(empty), str(tmp / f"empty-out-{i}.ipynb"), progress_bar=False, kernel_name="python3"))
        for i in range(repeats)]
    cold = [timed(lambda i=i: execute(noop, {"model_name": "bench"}, tmp / f"cold-{i}"))
            for i in range(repeats)]
    cold_quick = [timed(lambda i=i: execute(quick, {"model_name": "bench"}, tmp / f"coldq-{i}"))
                  for i in range(repeats)]

    cfg = load_config(REPO / "stack" / "mlmon.yaml")
    cfg = replace(cfg, stack=replace(cfg.stack, state_dir=tmp / "state"))
    warm = []
    settings = LauncherSettings(workers=1, warm_kernels=1)
    with InProcessLauncher(cfg, settings=settings, registry=registry) as srv, \
            httpx.Client(base_url=srv.url, timeout=60) as client:
        for i in range(repeats * 2):
            while srv.launcher.pool.ready() < 1:  # as between real alerts: the pool has refilled
                time.sleep(0.1)
            t0 = time.perf_counter()
            run_id = client.post("/alertmanager", json=payload(alert(
                "Quick", fingerprint=f"bench{i}"))).json()["runs"][0]["run_id"]
            while client.get(f"/runs/{run_id}", params={"format": "json"}).json()["status"] \
                    in ("queued", "running"):
                time.sleep(0.02)
            warm.append(time.perf_counter() - t0)
            assert client.get(f"/runs/{run_id}").status_code == 200

    a, c, cq, w = (statistics.median(x) for x in (anchor, cold, cold_quick, warm))
    print(f"anchor: bare papermill, empty notebook   median {a:.2f}s  (n={len(anchor)})")
    print(f"cold:   empty runbook, fresh kernel      median {c:.2f}s  ratio {c / a:.2f}x anchor "
          f"(target <= 2x)")
    print(f"cold:   Quick runbook (imports pandas)   median {cq:.2f}s  ratio {cq / a:.2f}x anchor")
    print(f"warm:   webhook -> run page ready        p50 {w:.2f}s  p90 "
          f"{sorted(warm)[int(0.9 * (len(warm) - 1))]:.2f}s  ratio {w / a:.2f}x anchor "
          f"(target p50 <= 1.5s)")


if __name__ == "__main__":
    numbers = [int(a) for a in sys.argv[1:] if a.isdigit()]
    if "--guard" not in sys.argv:
        main(numbers[0] if numbers else 5)
    guard_costs(numbers[0] if numbers else 5)
