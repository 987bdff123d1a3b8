"""The alert catalogue is the one list of alerts: every entry has its rules, runbook and README row,
and rule generation makes exactly the catalogue's alerts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlmon_nb import rules
from mlmon_nb.config import load_config
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
