"""Load from a second process against two launchers sharing one state dir: 100 webhooks in
bursts (20 alerts, each sent five times across both launchers) while 20 clients read run pages. Every
accepted alert executes exactly once, no kernel outlives the pools, ``/healthz`` keeps
answering. The figures are printed (``-s``); only generous bounds are asserted."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import statistics
import threading
import time
from dataclasses import replace

import httpx
import psutil
import pytest
from launcher_support import (
    alert,
    launcher_process,
    payload,
    wait_for,
    with_models,
    write_config,
    write_runbook,
)

from mlmon_nb.runstore import RunStatus, RunStore
from mlmon_nb.stack import free_ports

ALERTS = 20           # distinct alerts (each runs a kernel: the cost of the test)
SENDS = 5             # each alert is sent this often, alternating launchers → 100 webhooks
BURST = 20            # webhooks sent at once
READERS = 20          # concurrent page readers
WARM = 1              # warm kernels per launcher


def kernels_of(pid: int) -> list[psutil.Process]:
    """Kernel processes below a launcher."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "ipykernel" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def probe(ports: list[int], ready, stop, out) -> None:
    """Every 0.2 s, time ``GET /healthz`` on each launcher; the latencies go to ``out``.

    ``ready`` is set after the first round, so the load starts only once the probe runs (a
    spawned process can take long to start on a loaded machine)."""
    latencies = []
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            for port in ports:
                began = time.monotonic()
                r = client.get(f"http://127.0.0.1:{port}/healthz")
                latencies.append(time.monotonic() - began if r.status_code == 200 else 99.0)
            ready.set()
            stop.wait(0.2)
    out.put(latencies)


@pytest.mark.slow
def test_two_launchers_under_load_execute_each_alert_once(history, tmp_path):
    folder = tmp_path / "runbooks"
    executions = tmp_path / "executions.log"
    write_runbook(folder, "Count", f"with open({str(executions)!r}, 'a') as f:\n"
                  f"    f.write(model_name + '\\n')\n"
                  "from mlmon_nb.investigate import record_summary\n"
                  "record_summary(f'counted {model_name}', n=1)")
    state = tmp_path / "state"
    cfg = with_models(replace(history.config, stack=replace(history.config.stack,
                                                            state_dir=state)),
                      *(f"m{n:03d}" for n in range(ALERTS)))
    path = write_config(cfg, tmp_path / "mlmon.yaml")
    env = {"MLMON_RUNBOOK_DIR": str(folder)}
    ports = free_ports(2)
    args = ("--workers", "2", "--warm-kernels", str(WARM), "--run-timeout", "120s")
    store = RunStore(state / "runs")
    reads: list[float] = []
    stop = threading.Event()

    def reader(i: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[i % 2]}", timeout=30) as client:
            while not stop.is_set():
                began = time.monotonic()
                listed = client.get("/runs", params={"format": "json", "limit": "50"})
                assert listed.status_code == 200
                runs = listed.json()["runs"]
                if runs:
                    page = client.get(f"/runs/{runs[i % len(runs)]['run_id']}")
                    assert page.status_code == 200
                else:
                    assert client.get("/runs").status_code == 200
                reads.append(time.monotonic() - began)

    def send(i: int) -> dict:
        n = i % ALERTS  # alert n goes to both launchers, in different bursts
        body = payload(alert("Count", fingerprint=f"load{n:03d}", model_name=f"m{n:03d}",
                             severity=("critical", "warning", "info")[n % 3]))
        r = httpx.post(f"http://127.0.0.1:{ports[(i // ALERTS + n) % 2]}/alertmanager",
                       json=body, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()["runs"][0]

    with launcher_process(path, ports[0], *args, env=env) as first, \
            launcher_process(path, ports[1], *args, env=env) as second:
        # /healthz is probed from a process of its own, so its figures are the launchers' and
        # not this process's threads competing for the GIL
        ctx = mp.get_context("spawn")
        probe_ready, probe_stop, probe_out = ctx.Event(), ctx.Event(), ctx.Queue()
        prober = ctx.Process(target=probe, args=(ports, probe_ready, probe_stop, probe_out))
        prober.start()
        assert probe_ready.wait(300), "the /healthz probe process did not start"
        began = time.monotonic()
        threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(READERS)]
        for t in threads:
            t.start()
        answers = []
        with cf.ThreadPoolExecutor(BURST) as pool:
            for start in range(0, SENDS * ALERTS, BURST):
                answers += list(pool.map(send, range(start, start + BURST)))
                time.sleep(0.5)
        accepted_in = time.monotonic() - began
        wait_for(lambda: not {"queued", "running"} & set(store.counts()) and
                 sum(store.counts().values()) >= ALERTS, timeout=600, interval=0.5)
        all_done_in = time.monotonic() - began
        stop.set()
        probe_stop.set()
        health = probe_out.get(timeout=60)
        prober.join(timeout=30)
        for t in threads:
            t.join(timeout=60)
        # the pools refill, then hold their warm kernels and nothing else
        time.sleep(3)
        alive = {p.pid: kernels_of(p.pid) for p in (first, second)}
        kernels = {pid: len(found) for pid, found in alive.items()}
    # and after both stopped, none of their kernels is left behind
    try:
        wait_for(lambda: not any(_running(k) for found in alive.values() for k in found),
                 timeout=30, interval=0.5)
    except AssertionError:
        pass  # reported and asserted below
    leftover = [k.pid for found in alive.values() for k in found if _running(k)]

    created = [a["run_id"] for a in answers if a["created"]]
    runs = store.list(limit=1000)
    lines = executions.read_text().split()
    print(f"\n{len(answers)} webhooks accepted in {accepted_in:.1f}s; {len(runs)} runs done "
          f"{all_done_in:.1f}s after the first; /healthz: {len(health)} probes, median "
          f"{statistics.median(health) * 1000:.0f} ms, p99 "
          f"{sorted(health)[int(len(health) * 0.99)] * 1000:.0f} ms, max {max(health) * 1000:.0f} ms;"
          f" page reads: {len(reads)}, median {statistics.median(reads) * 1000:.0f} ms, max "
          f"{max(reads) * 1000:.0f} ms; runs not started (kernel start failed): "
          f"{sum(1 for r in runs if r.status != RunStatus.DONE)}; kernels per launcher after "
          f"the load: {kernels}; left after stop: {leftover}")
    assert len(created) == ALERTS == len(set(created))
    assert len(runs) == ALERTS
    assert all(r.attempts == 1 for r in runs)
    # a kernel that fails to start under load fails its run (before any cell ran); every other
    # run is done, and every run that executed did so exactly once
    not_started = [r for r in runs if r.status != RunStatus.DONE]
    assert all("before replying to kernel_info" in r.error for r in not_started), \
        [(r.status, r.error[:200]) for r in not_started]
    assert sorted(lines) == sorted(r.model_name for r in runs if r.status == RunStatus.DONE)
    assert all(n <= WARM for n in kernels.values()), kernels
    assert leftover == []
    assert max(health) < 5.0


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
