"""The configuration refuses what it cannot read: unknown keys, values of the wrong shape, URLs
``mlmon-nb init`` would refuse and thresholds out of order, each naming the file, the key path
and what to write; and every configuration the repository ships still loads."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

import mlmon_nb.config as config_module
from mlmon_nb.cli import main
from mlmon_nb.config import load_config, parse_config
from mlmon_nb.errors import ConfigError
from mlmon_nb.initialize import InitAnswers, ModelAnswer, check_url, render_init_config
from mlmon_nb.stack.lifecycle import effective_config_yaml

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "stack" / "mlmon.yaml"

Edit = Callable[[dict], Any]


def _raw(edit: Edit) -> dict:
    """Two models (the demo's and a bare one) with ``edit`` applied."""
    raw = yaml.safe_load(DEMO.read_text())
    raw["models"].append({"name": "fraud", "job": "fraud-api"})
    edit(raw)
    return raw


def _refused(edit: Edit, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("MLMON_PROMETHEUS_URL", raising=False)
    with pytest.raises(ConfigError) as caught:
        parse_config(_raw(edit), DEMO)
    message = str(caught.value)
    assert message.startswith(f"{DEMO}: ") and "\n" not in message, message
    return message


def _fraud(**keys: Any) -> Edit:
    return lambda raw: raw["models"][1].update(keys)


def _demo_model(section: str, **keys: Any) -> Edit:
    return lambda raw: raw["models"][0][section].update(keys)


def _replace_key(old: str, new: str) -> Edit:
    return lambda raw: raw["models"][1].update({new: raw["models"][1].pop(old)})


@pytest.mark.parametrize("edit, expected", [
    (_replace_key("job", "job_name"), "unknown key models[1].job_name; did you mean `job`?"),
    (lambda r: r.update(runbook_dir=["mine"]), "unknown key runbook_dir; did you mean `runbook_dirs`?"),
    (lambda r: r.update({"prometheus-url": "http://p:9090"}),
     "unknown key prometheus-url; did you mean `prometheus_url`?"),
    (_fraud(slo={"period": "7d"}), "unknown key models[1].slo; did you mean `slos`?"),
    (_fraud(baseline_path="b.json"), "unknown key models[1].baseline_path; did you mean `baseline`?"),
    (_fraud(alerts={"error_rate": {"critical": 0.1}}),
     "unknown key models[1].alerts.error_rate; did you mean `error_ratio`?"),
    (_fraud(drift={"kss": {"warning": 0.2}}), "unknown key models[1].drift.kss; did you mean `ks`?"),
    (_fraud(drift={"ks": {"warn": 0.2}}), "unknown key models[1].drift.ks.warn; did you mean `warning`?"),
    (_fraud(slos={"latency": {"threshold": 0.1}}),
     "unknown key models[1].slos.latency.threshold; did you mean `threshold_seconds`?"),
    (_fraud(slos={"throughput": {"min_rp": 1}}),
     "unknown key models[1].slos.throughput.min_rp; did you mean `min_rps`?"),
    (_fraud(slos={"cost": {"per_hours": 1}}),
     "unknown key models[1].slos.cost.per_hours; did you mean `per_hour`?"),
    (_fraud(alerts={"min_events": {"request": 5}}),
     "unknown key models[1].alerts.min_events.request; did you mean `requests`?"),
    (lambda r: r["stack"].update(state=r["stack"].pop("state_dir")),
     "unknown key stack.state; did you mean `state_dir`?"),
    (lambda r: r["stack"].update(ports={"prometeus": 29090}),
     "unknown key stack.ports.prometeus; did you mean `prometheus`?"),
])
def test_an_unknown_key_names_its_path_and_the_closest_known_key(edit, expected, monkeypatch):
    assert _refused(edit, monkeypatch).endswith(expected)


@pytest.mark.parametrize("edit, path, known", [
    (_fraud(error_rate=0.1), "models[1].error_rate", "name, job, version, baseline, "),
    (lambda r: r.update(grafana={"port": 3000}), "grafana", "version, models, stack, "),
    (_fraud(drift={"wasserstein": {}}), "models[1].drift.wasserstein", "ks, psi, alpha"),
    (lambda r: r.update(alerts={"error_ratio": {"critical": 0.1}}), "alerts.error_ratio",
     "for (the top-level `alerts` holds only `for`"),
])
def test_an_unknown_key_without_a_close_one_lists_the_known_keys(edit, path, known, monkeypatch):
    message = _refused(edit, monkeypatch)
    assert f"unknown key {path}; the known keys" in message and known in message, message


@pytest.mark.parametrize("edit, expected", [
    (_fraud(alerts=0.1), "models[1].alerts must be a mapping of error_ratio, latency_p95_factor"),
    (_fraud(alerts={"error_ratio": 0.1}), "models[1].alerts.error_ratio must be a mapping of "
                                          "warning, critical, got 0.1"),
    (_fraud(slos={"latency": 0.25}), "models[1].slos.latency must be a mapping of "
                                     "threshold_seconds, objective, got 0.25"),
    (_fraud(drift={"ks": 0.1}), "models[1].drift.ks must be a mapping of info, warning, critical"),
    (_fraud(slos=[0.99]), "models[1].slos must be a mapping of period, latency"),
    (_fraud(alerts={"min_events": 10}), "models[1].alerts.min_events must be a mapping of requests"),
    (lambda r: r.update(stack=5), "stack must be a mapping of state_dir, host"),
    (lambda r: r.update(stack={"ports": 5}), "stack.ports must be a mapping of prometheus, "),
    (lambda r: r.update(alerts=["for"]), "alerts must be a mapping of for, got ['for']"),
    (lambda r: r.update(models={"name": "m"}), "models must be a list"),
    (lambda r: r["models"].append("churn"), "models[2] must be a mapping of name, job"),
    (lambda r: r["models"].append({"job": "churn-api"}), "models[2] needs a `name`"),
    (lambda r: r.update(stack={"ports": {"prometheus": 9090.5}}),
     "stack.ports.prometheus must be a port number from 1 to 65535, got 9090.5"),
    (lambda r: r.update(stack={"ports": {"launcher": 70000}}), "stack.ports.launcher must be a port"),
    (lambda r: r.update(stack={"state_dir": ["a"]}), "stack.state_dir must be a folder's path"),
    (lambda r: r.update(stack={"host": None}), "stack.host must be a host name or address"),
    (_fraud(baseline=["b.json"]), "models[1].baseline must be a file's path"),
])
def test_a_value_of_the_wrong_shape_names_its_path_and_shape(edit, expected, monkeypatch):
    assert expected in _refused(edit, monkeypatch)


@pytest.mark.parametrize("edit, expected", [
    (_demo_model("alerts", error_ratio={"critical": 0.05, "warning": "abc"}),
     "models[0].alerts.error_ratio.warning must be a number (e.g. 0.02), got 'abc'"),
    (_demo_model("alerts", accuracy_min=None), "models[0].alerts.accuracy_min must be a number"),
    (_demo_model("alerts", low_confidence_share=True),
     "models[0].alerts.low_confidence_share must be a number (e.g. 0.2), got True"),
    (_demo_model("drift", psi={"info": float("nan")}), "models[0].drift.psi.info must be a number"),
    (_fraud(low_confidence_threshold="high"), "models[1].low_confidence_threshold must be a number"),
    (_fraud(slos={"cost": {"per_hour": "1.5 EUR"}}), "models[1].slos.cost.per_hour must be a number"),
    (_fraud(slos={"throughput": {"min_rps": []}}), "models[1].slos.throughput.min_rps must be a number"),
    (_fraud(slos={"period": "a month"}), "models[1].slos.period must be a duration such as 30d"),
    (_fraud(slos={"period": 0}), "models[1].slos.period must be a duration"),
    (lambda r: r["stack"].update(scrape_interval="fast"), "stack.scrape_interval must be a duration"),
    (_fraud(slos={"latency": {"objective": 99}}), "models[1].slos.latency.objective is an objective "
                                                 "between 0 and 1 (e.g. 0.99), got 99"),
    (_fraud(alerts={"alpha": 1.5}), "models[1].alerts.alpha is a significance level between 0 and 1"),
    (_fraud(alerts={"min_events": {"requests": -1}}), "models[1].alerts.min_events must be counts"),
    (_fraud(version=1.10), 'models[1].version must be a string; quote it (e.g. "1.10"'),
])
def test_a_bad_value_names_its_key_path(edit, expected, monkeypatch):
    assert expected in _refused(edit, monkeypatch)


@pytest.mark.parametrize("key", ["prometheus_url", "alertmanager_url", "launcher_url", "jupyter_url"])
@pytest.mark.parametrize("url", ["127.0.0.1:38188", "runbooks.internal", "ftp://host:21", "http://",
                                 "http://host:port", "http://user:secret@host:9090",
                                 'http://host:9090/"x"', "http://host:9090/?q=1", 9090])
def test_a_url_init_would_refuse_is_refused(key, url, monkeypatch):
    with pytest.raises(ConfigError):
        check_url(f"--{key}", str(url))  # the same check, the same verdict
    message = _refused(lambda raw: raw.update({key: url}), monkeypatch)
    assert f"{key} {str(url)!r} " in message, message


def test_a_good_url_is_kept_and_the_environments_url_is_checked_too(monkeypatch):
    monkeypatch.delenv("MLMON_PROMETHEUS_URL", raising=False)
    config = parse_config(_raw(lambda raw: raw.update(launcher_url="https://runbooks.example/",
                                                      prometheus_url="")))
    assert config.launcher_url == "https://runbooks.example"
    assert config.prometheus_url == "http://127.0.0.1:19090"  # empty: from the port
    monkeypatch.setenv("MLMON_PROMETHEUS_URL", "prometheus:9090")
    with pytest.raises(ConfigError, match="MLMON_PROMETHEUS_URL 'prometheus:9090' is not a URL"):
        parse_config(_raw(lambda raw: None))


@pytest.mark.parametrize("edit, expected", [
    (_demo_model("alerts", error_ratio={"critical": 0.01, "warning": 0.04}),
     "models[0].alerts.error_ratio.critical (0.01) is below models[0].alerts.error_ratio.warning "
     "(0.04);"),
    (_fraud(alerts={"error_ratio": {"critical": 0.01}}),  # the default warning is 0.02
     "models[1].alerts.error_ratio.critical (0.01) is below models[1].alerts.error_ratio.warning"),
    (_fraud(alerts={"latency_p95_factor": {"critical": 1.2, "warning": 1.8}}),
     "models[1].alerts.latency_p95_factor.critical (1.2) is below"),
    (_fraud(drift={"ks": {"info": 0.3}}), "models[1].drift.ks.warning (0.15) is below "
                                          "models[1].drift.ks.info (0.3)"),
    (_fraud(drift={"psi": {"critical": 0.15}}), "models[1].drift.psi.critical (0.15) is below"),
    (_fraud(alerts={"accuracy_min": 0.9}), "models[1].alerts.accuracy_min (0.9) is above "
                                           "models[1].slos.accuracy.objective (0.85)"),
])
def test_thresholds_out_of_order_are_refused(edit, expected, monkeypatch):
    message = _refused(edit, monkeypatch)
    assert expected in message and ("must be at least" in message or "at most" in message), message


def test_thresholds_in_order_and_equal_severities_load():
    raw = _raw(_fraud(alerts={"error_ratio": {"critical": 0.03, "warning": 0.03},
                              "accuracy_min": 0.85},
                      drift={"ks": {"info": 0.2, "warning": 0.2, "critical": 0.2}}))
    fraud = parse_config(raw).model("fraud")
    assert (fraud.alerts.error_ratio_critical, fraud.alerts.accuracy_min) == (0.03, 0.85)
    assert fraud.ks.critical == 0.2


@pytest.mark.parametrize("version", [True, 1.0, "1", 2, None])
def test_the_version_must_be_the_integer_1(version, monkeypatch):
    def edit(raw: dict) -> None:
        raw["version"] = version
    assert "write `version: 1` at the top" in _refused(edit, monkeypatch)


def test_a_missing_version_says_what_to_write(monkeypatch):
    message = _refused(lambda raw: raw.pop("version"), monkeypatch)
    assert message.endswith("no version; this mlmon_nb reads version 1: write `version: 1` at the top")


def test_a_models_version_is_a_string_and_null_is_none(monkeypatch):
    monkeypatch.delenv("MLMON_PROMETHEUS_URL", raising=False)
    models = parse_config(_raw(lambda raw: raw["models"].extend(
        [{"name": "a", "version": None}, {"name": "b", "version": 2}]))).models
    assert [m.version for m in models] == ["1.0.0", "", "", "2"]


def test_the_cli_prints_the_error_naming_the_file(tmp_path, capsys):
    path = tmp_path / "mlmon.yaml"
    path.write_text("version: 1\nmodels:\n  - name: m\n    job_name: svc\n")
    assert main(["--config", str(path), "rules", "generate", "-o", str(tmp_path / "out")]) == 2
    assert f"{path}: unknown key models[0].job_name; did you mean `job`?" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _uncommented(text: str) -> str:
    """The optional keys a snippet shows commented out (``# prometheus_url: …``), set."""
    return re.sub(r"(?m)^(\s*)# ?(\s*\w+:.*)$", r"\1\2", text)


def _shipped() -> list[tuple[str, str, Path]]:
    """Every configuration the repository ships: files, the README's and docs' snippets and
    config.py's documented example, each also with its commented-out keys set."""
    files = [REPO / "README.md", *REPO.glob("docs/**/*.md"),
             *(f for folder in ("stack", "tests", "benchmarks", "mlmon_nb")
               for f in sorted((REPO / folder).rglob("*.y*ml")))]
    out = []
    for path in files:
        text = path.read_text()
        snippets = re.findall(r"```ya?ml\n(.*?)```", text, re.S) if path.suffix == ".md" else [text]
        out += [(f"{path.relative_to(REPO)}[{i}]", snippet, path) for i, snippet in enumerate(snippets)
                if "version: 1" in snippet and "models:" in snippet]
    example = textwrap.dedent(config_module.__doc__.split("::\n", 1)[1].split("\n\n", 1)[0])
    return out + [("mlmon_nb/config.py docstring", example, DEMO)]


def test_every_shipped_configuration_loads(monkeypatch):
    monkeypatch.delenv("MLMON_PROMETHEUS_URL", raising=False)
    shipped = _shipped()
    names = [name for name, _, _ in shipped]
    assert {"stack/mlmon.yaml[0]", "README.md[1]", "docs/configuration.md[0]",
            "tests/golden/in-two-models.yaml[0]", "mlmon_nb/config.py docstring"} <= set(names)
    for _, text, path in shipped:
        for variant in (text, _uncommented(text)):
            parse_config(yaml.safe_load(variant), path)
    documented = parse_config(yaml.safe_load(_uncommented(shipped[-1][1])), DEMO)
    assert documented.launcher_url == "https://runbooks.internal"
    assert documented.alert_for == {"HighErrorRate": "2m"} and documented.runbook_dirs


def test_generated_configurations_load(tmp_path, monkeypatch):
    monkeypatch.delenv("MLMON_PROMETHEUS_URL", raising=False)
    written = render_init_config(InitAnswers("http://prom.internal:9090", "http://am:9093",
                                             (ModelAnswer("fraud", "fraud-api", "b.json"),)))
    assert parse_config(yaml.safe_load(written)).model("fraud").job == "fraud-api"
    demo = load_config(DEMO)
    effective = parse_config(yaml.safe_load(effective_config_yaml(demo)))
    assert effective.urls() == demo.urls()
