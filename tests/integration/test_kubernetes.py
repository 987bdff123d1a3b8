"""Kubernetes output (`rules generate --format prometheus-operator`): every resource against the
Prometheus Operator's CRD schemas, the rule groups unchanged, the Alertmanager routing the same as
alertmanager.yml's (compared by amtool), the dashboards for the Grafana sidecar, and the folder
that `kubectl apply -k` reads. No cluster runs here: the schemas are the API server's checks.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from mlmon_nb.binaries import find_binary
from mlmon_nb.cli import build_parser, main
from mlmon_nb.config import load_config
from mlmon_nb.errors import RulesError
from mlmon_nb.kubernetes import (
    KubernetesOptions,
    Scrape,
    SecretKey,
    parse_labels,
    render_manifests,
    schema_errors,
    validate,
)
from mlmon_nb.kubernetes.files import config_manifests, write_manifests
from mlmon_nb.kubernetes.manifests import GENERATED_HEADER, KUSTOMIZATION
from mlmon_nb.kubernetes.validation import CRD_SCHEMAS, SCHEMA_DIR, python_pattern
from mlmon_nb.rules import render_alertmanager, render_rule_files
from mlmon_nb.stack import grafana
from mlmon_nb.stack.demo.bootstrap import build_demo_baseline
from mlmon_nb.stack.demo.model import MODEL_NAME

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stack"
DEMO = load_config(STACK / "mlmon.yaml")


@pytest.fixture(scope="module")
def baselines(tmp_path_factory):
    """The demo's baseline, built deterministically as `mlmon-nb demo up` builds it."""
    path = tmp_path_factory.mktemp("baselines") / f"{MODEL_NAME}.json"
    return {MODEL_NAME: build_demo_baseline(path)}


@pytest.fixture(scope="module")
def rule_files(baselines):
    files = render_rule_files(DEMO, baselines=baselines)
    # the drift rules, the largest, must be covered (whatever file or group holds them)
    assert any("ml_feature_drift" in text for text in files.values())
    return files


@pytest.fixture(scope="module")
def manifests(baselines):
    return {name: yaml.safe_load(text)
            for name, text in config_manifests(DEMO, baselines=baselines).items()}


def _resources(manifests):
    return {name: doc for name, doc in manifests.items() if name != KUSTOMIZATION}


def _by_kind(manifests, kind):
    return [doc for doc in _resources(manifests).values() if doc["kind"] == kind]


# -- the schemas -----------------------------------------------------------------------------------

def test_bundled_schemas_are_the_four_crds_and_their_source_is_stated():
    files = sorted(p.name for p in SCHEMA_DIR.glob("*.json"))
    assert files == sorted(CRD_SCHEMAS.values())
    readme = (SCHEMA_DIR / "README.md").read_text()
    for needle in ("prometheus-operator/prometheus-operator", "v0.93.0", "Apache License 2.0",
                   "example/prometheus-operator-crd/", *files):
        assert needle in readme, needle
    for name in files:  # the openAPIV3Schema of a namespaced resource: spec and metadata
        schema = json.loads((SCHEMA_DIR / name).read_text())
        assert schema["type"] == "object" and {"apiVersion", "kind", "metadata", "spec"} <= set(
            schema["properties"])


@pytest.mark.parametrize("go, matches, refuses", [
    ("^(?i)(abort|warn)?$", ["ABORT", "warn", ""], ["stop"]),
    ("^((?i)sun|mon)day(?:((:(sun|mon)day)$)|$)", ["SUNday", "monday:sunday"], ["monday:SUNday"]),
])
def test_go_patterns_keep_their_meaning_in_python(go, matches, refuses):
    pattern = re.compile(python_pattern(go))
    assert all(pattern.search(text) for text in matches)
    assert not any(pattern.search(text) for text in refuses)


# -- every resource is valid -----------------------------------------------------------------------

def test_every_resource_is_valid_against_its_crd_schema(manifests, rule_files):
    kinds = sorted(doc["kind"] for doc in _resources(manifests).values())
    assert kinds == sorted(["AlertmanagerConfig", "PodMonitor", "ServiceMonitor",
                            *["PrometheusRule"] * len(rule_files),
                            *["ConfigMap"] * len(grafana.dashboards(DEMO))])
    for name, doc in _resources(manifests).items():
        assert schema_errors(doc) == [], name
        assert doc["metadata"]["namespace"] == "monitoring"
        assert doc["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def _rule(manifests):
    return copy.deepcopy(_by_kind(manifests, "PrometheusRule")[0])


def _amc(manifests):
    return copy.deepcopy(_by_kind(manifests, "AlertmanagerConfig")[0])


def _drop_expr(doc):
    del doc["spec"]["groups"][0]["rules"][0]["expr"]


def _misspell_expr(doc):
    rule = doc["spec"]["groups"][0]["rules"][0]
    rule["exprr"] = rule.pop("expr")


def _sub_route_field(doc):
    doc["spec"]["route"]["routes"][1]["group_by"] = ["..."]  # the Alertmanager spelling


def _sub_route_matcher(doc):
    doc["spec"]["route"]["routes"][0]["matchers"][0]["matchType"] = "=="


def _webhook(amc: dict) -> dict:
    """The launcher's webhook: the one webhook config of the AlertmanagerConfig."""
    (webhook,) = [w for r in amc["spec"]["receivers"] for w in r.get("webhookConfigs", [])]
    return webhook


def _secret_literal(doc):
    _webhook(doc)["httpConfig"]["authorization"]["credentials"] = "s3cr3t"


def _same_group_name(doc):
    groups = doc["spec"]["groups"]
    groups.append({**groups[0], "rules": groups[0]["rules"][:1]})


def _set(path, value):
    def mutate(doc):
        *parents, last = path
        for key in parents:
            doc = doc[key]
        doc[last] = value
    return mutate


@pytest.mark.parametrize("pick, mutate, message", [
    (_rule, _drop_expr, r"spec\.groups\[0\]\.rules\[0\]: 'expr' is a required property"),
    (_rule, _misspell_expr, r"'exprr' was unexpected"),
    (_rule, _set(["spec", "groups", 0, "rules", 0, "for"], "5 minutes"), r"does not match"),
    (_rule, _set(["spec", "groups", 0, "name"], ""), r"should be non-empty|is too short"),
    (_rule, _set(["metadata", "namespace"], "ML_Monitoring"), r"not a DNS label"),
    (_rule, _set(["metadata", "labels", "release"], "x" * 64), r"not a valid label value"),
    (_rule, _set(["metadata", "labels", "bad key!"], "1"), r"not a valid key"),
    (_amc, _sub_route_field, r"spec\.route\.routes\[1\]: .*'group_by' was unexpected"),
    (_amc, _sub_route_matcher, r"spec\.route\.routes\[0\]\.matchers\[0\]\.matchType: '==' is not"),
    (_amc, _secret_literal, r"credentials: 's3cr3t' is not of type 'object'"),
    (_amc, _set(["spec", "route", "groupWait"], "half a minute"), r"does not match"),
    (_rule, _same_group_name, r"spec\.groups: two items have the same name"),
    (_amc, _set(["spec", "route", "groupBy"], ["model_name", "model_name"]),
     r"spec\.route\.groupBy: .* has non-unique elements"),
], ids=["rule without expr", "misspelt field", "bad duration", "empty group name",
        "bad namespace", "long label value", "bad label key", "sub-route field",
        "sub-route matcher", "secret literal", "route duration", "duplicate group",
        "duplicate groupBy"])
def test_invalid_resources_are_caught(manifests, pick, mutate, message):
    doc = pick(manifests)
    assert schema_errors(doc) == []
    mutate(doc)
    errors = schema_errors(doc)
    assert any(re.search(message, e) for e in errors), errors
    with pytest.raises(RulesError, match="would be refused by Kubernetes"):
        validate(doc)


def test_a_configmap_and_an_unknown_kind_are_checked(manifests):
    (configmap, *_) = _by_kind(manifests, "ConfigMap")
    broken = {**configmap, "data": {"no/slash.json": "{}"}, "spec": {}}
    errors = schema_errors(broken)
    assert any("not a valid key" in e for e in errors) and any("unknown fields" in e for e in errors)
    assert "no bundled schema" in schema_errors({"apiVersion": "apps/v1", "kind": "Deployment"})[0]


# -- the rule groups are the rule files' ------------------------------------------------------------

def test_prometheus_rules_hold_exactly_the_rule_files_groups(manifests, rule_files):
    rules = _by_kind(manifests, "PrometheusRule")
    assert len(rules) == len(rule_files)
    for name, text in rule_files.items():
        expected = yaml.safe_load(text)["groups"]
        # byte for byte: each rule's expression, labels and annotations, in order
        (got,) = [doc for doc in rules if json.dumps(doc["spec"]["groups"], sort_keys=False)
                  == json.dumps(expected, sort_keys=False)]
        assert got["spec"]["groups"] == expected
        assert got["metadata"]["name"] == f"mlmon-{Path(name).stem.lower().replace('_', '-')}"
    assert sum(len(g["rules"]) for doc in rules for g in doc["spec"]["groups"]) == sum(
        len(g["rules"]) for text in rule_files.values() for g in yaml.safe_load(text)["groups"])


def test_any_rule_files_are_wrapped_without_reading_group_names():
    """The rule files may change shape (one label-generic file for the fleet): they are wrapped
    as they are, named by file, whatever the groups are called."""
    fleet = {"Fleet_Rules.yml": "groups:\n- name: any name at all\n  interval: 30s\n  rules:\n"
                                "  - record: a:b:c\n    expr: sum by (model_name) (up)\n"}
    files = render_manifests(fleet, render_alertmanager(DEMO), {})
    doc = yaml.safe_load(files["prometheusrule-fleet-rules.yaml"])
    assert doc["metadata"]["name"] == "mlmon-fleet-rules"
    assert doc["spec"]["groups"] == yaml.safe_load(fleet["Fleet_Rules.yml"])["groups"]
    with pytest.raises(RulesError, match="holds `groups:`"):
        render_manifests({"x.yml": "rules: []\n"}, render_alertmanager(DEMO), {})


# -- scraping ----------------------------------------------------------------------------------------

def test_monitors_scrape_the_models_as_the_job_the_dashboards_read(manifests):
    job = DEMO.models[0].job  # the Resources dashboard's default $service_job
    resources = json.loads(grafana.dashboard_files(DEMO)["resources.json"])
    (variable,) = [v for v in resources["templating"]["list"] if v["name"] == "service_job"]
    assert variable["current"]["value"] == job == "mlmon-demo"
    (service,) = _by_kind(manifests, "ServiceMonitor")
    (pod,) = _by_kind(manifests, "PodMonitor")
    for spec, endpoints in ((service["spec"], "endpoints"), (pod["spec"], "podMetricsEndpoints")):
        assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/part-of": "mlmon"}}
        (endpoint,) = spec[endpoints]
        assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
        assert endpoint["interval"] == f"{DEMO.stack.scrape_interval_seconds:g}s"
        assert {"action": "replace", "targetLabel": "job",
                "replacement": job} in endpoint["relabelings"]
        assert "namespaceSelector" not in spec


# -- Alertmanager routing ----------------------------------------------------------------------------

def _back(doc):
    """An AlertmanagerConfig's route, receivers and inhibitions in alertmanager.yml's spelling."""
    def matcher(m):
        return f'{m["name"]}{m["matchType"]}{json.dumps(m["value"])}'

    def route(r):
        names = {"groupBy": "group_by", "groupWait": "group_wait", "groupInterval": "group_interval",
                 "repeatInterval": "repeat_interval", "receiver": "receiver", "continue": "continue"}
        out = {names[k]: v for k, v in r.items() if k in names}
        assert set(r) <= set(names) | {"matchers", "routes"}
        if "matchers" in r:
            out["matchers"] = [matcher(m) for m in r["matchers"]]
        if "routes" in r:
            out["routes"] = [route(s) for s in r["routes"]]
        return out

    spec = doc["spec"]
    inhibit = [{"source_matchers": [matcher(m) for m in rule["sourceMatch"]],
                "target_matchers": [matcher(m) for m in rule["targetMatch"]],
                "equal": rule["equal"]} for rule in spec["inhibitRules"]]
    receivers = []
    for receiver in spec["receivers"]:
        out = {"name": receiver["name"]}
        if "webhookConfigs" in receiver:
            out["webhook_configs"] = [{"url": w["url"], "send_resolved": w["sendResolved"],
                                       "max_alerts": w["maxAlerts"]}
                                      for w in receiver["webhookConfigs"]]
        receivers.append(out)
    return {"route": route(spec["route"]), "inhibit_rules": inhibit, "receivers": receivers}


def test_alertmanager_config_routes_as_alertmanager_yml(manifests):
    original = yaml.safe_load(render_alertmanager(DEMO))
    back = _back(_by_kind(manifests, "AlertmanagerConfig")[0])
    assert back["route"] == original["route"]
    assert back["inhibit_rules"] == original["inhibit_rules"]
    (webhook,) = [w for r in original["receivers"] for w in r.get("webhook_configs", [])]
    assert [w for r in back["receivers"] for w in r.get("webhook_configs", [])] == [
        {**webhook, "url": "http://mlmon-launcher.monitoring.svc/alertmanager"}]
    assert webhook["send_resolved"] is True
    assert [r["name"] for r in back["receivers"]] == [r["name"] for r in original["receivers"]]


def test_webhook_token_is_a_secret_reference_never_a_literal(manifests, tmp_path):
    (doc,) = _by_kind(manifests, "AlertmanagerConfig")
    webhook = _webhook(doc)
    assert webhook["httpConfig"] == {"authorization": {"type": "Bearer", "credentials": {
        "name": "mlmon-launcher-token", "key": "token"}}}
    token = tmp_path / "token"
    token.write_text("s3cr3t-token-value")
    with_token = render_alertmanager(DEMO, webhook_token_file=str(token))  # the stack's spelling
    options = KubernetesOptions(webhook_token=SecretKey.parse("launcher-auth:bearer"))
    text = render_manifests({}, with_token, {}, options)["alertmanagerconfig.yaml"]
    assert "s3cr3t" not in text and str(token) not in text and "credentials_file" not in text
    assert _webhook(yaml.safe_load(text))["httpConfig"] == {
        "authorization": {"type": "Bearer", "credentials": {"name": "launcher-auth",
                                                            "key": "bearer"}}}
    none = render_manifests({}, with_token, {}, KubernetesOptions(webhook_token=None))
    assert "httpConfig" not in none["alertmanagerconfig.yaml"]


def _amtool_routes(config_file: Path, labels: list[str]) -> str:
    proc = subprocess.run([find_binary("amtool"), "config", "routes", "test",
                           f"--config.file={config_file}", *labels],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def test_amtool_routes_the_translated_config_as_the_original(manifests, tmp_path):
    """amtool reads both the generated alertmanager.yml and the AlertmanagerConfig written back
    in Alertmanager's spelling, and sends every kind of alert to the same receivers."""
    original = tmp_path / "original.yml"
    original.write_text(render_alertmanager(DEMO))
    back = tmp_path / "back.yml"
    back.write_text(yaml.safe_dump(_back(_by_kind(manifests, "AlertmanagerConfig")[0])))
    check = subprocess.run([find_binary("amtool"), "check-config", str(back)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    cases = [["severity=critical", "alertname=HighErrorRate", "model_name=m"],
             ["severity=warning", "alertname=FeatureDrift", "model_name=m", "feature=f"],
             ["severity=info", "alertname=X", "model_name=m"], ["alertname=NoSeverity"]]
    routed = [_amtool_routes(back, labels) for labels in cases]
    assert routed == [_amtool_routes(original, labels) for labels in cases]
    assert routed[:3] == ["pager,launcher", "chat,launcher", "log"]


# -- dashboards ----------------------------------------------------------------------------------------

def test_dashboards_are_configmaps_for_the_grafana_sidecar(manifests):
    configmaps = _by_kind(manifests, "ConfigMap")
    files = grafana.dashboard_files(DEMO)
    assert len(configmaps) == len(files)
    seen = {}
    for doc in configmaps:
        assert doc["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, text),) = doc["data"].items()
        seen[key] = text
    assert seen == files
    assert {json.loads(text)["uid"] for text in seen.values()} == {
        d.uid for d in grafana.dashboards(DEMO)}


# -- the folder and the command -----------------------------------------------------------------------

def _config_in(tmp_path: Path) -> Path:
    """The demo configuration with its state (and so the built baseline) under ``tmp_path``."""
    text = (STACK / "mlmon.yaml").read_text().replace("state_dir: ../mlmon-state",
                                                      f"state_dir: {tmp_path / 'state'}")
    path = tmp_path / "mlmon.yaml"
    path.write_text(text)
    return path


def _kustomization(folder: Path) -> list[str]:
    doc = yaml.safe_load((folder / KUSTOMIZATION).read_text())
    assert doc["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and doc["kind"] == "Kustomization"
    return doc["resources"]


def test_cli_writes_the_folder_with_the_flags(tmp_path, capsys, rule_files):
    out = tmp_path / "deploy"
    argv = ["--config", str(_config_in(tmp_path)), "rules", "generate", "--format",
            "prometheus-operator", "-o", str(out), "--namespace", "ml-observability",
            "--name-prefix", "fraud",
            "--selector-label", "release=prom", "--selector-label", "team=ml",
            "--target-label", "app=scorer", "--target-namespace", "models",
            "--metrics-port", "http-metrics", "--scrape", "pod", "--job", "scorer",
            "--webhook-url", "https://runbooks.example/alertmanager"]
    assert main(argv) == 0
    assert "kustomization.yaml" in capsys.readouterr().out
    listed = _kustomization(out)
    written = sorted(p.name for p in out.glob("*.yaml"))
    assert sorted([*listed, KUSTOMIZATION, "servicemonitor.yaml"]) == written
    assert "podmonitor.yaml" in listed and "servicemonitor.yaml" not in listed
    for name in listed:
        text = (out / name).read_text()
        assert text.startswith(GENERATED_HEADER)
        doc = yaml.safe_load(text)
        assert schema_errors(doc) == [], name
        assert doc["metadata"]["namespace"] == "ml-observability"
        assert doc["metadata"]["name"].startswith("fraud-")
        assert {"release": "prom", "team": "ml"}.items() <= doc["metadata"]["labels"].items()
    pod = yaml.safe_load((out / "podmonitor.yaml").read_text())["spec"]
    assert pod["selector"] == {"matchLabels": {"app": "scorer"}}
    assert pod["namespaceSelector"] == {"matchNames": ["models"]}
    assert pod["podMetricsEndpoints"][0]["port"] == "http-metrics"
    assert pod["podMetricsEndpoints"][0]["relabelings"] == [
        {"action": "replace", "targetLabel": "job", "replacement": "scorer"}]
    amc = yaml.safe_load((out / "alertmanagerconfig.yaml").read_text())
    assert _webhook(amc)["url"] == \
        "https://runbooks.example/alertmanager"
    # the CLI built the demo baseline, so the drift rules are there as in a fresh generation
    assert sorted(n for n in listed if n.startswith("prometheusrule-")) == sorted(
        f"prometheusrule-{Path(name).stem}.yaml" for name in rule_files)


def test_write_manifests_removes_its_own_leftovers_only(tmp_path, baselines):
    (tmp_path / "prometheusrule-old.yaml").write_text(f"{GENERATED_HEADER} from x; do not edit.\n")
    (tmp_path / "mine.yaml").write_text("apiVersion: v1\nkind: Namespace\n")
    write_manifests(DEMO, tmp_path, KubernetesOptions(scrape=Scrape.SERVICE), baselines=baselines)
    assert not (tmp_path / "prometheusrule-old.yaml").exists()
    assert (tmp_path / "mine.yaml").exists()
    assert "servicemonitor.yaml" in _kustomization(tmp_path)
    assert "podmonitor.yaml" not in _kustomization(tmp_path)


def test_models_on_different_jobs_are_scraped_each_as_its_own(tmp_path, capsys):
    # a fleet whose models' services run as fraud-api and churn-api: relabelling every target
    # to the first model's job would leave the other's MLServiceDown and resources without
    # series; each target's job comes from its Service's label instead, and the CLI says which
    config = _config_in(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["models"] = [{**raw["models"][0], "name": "fraud", "job": "fraud-api"},
                     {**raw["models"][0], "name": "churn", "job": "churn-api"}]
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    assert main(["--config", str(config), "rules", "generate", "--format",
                 "prometheus-operator", "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert ("the monitors read each service's job from its label app.kubernetes.io/name" in
            said and "app.kubernetes.io/name: churn-api (churn)" in said), said
    for name, key in (("servicemonitor.yaml", "endpoints"), ("podmonitor.yaml",
                                                             "podMetricsEndpoints")):
        doc = yaml.safe_load((out / name).read_text())
        assert schema_errors(doc) == []
        assert doc["spec"]["jobLabel"] == "app.kubernetes.io/name"
        assert "relabelings" not in doc["spec"][key][0]
    # a label of the user's choosing, or one job for all, as asked
    assert main(["--config", str(config), "rules", "generate", "--format",
                 "prometheus-operator", "-o", str(out), "--job-label", "example.com/job"]) == 0
    doc = yaml.safe_load((out / "servicemonitor.yaml").read_text())
    assert doc["spec"]["jobLabel"] == "example.com/job"
    assert "example.com/job: fraud-api (fraud)" in capsys.readouterr().out
    assert main(["--config", str(config), "rules", "generate", "--format",
                 "prometheus-operator", "-o", str(out), "--job", "models"]) == 0
    assert "different scrape jobs" not in capsys.readouterr().out
    doc = yaml.safe_load((out / "servicemonitor.yaml").read_text())
    assert "jobLabel" not in doc["spec"] and doc["spec"]["endpoints"][0]["relabelings"] == [
        {"action": "replace", "targetLabel": "job", "replacement": "models"}]
    # a job no Service label can carry is refused, naming the way out
    raw["models"][1]["job"] = "team/churn"
    config.write_text(yaml.safe_dump(raw))
    assert main(["--config", str(config), "rules", "generate", "--format",
                 "prometheus-operator", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model churn's job 'team/churn' cannot be the value of the label" in err, err
    assert "--job JOB" in err
    # one job for all and a label of the user's choosing: no word of different jobs
    for model in raw["models"]:
        model["job"] = "models"
    config.write_text(yaml.safe_dump(raw))
    assert main(["--config", str(config), "rules", "generate", "--format",
                 "prometheus-operator", "-o", str(out), "--job-label", "example.com/job"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("The monitors read each service's job from its label "
                           "example.com/job"), said


@pytest.mark.parametrize("flags, message", [
    ([], "name it with -o DIR"),
    (["-o", "{out}", "--job", "a", "--job-label", "app"], "give one of them"),
    (["-o", "{out}", "--namespace", "ML_Monitoring"], "--namespace 'ML_Monitoring' is not"),
    (["-o", "{out}", "--selector-label", "release"], "give a label as KEY=VALUE"),
    (["-o", "{out}", "--target-label", "app=not valid!"], "not a valid label value"),
    (["-o", "{out}", "--target-namespace", "Models"], "--target-namespace 'Models' is not"),
    (["-o", "{out}", "--metrics-port", "8000/metrics"], "--metrics-port '8000/metrics' is not"),
    (["-o", "{out}", "--webhook-url", "launcher:8088"], "is not an http(s) URL"),
    (["-o", "{out}", "--name-prefix", "Fraud"], "the name prefix 'Fraud' is not"),
    (["-o", "{out}", "--webhook-token-secret", "Launcher Token"], "is not a Secret name"),
])
def test_cli_refuses_bad_flags_with_one_clear_line(tmp_path, capsys, flags, message):
    argv = ["--config", str(_config_in(tmp_path)), "rules", "generate", "--format",
            "prometheus-operator", *[f.format(out=tmp_path / "out") for f in flags]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlmon-nb: ") and message in err, err
    assert not (tmp_path / "out" / KUSTOMIZATION).exists()


def test_default_format_is_unchanged():
    args = build_parser().parse_args(["rules", "generate"])
    assert args.format == "files" and args.out is None


def test_parse_labels():
    assert parse_labels(["release=kube-prometheus-stack", "a.b/c = d"], "--x") == {
        "release": "kube-prometheus-stack", "a.b/c": "d"}
    with pytest.raises(RulesError, match="--x"):
        parse_labels(["=v"], "--x")
