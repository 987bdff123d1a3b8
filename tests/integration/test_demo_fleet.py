"""`mlmon-nb demo up --models 3`: the fleet's configuration (in the state dir, the committed one
untouched) lists three models whose baselines load; the stack's demo service serves all three
and the traffic generator drives them, so a real Prometheus scrapes each model's series, loads
rules for each, and the model picker's query lists the three; a fault injected into one model
hits that model only."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from launcher_support import wait_for

from mlmon_nb import Prometheus
from mlmon_nb.baseline import Baseline
from mlmon_nb.cli import build_parser
from mlmon_nb.config import DEMO_CONFIG, Config
from mlmon_nb.errors import ConfigError, MlmonError
from mlmon_nb.promql.fleet import CONFIGURED_MODELS
from mlmon_nb.stack import Stack
from mlmon_nb.stack.demo.bootstrap import (
    CLONE_PROGRAM,
    FLEET_CONFIG,
    build_fleet_baselines,
    demo_message,
    demo_urls,
    fleet_config,
    invoked_as,
)
from mlmon_nb.stack.demo.faults import inject
from mlmon_nb.stack.demo.model import MODEL_NAME, fleet_names
from mlmon_nb.stack.demo.traffic import run_traffic
from mlmon_nb.widgets import fleet_models

FLEET = ["sentiment_classifier", "sentiment_classifier_2", "sentiment_classifier_3"]


def _digest() -> str:
    return hashlib.sha256(DEMO_CONFIG.read_bytes()).hexdigest()


def test_demo_up_takes_the_fleet_size():
    assert build_parser().parse_args(["demo", "up", "--models", "3"]).models == 3
    assert build_parser().parse_args(["demo", "up"]).models == 1
    assert build_parser().parse_args(["demo", "inject", "errors", "--model",
                                      "sentiment_classifier_2"]).model == "sentiment_classifier_2"
    assert fleet_names(3) == FLEET


def test_one_model_is_the_configuration_as_it_is(stack_config: Config):
    assert fleet_config(stack_config, 1) is stack_config
    assert not (stack_config.stack.state_dir / FLEET_CONFIG).exists()
    with pytest.raises(ConfigError, match="between 1 and"):
        fleet_config(stack_config, 0)


def test_a_fleet_of_three_is_configured_served_scraped_and_ruled(stack_config: Config):
    before = _digest()
    cfg = replace(stack_config, stack=replace(stack_config.stack, scrape_interval_seconds=1.0,
                                              evaluation_interval_seconds=1.0))
    fleet = fleet_config(cfg, 3)
    assert _digest() == before  # the committed configuration is left alone
    assert fleet.path == cfg.stack.state_dir / FLEET_CONFIG
    assert [m.name for m in fleet.models] == FLEET
    assert fleet.stack == cfg.stack and fleet.urls() == cfg.urls()
    demo = cfg.model(MODEL_NAME)
    for model in fleet.models:  # copies of the demo model's settings, the traffic shared
        assert model.slo.throughput_min_rps == pytest.approx(demo.slo.throughput_min_rps / 3)
        assert model.alerts == demo.alerts and model.slo.period_seconds == demo.slo.period_seconds

    made = build_fleet_baselines(fleet, FLEET)
    loaded = [Baseline.load(fleet.baseline_path(name)) for name in FLEET]
    assert [b.model_name for b in loaded] == FLEET
    assert [b.baseline_id for b in loaded] == [b.baseline_id for b in made]
    assert len({b.baseline_id for b in loaded}) == 3  # each model its own baseline
    assert loaded[1].features == loaded[0].features

    stack = Stack(fleet)
    stack.up(["prometheus", "demo", "traffic"], timeout=120)
    try:
        health = requests.get(f"{stack.url('demo')}/health", timeout=10).json()
        assert health["models"] == {"sentiment_classifier": "",
                                    "sentiment_classifier_2": "/models/sentiment_classifier_2",
                                    "sentiment_classifier_3": "/models/sentiment_classifier_3"}

        def served() -> set[str]:
            text = requests.get(f"{stack.url('demo')}/metrics", timeout=10).text
            return {name for name in FLEET
                    if f'ml_predictions_total{{model_name="{name}"' in text
                    and f'ml_requests_total{{endpoint="/predict",model_name="{name}"' in text}

        # the traffic generator drives every model of the fleet
        wait_for(lambda: served() == set(FLEET), timeout=120, interval=1.0,
                 what="predictions of all three models")
        text = requests.get(f"{stack.url('demo')}/metrics", timeout=10).text
        for b in loaded:  # each monitor with its own baseline
            assert f'baseline_id="{b.baseline_id}"' in text

        # a fault in one model of the fleet: its requests fail, the others' do not
        url = stack.url("demo")
        state = inject(url, "errors", 120, model_name="sentiment_classifier_2")
        assert state["active"] == {} and list(state["models"]) == ["sentiment_classifier_2"]
        codes = {name: {requests.post(f"{url}{path}/predict", json={"text": "the order was slow"},
                                      timeout=10).status_code for _ in range(40)}
                 for name, path in health["models"].items()}
        assert codes == {"sentiment_classifier": {200}, "sentiment_classifier_2": {200, 500},
                         "sentiment_classifier_3": {200}}
        with pytest.raises(MlmonError, match="is not served here"):
            inject(url, "errors", 60, model_name="fraud_scorer")
        # the traffic generator shifts only the requests of the model whose drift is on
        inject(url, "drift", 120, model_name="sentiment_classifier_3")
        stats = run_traffic(url, rps=30, duration=4, seed=3)
        assert stats.sent > 30 and 0 < stats.drifted < stats.sent
        assert inject(url, "clear", 1) == {"active": {}}  # clears every model's faults too

        prom = Prometheus(stack.url("prometheus"), timeout=30)
        wait_for(lambda: fleet_models(prom) == FLEET, timeout=120, interval=1.0,
                 what="the three models in Prometheus")
        # the generated rules watch every configured model of the fleet
        watched = f"group by (model_name) ({CONFIGURED_MODELS})"
        wait_for(lambda: sorted(prom.query(watched).get("model_name", [])) == FLEET,
                 timeout=120, interval=1.0, what="rules evaluated for the three models")
    finally:
        stack.down()


def test_demo_up_says_where_the_fleets_configuration_is(stack_config: Config):
    one = demo_message(stack_config, demo_urls(stack_config, "token"))
    assert "fleet" not in one
    fleet = fleet_config(stack_config, 3)
    text = demo_message(fleet, demo_urls(fleet, "token"))
    assert "A fleet of 3 models" in text and f"--config {fleet.path}" in text
    assert "demo inject errors --model sentiment_classifier_3" in text


def test_demo_ups_commands_carry_the_state_folder_it_was_given(stack_config: Config,
                                                               monkeypatch, tmp_path):
    state = tmp_path / "my state"
    monkeypatch.setenv("MLMON_STATE_DIR", str(state))
    clone = CLONE_PROGRAM  # `make demo`, from the clone's root
    text = demo_message(stack_config, demo_urls(stack_config, "token"), clone)
    prefix = f"MLMON_STATE_DIR='{state}' .venv/bin/mlmon-nb"
    for command in ("demo inject errors --for 10m", "stack status", "run runbooks/"):
        assert f"{prefix} {command}" in text, text
    assert f"Stop: MLMON_STATE_DIR='{state}' make demo-down" in text
    monkeypatch.delenv("MLMON_STATE_DIR")
    plain = demo_message(stack_config, demo_urls(stack_config, "token"), clone)
    assert "MLMON_STATE_DIR" not in plain and "Stop: make demo-down" in plain
    fleet = fleet_config(stack_config, 3)
    assert f"--config {fleet.path} stack down" in demo_message(fleet, demo_urls(fleet, "token"),
                                                               clone)
    # an installed mlmon-nb run from elsewhere: its own commands, no Makefile to name
    installed = demo_message(stack_config, demo_urls(stack_config, "token"), "mlmon-nb")
    assert "Stop: mlmon-nb stack down" in installed and ".venv" not in installed
    assert "make " not in installed
    # the clone's own .venv/bin/mlmon-nb, run where there is no such Makefile (a project's
    # own .venv): no make to name
    monkeypatch.chdir(tmp_path)
    elsewhere = demo_message(stack_config, demo_urls(stack_config, "token"), clone)
    assert "Stop: .venv/bin/mlmon-nb stack down" in elsewhere and "make " not in elsewhere


def test_the_printed_commands_run_the_mlmon_nb_that_was_run(tmp_path, monkeypatch):
    # as typed where it names a path; else `mlmon-nb` when that is the one on PATH; else its
    # absolute path (this interpreter's, when it was not run as mlmon-nb)
    monkeypatch.chdir(tmp_path)
    local = tmp_path / ".venv" / "bin" / "mlmon-nb"
    local.parent.mkdir(parents=True)
    local.write_text("#!/bin/sh\n")
    local.chmod(0o755)
    assert invoked_as(".venv/bin/mlmon-nb") == CLONE_PROGRAM
    ours = Path(sys.executable).with_name("mlmon-nb")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert invoked_as("/usr/bin/pytest") == str(ours.resolve())
    assert invoked_as(str(ours)) == str(ours)
    monkeypatch.setenv("PATH", str(ours.parent))
    assert invoked_as("mlmon-nb") == "mlmon-nb" == invoked_as(str(ours))
    assert invoked_as("/usr/bin/pytest") == "mlmon-nb"
    monkeypatch.setenv("PATH", str(local.parent))  # another mlmon-nb first on PATH
    assert invoked_as("/usr/bin/pytest") == str(ours.resolve())
