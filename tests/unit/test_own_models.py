"""A user's own models: their scrape jobs, their runbook folders, `mlmon-nb init`'s file, and
generated output that never names the demo unless the demo is configured."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from mlmon_nb import queries as q
from mlmon_nb.cli import main
from mlmon_nb.config import DEMO_CONFIG, load_config, parse_config, shipped_dir
from mlmon_nb.errors import ConfigError, ParameterError, RunbookError
from mlmon_nb.initialize import InitAnswers, ModelAnswer, render_init_config
from mlmon_nb.rules.alertmanager import render_alertmanager, render_launcher_snippet
from mlmon_nb.rules.render import render_rule_files
from mlmon_nb.runbooks import Registry
from mlmon_nb.runbooks.cli import check_early
from mlmon_nb.runbooks.parameters import (
    check_against_config,
    declared_default,
    default_model,
    resolve_time,
    server_defaults,
    validate_parameters,
)
from mlmon_nb.stack.grafana import dashboard_files

OWN = {"version": 1, "prometheus_url": "http://prom.internal:9090",
       "models": [{"name": "fraud", "job": "fraud-api"}, {"name": "churn"}]}


def _runbook(folder: Path, alert: str, marker: str) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f'model_name = "x"\nmarker = "{marker}"')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{alert}.ipynb")
    return folder / f"{alert}.ipynb"


def test_a_models_job_is_configured_and_defaults_to_its_name():
    config = parse_config(OWN)
    assert [m.job for m in config.models] == ["fraud-api", "churn"]
    assert config.jobs == ("fraud-api", "churn")
    assert load_config(DEMO_CONFIG).jobs == ("mlmon-demo",)
    with pytest.raises(ConfigError, match="job 'a b' must be the scrape job"):
        parse_config({**OWN, "models": [{"name": "m", "job": "a b"}]})
    assert 'job="fraud-api"' in q.process_cpu("fraud-api")


def test_generated_output_names_the_demo_only_when_the_demo_is_configured():
    own, demo = parse_config(OWN), load_config(DEMO_CONFIG)

    def generated(config) -> str:
        return "\n".join([*render_rule_files(config, baselines={}).values(),
                          render_alertmanager(config), render_launcher_snippet(config),
                          *dashboard_files(config).values()])
    assert "mlmon-demo" not in generated(own)
    assert "mlmon-demo" in generated(demo)  # the Resources dashboard's $service_job
    resources = json.loads(dashboard_files(own)["resources.json"])
    (job,) = [v for v in resources["templating"]["list"] if v["name"] == "service_job"]
    assert job["current"]["value"] == "fraud-api"
    assert [o["value"] for o in job["options"]] == ["fraud-api", "churn"]


def test_runbook_dirs_override_and_add_to_the_shipped_runbooks(tmp_path):
    own = tmp_path / "my-runbooks"
    _runbook(own, "HighErrorRate", "mine")
    _runbook(own, "FraudRingSuspected", "mine")
    path = tmp_path / "mlmon.yaml"
    path.write_text(yaml.safe_dump({**OWN, "runbook_dirs": ["my-runbooks"]}))
    config = load_config(path)
    assert config.runbook_dirs == (own.resolve(),)
    registry = Registry.for_config(config)
    assert registry.get("HighErrorRate").path == own.resolve() / "HighErrorRate.ipynb"
    assert registry.get("FraudRingSuspected").path.parent == own.resolve()
    shipped = registry.get("MLServiceDown").path
    assert shipped.parent == shipped_dir("runbooks").resolve()
    assert {"HighErrorRate", "FraudRingSuspected", "MLServiceDown"} <= set(registry.names())
    # a clone's runbooks/X.ipynb still names the runbook of alert X
    assert registry.resolve("runbooks/MLServiceDown.ipynb").path == shipped
    path.write_text(yaml.safe_dump({**OWN, "runbook_dirs": ["missing"]}))
    with pytest.raises(RunbookError, match="not a folder; create it"):
        Registry.for_config(load_config(path))
    with pytest.raises(ConfigError, match="runbook_dirs must be a list of folders"):
        parse_config({**OWN, "runbook_dirs": "my-runbooks"})


def test_init_writes_a_configuration_that_loads(tmp_path):
    answers = InitAnswers("http://prom:9090/", "http://am:9093", (
        ModelAnswer("fraud", "fraud-api", "baselines/fraud.json"),),
        launcher_url="http://127.0.0.1:18999", scrape_interval="30s")
    path = tmp_path / "mlmon.yaml"
    path.write_text(render_init_config(answers))
    config = load_config(path)
    assert config.prometheus_url == "http://prom:9090" and config.alertmanager_url == "http://am:9093"
    assert config.models[0].job == "fraud-api"
    assert config.baseline_path("fraud") == tmp_path / "baselines" / "fraud.json"
    assert config.stack.ports["launcher"] == 18999
    assert config.stack.state_dir == tmp_path / "mlmon-state"
    assert config.stack.scrape_interval_seconds == 30


@pytest.mark.parametrize(("answers", "message"), [
    (InitAnswers("prom:9090", "http://am", (ModelAnswer("m", "j"),)), "--prometheus-url 'prom:9090'"),
    (InitAnswers("http://p", "http://am:x", (ModelAnswer("m", "j"),)), "port that is not a number"),
    (InitAnswers("http://p", "http://am", (ModelAnswer("9m", "j"),)), "--model '9m' is not a model"),
    (InitAnswers("http://p", "http://am", (ModelAnswer("m", "a b"),)), "--job 'a b'"),
    (InitAnswers("http://p", "http://am", ()), "name at least one model"),
    (InitAnswers("http://p", "http://am", (ModelAnswer("m" * 129, "j"),)), "at most 128"),
    # a launcher URL ends up in every rule's runbook_url, a Go template Prometheus expands
    (InitAnswers("http://p", "http://am", (ModelAnswer("m", "j"),),
                 launcher_url='http://127.0.0.1:18088/a{{ .x }}'), "not a plain URL"),
    (InitAnswers("http://p", "http://am", (ModelAnswer("m", "j"),),
                 launcher_url="http://user:pw@127.0.0.1:18088"), "not a plain URL"),
])
def test_init_refuses_bad_answers_saying_which(answers, message):
    with pytest.raises(ConfigError, match=message):
        render_init_config(answers)


def test_init_command_refuses_an_existing_file_and_a_missing_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # no terminal: nothing is asked
    out = tmp_path / "mlmon.yaml"
    flags = ["init", "-o", str(out), "--prometheus-url", "http://p:9090",
             "--alertmanager-url", "http://a:9093", "--model", "fraud", "--job", "fraud-api"]
    assert main(flags) == 0 and load_config(out).models[0].job == "fraud-api"
    assert main(flags) == 2 and "pass --force" in capsys.readouterr().err
    assert main([*flags, "--force"]) == 0
    assert main(["init", "-o", str(tmp_path / "b.yaml"), "--model", "m"]) == 2
    assert "init needs --prometheus-url" in capsys.readouterr().err



def test_each_job_and_baseline_belongs_to_the_model_before_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", open("/dev/null"))
    urls = ["--prometheus-url", "http://p:9090", "--alertmanager-url", "http://a:9093"]
    out = tmp_path / "mlmon.yaml"
    assert main(["init", "-o", str(out), *urls, "--model", "fraud", "--model", "churn",
                 "--job", "churn-api"]) == 0
    assert [(m.name, m.job) for m in load_config(out).models] == [
        ("fraud", "fraud"), ("churn", "churn-api")]
    # or one per model in --model order, as the help says; each after its own, mixed
    assert main(["init", "-o", str(out), "--force", *urls, "--model", "a", "--model", "b",
                 "--model", "c", "--job", "ja", "--job", "jb", "--job", "jc", "--baseline",
                 "c.json", "--model", "d", "--job", "jd"]) == 0
    assert [(m.name, m.job) for m in load_config(out).models] == [
        ("a", "ja"), ("b", "jb"), ("c", "jc"), ("d", "jd")]
    assert [m.name for m in load_config(out).models if m.baseline] == ["c"]
    for flags, message in [(["--job", "j", "--model", "m"], "comes before any --model"),
                           (["--model", "m", "--job", "a", "--job", "b"], "has two --job"),
                           (["--model", "a", "--model", "b", "--model", "c", "--job", "x",
                             "--job", "y"], "2 --job follow 3 --model"),
                           (["--model", "a", "--job", "x", "--baseline", "p", "--job", "y"],
                            "model 'a' has two --job")]:
        assert main(["init", "-o", str(tmp_path / "b.yaml"), *urls, *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not (tmp_path / "b.yaml").exists()


@pytest.mark.parametrize("value", ["now-99999999h", "now+99999999999999999999s"])
def test_a_time_out_of_range_is_a_clear_error(value):
    with pytest.raises(ValueError, match="out of range"):
        resolve_time(value)


@pytest.mark.parametrize("raw, said", [
    ({"window": "999999999999d"}, "a duration from 1s to 366d"),
    ({"window": "0s"}, "a duration from 1s to 366d"),
    ({"step": "1ms"}, "a duration from 1s to 366d"),
    ({"start": "0001-01-01"}, "between 1970 and 2261"),
    ({"end": "9999-12-31T23:59:59Z"}, "between 1970 and 2261"),
    ({"start": "now", "end": "now-2h"}, "end .* must be after start"),
    ({"start": "2026-01-02", "end": "2026-01-01T23:00:00Z"}, "end .* must be after start"),
])
def test_times_and_durations_a_run_cannot_query_are_refused_when_asked_for(raw, said):
    """Refused before a run exists, not by a kernel failing on pandas' or Prometheus' limits."""
    runbook = Registry.for_config(load_config(DEMO_CONFIG)).get("HighErrorRate")
    assert {"window", "step", "start", "end"} <= set(runbook.parameters)
    with pytest.raises(ParameterError, match=said):
        validate_parameters(runbook, raw)
    fine = validate_parameters(runbook, {"window": "366d", "step": "1s", "start": "now-2h",
                                         "end": "now"})
    assert fine["window"] == "366d"


def test_a_run_without_a_model_is_about_the_only_configured_model():
    # the shipped runbooks default to the demo's model; a setup with one model of its own means
    # that one, and with several the default is refused by name, as an unknown model is
    registry = Registry.for_config(load_config(DEMO_CONFIG))
    shipped = registry.get("ElevatedErrorRate")
    declared = declared_default(shipped, "model_name")
    one = parse_config({**OWN, "models": [{"name": "fraud", "job": "fraud-api"}]})
    assert default_model(declared, one) == "fraud"
    assert server_defaults(shipped, one, {})["model_name"] == "fraud"
    check_against_config(one, {}, declared_model=declared)
    check_early(one, registry, "ElevatedErrorRate", {})  # `mlmon-nb run`'s check before papermill
    two = parse_config(OWN)
    assert default_model(declared, two) == "sentiment_classifier"
    for check in (lambda: check_against_config(two, {}, declared_model=declared),
                  lambda: check_early(two, registry, "ElevatedErrorRate", {})):
        with pytest.raises(ParameterError, match="configured models: fraud, churn"):
            check()
    assert default_model(declared, load_config(DEMO_CONFIG)) == "sentiment_classifier"


MODEL_NAMES = ["sentiment_classifier", "fraud-v2", "_shadow", "m" * 128]
NOT_MODEL_NAMES = ["fraud.v2", "2fast", "a b", 'x"} or {', "m" * 129, "model:v2", "é"]


def test_every_entry_point_takes_the_same_model_names():
    """The exporter, the baseline, the configuration, `init` and a runbook's parameters accept
    one set of model names: a model instrumented under a name the others refuse could never be
    configured, alerted on or investigated."""
    from prometheus_client import CollectorRegistry

    from mlmon_nb import ModelMonitor
    from mlmon_nb.baseline import BaselineBuilder
    from mlmon_nb.errors import BaselineError, InstrumentError
    from mlmon_nb.runbooks.parameters import check_value

    def config(name: str):
        return parse_config({"version": 1, "models": [{"name": name, "job": "svc"}]})

    def init(name: str) -> str:
        return render_init_config(InitAnswers("http://127.0.0.1:9090", "http://127.0.0.1:9093",
                                              (ModelAnswer(name, "svc"),)))
    entry_points = [(lambda n: ModelMonitor(n, registry=CollectorRegistry()), InstrumentError),
                    (BaselineBuilder, BaselineError), (config, ConfigError), (init, ConfigError),
                    (lambda n: check_value("model_name", n), ValueError)]
    for enter, error in entry_points:
        for name in MODEL_NAMES:
            enter(name)
        for name in NOT_MODEL_NAMES:
            with pytest.raises(error, match="a model name"):
                enter(name)


def test_servers_elsewhere_are_not_told_to_start_the_bundled_stack():
    """The bundled stack runs on this machine only: an unreachable Prometheus on another host is
    the user's own, and the fix says to check it there (messages only: no traffic leaves)."""
    from mlmon_nb.errors import PrometheusUnreachable, start_hint

    own = str(PrometheusUnreachable("http://prometheus.monitoring.svc:9090", "name not known"))
    assert "stack up" not in own and "runs on prometheus.monitoring.svc" in own, own
    # how to point at another, either way, for each way in: the CLI's two and Python's
    assert "-p prometheus_url URL" in own and "query --url URL" in own and "Prometheus(URL)" in own
    for local in ("http://127.0.0.1:9090", "http://localhost:9090", "http://[::1]:9090"):
        assert "`mlmon-nb stack up`" in str(PrometheusUnreachable(local)), local
    assert "stack up" not in start_hint("http://10.0.0.7:9093")


def test_init_with_a_public_launcher_url_says_where_the_launcher_binds():
    """A launcher URL that is not this machine's loopback is a reverse proxy's: the launcher
    executes notebooks, so it still binds loopback, and the written file says so."""
    def written(launcher_url: str) -> str:
        return render_init_config(InitAnswers("http://10.0.0.5:9090", "http://10.0.0.5:9093",
                                              (ModelAnswer("m", "svc"),), launcher_url=launcher_url))
    public = written("https://mlmon.example.com")
    config = parse_config(yaml.safe_load(public))
    assert config.launcher_url == "https://mlmon.example.com"
    assert config.stack.ports["launcher"] == 18088  # what the comment names
    assert "binds\n# 127.0.0.1:18088" in public and "--allow-host" in public
    local = written("http://127.0.0.1:18999")
    assert parse_config(yaml.safe_load(local)).stack.ports["launcher"] == 18999
    assert "reverse proxy" not in local
