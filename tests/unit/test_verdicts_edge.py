"""A new user's edges in a runbook's words: a baseline without confidences, the number shown
under a signal's name, evidence on the healthy side of a threshold, and a feature asked for by
name. The wording is pure; the rest runs on an investigation over a stand-in Prometheus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlmon_nb.baseline import Baseline
from mlmon_nb.config import load_config
from mlmon_nb.context import NotebookContext, Window
from mlmon_nb.drift.investigate import most_drifted
from mlmon_nb.errors import BaselineError, ParameterError
from mlmon_nb.findings import SUMMARY_MIME
from mlmon_nb.findings import record as record_module
from mlmon_nb.findings.investigation import from_first_observation, observed_query
from mlmon_nb.investigate import Investigation, error_ratio, request_rate, scrape_up
from mlmon_nb.investigate.core import against_words, evidence_words
from mlmon_nb.promql.evidence import wilson_interval, z_of

REPO = Path(__file__).resolve().parents[2]
END = pd.Timestamp("2026-01-02 00:00", tz="UTC")
Z95 = z_of(0.05)


# -- the evidence sentence: which side of the threshold, and whether the sample tells -----------

def words(value: float, n: float, threshold: float, above: bool = True,
          unit: str = "requests") -> str:
    low, high = wilson_interval(value, n, Z95)
    text, _ = evidence_words(f"{value:.1%} of {n:g} {unit} over 5m", value, low, high, threshold,
                             above, confidence="with 95% confidence ", short=f"too few {unit}")
    return text


def test_a_healthy_ratio_on_many_requests_says_it_is_below_with_its_upper_bound():
    text = words(0.0, 1434, 0.05)  # the user's HighErrorRate: 0% of 1,434 requests
    assert ", below 5%: with 95% confidence at most 0.19%" in text, text
    assert "too few" not in text and "chance could" not in text and "at least" not in text


def test_a_healthy_share_of_thousands_of_predictions_is_no_small_sample():
    text = words(0.108, 6181, 0.20, unit="predictions")  # HighLowConfidencePredictions
    assert "below 20%: with 95% confidence at most 11.5%" in text and "too few" not in text, text


def test_too_few_only_when_the_healthy_sides_bound_reaches_past_the_threshold():
    text = words(0.0, 20, 0.05)  # 0 of 20: the upper bound is 11.9%
    assert "below 5%, but with 95% confidence at most 11.9%: too few requests yet to rule out " \
           "crossing it" in text, text


def test_the_alerts_side_keeps_its_words():
    assert words(0.26, 2369, 0.05).endswith(
        "with 95% confidence at least 24.5%, so chance alone does not explain crossing 5%")
    assert words(0.1, 20, 0.05).endswith(
        "so chance could still explain crossing 5%: too few requests yet")


def test_a_floor_alert_reads_the_other_way():
    healthy = words(0.905, 2503, 0.70, above=False, unit="labels")
    assert "above 70%: with 95% confidence at least 89.5%" in healthy, healthy
    firing = words(0.553, 3800, 0.70, above=False, unit="labels")
    assert "at most 56.6%, so chance alone does not explain crossing 70%" in firing, firing


def test_the_stated_bound_is_the_one_nearer_the_threshold():
    for value, above, expected in ((0.01, True, "high"), (0.3, True, "low"),
                                   (0.9, False, "low"), (0.5, False, "high")):
        low, high = wilson_interval(value, 500, Z95)
        _, bound = evidence_words("", value, low, high, 0.2 if above else 0.7, above)
        assert bound == {"low": low, "high": high}[expected], (value, above)


def test_a_reference_without_data_is_said_to_be_one():
    assert against_words(3.9, float("nan"), "the 6h before", "rate") == \
        "no data in the 6h before to compare with"
    assert against_words(9.63, 9.6, "the same hours 1 day before", "rate") == \
        "×1.0 against the same hours 1 day before (9.6/s)"


# -- filled points: only from the first observation ---------------------------------------------

def test_the_query_behind_a_filled_condition_is_found_and_an_unfilled_one_has_none():
    assert observed_query(scrape_up("api").condition("up").promql) == 'max(up{job="api"})'
    assert observed_query(error_ratio("m", 0.05).condition("e").promql) is None


def test_filled_points_before_the_first_observation_are_dropped():
    index = pd.date_range(END - pd.Timedelta(hours=6), END, freq="1h")
    filled = pd.Series([0, 0, 0, 1, 1, 1, 1], index=index, dtype=float)
    assert from_first_observation(filled, filled[3:]).tolist() == [1, 1, 1, 1]
    assert from_first_observation(filled, filled[:0]).empty


# -- an investigation over a stand-in Prometheus -----------------------------------------------

class StandIn:
    """Prometheus answering from dicts keyed by PromQL (nothing else has data)."""

    url = "http://prometheus.invalid:9090"

    def __init__(self, scalars: dict[str, float] | None = None,
                 ranges: dict[str, pd.DataFrame] | None = None):
        self.scalars, self.ranges = scalars or {}, ranges or {}

    def scalar(self, promql: str, time: Any = None) -> float:
        return self.scalars.get(promql, float("nan"))

    def range(self, promql: str, start: Any, end: Any, step: Any) -> pd.DataFrame:
        return self.ranges.get(promql, pd.DataFrame())

    def query(self, promql: str, time: Any = None) -> pd.DataFrame:
        return pd.DataFrame()

    def serves_page(self, path: str) -> bool:
        return False


@pytest.fixture
def shown(monkeypatch) -> list[dict]:
    """The verdicts recorded (display outputs of the summary type)."""
    out: list[dict] = []
    monkeypatch.setattr(record_module, "_display", lambda obj, raw=False: out.append(obj))
    return out


def investigation(alertname: str, prom: StandIn, baseline_path: Path = Path("missing.json"),
                  severity: str = "") -> Investigation:
    config = load_config(REPO / "stack" / "mlmon.yaml")
    model = config.models[0]
    window = Window(END - pd.Timedelta(hours=6), END, 60.0, 15.0)
    ctx = NotebookContext(model.name, prom, window, config, model, baseline_path)
    inv = Investigation(alertname, ctx, window, window, severity=severity)
    inv._cache["resolution"] = 15.0
    return inv


def verdicts(shown: list[dict]) -> list[dict]:
    return [o[SUMMARY_MIME] for o in shown if isinstance(o, dict) and SUMMARY_MIME in o]


def test_a_hand_run_verdict_puts_each_number_under_its_own_name(shown):
    """MLServiceDown by hand on a healthy model: the request rate compared is not up's."""
    inv = investigation("MLServiceDown", StandIn())
    up = scrape_up(inv.job)
    condition = up.condition("the service's up", "5m")
    inv._cache.update(condition=(condition, 1.0), not_firing="Not firing now: up is 1",
                      compare_first=(request_rate(inv.model_name), 9.63, 9.6,
                                     "the same hours 1 day before"))
    verdict = inv.conclude(up)["verdict"]
    assert "Up averaged" not in verdict, verdict
    assert "request rate averaged 9.63/s in the window, ×1.0 against the same hours 1 day " \
           "before (9.6/s)" in verdict, verdict


def test_a_contributor_is_named_only_where_its_breakdown_found_it_telling(shown):
    inv = investigation("HighErrorRate", StandIn())
    signal = error_ratio(inv.model_name, 0.05)
    inv._cache["breakdown_top"] = ("error_type", "InjectedFault", 1.0, False)
    assert "InjectedFault" not in inv.conclude(signal)["verdict"]
    inv._cache["breakdown_top"] = ("error_type", "InjectedFault", 1.0, True)
    assert "error_type=InjectedFault carries 100% of it" in inv.conclude(signal)["verdict"]


def test_a_healthy_hand_run_states_the_bound_on_its_own_side(shown):
    """HighErrorRate by hand on a healthy model: below 5% with its upper bound, no "too few"."""
    signal = error_ratio("sentiment_classifier", 0.05)
    inv = investigation("HighErrorRate", StandIn({signal.sample("5m"): 1434.0}))
    condition = inv.alert_condition(signal, signal.name)
    inv._cache.update(condition=(condition, 0.0), not_firing="Not firing now: 0%")
    verdict = inv.conclude(signal)["verdict"]
    assert "0% of 1,434 requests over 5m, below 5%: with 95% confidence at most 0.19%" in \
        verdict, verdict
    assert "too few" not in verdict and "could still explain" not in verdict, verdict
    assert inv.numbers["evidence_bound"] == pytest.approx(wilson_interval(0.0, 1434, Z95)[1])


def test_held_is_claimed_only_from_the_first_scrape_on(shown):
    """up's missing points read as 0, but not before the service was first scraped: the hours
    before the history are no evidence that it was down."""
    up = scrape_up("sentiment-api")
    condition = up.condition("the service's up", "5m")
    times = pd.date_range(END - pd.Timedelta(hours=6), END, freq="1h")
    filled = pd.DataFrame({"timestamp": times, "value": [0, 0, 0, 1, 1, 1, 1.0]})
    prom = StandIn(ranges={condition.promql: filled, observed_query(condition.promql):
                           filled.iloc[3:]})
    inv = investigation("MLServiceDown", prom)
    inv.check_still_firing(condition, value=1.0)
    said = inv._cache["not_firing"]
    assert "held from" not in said and "did not cross the threshold" in said, said
    assert "n = 4 points" in said and "lowest 1" in said, said


# -- the baseline: without confidences, and the feature asked for ---------------------------------

def baseline_file(tmp_path: Path, *, confidence: bool) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"amount": rng.gamma(2.0, 80.0, 2000),
                          "country": rng.choice(["de", "fr", "us"], 2000),
                          "score": rng.uniform(0.5, 1.0, 2000)})
    built = Baseline.from_frame(frame, "sentiment_classifier", categorical=["country"],
                                confidence="score" if confidence else None,
                                exclude=[] if confidence else ["score"])
    return built.save(tmp_path / "baseline.json")


def test_concept_drift_without_a_confidence_histogram_ends_saying_how_to_rebuild(tmp_path,
                                                                                 shown):
    inv = investigation("ConceptDriftDetected", StandIn(),
                        baseline_file(tmp_path, confidence=False))
    assert inv.require_confidence() is None
    (summary,) = verdicts(shown)
    assert summary["status"] == "no_data"
    assert "has no confidence histogram" in summary["verdict"]
    assert "`mlmon-nb baseline build … --confidence COLUMN`" in summary["verdict"]
    with pytest.raises(BaselineError, match="--confidence COLUMN"):
        inv.psi_signal(0.2)
    chart = inv.distribution("confidence")
    assert chart is not None and "has no confidence histogram" in chart.message


def test_a_baseline_with_confidences_needs_no_rebuild(tmp_path, shown):
    inv = investigation("ConceptDriftDetected", StandIn(),
                        baseline_file(tmp_path, confidence=True))
    assert inv.require_confidence() is not None and not verdicts(shown)
    assert inv.psi_signal(0.2).name == "10m confidence PSI"


def test_the_feature_asked_for_is_the_one_investigated_numeric_or_categorical(tmp_path):
    inv = investigation("DataDriftDetected", StandIn(), baseline_file(tmp_path, confidence=False),
                        severity="critical")
    assert inv.watched_feature("country") == "country"
    assert inv.watched_feature("amount") == "amount"
    with pytest.raises(ParameterError, match="no feature 'colour'; its features are amount, "
                                             "country"):
        inv.watched_feature("colour")
    categorical = inv.feature_signal("country", "critical")
    assert categorical.name == "10m PSI of country"
    assert categorical.threshold == inv.ctx.model.psi.critical
    assert 'feature="country"' in categorical.query("10m")
    assert inv.feature_signal("amount", "critical").threshold == inv.ctx.model.ks.critical
    with pytest.raises(ParameterError, match="not per version"):
        inv.feature_signal("country", model_version="2")
    condition = inv.alert_condition(categorical, "PSI of country", own_threshold=True)
    assert condition.threshold == inv.ctx.model.psi.critical and condition.window == "1h"
    assert inv.numbers["alert_rule"].endswith("threshold as the runbook")


def test_the_most_drifted_feature_is_numeric_by_ks_else_categorical_by_psi():
    rows = pd.DataFrame([
        {"feature": "amount", "kind": "numeric", "test": "ks", "statistic": 0.1},
        {"feature": "amount", "kind": "numeric", "test": "psi", "statistic": 9.0},
        {"feature": "days", "kind": "numeric", "test": "ks", "statistic": 0.3},
        {"feature": "country", "kind": "categorical", "test": "psi", "statistic": 5.0},
        {"feature": "channel", "kind": "categorical", "test": "psi", "statistic": 7.0}])
    assert most_drifted(rows) == "days"
    assert most_drifted(rows[rows["kind"] == "categorical"]) == "channel"
    assert most_drifted(rows.iloc[:0]) == ""
