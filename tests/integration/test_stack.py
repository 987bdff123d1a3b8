"""The local stack with real processes on free loopback ports: up, status, down, and its errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import replace

import pytest
import yaml

from mlmon_nb.errors import StackError
from mlmon_nb.stack.lifecycle import Stack, _proc_start_time, render_prometheus_config

CORE = ["prometheus", "alertmanager", "node_exporter"]


def _cli(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "mlmon_nb.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_up_status_down_with_real_processes(stack_config, tmp_path):
    stack = Stack(stack_config)
    started = stack.up(CORE, timeout=60)
    try:
        assert started == CORE
        status = {s.name: s for s in stack.status()}
        assert all(status[c].healthy for c in CORE)
        assert not status["demo"].running
        assert stack.up(CORE, timeout=30) == []  # idempotent: nothing started twice
        pids = {c: status[c].pid for c in CORE}
        cli = _cli("--config", str(stack.config_file), "stack", "status")
        assert "prometheus    healthy" in cli.stdout and "demo          stopped" in cli.stdout
        assert cli.returncode == 1  # not every component is up

        # a pid file that names some other process (pid reuse) is never acted on
        bystander = subprocess.Popen(["sleep", "60"])
        (stack.state / "pids" / "jupyter.json").write_text(
            f'{{"pid": {bystander.pid}, "start_time": "1", "command": ["sleep"]}}')
    finally:
        stopped = stack.down()
    assert sorted(stopped) == sorted(CORE)
    for pid in pids.values():
        assert _proc_start_time(pid) is None or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert bystander.poll() is None, "down() killed a process it did not start"
    bystander.kill()
    assert stack.down() == []


def test_missing_binary_is_one_clear_line(stack_config, monkeypatch):
    monkeypatch.setenv("MLMON_PROMETHEUS_BIN", "/nonexistent/prometheus")
    with pytest.raises(StackError, match="MLMON_PROMETHEUS_BIN=/nonexistent/prometheus"):
        Stack(stack_config).up(["prometheus"])
    monkeypatch.delenv("MLMON_PROMETHEUS_BIN")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StackError, match=r"apt-get install prometheus-alertmanager"):
        Stack(stack_config).up(["alertmanager"])


def test_cli_missing_binary_exits_with_one_line(stack_config):
    Stack(stack_config).write_configs(["prometheus"])
    result = _cli("--config", str(Stack(stack_config).config_file), "stack", "up",
                  env={"MLMON_PROMETHEUS_BIN": "/nonexistent/prometheus"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "MLMON_PROMETHEUS_BIN" in result.stderr


def test_failed_component_names_itself_and_its_log(stack_config, monkeypatch, tmp_path):
    broken = tmp_path / "prometheus"  # a Prometheus that cannot start
    broken.write_text("#!/bin/sh\necho 'err=\"opening storage failed: lock DB directory\"'\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("MLMON_PROMETHEUS_BIN", str(broken))
    stack = Stack(stack_config)
    with pytest.raises(StackError) as err:
        stack.up(["prometheus"], timeout=20)
    message = str(err.value)
    assert message.startswith("prometheus exited") and str(stack.log_path("prometheus")) in message
    assert "opening storage failed" in message  # the log's tail
    assert stack.down() == []


def test_a_taken_or_shared_port_is_one_clear_error_before_anything_starts(stack_config):
    stack = Stack(stack_config)
    port = stack_config.stack.ports["alertmanager"]
    with socket.socket() as taken:  # another process holds the port Alertmanager wants
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(StackError, match=rf"port {port} on 127.0.0.1, alertmanager's, is held "
                                             rf"by another process.*stack.ports.alertmanager"):
            stack.up(CORE, timeout=20)
    assert [s.name for s in stack.status() if s.running] == []  # prometheus was not started
    ports = {**stack_config.stack.ports, "launcher": stack_config.stack.ports["prometheus"]}
    shared = Stack(replace(stack_config, stack=replace(stack_config.stack, ports=ports)))
    with pytest.raises(StackError, match=r"gives prometheus and launcher the same port"):
        shared.up(CORE, timeout=20)
    assert stack.down() == []


def test_prometheus_config_scrapes_only_what_runs(stack_config):
    doc = yaml.safe_load(render_prometheus_config(stack_config, ["prometheus", "demo"]))
    jobs = {s["job_name"]: s["static_configs"][0]["targets"] for s in doc["scrape_configs"]}
    assert jobs == {"prometheus": [f"127.0.0.1:{stack_config.stack.ports['prometheus']}"],
                    "mlmon-demo": [f"127.0.0.1:{stack_config.stack.ports['demo']}"]}
    assert "alerting" not in doc
    full = yaml.safe_load(render_prometheus_config(stack_config))
    assert full["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{stack_config.stack.ports['alertmanager']}"]


def test_cli_names_an_unreachable_prometheus_within_the_timeout(stack_config):
    url = f"http://127.0.0.1:{stack_config.stack.ports['prometheus']}"  # nothing listens there
    result = _cli("query", "up", "--url", url, "--timeout", "2", timeout=60)  # else it hangs
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and url in line and "mlmon-nb stack up" in line
    assert "Traceback" not in result.stderr


def test_up_on_a_running_prometheus_reloads_and_reports_rules_that_do_not_load(stack_config):
    stack = Stack(stack_config)
    stack.up(["prometheus"], timeout=60)
    try:
        assert stack.up(["prometheus"], timeout=30) == []  # regenerated files reload cleanly
        original = stack.write_configs

        def broken(components):
            original(components)
            (stack.state / "rules" / "broken.yml").write_text("groups: [{name: x, rules: [{}]}]\n")

        stack.write_configs = broken
        with pytest.raises(StackError, match="prometheus refused to reload"):
            stack.up(["prometheus"], timeout=30)
    finally:
        stack.down()
