"""Drift from Prometheus: the notebook's rerun for a window equals the recording rules' value.

Recording rules do not evaluate over backfilled history, so each generated rule's expression is
evaluated as an instant query at the window's end, with the recorded series it reads inlined
(``promql_inline``): that is exactly the value Prometheus would have recorded at that
evaluation. The rules are the label-generic ones (every model, the baseline joined from the
series the service exports, which the history holds); the rerun (``window_drift``) reads only
the raw bucket increases and computes KS/PSI in Python from the baseline file; the two must
agree.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
from promql_inline import inline

from mlmon_nb import drift
from mlmon_nb.errors import DriftError


def _rule_value(prom, expr: str, at: float, feature: str | None) -> float:
    frame = prom.query(expr, time=at)
    if feature is not None:
        frame = frame[frame["feature"] == feature]
    assert len(frame) == 1, f"expected one series, got {frame}"
    return float(frame["value"].iloc[0])


@pytest.mark.parametrize("incident_phase", ["before", "during"])
def test_rerun_equals_recording_rule_at_window_end(prom, history, incident_phase):
    start, end = history.incidents["drift"]
    at = start - 3 * 3600 if incident_phase == "before" else end - 600
    rerun = drift.window_drift(prom, history.baseline, time=at, window="1h")
    rules = drift.drift_recording_rules(windows=("1h",))
    by_record = {rule["record"]: rule for rule in rules}
    checked = 0
    for record, test, column in ((drift.expressions.KS_RULE, "ks", "statistic"),
                                 (drift.expressions.PSI_RULE, "psi", "statistic"),
                                 (drift.expressions.N_RULE, "ks", "n"),  # the count behind the statistic
                                 (drift.expressions.CONCEPT_PSI_RULE, "psi", "statistic"),
                                 (drift.expressions.CONCEPT_N_RULE, "psi", "n")):
        concept = record in (drift.expressions.CONCEPT_PSI_RULE, drift.expressions.CONCEPT_N_RULE)
        expr = inline(by_record[record]["expr"], rules)
        for feature in ([drift.CONCEPT_FEATURE] if concept else list(history.baseline.numeric)):
            ours = rerun[(rerun["feature"] == feature) & (rerun["test"] == test)][column]
            assert len(ours) == 1
            value = _rule_value(prom, expr, at, None if concept else feature)
            assert value == pytest.approx(float(ours.iloc[0]), rel=1e-9, abs=1e-12), \
                (record, feature)
            checked += 1
    assert checked == 3 * len(history.baseline.numeric) + 2  # KS, PSI and n; concept PSI and n


def test_drift_incident_is_found_and_quiet_time_is_not(prom, history):
    start, end = history.incidents["drift"]
    during = drift.window_drift(prom, history.baseline, time=end - 600, window="1h")
    before = drift.window_drift(prom, history.baseline, time=start - 3 * 3600, window="1h")
    ks_during = during[during["test"] == "ks"].set_index("feature")
    assert (ks_during["severity"] == "critical").any()
    assert ks_during["n"].min() > 100  # the sample size behind the number is reported
    assert (before[before["kind"] == "numeric"]["severity"] == "none").all()
    shifted = before[before["kind"] != "categorical"]  # the demo's drift leaves channels alone
    assert (shifted["statistic"].to_numpy() < during.set_index(["feature", "test"])
            .loc[list(zip(shifted["feature"], shifted["test"])), "statistic"].to_numpy()).all()


def test_hourly_series_over_a_range_marks_the_incident_hours(prom, history):
    start, end = history.incidents["drift"]
    series = drift.drift_series(prom, history.baseline, start - 6 * 3600, end + 3600, step="1h")
    ks_text = series[(series["test"] == "ks") & (series["feature"] == "text_length")]
    assert len(ks_text) >= 12
    stamps = ks_text["timestamp"].map(lambda t: pd.Timestamp(t).timestamp())
    inside = ks_text[(stamps >= start + 3600) & (stamps <= end)]
    outside = ks_text[stamps <= start]
    assert inside["statistic"].min() > outside["statistic"].max()
    assert {"ks", "psi"} <= set(series["test"]) and drift.CONCEPT_FEATURE in set(series["feature"])


def test_buckets_of_another_baseline_are_one_clear_error(prom, history):
    other = history.baseline.__class__.from_frame(
        pd.DataFrame({"text_length": np.arange(1000.0), "sentiment_score": np.arange(1000.0)}),
        history.model_name)
    start, end = history.incidents["drift"]
    with pytest.raises(DriftError, match="another baseline"):
        drift.window_drift(prom, other, time=end, window="1h")


def test_generated_rules_pass_promtool(tmp_path, history):
    rules = drift.drift_recording_rules(windows=("1h", "1d"))
    path = tmp_path / "drift.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "drift", "rules": rules}]}))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    names = {r["record"] for r in rules}
    assert {"model_name_feature:ml_feature_drift_ks:1h", "model_name_feature:ml_feature_drift_psi:1d",
            "model_name:ml_concept_drift_psi:1h", "ml_data_drift_score",
            "ml_concept_drift_psi"} <= names
