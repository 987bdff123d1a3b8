"""The alert catalogue is the one list of alerts: every entry has its rules, runbook and README row,
and rule generation makes exactly the catalogue's alerts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlmon_nb import rules
from mlmon_nb.config import Config, load_config
from mlmon_nb.promql.rule import AlertingRule
from mlmon_nb.rules import catalogue
from mlmon_nb.stack.demo.bootstrap import build_demo_baseline
from mlmon_nb.stack.demo.model import MODEL_NAME

REPO = Path(__file__).resolve().parents[2]
DEMO = load_config(REPO / "stack" / "mlmon.yaml")


@pytest.fixture(scope="module")
def alerts(tmp_path_factory) -> list[AlertingRule]:
    """Every alerting rule generated for the demo config, with the demo's baseline (drift too)."""
    path = tmp_path_factory.mktemp("baselines") / f"{MODEL_NAME}.json"
    groups = rules.alert_groups(DEMO, {MODEL_NAME: build_demo_baseline(path)})
    return [rule for group in groups for rule in group.rules]


def _readme_alert_rows() -> list[str]:
    """First cells of the alert table in docs/alerts.md ("Alerts, SLOs and routing")."""
    text = (REPO / "docs" / "alerts.md").read_text()
    section = text.split("# Alerts, SLOs and routing", 1)[1].split("\n## ", 1)[0]
    table = section.split("| alert | severity |", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| (\w+) \|", table, re.MULTILINE)]


def test_generated_alert_names_are_exactly_the_catalogue(alerts):
    assert sorted({a.alert for a in alerts}) == sorted(catalogue.ALERT_NAMES)


@pytest.mark.parametrize("spec", catalogue.CATALOGUE, ids=lambda s: s.name)
def test_every_alert_has_rules_a_runbook_and_a_readme_row(spec, alerts):
    mine = [a for a in alerts if a.alert == spec.name]
    assert mine, f"{spec.name} generates no alerting rule for the demo config"
    assert {a.labels["severity"] for a in mine} == set(spec.severities)
    assert all(a.annotations["runbook_url"].startswith(f"{DEMO.launcher_url}/runbook/{spec.name}?")
               for a in mine)
    assert (REPO / "runbooks" / f"{spec.name}.ipynb").is_file(), \
        f"runbooks/{spec.name}.ipynb is missing: every alert needs its runbook"
    assert spec.name in _readme_alert_rows(), f"docs/alerts.md's alert table has no row for {spec.name}"


def test_readme_table_names_only_catalogue_alerts():
    assert sorted(_readme_alert_rows()) == sorted(catalogue.ALERT_NAMES)


def test_the_runbooks_page_lists_every_runbook():
    intro = (REPO / "docs" / "runbooks.md").read_text().split("Each compares", 1)[0]
    listed = set(re.findall(r"[A-Z]\w+", intro.split("(", 1)[1]))
    assert listed == set(catalogue.ALERT_NAMES)


def test_every_alert_is_written_once_for_the_fleet_with_or_without_baseline_files():
    # drift and estimated-accuracy alerts read the baseline series the services export, so
    # they exist for every model and fire only where a service exports a baseline
    names = {r.alert for g in rules.alert_groups(DEMO, {}) for r in g.rules}
    assert names == set(catalogue.ALERT_NAMES)
    assert {s.name for s in catalogue.CATALOGUE if s.needs_baseline} == {
        "DataDriftDetected", "ConceptDriftDetected", "EstimatedAccuracyDrop",
        "MultivariateDriftDetected"}


def test_inhibitions_name_catalogue_alerts():
    for spec in catalogue.CATALOGUE:
        assert set(spec.inhibits) <= set(catalogue.ALERT_NAMES), spec.name
        assert spec.name not in spec.inhibits


def test_get_names_the_known_alerts_when_one_is_unknown():
    assert catalogue.get("HighErrorRate").severities == (catalogue.Severity.CRITICAL,)
    with pytest.raises(KeyError, match="no alert 'Nope'.*HighErrorRate"):
        catalogue.get("Nope")


# -- the firing rows: one place for each alert's facts ------------------------------------------

def _with_for(overrides: dict[str, str]) -> Config:
    from dataclasses import replace
    return replace(DEMO, alert_for=overrides)


@pytest.mark.parametrize("spec", catalogue.CATALOGUE, ids=lambda s: s.name)
def test_every_rule_carries_exactly_its_rows_for_and_severity(spec):
    """Each severity's rules state the `for` of its row, and every row has its rules."""
    rules = spec.rules(DEMO)
    assert [r.labels["severity"] for r in rules if r.labels["severity"] not in spec.severities] == []
    for row in spec.firings:
        mine = [r for r in rules if r.labels["severity"] == row.severity]
        assert mine, (spec.name, row)
        assert {r.for_ for r in mine} == {row.for_}, (spec.name, row)
        # the threshold and evidence settings the row names are the ones the rule compares with
        # (the accuracy SLO's burn rules count ground-truth outcomes, not the row's requests)
        for key in (row.threshold, row.least):
            if key is not None:
                assert all(f'setting="{key}"' in r.expr for r in mine
                           if key == row.threshold or r.labels.get("slo") != "accuracy"), \
                    (spec.name, key)
        if row.window is not None:
            assert all(re.search(rf"(rate|:){row.window}\b", r.expr) for r in mine), (spec.name, row)


def test_alerts_for_sets_the_for_of_that_alert_only():
    config = _with_for({"HighErrorRate": "0s", "HighLatencyP95": "1m"})
    for spec in catalogue.CATALOGUE:
        fors = {r.for_ for r in spec.rules(config)}
        if spec.name == "HighErrorRate":
            assert fors == {"0s"}
        elif spec.name == "HighLatencyP95":
            assert fors == {"1m"}
        else:
            assert fors == {r.for_ for r in spec.rules(DEMO)}, spec.name
    # the rest of the rule is as without the override
    plain, fast = catalogue.get("HighErrorRate").rules(DEMO)[0], \
        catalogue.get("HighErrorRate").rules(config)[0]
    assert (plain.expr, plain.labels) == (fast.expr, fast.labels) and plain.for_ == "5m"
    assert "for 0s" in catalogue.fires_when(catalogue.get("HighErrorRate"), config)


def test_alerts_for_refuses_an_unknown_alert_naming_the_known_ones(tmp_path):
    from mlmon_nb.config import parse_config
    from mlmon_nb.errors import ConfigError
    raw = {"version": 1, "models": [{"name": "m"}], "alerts": {"for": {"HighErorRate": "0s"}}}
    config = parse_config(raw, tmp_path / "mlmon.yaml")
    with pytest.raises(ConfigError, match="HighErorRate.*known: HighErrorRate, "):
        rules.alert_groups(config)
    raw["alerts"] = {"for": {"HighErrorRate": "5 minutes"}}
    with pytest.raises(ConfigError, match="Prometheus duration"):
        parse_config(raw)
    raw["alerts"] = {"error_ratio": {"critical": 0.1}}
    with pytest.raises(ConfigError, match="models\\[\\].alerts"):
        parse_config(raw)


def test_fires_when_states_each_rows_facts_with_the_configs_values():
    text = catalogue.fires_when(catalogue.get("HighErrorRate"))
    assert text == ("critical: the 5m error ratio above `alerts.error_ratio.critical` (5%) for 5m, "
                    "with at least `alerts.min_events.requests` (10 requests)")
    latency = catalogue.fires_when(catalogue.get("HighLatencyP95"))
    assert "critical: the 5m P95 latency" in latency and "(0.5s) for 10m" in latency
    assert "warning: the 5m P95 latency" in latency and "(0.375s) for 15m" in latency


def test_fires_when_states_every_condition_its_rule_fires_on():
    # the multivariate alert fires on its KS past chance or on its mean error past chance
    spec = catalogue.get("MultivariateDriftDetected")
    text = catalogue.fires_when(spec)
    assert "binned KS of the reconstruction error above `drift.ks.warning` (0.15), or the 1h " \
           "mean reconstruction error above what chance gives" in text, text
    (rule,) = spec.rules(load_config())
    assert "ml_reconstruction_error_mean:1h > model_name:ml_reconstruction_error_mean_critical" \
        in rule.expr and "ml_reconstruction_error_ks:1h" in rule.expr


def test_committed_runbook_headers_and_alert_table_are_fresh():
    from mlmon_nb.runbooks.headers import stale_headers
    assert stale_headers(REPO) == [], "run `mlmon-nb rules generate` to refresh them"


def test_a_stale_header_or_table_row_is_named_and_rewritten(tmp_path):
    import shutil

    from mlmon_nb.runbooks.headers import header, stale_headers, write_headers
    for folder in ("runbooks", "docs"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    source = tmp_path / "runbooks" / "HighErrorRate.py"
    fresh, notebook = source.read_text(), source.with_suffix(".ipynb").read_text()
    source.write_text(fresh.replace("(5%) for 5m", "(5%) for 10m"))
    docs = tmp_path / "docs" / "alerts.md"
    docs.write_text(docs.read_text().replace("| ElevatedErrorRate | warning | warning: the 5m",
                                             "| ElevatedErrorRate | warning | warning: the 1m"))
    assert stale_headers(tmp_path) == ["docs/alerts.md", "runbooks/HighErrorRate.py"]
    written = write_headers(tmp_path)
    assert sorted(p.name for p in written) == ["HighErrorRate.ipynb", "HighErrorRate.py",
                                               "alerts.md"]
    assert stale_headers(tmp_path) == [] and source.read_text() == fresh
    assert source.with_suffix(".ipynb").read_text() == notebook  # byte for byte, as committed
    # the paired notebook's first cell too
    first = json.loads(source.with_suffix(".ipynb").read_text())["cells"][0]
    assert "".join(first["source"]).startswith(header(catalogue.get("HighErrorRate")) + "\n\n")
