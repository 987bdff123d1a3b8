"""The stack's backends as data: components, command lines, the vmagent shards' scrape config,
and which URL the stack's queries go to (no process starts here; test_stack_victoriametrics
runs them)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlmon_nb.baseline import Baseline
from mlmon_nb.config import DEFAULT_PORTS, load_config
from mlmon_nb.errors import StackError
from mlmon_nb.stack import free_ports
from mlmon_nb.stack.backends import (
    BACKENDS,
    SCRAPE_FILE,
    VM_SHARDS,
    all_components,
    backend,
    render_scrape_config,
    vm_command,
)
from mlmon_nb.stack.demo.model import DEMO_JOB as SERVICE_JOB
from mlmon_nb.stack.lifecycle import COMPONENTS, Stack, _proc_start_time, effective_config_yaml

REPO = Path(__file__).resolve().parents[2]
VM = BACKENDS["victoriametrics"]
VM_DEFAULT_MAX_UNIQUE_TIMESERIES = 300_000  # victoria-metrics -help: -search.maxUniqueTimeseries


@pytest.fixture
def config(tmp_path):
    base = load_config(REPO / "stack" / "mlmon.yaml")
    return base.with_ports({c: 20000 + i for i, c in enumerate(DEFAULT_PORTS)},
                           state_dir=tmp_path / "state")


def _flag(command: list[str], name: str) -> str:
    values = [a.split("=", 1)[1] for a in command if a.startswith(f"-{name}=")]
    assert len(values) == 1, (name, command)
    return values[0]


def test_the_prometheus_backend_is_todays_stack():
    assert BACKENDS["prometheus"].components == COMPONENTS == (
        "prometheus", "alertmanager", "node_exporter", "demo", "traffic", "launcher", "jupyter")
    assert set(all_components()) == set(COMPONENTS) | set(VM.components)
    with pytest.raises(StackError, match="unknown backend 'thanos'; one of prometheus, "
                                         "victoriametrics"):
        backend("thanos")


def test_every_port_has_a_default_documented_in_the_config_example():
    import mlmon_nb.config as config_module
    for component in (*VM.components, *COMPONENTS):
        if not component.startswith("traffic"):
            assert f"{component}: {DEFAULT_PORTS[component]}" in config_module.__doc__


def test_queries_go_to_victoriametrics_unless_a_url_is_set(config):
    vm_url = f"http://127.0.0.1:{config.stack.ports['victoriametrics']}"
    assert Stack(config).config.prometheus_url == config.prometheus_url != vm_url
    assert Stack(config, backend="victoriametrics").config.prometheus_url == vm_url
    explicit = replace(config, prometheus_url="http://prom.internal:9090")
    assert Stack(explicit, backend="victoriametrics").config.prometheus_url == \
        "http://prom.internal:9090"
    assert Stack(config, backend="victoriametrics").replica_urls() == [
        f"http://127.0.0.1:{config.stack.ports[r]}" for r in ("demo", "demo_1")]


def test_two_shards_of_one_scrape_config_into_victoriametrics(config, tmp_path):
    state = tmp_path / "state"
    vm_url = f"http://127.0.0.1:{config.stack.ports['victoriametrics']}"
    for number, shard in enumerate(VM_SHARDS):
        cmd = vm_command(shard, config, state, "rules/*.yml")
        assert cmd is not None
        assert _flag(cmd, "promscrape.config") == str(state / SCRAPE_FILE)
        assert _flag(cmd, "promscrape.cluster.membersCount") == "2"
        assert _flag(cmd, "promscrape.cluster.memberNum") == str(number)
        assert _flag(cmd, "remoteWrite.url") == f"{vm_url}/api/v1/write"
    alert = vm_command("vmalert", config, state, "/s/rules/*.yml")
    assert alert is not None
    assert _flag(alert, "rule") == "/s/rules/*.yml"
    for flag in ("datasource.url", "remoteWrite.url", "remoteRead.url"):
        assert _flag(alert, flag) == vm_url
    assert _flag(alert, "notifier.url") == \
        f"http://127.0.0.1:{config.stack.ports['alertmanager']}"
    assert vm_command("launcher", config, state, "") is None


def test_scrape_config_has_every_running_target_and_the_replicas_as_one_job(config):
    doc = yaml.safe_load(render_scrape_config(config, VM.components))
    jobs = {s["job_name"]: s["static_configs"][0]["targets"] for s in doc["scrape_configs"]}
    ports = config.stack.ports
    assert jobs[SERVICE_JOB] == [f"127.0.0.1:{ports['demo']}", f"127.0.0.1:{ports['demo_1']}"]
    assert set(jobs) == {"victoriametrics", "node", SERVICE_JOB, "mlmon-launcher", "vmagent",
                         "vmalert"}
    assert doc["global"]["scrape_interval"] == "15s"
    only = yaml.safe_load(render_scrape_config(config, ["victoriametrics", "demo"]))
    assert [s["job_name"] for s in only["scrape_configs"]] == ["victoriametrics", SERVICE_JOB]


def test_one_backend_is_not_started_over_the_other(config, tmp_path):
    """A state dir whose recorded backend still runs refuses the other one with one line."""
    stack = Stack(config, backend="victoriametrics")
    (stack.state / "pids").mkdir(parents=True)
    stack._backend_path().write_text("victoriametrics")
    assert Stack(config).backend.name == "victoriametrics"  # status/down follow the record
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        for _ in range(50):
            if _proc_start_time(sleeper.pid):
                break
            time.sleep(0.01)
        stack._pid_path("vmalert").write_text(
            f'{{"pid": {sleeper.pid}, "start_time": "{_proc_start_time(sleeper.pid)}"}}')
        with pytest.raises(StackError, match=r"runs the victoriametrics backend \(vmalert\); "
                                             r"stop it first with `mlmon-nb stack down`"):
            Stack(config, backend="prometheus").up(timeout=5)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_victoriametrics_selects_a_thousand_models_feature_buckets_at_once(config, tmp_path):
    """The drift rules select every feature bucket of the fleet in one query; VictoriaMetrics'
    default limit (300,000 series) refuses that past a few hundred models, the stack's does
    not: 1,000 models × 20 features at the default bins × 2 replicas."""
    rng = np.random.default_rng(0)
    baseline = Baseline.from_frame(
        pd.DataFrame({f"f{j}": rng.normal(size=2000) for j in range(20)}), "m")
    buckets = sum(len(f.edges) + 1 for f in baseline.numeric.values())  # +Inf too
    fleet = 1000 * buckets * 2
    cmd = vm_command("victoriametrics", config, tmp_path, "")
    assert cmd is not None
    assert VM_DEFAULT_MAX_UNIQUE_TIMESERIES < fleet <= int(_flag(cmd, "search.maxUniqueTimeseries"))


def test_victoriametrics_lets_a_rule_query_run_as_long_as_the_drift_groups_interval(
        config, tmp_path):
    """VictoriaMetrics stops a query after 30 s by default; Prometheus bounds no rule. A
    fleet's drift queries read every feature bucket, so the stack lets a query run for the
    drift group's interval, whatever the configuration sets it to."""
    for seconds in (300.0, 900.0):
        stack = replace(config.stack, drift_evaluation_interval_seconds=seconds)
        cmd = vm_command("victoriametrics", replace(config, stack=stack), tmp_path, "")
        assert cmd is not None
        assert _flag(cmd, "search.maxQueryDuration") == f"{seconds:g}s"
    short = replace(config.stack, drift_evaluation_interval_seconds=10.0)
    cmd = vm_command("victoriametrics", replace(config, stack=short), tmp_path, "")
    assert cmd is not None and _flag(cmd, "search.maxQueryDuration") == "30s"  # never below


def test_commands_that_talk_to_a_running_stack_start_without_the_rule_machinery(config, tmp_path):
    # `demo inject`, `stack status` and `stack logs` only read the configuration and ask a
    # service: the rule generation's pandas and scipy (seconds of imports, far more on a loaded
    # machine) load only where a stack starts
    path = tmp_path / "mlmon.yaml"
    path.write_text(effective_config_yaml(config.with_ports({"demo": 9})))
    code = ("import sys\nfrom mlmon_nb.cli import main\n"
            f"codes = [main(['--config', {str(path)!r}, *a]) for a in ("
            "['demo', 'inject', 'errors', '--for', '1m'], ['stack', 'status'],"
            "['stack', 'logs', 'demo'])]\n"
            "print(codes, [m for m in ('pandas', 'scipy', 'numpy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[2, 1, 0] []", out.stdout + out.stderr
    assert "the demo model service is unreachable at http://127.0.0.1:9 (" in out.stderr


def test_free_ports_are_distinct_and_none_of_those_given_out_before():
    # ports asked for one at a time can repeat once a socket is released; a stack of many
    # components needs each its own
    first = free_ports(40)
    again = free_ports(40, avoid=first)
    assert len(set(first)) == 40 and len(set(again)) == 40 and not set(first) & set(again)
