"""A canary's estimated accuracy judged on its own predictions (promtool on the committed rules):
for a model running more than one version, each version's estimate, band and thin share are
recorded through the model's one reliability curve, equal to the pure estimate on that version's
counts, and EstimatedAccuracyDrop fires for the version alone; a model running one version gets
no version series."""

from __future__ import annotations

import numpy as np
import pytest
from promtool_support import (
    MODEL,
    alert,
    baseline_inputs,
    confidence_histogram,
    firing,
    gauge,
    overconfident_baseline,
    run_promtool,
    series,
)

from mlmon_nb.config import load_config
from mlmon_nb.estimated.calibration import EDGES
from mlmon_nb.estimated.rules import THIN_ROWS, thin_share
from mlmon_nb.promql import number
from mlmon_nb.promql.names import estimated_accuracy, estimated_accuracy_margin, versioned

LIMIT = load_config().models[0].alerts.accuracy_min
# the canary's confidences: half in 0.6–0.7, half in 0.7–0.8 (mean 0.7, no low-confidence
# share to speak of), where the curve below says the model is right 30 points less often
CANARY = [0.0] * 6 + [0.5, 0.5] + [0.0] * 6
CANARY_MEAN = 0.7
# the stable version's: most over 0.9, where the curve is calibrated
STABLE = [0.0] * 7 + [0.05, 0.15, 0.3, 0.3, 0.15, 0.05, 0.0]
STABLE_MEAN = 0.93
STABLE_RATE, CANARY_RATE = 540, 60  # predictions a minute: a 10% canary


@pytest.fixture(scope="module")
def overconfident():
    return overconfident_baseline()


def _histogram(version: str, minutes: int, rate: float, shares: list[float],
               mean: float) -> list[dict]:
    """One version's confidence histogram and prediction counter from its own replica."""
    labels = f'model_version="{version}",instance="replica-{version}",'
    return [{**s, "series": s["series"].replace("{", "{" + labels, 1)}
            for s in confidence_histogram([(minutes, rate, shares, mean)])]


def _info(version: str, minutes: int, baseline_id: str = "b") -> dict:
    return series("ml_model_info", gauge(1, minutes), model_version=version,
                  baseline_id=baseline_id, instance=f"replica-{version}")


def _within(record: str, labels: str, expected: float, at: str) -> dict:
    """A promtool check that ``record{labels}`` is within 1e-9 of ``expected`` at ``at``."""
    return {"expr": f"abs({record}{{{labels}}} - {number(expected)}) < bool 1e-9",
            "eval_time": at, "exp_samples": [{"labels": f"{{{labels}}}", "value": 1}]}


def test_a_canary_on_a_poorly_calibrated_region_fires_for_its_version_alone(tmp_path,
                                                                           overconfident):
    cal = overconfident.calibration
    window = 30 * CANARY_RATE  # the 30m window's predictions
    canary = cal.estimate(np.array(CANARY) * window, CANARY_MEAN * window)
    stable = cal.estimate(np.array(STABLE) * 30 * STABLE_RATE, STABLE_MEAN * 30 * STABLE_RATE)
    whole = cal.estimate(np.array(STABLE) * 30 * STABLE_RATE + np.array(CANARY) * window,
                         STABLE_MEAN * 30 * STABLE_RATE + CANARY_MEAN * window)
    # the premise: the canary's whole band is under the floor, though its mean confidence is
    # at it; the stable version's and the model's whole bands are above it
    assert canary.upper < LIMIT - 0.1 and canary.accuracy < CANARY_MEAN - 0.2
    assert stable.lower > LIMIT + 0.1 and whole.lower > LIMIT + 0.1
    inputs = (baseline_inputs(60, overconfident) + [_info("1", 60), _info("2", 60)]
              + _histogram("1", 60, STABLE_RATE, STABLE, STABLE_MEAN)
              + _histogram("2", 60, CANARY_RATE, CANARY, CANARY_MEAN))
    version = f'model_name="{MODEL}",model_version="2"'
    model = f'model_name="{MODEL}"'
    run_promtool(tmp_path, inputs, [alert("EstimatedAccuracyDrop", "10m")],  # pending: 15m
        promql_tests=[
            firing("EstimatedAccuracyDrop", "20m", {"model_version": "2", "severity": "warning"}),
            firing("EstimatedAccuracyDrop", "45m", {"model_version": "2", "severity": "warning"}),
            # the version's estimate and band are the pure estimate of its own counts; the
            # model's, over all its predictions, stay above the floor
            _within(versioned(estimated_accuracy("30m")), version, canary.accuracy, "45m"),
            _within(versioned(estimated_accuracy_margin("30m")), version, canary.margin, "45m"),
            _within(versioned(thin_share("30m")), version,
                    cal.thin_share(np.array(CANARY) * window, THIN_ROWS), "45m"),
            _within(estimated_accuracy("30m"), model, whole.accuracy, "45m"),
            {"expr": f"{estimated_accuracy('30m')} - {estimated_accuracy_margin('30m')} "
                     f"> bool {number(LIMIT)}", "eval_time": "45m",
             "exp_samples": [{"labels": f"{{{model}}}", "value": 1}]}])


def test_one_version_gets_no_version_estimate(tmp_path, overconfident):
    inputs = (baseline_inputs(40, overconfident) + [_info("1", 40)]
              + _histogram("1", 40, CANARY_RATE, CANARY, CANARY_MEAN))
    # the model's own estimate fires (its one version is the canary above); no version series
    run_promtool(tmp_path, inputs, [], promql_tests=[
        firing("EstimatedAccuracyDrop", "35m", {"severity": "warning"}), *(
            {"expr": name, "eval_time": "35m", "exp_samples": []}
            for name in (versioned(estimated_accuracy("30m")),
                     versioned(estimated_accuracy_margin("30m")), versioned(thin_share("30m")),
                     "model_name_model_version_le:ml_prediction_confidence_bucket:increase30m",
                         "model_name_model_version:ml_predictions:increase30m"))])


def test_edges_cover_the_shares():
    assert len(CANARY) == len(STABLE) == len(EDGES)
    assert sum(CANARY) == pytest.approx(1) and sum(STABLE) == pytest.approx(1)


def test_a_canary_serving_its_own_curve_gets_no_estimate_through_another(tmp_path,
                                                                         overconfident):
    # the same canary, retrained: its replica serves its own baseline (baseline_id "b2"). The
    # model has no one curve while its versions run two, so neither it nor its versions are
    # estimated (and EstimatedAccuracyDrop waits); with one baseline the same counts are
    inputs = (baseline_inputs(60, overconfident, model_version="1", instance="replica-1")
              + baseline_inputs(60, overconfident, model_version="2", instance="replica-2")
              + _histogram("1", 60, STABLE_RATE, STABLE, STABLE_MEAN)
              + _histogram("2", 60, CANARY_RATE, CANARY, CANARY_MEAN))
    model, version = estimated_accuracy("30m"), versioned(estimated_accuracy("30m"))
    one = [{"labels": f'{{__name__="{model}",model_name="{MODEL}"}}'},
           *({"labels": f'{{__name__="{version}",model_name="{MODEL}",model_version="{v}"}}'}
             for v in ("1", "2"))]
    for ids, expected in ((("b", "b"), one), (("b", "b2"), [])):
        info = [_info(v, 60, i) for v, i in zip(("1", "2"), ids)]
        run_promtool(tmp_path, inputs + info, [alert("EstimatedAccuracyDrop", "50m")]
                     if not expected else [],
                     promql_tests=[{"expr": f"count by (__name__, model_name, model_version) "
                                            f"({{__name__=~\"{model}|{version}\"}})",
                                    "eval_time": "50m",
                                    "exp_samples": [{**x, "value": 1} for x in expected]}])
