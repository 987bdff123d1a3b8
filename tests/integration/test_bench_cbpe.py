"""The pure pieces of the CBPE benchmark (benchmarks/bench_cbpe.py, cbpe_synthetic.py,
cbpe_leadtime.py) on tiny sizes: the synthetic classifier is what it
claims (calibrated, or overconfident by its sharpness; shift lowers its accuracy), mlmon_nb's
estimate follows the truth, the history's counters keep the metric contract, and promtool's
report of the generated rules is read back into firing times."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_cbpe as bench  # noqa: E402 - benchmarks/ on the path first
import cbpe_leadtime as lead  # noqa: E402
from cbpe_synthetic import make_classifier, sample  # noqa: E402

from mlmon_nb import metrics as m  # noqa: E402
from mlmon_nb.estimated.calibration import bucket_counts, fit_calibration  # noqa: E402

CONTRACTED = bench.Scenario("tiny, contracted", 3, 4, 2.3, True)


def test_shift_lowers_accuracy_of_a_calibrated_classifier() -> None:
    ref, (same, shifted) = bench.workload(CONTRACTED, n_ref=4000, n_window=4000, shifts=(0.0, 0.8))
    assert abs(ref.accuracy - ref.expected_accuracy) < 0.03
    assert abs(ref.confidence.mean() - ref.expected_accuracy) < 1e-12  # calibrated: p = truth
    assert shifted.accuracy < same.accuracy - 0.15
    assert abs(shifted.accuracy - shifted.expected_accuracy) < 0.03


def test_overconfident_scores_claim_more_than_they_reach() -> None:
    scenario = bench.Scenario("tiny, overconfident", 3, 4, 2.3, True, 1.5)
    ref, _ = bench.workload(scenario, n_ref=4000, n_window=10, shifts=(0.0,))
    assert ref.confidence.mean() > ref.expected_accuracy + 0.02
    assert abs(ref.accuracy - ref.expected_accuracy) < 0.03


def test_estimate_follows_the_truth_better_than_bucket_counts_alone() -> None:
    shifts = (0.0, 0.4, 0.7)
    ref, windows = bench.workload(CONTRACTED, n_ref=8000, n_window=5000, shifts=shifts)
    rows = bench.estimate_windows(ref, windows, shifts)
    assert [r.n for r in rows] == [5000] * 3
    assert rows[-1].truth < rows[0].truth - 0.1
    assert all(r.error < 0.03 for r in rows), [r.error for r in rows]
    assert max(abs(r.ours - r.expected) for r in rows) < 0.005
    # what the histogram's sum adds shows on wide buckets (a baseline on the earlier 0.1-wide
    # ones); on the finer ones near 1 both are within a few tenths of a point here
    legacy = fit_calibration(ref.confidence, ref.correct, m.LEGACY_CONFIDENCE_BUCKETS)
    with_sum, alone = [], []
    for r, w in zip(rows, windows):
        counts = bucket_counts(w.confidence, m.LEGACY_CONFIDENCE_BUCKETS)
        with_sum.append(abs(legacy.estimate(counts, w.confidence.sum()).accuracy - r.expected))
        alone.append(abs(counts @ legacy.accuracy / counts.sum() - r.expected))
    assert max(with_sum) < max(alone)


def test_history_counters_keep_the_contract() -> None:
    clf = make_classifier(3, 4, 2.3, 1)
    h = lead.build_history(clf, "m", "b0", hours=1.5, ramp=(20, 60), per_minute=60)
    assert h.minutes == 91 and h.shift[0] == 0 and h.shift[-1] == pytest.approx(lead.SHIFT_PEAK)
    series = {s["series"]: np.array(s["values"].split(), dtype=float) for s in h.input_series}
    assert all(len(v) == h.minutes and np.all(np.diff(v) >= 0) for v in series.values())
    buckets = [series[f'{m.CONFIDENCE.series("_bucket")}{{model_name="m",le="{m.le_label(le)}"}}']
               for le in (*m.CONFIDENCE_BUCKETS, float("inf"))]
    assert np.all(np.diff(np.vstack(buckets), axis=0) >= 0)  # cumulative over le
    assert np.array_equal(buckets[-1], series[f'{m.CONFIDENCE.series("_count")}{{model_name="m"}}'])
    truth = sum(v[-1] for k, v in series.items() if k.startswith(m.GROUND_TRUTH.sample))
    # a tenth of the predictions, less those whose label is still on its way (30–60 min)
    assert 0.02 * buckets[-1][-1] < truth < 0.1 * buckets[-1][-1] * 1.3


def test_promtool_report_is_read_into_firing_minutes_and_values() -> None:
    report = ("  FAILED:\n    alertname: LowModelAccuracy, time: 1h5m, \n        exp:[], \n"
              "        got:[...]\n    alertname: LowModelAccuracy, time: 7h, \n"
              '    expr: "x{model_name=\\"m\\"}", time: 30m,\n        exp: (no samples)\n'
              '        got: {__name__="x", model_name="m"} 0.875\n')
    ev = lead.parse_report(report)
    assert ev.first("LowModelAccuracy") == 65 and ev.first("EstimatedAccuracyDrop") is None
    assert ev.values == {'x{model_name="m"}': {30.0: 0.875}}
    assert [lead.minutes_of(d) for d in ("0s", "45m", "2h", "1h30m")] == [0, 45, 120, 90]


@pytest.mark.integration
def test_estimated_accuracy_alert_fires_before_the_labelled_one_under_the_real_rules() -> None:
    clf = make_classifier(3, 4, 2.3, 1)
    reference = sample(clf, 4000, 0.0, np.random.default_rng(0))
    model, files, baseline = lead.generated_rules(reference)
    assert lead.missing_rules(files) == []
    alerts = (lead.ESTIMATED_ALERT, lead.LABELLED_ALERT)
    cut = lead.rules_of(files, alerts)
    records = "\n".join(cut.values())
    assert "record: model_name:ml_accuracy:ratio_rate1h" in records
    assert "record: model_name:ml_estimated_accuracy:30m" in records
    assert "ratio_rate30d" not in records and "alert: HighErrorRate" not in records
    h = lead.build_history(clf, model.name, baseline.baseline_id, hours=3, ramp=(20, 60),
                           peak=0.95, baseline=baseline)
    ev = lead.evaluate(cut, h, alerts, ())
    estimated, labelled = ev.first(lead.ESTIMATED_ALERT), ev.first(lead.LABELLED_ALERT)
    # accuracy is under 70 % from about minute 50; the estimate needs its 30m window and 15m
    # more, the labels come 30–60 min late, then the 1h ratio and 30m more
    assert estimated is not None and 50 < estimated < 100
    assert labelled is not None and estimated + 20 < labelled < 180
