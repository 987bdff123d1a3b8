"""``mlmon-nb run`` refuses what it can tell is wrong before anything runs, fast and without the
notebook machinery; relative times (``now-2h``) are accepted wherever times are taken."""

from __future__ import annotations

import datetime as dt
import json
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
from mlmon_nb.config import load_config
from mlmon_nb.errors import ParameterError
from mlmon_nb.runbooks import Registry, run_from_cli, validate_parameters
from mlmon_nb.runbooks.parameters import baseline_features, check_against_config, resolve_time
from mlmon_nb.runstore import RunStore

REPO = Path(__file__).resolve().parents[2]
MODEL = "sentiment_classifier"
HEAVY = ("papermill", "nbconvert", "nbclient", "jupyter_client", "pandas", "numpy")


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> Path:
    """A configuration file (the demo's, in its own state dir) with a baseline for its model:
    numeric text_length and sentiment_score, categorical channel, and the confidence histogram."""
    root = tmp_path_factory.mktemp("cli-run")
    raw = yaml.safe_load((REPO / "stack" / "mlmon.yaml").read_text())
    raw["stack"]["state_dir"] = str(root / "state")
    path = root / "mlmon.yaml"
    path.write_text(yaml.safe_dump(raw))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"text_length": rng.integers(5, 200, 500).astype(float),
                          "sentiment_score": rng.normal(0, 1, 500),
                          "channel": rng.choice(["web", "mobile", "api"], 500),
                          "confidence": rng.uniform(0.5, 1.0, 500)})
    Baseline.from_frame(frame, MODEL, categorical=["channel"], confidence="confidence").save(
        load_config(path).baseline_path(MODEL))
    return path


def _cli(config: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "mlmon_nb.cli", "--config", str(config), "run",
                          *args], capture_output=True, text=True, cwd=REPO, timeout=120)
    return out, time.perf_counter() - started


def _no_runs(config: Path) -> bool:
    return not (load_config(config).stack.state_dir / "runs").exists()  # not even a run store


# -- times ----------------------------------------------------------------------------------------

NOW = dt.datetime(2026, 5, 1, 12, 0, 30, 250000, tzinfo=dt.UTC)


@pytest.mark.parametrize("given,expected", [
    ("now", "2026-05-01T12:00:30Z"),
    ("now-2h", "2026-05-01T10:00:30Z"),
    ("now-30m", "2026-05-01T11:30:30Z"),
    ("NOW - 1d", "2026-04-30T12:00:30Z"),
    ("now+5m", "2026-05-01T12:05:30Z"),
    ("1714564800", "2024-05-01T12:00:00Z"),
    ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z"),  # ISO-8601 stays as written
    ("2024-05-01T12:00:00.123456789Z", "2024-05-01T12:00:00.123456789Z"),  # Alertmanager's
    ("", ""),
])
def test_times_relative_to_now_resolve_to_iso(given, expected):
    assert resolve_time(given, NOW) == expected


@pytest.mark.parametrize("bad", ["yesterday", "now-2 hours", "now-", "2024-13-45T00:00:00Z",
                                 "now-2h; rm", "12"])
def test_times_that_are_none_are_refused_with_what_to_write(bad):
    with pytest.raises(ValueError, match="ISO-8601.*now-2h"):
        resolve_time(bad, NOW)


def test_runbook_time_parameters_take_relative_times():
    rb = Registry().get("HighErrorRate")
    got = validate_parameters(rb, {"start": "now-2h", "end": "now", "starts_at": "now-30m"})
    start, end, starts_at = (dt.datetime.fromisoformat(got[k].replace("Z", "+00:00"))
                             for k in ("start", "end", "starts_at"))
    assert end - start == dt.timedelta(hours=2)  # one "now" for every parameter
    assert end - starts_at == dt.timedelta(minutes=30)
    with pytest.raises(ParameterError, match="parameter 'end'.*now-2h"):
        validate_parameters(rb, {"end": "tomorrow"})


# -- the configuration and the baseline ------------------------------------------------------------

def test_unknown_model_and_feature_are_refused_naming_what_exists(configured, tmp_path):
    config = load_config(configured)
    check_against_config(config, {"model_name": MODEL, "feature": "channel"})
    check_against_config(config, {"model_name": MODEL, "feature": "confidence"})
    with pytest.raises(ParameterError, match=f"model 'nope' is not configured.*: {MODEL}"):
        check_against_config(config, {"model_name": "nope"})
    with pytest.raises(ParameterError, match="'nope' is not a feature.*: text_length, "
                                             "sentiment_score, channel, confidence$"):
        check_against_config(config, {"model_name": MODEL, "feature": "nope"})
    with pytest.raises(ParameterError, match="'nope' is not a feature"):
        check_against_config(config, {"feature": "nope"}, declared_model=MODEL)
    # a baseline that cannot be read leaves the feature to the runbook (which says so itself)
    check_against_config(config, {"model_name": MODEL, "feature": "nope",
                                  "baseline_path": str(tmp_path / "absent.json")})
    assert baseline_features(tmp_path / "absent.json") is None
    (tmp_path / "broken.json").write_text("{not json")
    assert baseline_features(tmp_path / "broken.json") is None
    doc = json.loads(config.baseline_path(MODEL).read_text())
    assert baseline_features(config.baseline_path(MODEL)) == \
        tuple(Baseline.from_dict(doc).features) + ("confidence",)


def test_cli_refuses_an_unknown_model_fast_listing_the_configured_ones(configured):
    out, seconds = _cli(configured, "runbooks/HighErrorRate.ipynb", "-p", "model_name", "nope")
    print(f"refused an unknown model in {seconds:.2f}s (process start to exit)")
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"model 'nope' is not configured; configured models in {configured}: {MODEL}" \
        in out.stderr
    assert out.stdout == "" and _no_runs(configured)
    assert seconds < 60  # generous: the point is that no kernel starts (measured ~0.5 s)


def test_cli_refuses_an_unknown_feature_listing_the_baseline_features(configured):
    # no model_name: the runbook's default model is the one whose baseline is read
    out, seconds = _cli(configured, "runbooks/DataDriftDetected.ipynb", "-p", "feature", "nope")
    print(f"refused an unknown feature in {seconds:.2f}s (process start to exit)")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "'nope' is not a feature of the baseline of sentiment_classifier" in out.stderr
    assert "its features are: text_length, sentiment_score, channel, confidence" in out.stderr
    assert out.stdout == "" and _no_runs(configured)
    assert seconds < 60


def test_an_unreachable_prometheus_is_one_line_naming_the_url_used(configured):
    from mlmon_nb.stack import free_port
    passed = f"http://127.0.0.1:{free_port()}"
    out, seconds = _cli(configured, "runbooks/HighErrorRate.ipynb", "-p", "prometheus_url",
                        passed)
    print(f"refused an unreachable Prometheus in {seconds:.2f}s (process start to exit)")
    assert out.returncode == 2 and out.stdout == "", out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"Prometheus is unreachable at {passed} (" in lines[0], lines
    assert "-p prometheus_url" in lines[0] and "nothing was run" in lines[0]
    assert _no_runs(configured)  # no run, no kernel, no traceback page
    # without -p the URL named is the configuration's, the one the run would have used
    out, _ = _cli(configured, "HighErrorRate")
    assert f"unreachable at {load_config(configured).prometheus_url} (" in out.stderr, out.stderr


def test_refusals_happen_before_the_notebook_machinery_is_imported(configured):
    code = ("import sys\nfrom mlmon_nb.cli import main\n"
            f"codes = [main(['--config', {str(configured)!r}, 'run', '{{}}', *a]) for a in ("
            "['-p', 'model_name', 'nope'], ['-p', 'feature', 'nope'], ['-p', 'start', 'soon'],"
            "['-p', 'model_name', 'x;y'])]\n"
            f"print(codes, [m for m in {HEAVY!r} if m in sys.modules])")
    for notebook in ("runbooks/DataDriftDetected.ipynb", "HighErrorRate"):
        out = subprocess.run([sys.executable, "-c", code.replace("{}", notebook)],
                             capture_output=True, text=True, cwd=REPO, timeout=120)
        assert out.stdout.strip() == "[2, 2, 2, 2] []", out.stdout + out.stderr
        assert "'soon'" in out.stderr and "a model name" in out.stderr
    assert _no_runs(configured)


def test_cli_runs_with_a_relative_start(history, prometheus, tmp_path, capsys):
    state = tmp_path / "state"
    config = replace(history.config, prometheus_url=prometheus)
    config = replace(config, stack=replace(config.stack, state_dir=state))
    code = run_from_cli(config, "runbooks/HighErrorRate.ipynb",
                        {"model_name": history.model_name, "start": "now-2h", "end": "now",
                         "baseline_path": str(history.baseline_path)}, progress=False)
    out = capsys.readouterr().out
    assert code == 0, out
    run = RunStore(state / "runs").list()[0]
    assert run.status == "done" and run.source == "cli"
    start, end = (dt.datetime.fromisoformat(str(run.params[k]).replace("Z", "+00:00"))
                  for k in ("start", "end"))
    assert end - start == dt.timedelta(hours=2)  # resolved before execution, as recorded
    assert f"start={run.params['start']}" in out


def test_a_run_without_model_name_records_the_runbooks_default_model(configured):
    """The run index, its list's model column, the run's title and the model filter all read
    the run's model_name: a run started without one records the runbook's default."""
    from mlmon_nb.runbooks import server_defaults
    config = load_config(configured)
    rb = Registry().get("DataDriftDetected")
    filled = server_defaults(rb, config, validate_parameters(rb, {"window": "2h"}))
    assert filled["model_name"] == MODEL and filled["window"] == "2h"
    store = RunStore(config.stack.state_dir / "runs-default-model")
    run, _ = store.submit(rb.alertname, filled, source="cli")
    assert run.model_name == MODEL and store.list(model_name=MODEL)[0].run_id == run.run_id
