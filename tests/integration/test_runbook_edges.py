"""Runbooks on a new user's edges, executed against the fixture Prometheus: a baseline built
without ``--confidence``, a categorical feature asked for by name, an unknown feature, and a
hand run over a window that begins before the service was first scraped."""

from __future__ import annotations

from dataclasses import replace

import nbformat
import pytest
from test_runbooks import alert_params, iso, run_config, server_defaults_for

from mlmon_nb.drift.investigate import category_psi_expr
from mlmon_nb.drift.prometheus import window_drift
from mlmon_nb.metrics import FEATURE_CATEGORY
from mlmon_nb.prom import Prometheus
from mlmon_nb.promql import selector
from mlmon_nb.runbooks import Registry, execute, read_findings

__all__ = ["run_config"]  # the fixture, shared with test_runbooks


def run(alert: str, run_config, raw: dict[str, str], baseline_path, out):
    rb = Registry().get(alert)
    params = server_defaults_for(rb, run_config, raw)
    params["baseline_path"] = str(baseline_path)
    outcome = execute(rb, params, out)
    nb = nbformat.read(out / "output.ipynb", as_version=4)
    return outcome, {f.name: f for f in read_findings(nb)}


def test_concept_drift_on_a_baseline_without_confidences_ends_saying_how_to_rebuild_it(
        run_config, history, tmp_path):
    """README's "Monitor your own model" builds the baseline without ``--confidence``: the
    concept-drift run ends early with what to do, not an AttributeError in cell 5."""
    bare = replace(history.baseline, confidence_fractions=None, calibration=None)._with_id()
    path = bare.save(tmp_path / "no-confidence.json")
    outcome, _ = run("ConceptDriftDetected", run_config,
                     alert_params(history, "ConceptDriftDetected"), path, tmp_path / "run")
    assert outcome.status == "done", outcome.error
    summary = outcome.summary
    assert summary["status"] == "no_data", summary
    assert "has no confidence histogram" in summary["verdict"], summary
    assert "mlmon-nb baseline build … --confidence COLUMN" in summary["verdict"], summary


def test_data_drift_investigates_the_categorical_feature_asked_for(run_config, history,
                                                                   tmp_path):
    """`-p feature channel` (categorical, in the baseline) is the feature investigated, judged
    by its PSI against drift.psi, with its distribution by category; not the most drifted
    numeric feature."""
    _, t1 = history.incidents["drift"]
    raw = {"model_name": history.model_name, "alertname": "DataDriftDetected",
           "feature": "channel", "window": "2h", "end": iso(t1 - 120)}
    outcome, found = run("DataDriftDetected", run_config, raw, history.baseline_path,
                         tmp_path / "run")
    assert outcome.status == "done", outcome.error
    verdict = outcome.summary["verdict"]
    assert "1h PSI of channel is" in verdict and "word_count" not in verdict, verdict
    psi_limit = run_config.models[0].psi.warning
    assert outcome.summary["numbers"]["threshold"] == psi_limit
    chart = found["Distribution of channel"]
    assert chart.chart and "the category" in chart.message, chart.message


def test_an_unknown_feature_is_a_parameter_error_naming_the_baselines_features(
        run_config, history, tmp_path):
    raw = {**alert_params(history, "DataDriftDetected"), "feature": "colour"}
    outcome, _ = run("DataDriftDetected", run_config, raw, history.baseline_path,
                     tmp_path / "run")
    assert outcome.status == "failed", outcome
    assert "ParameterError" in outcome.error and "no feature 'colour'" in outcome.error
    assert "channel" in outcome.error and "word_count" in outcome.error, outcome.error


def test_a_categorical_features_psi_over_time_is_the_reruns(run_config, history):
    """The PromQL of a categorical feature's PSI (the baseline's shares as literals) equals the
    Python rerun of the same window."""
    spec = history.baseline.categorical["channel"]
    sel = selector(FEATURE_CATEGORY.sample, model_name=history.model_name, feature="channel")
    _, t1 = history.incidents["drift"]
    with Prometheus(run_config.prometheus_url, timeout=30) as prom:
        for window in ("10m", "1h"):
            value = prom.scalar(category_psi_expr(sel, spec.labels, spec.fractions, window),
                                t1 - 120)
            rows = window_drift(prom, history.baseline, time=t1 - 120, window=window)
            psi = rows[(rows["feature"] == "channel") & (rows["test"] == "psi")]["statistic"]
            assert value == pytest.approx(float(psi.iloc[0]), abs=1e-9), window


def test_service_down_by_hand_before_the_first_scrape_claims_nothing_it_did_not_see(
        run_config, history, tmp_path):
    """A hand run whose 6h begin hours before the history: up's missing points are not "down"
    before its first scrape, and the verdict's number is the one its name says."""
    raw = {"model_name": history.model_name, "alertname": "MLServiceDown",
           "end": iso(history.start + 7200)}
    outcome, _ = run("MLServiceDown", run_config, raw, history.baseline_path, tmp_path / "run")
    summary = outcome.summary
    assert summary["status"] == "not_firing", summary
    verdict = summary["verdict"]
    assert "held from" not in verdict and "did not cross the threshold" in verdict, verdict
    assert "Up averaged" not in verdict and "request rate averaged" in verdict, verdict
