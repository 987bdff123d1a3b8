"""The reliability curve and the accuracy estimate it gives (pure; no Prometheus)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mlmon_nb.errors import BaselineError
from mlmon_nb.estimated.calibration import (
    N_BUCKETS,
    Calibration,
    bucket_counts,
    fit_calibration,
)
from mlmon_nb.metrics import CONFIDENCE_BUCKETS, LEGACY_CONFIDENCE_BUCKETS


def _calibrated(n: int, rng: np.random.Generator, low: float = 0.34) -> tuple[np.ndarray, np.ndarray]:
    conf = rng.uniform(low, 1.0, n)
    return conf, rng.random(n) < conf


def test_calibrated_model_estimate_matches_truth_under_covariate_shift() -> None:
    rng = np.random.default_rng(1)
    cal = fit_calibration(*_calibrated(50_000, rng))
    # live traffic shifted to low confidence: true accuracy drops, the estimate follows
    conf = rng.beta(2, 3, 20_000) * 0.66 + 0.34
    correct = rng.random(conf.size) < conf
    est = cal.estimate(bucket_counts(conf), conf.sum())
    assert est.n == conf.size
    assert abs(est.accuracy - correct.mean()) < 0.01
    # calibrated scores: the estimate is the live mean confidence, whatever the buckets say
    assert est.accuracy == pytest.approx(conf.mean(), abs=0.003)
    assert est.accuracy < cal.reference_accuracy - 0.05


def test_overconfident_model_is_corrected_by_the_curve() -> None:
    rng = np.random.default_rng(2)
    conf = rng.uniform(0.5, 1.0, 40_000)
    correct = rng.random(conf.size) < conf - 0.2  # says 90 %, is right 70 %
    cal = fit_calibration(conf, correct)
    live = rng.uniform(0.5, 1.0, 5_000)
    est = cal.estimate(bucket_counts(live), live.sum())
    assert abs(est.accuracy - (live - 0.2).mean()) < 0.01
    assert abs(est.accuracy - live.mean()) > 0.15
    assert np.all(cal.gap[5:10] == pytest.approx(-0.2, abs=0.02))


def test_confidences_moving_within_their_buckets_move_the_estimate() -> None:
    # a calibrated model whose live confidences sit at the low end of each bucket: bucket counts
    # alone cannot see it, the histogram's sum can
    rng = np.random.default_rng(5)
    cal = fit_calibration(*_calibrated(60_000, rng, low=0.5))
    live = np.floor(rng.uniform(0.5, 1.0, 20_000) * 10) / 10 + 0.001
    truth = (rng.random(live.size) < live).mean()
    est = cal.estimate(bucket_counts(live), live.sum())
    assert abs(est.accuracy - truth) < 0.01
    bucket_only = float(bucket_counts(live) @ cal.accuracy / live.size)
    assert bucket_only - truth > 0.03


def test_gaps_of_a_calibrated_model_are_noise_and_nearly_vanish() -> None:
    rng = np.random.default_rng(4)
    cal = fit_calibration(*_calibrated(30_000, rng))
    assert abs(cal.pooled_gap) < 0.01 and np.all(np.abs(cal.gap) < 0.01)
    assert np.allclose(cal.accuracy, cal.mean_confidence, atol=0.01)
    # each filled bucket's gap as uncertain as the level's noise: a few tenths of a point; the
    # empty +Inf bucket, beyond every labelled row, more
    filled = cal.counts > 0
    assert filled.sum() == 10 and np.all(cal.gap_stderr[filled] < 0.005)
    assert cal.gap_stderr[-1] > cal.gap_stderr[filled].max()


def test_a_small_validation_set_keeps_a_consistent_overconfidence() -> None:
    # every bucket 5 points overconfident: on 500 rows no bucket shows it beyond its noise,
    # together they do; the estimate keeps it, and the band holds the truth
    rng = np.random.default_rng(6)
    conf = rng.uniform(0.4, 1.0, 500)
    cal = fit_calibration(conf, rng.random(conf.size) < conf - 0.05)
    assert cal.pooled_gap == pytest.approx(-0.05, abs=0.03)
    live = rng.uniform(0.4, 0.9, 20_000)
    truth = (rng.random(live.size) < live - 0.05).mean()
    est = cal.estimate(bucket_counts(live), live.sum())
    assert abs(est.accuracy - truth) < 0.03 and est.accuracy < live.mean() - 0.02
    assert est.lower <= truth <= est.upper
    # the band is the curve's (500 rows), not the window's binomial noise alone
    assert est.margin > 3 * 1.96 * np.sqrt(truth * (1 - truth) / live.size)


def test_a_thin_bucket_takes_its_neighbours_gap_a_full_one_keeps_its_own() -> None:
    counts = np.zeros(11)  # on the earlier 0.1-wide buckets
    correct = np.zeros(11)
    counts[[4, 5, 9]] = [3, 1000, 1000]
    correct[[4, 5, 9]] = [3, 400, 900]   # 3/3 right in a thin bucket would claim 100 %
    mean = np.array([0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.0])
    cal = Calibration(counts, correct, counts * mean, bucket_edges=LEGACY_CONFIDENCE_BUCKETS)
    assert cal.n == 2003
    # a thousand rows: kept; three rows (observed +0.55): the curve of its neighbour, not the
    # pooled gap of all rows (-0.10), let alone its own
    assert cal.gap[5] == pytest.approx(0.40 - 0.55, abs=0.01)
    assert cal.gap[9] == pytest.approx(0.90 - 0.95, abs=0.01)
    assert abs(cal.gap[4] - cal.gap[5]) < 0.03 and cal.gap[4] < cal.pooled_gap - 0.02
    # empty buckets between the full ones: between their gaps, and uncertain in the middle
    assert np.all(np.diff(cal.gap[5:10]) > 0)
    assert cal.gap_stderr[7] > 10 * max(cal.gap_stderr[5], cal.gap_stderr[9])
    # below every labelled row: the nearest part's gap, more uncertain the further it is
    assert cal.gap[0] == pytest.approx(cal.gap[4])
    assert np.all(np.diff(cal.gap_stderr[:6]) <= 0) and cal.gap_stderr[2] > cal.gap_stderr[3]
    assert cal.gap_stderr[4] > 4 * cal.gap_stderr[5] and cal.gap_stderr[5] < 0.02
    assert np.all(cal.gap_stderr <= 0.5)  # no more than the spread of anything in [0, 1]


def test_a_window_on_an_empty_part_of_the_curve_is_uncertain() -> None:
    rng = np.random.default_rng(8)
    conf = np.concatenate([rng.uniform(0.5, 0.6, 1000), rng.uniform(0.9, 1.0, 1000)])
    cal = fit_calibration(conf, rng.random(conf.size) < conf - 0.1 * (conf < 0.6))
    on_curve = rng.uniform(0.9, 0.99, 5000)  # few reference rows over 0.99: thin
    off_curve = rng.uniform(0.7, 0.8, 5000)
    near = cal.estimate(bucket_counts(on_curve), on_curve.sum())
    far = cal.estimate(bucket_counts(off_curve), off_curve.sum())
    assert far.margin > 2.5 * near.margin
    # the curve bridged between the labelled parts: the truth (calibrated there) in the band
    truth = (rng.random(off_curve.size) < off_curve).mean()
    assert far.lower <= truth <= far.upper and near.lower <= on_curve.mean() <= near.upper
    assert cal.thin_share(bucket_counts(off_curve), 30) == 1.0
    assert cal.thin_share(bucket_counts(on_curve), 30) == 0.0
    assert np.isnan(cal.thin_share(np.zeros(N_BUCKETS), 30))


def test_round_trip_and_tampering_is_refused() -> None:
    rng = np.random.default_rng(3)
    cal = fit_calibration(*_calibrated(2_000, rng))
    doc = cal.to_dict()
    again = Calibration.from_dict(doc)
    assert np.array_equal(again.gap, cal.gap)
    doc["gap"][-2] = 0.1
    with pytest.raises(BaselineError, match="do not match"):
        Calibration.from_dict(doc)
    with pytest.raises(BaselineError, match="malformed"):
        Calibration.from_dict({"edges": [0.5]})
    with pytest.raises(BaselineError, match="at most"):
        Calibration(np.ones(N_BUCKETS), np.full(N_BUCKETS, 2.0), np.full(N_BUCKETS, 0.5))
    with pytest.raises(BaselineError, match="in \\[0, 1\\]"):
        Calibration(np.ones(N_BUCKETS), np.ones(N_BUCKETS), np.full(N_BUCKETS, 1.5))


def test_empty_window_and_nan_confidence() -> None:
    cal = fit_calibration(np.array([0.9, np.nan, 0.95]), np.array([True, True, False]))
    assert cal.n == 2
    est = cal.estimate(np.zeros(N_BUCKETS), 0.0)
    assert est.n == 0 and np.isnan(est.accuracy) and str(est) == "no predictions"
    with pytest.raises(BaselineError):
        fit_calibration(np.array([np.nan]), np.array([True]))


def _overconfident(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # a binary model scoring with its logits × 1.5: right with probability sigmoid(logit / 1.5)
    logit = rng.normal(2.0, 1.5, n)
    conf = 1 / (1 + np.exp(-np.abs(logit)))
    truth = 1 / (1 + np.exp(-np.abs(logit) / 1.5))
    return conf, truth, rng.random(n) < truth


def test_an_overconfident_models_accuracy_rises_faster_than_its_confidence_within_buckets() -> None:
    # on the earlier 0.1-wide buckets, whose top one spans the steep part of the curve
    rng = np.random.default_rng(9)
    conf, _, correct = _overconfident(50_000, rng)
    cal = fit_calibration(conf, correct, LEGACY_CONFIDENCE_BUCKETS)
    assert 1.1 < cal.slope < 2.0  # steeper than calibrated: the gap deepens as it falls
    # live traffic sliding down inside the top bucket: from about 0.99 to 0.96
    live, truth, _ = _overconfident(200_000, rng)
    live_conf = live[(live > 0.9) & (live < 0.97)]
    live_truth = truth[(live > 0.9) & (live < 0.97)]
    counts = bucket_counts(live_conf, LEGACY_CONFIDENCE_BUCKETS)
    est = cal.estimate(counts, live_conf.sum())
    flat = replace(cal, square_sum=None, product_sum=None)  # the slope-1 curve
    old = flat.estimate(counts, live_conf.sum())
    assert flat.slope == 1.0 and np.array_equal(flat.offset, flat.gap)
    assert abs(est.accuracy - live_truth.mean()) < 0.01
    assert abs(old.accuracy - live_truth.mean()) > 1.5 * abs(est.accuracy - live_truth.mean())
    # the finer buckets near 1 follow the steep part with their own gaps: little slope left
    fine = fit_calibration(conf, correct)
    assert fine.bucket_edges == CONFIDENCE_BUCKETS and abs(fine.slope - 1) < abs(cal.slope - 1)
    fine_est = fine.estimate(bucket_counts(live_conf), live_conf.sum())
    assert abs(fine_est.accuracy - live_truth.mean()) < abs(est.accuracy - live_truth.mean())
    # the piecewise-linear curve: slope × sum + offsets, the estimate's own formula
    assert est.accuracy == pytest.approx(
        (cal.slope * live_conf.sum() + counts @ cal.offset) / live_conf.size, abs=1e-12)


def test_a_calibrated_models_slope_stays_near_one_and_a_small_set_barely_moves_it() -> None:
    rng = np.random.default_rng(10)
    # within its noise: Σ within-bucket variance ≈ 42 here, so a standard error of about 0.07
    assert fit_calibration(*_calibrated(50_000, rng)).slope == pytest.approx(1.0, abs=0.2)
    small = fit_calibration(*_calibrated(300, rng))
    assert 0.5 < small.slope < 1.5  # shrunk toward 1 by its noise
    doc = small.to_dict()
    assert Calibration.from_dict(doc).slope == small.slope
    del doc["square_sum"], doc["product_sum"]  # a baseline from before the within-bucket sums
    assert Calibration.from_dict(doc).slope == 1.0
    with pytest.raises(BaselineError, match="pairs"):
        Calibration(small.counts, small.correct, small.confidence_sum, square_sum=small.square_sum)
    with pytest.raises(BaselineError, match="within-bucket"):
        Calibration(small.counts, small.correct, small.confidence_sum,
                    square_sum=small.square_sum * 3, product_sum=small.product_sum)


def test_an_empty_bucket_is_uncertain_even_when_the_gaps_look_like_noise() -> None:
    # 200 calibrated rows over 0.6–1.0: the likeliest random-walk strength is 0 (one gap for
    # all), yet a window at 0.3–0.4, where no labelled row is, must not get the filled buckets'
    # band: the band averages over the strengths the rows leave possible
    rng = np.random.default_rng(12)
    conf = rng.uniform(0.6, 1.0, 200)
    correct = rng.random(conf.size) < conf
    cal = fit_calibration(conf, correct)
    rows = cal.counts > 0
    assert np.ptp(cal.gap) < 1e-12  # one gap for all: the spread is noise
    assert cal.gap_stderr[3] > 1.5 * np.median(cal.gap_stderr[rows])
    assert cal.gap_stderr[3] > cal.gap_stderr[4] > cal.gap_stderr[5]
    empty = rng.uniform(0.3, 0.4, 3000)
    est = cal.estimate(bucket_counts(empty), empty.sum())
    truth = (rng.random(empty.size) < empty).mean()
    assert est.margin > 0.1 and est.lower <= truth <= est.upper


def test_the_demos_covariate_shift_fault_is_in_part_concept_shift() -> None:
    # why no validation set makes the demo's fault fire EstimatedAccuracyDrop through an honest
    # curve: at the same confidence its texts are far less often right than ordinary ones, so a
    # curve fitted on a mix of both over-estimates the shifted traffic
    from mlmon_nb.stack.demo.model import COVARIATE_SHIFT, SentimentModel, generate_texts
    model = SentimentModel()

    def outcomes(seed: int, **shift: float) -> tuple[np.ndarray, np.ndarray]:
        texts = generate_texts(3000, np.random.default_rng(seed), **shift)
        answers = [model.predict(t.text, t.channel) for t in texts]
        return (np.array([a.confidence for a in answers]),
                np.array([a.label == t.true_label for a, t in zip(answers, texts)]))

    conf, ok = outcomes(11)
    shifted_conf, shifted_ok = outcomes(12, **COVARIATE_SHIFT)
    band = (conf > 0.7) & (conf <= 0.8)
    shifted_band = (shifted_conf > 0.7) & (shifted_conf <= 0.8)
    assert band.sum() > 300 and shifted_band.sum() > 300
    assert ok[band].mean() > shifted_ok[shifted_band].mean() + 0.3
    mixed = fit_calibration(np.concatenate([conf, shifted_conf[:600]]),
                            np.concatenate([ok, shifted_ok[:600]]))
    live_conf, live_ok = outcomes(13, **COVARIATE_SHIFT)
    estimate = mixed.estimate(bucket_counts(live_conf), live_conf.sum())
    assert estimate.accuracy > live_ok.mean() + 0.1


@pytest.mark.parametrize("correct, message", [
    (["yes", "no", "yes"], "e.g. 'yes'"),  # NumPy would read every non-empty text as right
    ([1, 2, 0], "e.g. 2"),
])
def test_correctness_that_is_not_true_or_false_is_refused(correct, message) -> None:
    conf = np.tile([0.9, 0.8, 0.7], 200)
    with pytest.raises(BaselineError, match=f"neither true/false nor 1/0 \\({message}\\).*"
                                            f"prediction == label"):
        fit_calibration(conf, np.tile(np.array(correct, dtype=object), 200))


def test_a_row_without_its_label_is_left_out_not_counted_right() -> None:
    # NaN or None in the correctness: no label, not a right prediction
    conf = np.tile([0.9, 0.8, 0.7], 200)
    known = fit_calibration(conf[np.tile([True, False, True], 200)], np.tile([1.0, 0.0], 200))
    for missing in (np.nan, None):
        cal = fit_calibration(conf, np.tile(np.array([1.0, missing, 0.0], dtype=object), 200))
        assert cal.counts.sum() == 400 and cal.reference_accuracy == 0.5
        assert np.array_equal(cal.counts, known.counts)
