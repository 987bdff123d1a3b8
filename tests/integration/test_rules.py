"""Rule generation: validation, the committed files equal a fresh generation, promtool lint."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlmon_nb import drift, rules
from mlmon_nb.cli import main
from mlmon_nb.config import load_config, parse_config
from mlmon_nb.errors import ConfigError, RulesError
from mlmon_nb.metrics import latency_buckets_with
from mlmon_nb.promql import fleet, rule
from mlmon_nb.promql.names import SLOS
from mlmon_nb.slo import rules as rule_slo
from mlmon_nb.stack.demo.bootstrap import build_demo_baseline
from mlmon_nb.stack.demo.model import MODEL_NAME

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stack"
DEMO = load_config(STACK / "mlmon.yaml")


def _with_slo(config, **changes):
    model = config.models[0]
    return dataclasses.replace(
        config, models=(dataclasses.replace(model, slo=dataclasses.replace(model.slo, **changes)),))


@pytest.fixture(scope="module")
def baselines(tmp_path_factory):
    """The demo's baseline, built deterministically as `mlmon-nb demo up` builds it."""
    path = tmp_path_factory.mktemp("baselines") / f"{MODEL_NAME}.json"
    return {MODEL_NAME: build_demo_baseline(path)}


def test_committed_files_equal_a_fresh_generation(baselines):
    stale = rules.stale_files(DEMO, STACK, baselines=baselines)
    assert stale == [], f"{stale} are stale: run `mlmon-nb rules generate`"


def test_stale_files_notices_an_edit_and_a_leftover(tmp_path, baselines):
    rules.write_generated(DEMO, tmp_path, baselines=baselines)
    assert rules.stale_files(DEMO, tmp_path, baselines=baselines) == []
    alerts = tmp_path / "rules" / "alerts.yml"
    alerts.write_text(alerts.read_text().replace("for: 5m", "for: 50m"))
    assert rules.stale_files(DEMO, tmp_path, baselines=baselines) == ["rules/alerts.yml"]
    (tmp_path / "rules" / "extra.yml").write_text("groups: []\n")
    assert rules.stale_files(DEMO, tmp_path, baselines=baselines) == ["rules/alerts.yml"]


def test_drift_rules_read_the_baseline_from_series_not_from_the_file(baselines):
    # the baseline travels as the series the service exports: the rules are the same with or
    # without the file, name no feature, edge or share, and one KS rule serves every feature
    with_drift = rules.render_rule_files(DEMO, baselines=baselines)
    without = rules.render_rule_files(DEMO, baselines={})
    assert with_drift == without
    drift = [r for g in yaml.safe_load(with_drift["drift.yml"])["groups"] for r in g["rules"]]
    ks = [r for r in drift if r["record"] == "model_name_feature:ml_feature_drift_ks:1h"]
    assert len(ks) == 1 and "ml_feature_baseline_ratio" in ks[0]["expr"]
    text = with_drift["drift.yml"]
    for feature, spec in baselines[MODEL_NAME].numeric.items():
        assert feature not in text and repr(float(spec.cumulative[0])) not in text
    assert MODEL_NAME not in text and "DataDriftDetected" in with_drift["alerts.yml"]


def test_promtool_check_rules_is_clean_with_lint(tmp_path, baselines):
    rules.write_generated(DEMO, tmp_path, baselines=baselines)
    files = sorted(str(p) for p in (tmp_path / "rules").glob("*.yml"))
    proc = subprocess.run(["promtool", "check", "rules", "--lint=all", "--lint-fatal", *files],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(files)


def test_cli_generate_then_check(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLMON_STATE_DIR", str(tmp_path / "state"))  # the demo baseline goes here
    assert main(["rules", "generate", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "state" / "baselines" / f"{MODEL_NAME}.json").exists()
    assert (tmp_path / "rules" / "drift.yml").exists()
    assert (tmp_path / "alertmanager.yml").exists()
    assert main(["rules", "check", "--dir", str(tmp_path)]) == 0
    assert main(["rules", "check", "-o", str(tmp_path)]) == 0  # as `generate -o` names it
    (tmp_path / "alertmanager.yml").write_text("route: {receiver: nowhere}\n")
    assert main(["rules", "check", "--dir", str(tmp_path)]) == 2
    assert "amtool failed" in capsys.readouterr().err


def test_latency_threshold_off_the_buckets_is_refused():
    config = _with_slo(DEMO, latency_threshold_seconds=0.33)
    with pytest.raises(RulesError, match=r"0\.33s is not a bucket edge.*latency_buckets_with"):
        rules.render_rule_files(config)
    # the same threshold is fine once the buckets contain it
    files = rules.render_rule_files(config, latency_buckets=latency_buckets_with([0.33]))
    assert 'le="0.33"' in files["slo.yml"]


def test_latency_slo_reads_the_bucket_as_the_service_labels_it():
    """A whole-second threshold is exported as le="1.0" (prometheus-client's format), never "1";
    the runbooks' SLO evidence uses this same expression (Investigation.slo_bad_ratio)."""
    model = _with_slo(DEMO, latency_threshold_seconds=1.0).models[0]
    expr = rule_slo.slo_bad_ratio("latency", model, "5m")
    assert 'le="1.0"' in expr and 'le="1"' not in expr


def test_rules_error_is_a_config_error():
    assert issubclass(RulesError, ConfigError)


def test_period_shorter_than_the_longest_burn_window_is_refused():
    with pytest.raises(RulesError, match="shorter than the longest burn-rate window"):
        rules.validate(_with_slo(DEMO, period_seconds=86400))


def test_burn_factors_are_the_workbook_ones_for_30_days_and_derived_otherwise():
    month = 30 * 86400
    assert [w.factor(month) for w in rule_slo.BURN_WINDOWS] == [14.4, 6.0, 3.0, 1.0]
    week = 7 * 86400
    # the same share of the budget in the same window: factor scales with the period
    assert [w.factor(week) for w in rule_slo.BURN_WINDOWS] == pytest.approx(
        [14.4 * 7 / 30, 6.0 * 7 / 30, 3.0 * 7 / 30, 1.0 * 7 / 30])


def test_burn_windows_that_cannot_fire_are_left_out():
    # 85% accuracy: budget 15%; 14.4 x 15% > 100% can never fire
    kept = rule_slo.burn_windows(0.85, 30 * 86400)
    assert [w.long for w, _ in kept] == ["6h", "1d", "3d"]
    assert [t for _, t in kept] == pytest.approx([0.9, 0.45, 0.15])


def test_a_fractional_period_is_refused_with_a_rules_error():
    with pytest.raises(RulesError, match=r"sentiment_classifier: the SLO period 2592000.5s is not "
                                         r"a whole number of seconds.*30d"):
        rules.validate(_with_slo(DEMO, period_seconds=30 * 86400 + 0.5))


def test_runbook_url_escapes_series_labels_and_static_ones():
    link = rules.runbook_url(DEMO, "SLOErrorBudgetBurn",
                             {"severity": "critical", "slo": "a b&c"}, templated=("model_name",))
    assert link == (f"{DEMO.launcher_url}/runbook/SLOErrorBudgetBurn?"
                    "model_name={{ $labels.model_name | urlquery }}&severity=critical&slo=a%20b%26c")


def test_every_alert_has_severity_model_and_annotations(baselines):
    docs = yaml.safe_load(rules.render_rule_files(DEMO, baselines=baselines)["alerts.yml"])
    alerts = [r for g in docs["groups"] for r in g["rules"]]
    names = {a["alert"] for a in alerts}
    assert {"HighErrorRate", "ElevatedErrorRate", "HighLatencyP95", "MLServiceDown",
            "LowModelAccuracy", "HighLowConfidencePredictions", "ModelMetricsAbsent",
            "LowThroughput", "SLOErrorBudgetBurn", "DataDriftDetected",
            "ConceptDriftDetected"} <= names
    for a in alerts:
        assert a["labels"]["severity"] in {"critical", "warning", "info"}
        assert "model_name" not in a["labels"]  # every model's series carries its own
        assert "model_name" in a["expr"] or "ml_model_info" in a["expr"] or \
            a["alert"] == "ModelMetricsAbsent"
        assert set(a["annotations"]) == {"summary", "description", "runbook_url"}
        assert a["annotations"]["runbook_url"].startswith(
            f"{DEMO.launcher_url}/runbook/{a['alert']}?model_name=")
        assert "threshold" in a["annotations"]["description"]


def test_thresholds_come_from_the_config():
    raw = yaml.safe_load((STACK / "mlmon.yaml").read_text())
    raw["models"][0]["alerts"]["error_ratio"]["critical"] = 0.07
    raw["launcher_url"] = "http://127.0.0.1:1"
    config = parse_config(raw, STACK / "mlmon.yaml")
    files = rules.render_rule_files(config)
    settings = yaml.safe_load(files["recording.yml"])["groups"][0]["rules"]
    (critical,) = [r for r in settings if r.get("labels", {}).get("setting") == "error_ratio_critical"]
    # the model's own value as an override, the fleet default (5%) for every other model
    assert critical["expr"] == ('label_replace(vector(0.07), "model_name", "sentiment_classifier", '
                                '"", "") or on (model_name) 0.05 * model_name:mlmon_model:configured')
    assert "error_ratio_critical" in files["alerts.yml"] and "> 0.07" not in files["alerts.yml"]
    assert "http://127.0.0.1:1/runbook/HighErrorRate?" in files["alerts.yml"]


def test_render_rules_is_one_file_with_every_group():
    text = rules.render_rules(DEMO)
    groups = [g["name"] for g in yaml.safe_load(text)["groups"]]
    split = [g["name"] for t in rules.render_rule_files(DEMO).values()
             for g in yaml.safe_load(t)["groups"]]
    assert sorted(groups) == sorted(split)


def test_rule_model_renders_rule_file_dicts():
    rec = rule.RecordingRule("a:b:rate5m", "sum(x)", {"model_name": "m"})
    assert rec.to_dict() == {"record": "a:b:rate5m", "expr": "sum(x)",
                             "labels": {"model_name": "m"}}
    assert "labels" not in rule.RecordingRule("a:b:c", "1").to_dict()
    alert = rule.AlertingRule("A", "x > 1", None, {"severity": "info"}, {"summary": "s"})
    assert list(alert.with_annotations(runbook_url="u").to_dict()) == [
        "alert", "expr", "labels", "annotations"]  # no `for` when it fires at once
    assert list(alert.with_annotations(runbook_url="u").to_dict()["annotations"]) == [
        "summary", "runbook_url"]
    group = rule.RuleGroup("g", (rec, alert))
    assert group.to_dict() == {"name": "g", "rules": [rec.to_dict(), alert.to_dict()]}


def test_no_recording_rule_names_a_model_but_the_configured_list_and_overrides(baselines):
    groups = (rules.recording_groups(DEMO) + rule_slo.slo_groups(DEMO)
              + rules.drift_groups(DEMO, baselines))
    recorded = [r for g in groups for r in g.rules]
    assert recorded and all("model_name" not in r.labels for r in recorded)
    naming = [r.record for r in recorded if MODEL_NAME in r.expr]
    assert naming == [fleet.CONFIGURED_MODELS]  # the demo's config overrides no default
    assert {r.labels["slo"] for g in rule_slo.slo_groups(DEMO) for r in g.rules} == set(SLOS)


def test_drift_stage_is_the_estimated_accuracy_every_minute_then_the_drift_engine_every_5m(
        baselines):
    engine = drift.drift_recording_rules(("1h",), confidence_buckets=False)
    estimated, group, multivariate = rules.drift_groups(DEMO, baselines)
    assert [r.record for r in group.rules] == [r["record"] for r in engine]
    assert group.interval == "5m" and estimated.interval == "1m"
    # the multivariate check at the same interval, after the drift engine
    assert [r.record for r in multivariate.rules] == [
        r["record"] for r in drift.multivariate_rules.multivariate_rules(("1h",))]
    assert multivariate.interval == "5m" and multivariate.name == "mlmon:multivariate-drift"
    records = [r.record for r in estimated.rules]
    # the estimate's group records every window's confidence buckets, the drift's 1h too
    assert {"model_name:ml_estimated_accuracy:30m", "model_name:ml_estimated_accuracy:1d",
            "model_name_le:ml_prediction_confidence_bucket:increase1h"} <= set(records)


def test_the_drift_alerts_are_judged_every_minute_the_others_every_evaluation():
    groups = {g.name: g for g in rules.alert_groups(DEMO)}
    drift_alerts = {r.alert for r in groups["mlmon:drift-alerts"].rules}
    assert drift_alerts == {"DataDriftDetected", "ConceptDriftDetected",
                            "MultivariateDriftDetected"}
    assert groups["mlmon:drift-alerts"].interval == "1m"
    assert groups["mlmon:alerts"].interval is None and groups["mlmon:slo-burn"].interval is None
    assert not drift_alerts & {r.alert for r in groups["mlmon:alerts"].rules}


def test_label_values_are_escaped_in_generated_promql():
    # config refuses such names; generation escapes whatever it is given all the same
    odd = dataclasses.replace(DEMO.models[0], name='we"ird',
                              alerts=dataclasses.replace(DEMO.models[0].alerts,
                                                         error_ratio_critical=0.5))
    regex = dataclasses.replace(DEMO.models[0], name="a.b|c", drift_alpha=0.05)
    config = dataclasses.replace(DEMO, models=(odd, regex))
    text = "".join(rules.render_rule_files(config).values())
    assert '"model_name", "we\\"ird"' in text and 'we"ird' not in text.replace('we\\"ird', "")
    assert 'model_name=~"a\\\\.b\\\\|c"' in text  # a regex matcher matches the name only


def test_write_generated_removes_other_rule_files_only_when_asked(tmp_path, baselines):
    extra = tmp_path / "rules" / "extra.yml"
    extra.parent.mkdir(parents=True)
    extra.write_text("groups: []\n")
    rules.write_generated(DEMO, tmp_path, baselines={})
    assert extra.exists()  # a folder the user owns keeps their files
    rules.write_generated(DEMO, tmp_path, baselines={}, remove_other=True)
    assert not extra.exists() and (tmp_path / "rules" / "alerts.yml").exists()


def test_rule_names_and_the_catalogue_import_light_and_rules_do_not_import_the_stack():
    code = ("import sys; import mlmon_nb.promql.names, mlmon_nb.rules.catalogue; "
            "heavy = [m for m in ('numpy', 'scipy', 'mlmon_nb.rules.generate') "
            "         if m in sys.modules]; "
            "import mlmon_nb.rules.files; "
            "print(heavy, 'mlmon_nb.stack' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    assert proc.stdout.split() == ["[]", "False"]
