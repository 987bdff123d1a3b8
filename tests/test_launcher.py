"""The launcher over HTTP: webhook → exactly one run, run pages, links, forms, history, metrics,
faults (timeout, dead kernel), concurrency and a restart with runs queued."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import re
import signal
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from mlmon_nb.launcher import LauncherSettings
from mlmon_nb.runbooks import Registry
from mlmon_nb.runstore import RunStore
from mlmon_nb.stack import free_port

from launcher_support import (InProcessLauncher, alert, fault_runbooks, iso, launcher_process,
                              payload, wait_for, write_config)


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> Path:
    return fault_runbooks(tmp_path_factory.mktemp("fault-runbooks"))


def cfg_in(history, prometheus, folder: Path):
    cfg = replace(history.config, prometheus_url=prometheus)
    return replace(cfg, stack=replace(cfg.stack, state_dir=folder))


def finished(client, run_id):
    def check():
        run = client.get(f"/runs/{run_id}", params={"format": "json"}).json()
        return run if run["status"] not in ("queued", "running") else None
    return check


def test_webhook_runs_high_error_rate_once_and_the_link_leads_to_it(history, prometheus,
                                                                    tmp_path):
    cfg = cfg_in(history, prometheus, tmp_path / "state")
    t0, t1 = history.incidents["errors"]
    firing = alert("HighErrorRate", fingerprint="a1b2c3d4", starts_at=iso(t0 + 600),
                   instance="127.0.0.1:18000")
    settings = LauncherSettings(workers=1, warm_kernels=1)
    with InProcessLauncher(cfg, settings=settings) as srv, \
            httpx.Client(base_url=srv.url, timeout=30) as client:
        first = client.post("/alertmanager", json=payload(firing))
        assert first.status_code == 200, first.text
        runs = first.json()["runs"]
        assert len(runs) == 1 and runs[0]["created"]
        again = client.post("/alertmanager", json=payload(firing))
        assert again.json()["runs"][0] == {**runs[0], "created": False}
        run = wait_for(finished(client, runs[0]["run_id"]), timeout=180)
        assert run["status"] == "done", run["error"]
        assert run["params"]["starts_at"] == iso(t0 + 600)
        assert run["params"]["prometheus_url"] == prometheus
        assert "job" not in run["params"] and "instance" not in run["params"]
        assert run["summary"]["status"] in ("firing", "resolved")
        page = client.get(f"/runs/{run['run_id']}")
        assert page.status_code == 200 and "Verdict" in page.text
        assert "<script" not in page.text.lower()
        assert f"/lab/tree/runs/{run['run_id']}/output.ipynb" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        # the alert's runbook_url (labels urlquery-escaped) shows that run, it does not execute
        link = client.get("/runbook/HighErrorRate",
                          params={"model_name": history.model_name, "severity": "critical"})
        assert link.status_code == 303 and link.headers["location"] == f"/runs/{run['run_id']}"
        nb = client.get(f"/runs/{run['run_id']}/output.ipynb")
        assert nb.status_code == 200 and json.loads(nb.text)["cells"]
        assert len(RunStore(tmp_path / "state" / "runs").list()) == 1
        # resolved notification marks the run
        done = client.post("/alertmanager", json=payload(
            {**firing, "status": "resolved", "endsAt": iso(t1)}, status="resolved"))
        assert done.json()["resolved"] == 1
        listed = client.get("/runs", params={"format": "json", "alertname": "HighErrorRate"})
        assert listed.json()["runs"][0]["resolved_at"] == iso(t1)
