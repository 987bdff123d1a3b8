"""The drift runbooks' pages state one figure per statistic: each drift figure names its window,
the alert's own window (1h) shows the value the alert judges, and runbooks run at the same end
report the same input drift. Executed against the fixture Prometheus's drifted history."""

from __future__ import annotations

import re
from collections import defaultdict

import nbformat
from test_runbooks import alert_params, iso, run_config, server_defaults_for, visible_text

from mlmon_nb.drift.expressions import concept_psi_rule_expr
from mlmon_nb.drift.multivariate_rules import reconstruction_ks_expr
from mlmon_nb.humanize import fmt
from mlmon_nb.prom import Prometheus
from mlmon_nb.promql import matcher
from mlmon_nb.runbooks import Registry, execute, read_findings

__all__ = ["run_config"]  # the fixture, shared with test_runbooks

NUMBER = r"(\d[\d.,e-]*)"
PSI_FIGURES = {  # what the page says → the statistic it states (a window and what over it)
    "1h": [rf"1h confidence PSI is {NUMBER}", rf"{NUMBER} 1h confidence PSI now"],
    "10m, mean since onset": [rf"10m confidence PSI averaged {NUMBER} since onset",
                              rf"{NUMBER} 10m confidence PSI since onset",
                              rf"10m confidence PSI: [\d.]+ → {NUMBER}",
                              rf"measure since onset .*? 10m confidence PSI {NUMBER}"],
    "10m, the days before": [rf"{NUMBER} 10m confidence PSI, the same hours",
                             rf"10m confidence PSI: {NUMBER} →",
                             rf"\(worst [\d.]+\) against {NUMBER} \(the same hours",
                             rf"since onset, ×[\d.]+ against the same hours \d days? before "
                             rf"\({NUMBER}\)"],
    "incident window": [rf"incident window against the training baseline: PSI {NUMBER}",
                        rf"{NUMBER} binned PSI over \d"],
}


def run(alert: str, history, cfg, out, **override):
    rb = Registry().get(alert)
    params = server_defaults_for(rb, cfg, {**alert_params(history, alert), **override})
    params["baseline_path"] = str(history.baseline_path)
    outcome = execute(rb, params, out)
    assert outcome.status == "done" and outcome.summary["status"] == "firing", outcome
    nb = nbformat.read(out / "output.ipynb", as_version=4)
    return outcome, {f.name: f for f in read_findings(nb)}, (out / "output.html").read_text()


def test_concept_drift_page_states_one_figure_per_psi_statistic(run_config, history, tmp_path):
    outcome, found, html = run("ConceptDriftDetected", history, run_config, tmp_path / "run")
    text = visible_text(html)
    figures: dict[str, set[str]] = defaultdict(set)
    for statistic, patterns in PSI_FIGURES.items():
        for pattern in patterns:
            hits = re.findall(pattern, text)
            assert hits, (statistic, pattern, text[:3000])
            figures[statistic].update(h.rstrip(".,") for h in hits)
    for statistic, shown in figures.items():  # one window, one number
        assert len(shown) == 1, (statistic, shown)
    # every PSI on the page names its window (1h, 10m, or the incident window's span)
    for mention in re.finditer(r"PSI", text):
        around = text[max(0, mention.start() - 60):mention.end() + 40]
        assert re.search(r"\b\d+[hm]\b|incident window", around), around
    # the 1h figure is the alert's own: the rule's expression over 1h at the run's end
    end = outcome.summary["window"]["end"]
    expr = concept_psi_rule_expr("1h", matcher("model_name", history.model_name),
                                 recorded=False)
    with Prometheus(run_config.prometheus_url, timeout=30) as prom:
        alert_value = prom.scalar(expr, end)
    assert figures["1h"] == {fmt(alert_value)}, (figures["1h"], alert_value)
    # the incident window's figure says which window: the one the run found, onset → end
    span = re.search(r"binned PSI over (\d+h \d+m|\d+[hm])", text).group(1)
    assert f"over the {span} incident window" in text
    assert outcome.summary["numbers"]["incident_window"] == span
    # the key chart is among the findings, not folded under "nothing unusual"
    key = found["Confidence: training baseline against the incident window"]
    assert key.interesting and key.chart
    folded = re.search(r'class="mlmon-quiet".*?</summary>', html, re.S)
    assert folded is None or key.name not in folded.group(0)


def input_drift(found) -> dict[str, str]:
    rows = found["Input drift"].rows
    assert rows and all("1h binned KS" in r for r in rows), rows
    return {r["feature"]: r["1h binned KS"] for r in rows}


def test_drift_runbooks_run_at_one_end_report_the_same_input_drift(run_config, history,
                                                                    tmp_path):
    """DataDriftDetected and ConceptDriftDetected, run at one fixed end against the same
    history (their onsets differ by minutes), report the same 1h binned KS per feature; the
    data-drift verdict's 1h KS is its table's."""
    t0, t1 = history.incidents["drift"]
    end = iso(t1 - 300)
    _, data, data_html = run("DataDriftDetected", history, run_config, tmp_path / "data", end=end)
    _, concept, _ = run("ConceptDriftDetected", history, run_config, tmp_path / "concept",
                        end=end)
    shared = input_drift(data)
    assert shared == input_drift(concept)
    assert set(shared) >= {"sentiment_score", "text_length", "word_count"}
    verdict = re.search(r"1h binned KS of sentiment_score is ([\d.]+)", visible_text(data_html))
    assert verdict and verdict.group(1) == shared["sentiment_score"], (verdict, shared)
    assert f"to {end[11:16]} UTC" in data["Input drift"].message


def test_multivariate_drift_page_names_each_ks_window_and_shows_its_key_chart(run_config,
                                                                            history, tmp_path):
    outcome, found, html = run("MultivariateDriftDetected", history, run_config, tmp_path / "run")
    text = visible_text(html)
    shown = set(re.findall(r"1h binned KS of the reconstruction error is ([\d.]+)", text)) | \
        set(re.findall(r"([\d.]+) 1h binned KS of the reconstruction error now", text))
    expr = reconstruction_ks_expr("1h", matcher("model_name", history.model_name),
                                  recorded=False)
    with Prometheus(run_config.prometheus_url, timeout=30) as prom:
        alert_value = prom.scalar(expr, outcome.summary["window"]["end"])
    assert shown == {fmt(alert_value)}, (shown, alert_value)  # the alert's own, one figure
    span = outcome.summary["numbers"]["incident_window"]
    error = found["Reconstruction error"]
    assert f"in the {span} incident window has binned KS" in error.message
    assert [s.name for s in error.stats if "KS" in s.name] == [f"binned KS over {span}"]
    assert "10m binned KS of the reconstruction error left its normal band" in text
    assert error.interesting and error.chart  # the key chart, among the findings
    folded = re.search(r'class="mlmon-quiet".*?</summary>', html, re.S)
    assert folded is None or error.name not in folded.group(0)
