"""One source for each address: URLs follow `stack.ports` (and host) unless set explicitly."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from mlmon_nb.config import URL_PORTS, Config, ModelConfig, load_config, parse_config
from mlmon_nb.errors import ConfigError
from mlmon_nb.stack import free_ports

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "stack" / "mlmon.yaml"


def _demo_raw() -> dict:
    return yaml.safe_load(DEMO.read_text())


def test_the_shipped_config_sets_each_address_once():
    raw = _demo_raw()
    assert not set(URL_PORTS) & set(raw), "URLs would shadow stack.ports"
    config = load_config(DEMO)
    ports, host = config.stack.ports, config.stack.host
    assert config.urls() == {key: f"http://{host}:{ports[c]}" for key, c in URL_PORTS.items()}


def test_changing_only_the_ports_moves_every_url(monkeypatch, tmp_path):
    monkeypatch.delenv("MLMON_PROMETHEUS_URL", raising=False)
    raw = _demo_raw()
    raw["stack"]["ports"].update(prometheus=29090, launcher=28088, jupyter=28888)
    path = tmp_path / "mlmon.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    assert config.prometheus_url == "http://127.0.0.1:29090"
    assert config.launcher_url == "http://127.0.0.1:28088"
    assert config.jupyter_url == "http://127.0.0.1:28888"
    # what reads them follows: the alerts' runbook links and the Alertmanager webhook
    from mlmon_nb import rules
    assert "http://127.0.0.1:28088/runbook/HighErrorRate?" in rules.render_rule_files(config)[
        "alerts.yml"]
    assert "http://127.0.0.1:28088/alertmanager" in rules.render_alertmanager(config)
    # and so does the host
    raw["stack"]["host"] = "10.0.0.5"
    assert parse_config(raw, path).prometheus_url == "http://10.0.0.5:29090"


def test_explicit_urls_win_over_ports(monkeypatch):
    monkeypatch.delenv("MLMON_PROMETHEUS_URL", raising=False)
    raw = _demo_raw()
    raw["stack"]["ports"]["prometheus"] = 29090
    raw.update(prometheus_url="http://prom.example:9090/", launcher_url="https://runbooks.example",
               jupyter_url="https://jupyter.example", alertmanager_url="http://am.example:9093")
    config = parse_config(raw, DEMO)
    assert config.urls() == {"prometheus_url": "http://prom.example:9090",
                             "alertmanager_url": "http://am.example:9093",
                             "launcher_url": "https://runbooks.example",
                             "jupyter_url": "https://jupyter.example"}
    # with_ports (tests' free ports) moves derived URLs only
    moved = config.with_ports({"prometheus": 1, "alertmanager": 4, "launcher": 2, "jupyter": 3})
    assert moved.urls() == config.urls()
    monkeypatch.setenv("MLMON_PROMETHEUS_URL", "http://env.example:1")
    assert parse_config(raw, DEMO).prometheus_url == "http://env.example:1"


def test_with_ports_moves_derived_urls(monkeypatch):
    monkeypatch.delenv("MLMON_PROMETHEUS_URL", raising=False)
    config = load_config(DEMO).with_ports({"prometheus": 1111, "jupyter": 3333})
    assert config.prometheus_url == "http://127.0.0.1:1111"
    assert config.jupyter_url == "http://127.0.0.1:3333"
    assert config.launcher_url == "http://127.0.0.1:18088"


def test_a_config_built_in_code_derives_its_urls_too():
    config = Config(models=(ModelConfig("m"),))
    assert config.prometheus_url == f"http://127.0.0.1:{config.stack.ports['prometheus']}"
    moved = replace(config, stack=replace(config.stack, host="example.org"), prometheus_url="")
    assert moved.prometheus_url.startswith("http://example.org:")
    with pytest.raises(ConfigError, match="prometheus_url must be a URL string"):
        Config(models=(ModelConfig("m"),), prometheus_url=9090)  # type: ignore[arg-type]


def test_stack_status_shows_the_urls_it_uses(tmp_path):
    raw = _demo_raw()
    names = ("prometheus", "alertmanager", "launcher", "jupyter")
    ports = dict(zip(names, free_ports(len(names))))
    raw["stack"]["ports"].update(ports)
    raw["stack"]["state_dir"] = str(tmp_path / "state")
    raw["jupyter_url"] = "https://jupyter.example"
    path = tmp_path / "mlmon.yaml"
    path.write_text(yaml.safe_dump(raw))
    env = {k: v for k, v in os.environ.items() if k != "MLMON_PROMETHEUS_URL"}
    result = subprocess.run([sys.executable, "-m", "mlmon_nb.cli", "--config", str(path), "stack",
                             "status"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1, result.stderr  # nothing runs
    lines = result.stdout.splitlines()
    assert f"prometheus_url  http://127.0.0.1:{ports['prometheus']}" in lines
    assert f"launcher_url    http://127.0.0.1:{ports['launcher']}" in lines
    assert "jupyter_url     https://jupyter.example" in lines
    # the longest key keeps a space before its URL, so the URL is one word to copy or click
    assert f"alertmanager_url http://127.0.0.1:{ports['alertmanager']}" in lines
