"""`mlmon-nb rules check` on a user's own configuration: promtool and amtool on the generated
files, and the launcher's Alertmanager snippet checked for staleness like the rules."""

from __future__ import annotations

import yaml

from mlmon_nb.cli import main

OWN = {"version": 1, "prometheus_url": "http://prom.internal:9090",
       "models": [{"name": "fraud", "job": "fraud-api"}, {"name": "churn"}]}


def test_rules_check_finds_a_stale_launcher_snippet(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", open("/dev/null"))
    config = tmp_path / "mlmon.yaml"
    config.write_text(yaml.safe_dump(OWN))
    assert main(["--config", str(config), "rules", "generate"]) == 0
    snippet = tmp_path / "alertmanager-launcher.yml"
    assert 'model_name=~"fraud|churn"' in snippet.read_text()
    assert main(["--config", str(config), "rules", "check"]) == 0
    snippet.write_text(snippet.read_text().replace("fraud|churn", "fraud"))
    assert main(["--config", str(config), "rules", "check"]) == 1
    assert "alertmanager-launcher.yml" in capsys.readouterr().err


def test_rules_check_names_a_configured_baseline_that_is_not_there(tmp_path, capsys,
                                                                   monkeypatch):
    """Rules need no baseline file (the service exports it), but drift reruns and the drift
    runbooks do: a `baseline:` that names no file is found by the check, not at 3 a.m."""
    monkeypatch.setattr("sys.stdin", open("/dev/null"))
    config = tmp_path / "mlmon.yaml"
    config.write_text(yaml.safe_dump({**OWN, "models": [
        {"name": "fraud", "job": "fraud-api", "baseline": "baselines/nope.json"}]}))
    assert main(["--config", str(config), "rules", "generate"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "rules", "check"]) == 1
    err = capsys.readouterr().err
    assert f"the baseline of fraud, {tmp_path / 'baselines' / 'nope.json'}, is not a file" in err
    assert "mlmon-nb baseline build DATA --model fraud" in err
