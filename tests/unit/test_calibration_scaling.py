"""A curve fitted with the class scores first scales them by the temperature the labelled rows
choose (temperature scaling), kept only where it beats none; the service counts each
prediction's scaled top score, which the estimate weighs; the scaling travels with the baseline
and is refused when malformed, by the library and the service alike."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from baseline_support import refused_by_both
from prometheus_client import CollectorRegistry, generate_latest
from scores_support import softmax

from mlmon_nb import ModelMonitor
from mlmon_nb import metrics as m
from mlmon_nb.baseline import Baseline, BaselineBuilder
from mlmon_nb.errors import BaselineError
from mlmon_nb.estimated.calibration import (
    bucket_counts,
    bucket_sums,
    calibration_of_sums,
    fit_calibration,
    purity,
    scaled_confidences,
    scaling_sensitivities,
)
from mlmon_nb.estimated.reliability import fit_gaps
from mlmon_nb.estimated.scaling import SCALINGS, choose_scaling, scaled_confidence
from mlmon_nb.instrument import baseline_series, content_id, load_baseline
from mlmon_nb.metrics import CONFIDENCE_BUCKETS


def _draw(n: int, classes: int, sharpness: float, spread: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``classes``-class model's scores (its logits × ``sharpness``: above 1 overconfident),
    whether a label drawn from the true posterior matches its top class, and that top class's
    true chance of being right; ``spread``: the logits' (a smaller one, inputs nearer the
    classes' meeting points)."""
    logits = rng.normal(0, spread, size=(n, classes))
    posterior, scores = softmax(logits), softmax(sharpness * logits)
    top = scores.argmax(axis=1)
    truth = (rng.random(n)[:, None] > np.cumsum(posterior, axis=1)).sum(axis=1)
    return scores, top == truth, posterior[np.arange(n), top]


def _frame(scores: np.ndarray, correct: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    classes = [f"c{k}" for k in range(scores.shape[1])]
    top = scores.argmax(axis=1)
    frame = pd.DataFrame(scores, columns=[f"p_{c}" for c in classes])
    return frame.assign(x=rng.normal(size=len(frame)), prediction=np.array(classes)[top],
                        confidence=scores.max(axis=1),
                        label=np.where(correct, np.array(classes)[top], "other"))


OPTIONS = dict(prediction="prediction", confidence="confidence", label="label", bins=10)


def _scores(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("p_")]


def test_the_service_and_the_library_scale_alike():
    rng = np.random.default_rng(1)
    scores = softmax(rng.normal(0, 2, size=(200, 5)))
    for temperature in (SCALINGS[0], 0.7, 1.0, 1.5, SCALINGS[-1]):
        library = scaled_confidences(scores, temperature)
        service = [scaled_confidence(float(row.max()), temperature, 5, row.tolist())
                   for row in scores]
        np.testing.assert_allclose(library, service, rtol=1e-12)
        # the logits divided by the temperature: softmax(log p / T)'s top score
        np.testing.assert_allclose(library, softmax(np.log(scores) / temperature).max(axis=1),
                                   rtol=1e-9)
    # no temperature, no change; without the scores the rest is spread evenly
    assert scaled_confidence(0.83, 1.0, 3) == 0.83
    even = [0.6, 0.2, 0.2]
    assert scaled_confidence(0.6, 1.5, 3) == pytest.approx(scaled_confidence(0.6, 1.5, 3, even))
    assert scaled_confidence(0.6, 1.5, 3) < 0.6 < scaled_confidence(0.6, 0.7, 3)


def test_the_likeliest_temperature_is_kept_only_where_it_beats_none():
    flat = [10.0] * len(SCALINGS)
    assert choose_scaling(flat) == 1.0
    dip = list(flat)
    dip[SCALINGS.index(1.0) + 8] = 10.0 - 1.5  # twice 1.5 is under the test's 3.84
    assert choose_scaling(dip) == 1.0
    dip[SCALINGS.index(1.0) + 8] = 10.0 - 2.5
    assert choose_scaling(dip) == SCALINGS[SCALINGS.index(1.0) + 8]
    with pytest.raises(ValueError, match="one per SCALINGS"):
        choose_scaling([1.0, 2.0])


def test_a_calibrated_models_curve_is_unscaled_and_a_miscalibrated_ones_temperature_found():
    kept = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        scores, correct, _ = _draw(500, 3, 1.0, 2.0, rng)
        cal = fit_calibration(scores.max(axis=1), correct, scores=scores)
        plain = calibration_of_sums(bucket_sums(scores.max(axis=1), correct,
                                                purities=purity(scores)), CONFIDENCE_BUCKETS, 3)
        if cal.scaling == 1.0:  # then the curve is exactly the unscaled one
            np.testing.assert_array_equal(cal.gap, plain.gap)
            np.testing.assert_array_equal(cal.confidence_sum, plain.confidence_sum)
        kept += cal.scaling != 1.0
    assert kept <= 3  # the test's 5 %: about 1 in 20 calibrated draws scaled (here 2)
    rng = np.random.default_rng(7)
    for sharpness in (0.7, 2.0):
        scores, correct, _ = _draw(5_000, 10, sharpness, 2.0, rng)
        cal = fit_calibration(scores.max(axis=1), correct, scores=scores)
        assert cal.scaling == pytest.approx(sharpness, rel=0.15)


def test_the_scaled_curve_estimates_a_many_class_model_the_top_score_cannot():
    # 10 classes, logits × 2 (overconfident), 5,000 validation rows; the window's inputs sit
    # nearer the classes' meeting points
    scaled, unscaled = [], []
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        scores, correct, _ = _draw(5_000, 10, 2.0, 2.0, rng)
        window, _, chance = _draw(20_000, 10, 2.0, 1.4, rng)
        conf = scores.max(axis=1)
        cal = fit_calibration(conf, correct, scores=scores)
        plain = calibration_of_sums(bucket_sums(conf, correct, purities=purity(scores)),
                                    CONFIDENCE_BUCKETS, 10)
        counts, purities = bucket_counts(window.max(axis=1)), float(purity(window).sum())
        est = cal.estimate(counts, float(cal.confidences(window.max(axis=1), window).sum()),
                           purities)
        scaled.append(abs(est.accuracy - chance.mean()) * 100)
        unscaled.append(abs(plain.estimate(counts, float(window.max(axis=1).sum()),
                                           purities).accuracy - chance.mean()) * 100)
        assert est.lower <= chance.mean() <= est.upper
    assert np.mean(scaled) < 1.0 and np.mean(scaled) < 0.5 * np.mean(unscaled)


@pytest.fixture(scope="module")
def overconfident() -> tuple[pd.DataFrame, Baseline]:
    rng = np.random.default_rng(11)
    scores, correct, _ = _draw(6_000, 4, 1.6, 2.0, rng)
    frame = _frame(scores, correct, rng)
    return frame, Baseline.from_frame(frame, "m", scores=_scores(frame), **OPTIONS)


def test_batches_build_the_same_scaled_curve(overconfident):
    frame, base = overconfident
    cal = base.calibration
    assert 1.3 < cal.scaling < 2.0
    direct = fit_calibration(frame["confidence"].to_numpy(),
                             (frame["prediction"] == frame["label"]).to_numpy(),
                             scores=frame[_scores(frame)].to_numpy(), classes=4)
    batches = BaselineBuilder("m", scores=_scores(frame), **OPTIONS)
    for start in range(0, len(frame), 2_500):
        batches.update_arrow(pa.RecordBatch.from_pandas(frame.iloc[start:start + 2_500],
                                                        preserve_index=False))
    built = batches.build().calibration
    for other in (direct, built):
        assert other.scaling == cal.scaling
        np.testing.assert_allclose(other.confidence_sum, cal.confidence_sum, rtol=1e-12)
        np.testing.assert_allclose(other.gap, cal.gap, atol=1e-12)
    assert base.describe().set_index("kind").loc["calibration", "scaling"] == cal.scaling
    assert cal.miscalibration == f"overconfident: scores scaled by temperature {cal.scaling:.2f}"


def test_the_service_counts_the_scaled_top_scores_the_estimate_weighs(overconfident):
    frame, base = overconfident
    cal = base.calibration
    registry = CollectorRegistry()
    monitor = ModelMonitor("m", baseline=base, registry=registry)
    window = frame.iloc[:300]
    scores = window[_scores(frame)].to_numpy()
    for row in scores:
        monitor.record_prediction("c0", float(row.max()), scores=row.tolist())
    monitor.record_prediction("c0", 0.9)  # no scores: the rest spread over the other 3
    text = generate_latest(registry).decode()

    def sample(name: str) -> float:
        return next(float(line.split()[-1]) for line in text.splitlines()
                    if line.startswith(name + "{"))
    expected = float(cal.confidences(window["confidence"].to_numpy(), scores).sum())
    assert sample(m.SCALED_CONFIDENCE.sample) == pytest.approx(
        expected + scaled_confidence(0.9, cal.scaling, 4), rel=1e-12)
    assert sample(m.CALIBRATION_SCALING.name) == cal.scaling
    # a curve without a scaling: no counter, no scaling series
    plain = Baseline.from_frame(frame, "m", exclude=_scores(frame), **OPTIONS)
    registry = CollectorRegistry()
    ModelMonitor("m", baseline=plain, registry=registry).record_prediction("c0", 0.9)
    text = generate_latest(registry).decode()
    assert m.SCALED_CONFIDENCE.sample + "{" not in text
    assert m.CALIBRATION_SCALING.name + "{" not in text


def test_the_scaling_travels_with_the_baseline_and_a_bad_one_is_refused(overconfident, tmp_path):
    _, base = overconfident
    path = tmp_path / "b.json"
    base.save(path)
    assert json.loads(path.read_text())["calibration"]["scaling"] == base.calibration.scaling
    again, served = Baseline.load(path), load_baseline(path)
    assert again.baseline_id == served.baseline_id == base.baseline_id
    assert again.calibration.scaling == served.calibration_scaling == base.calibration.scaling
    assert served.calibration_classes == 4
    exported = {spec.name: value for spec, _, value in baseline_series(served)}
    assert exported[m.CALIBRATION_SCALING.name] == base.calibration.scaling
    hostile = tmp_path / "bad.json"
    for bad in ("1.5", True, 0, -1.0, 100.0, None, [1.5]):
        doc = json.loads(path.read_text())
        doc["calibration"]["scaling"] = bad
        refused_by_both(doc, hostile, "scaling temperature")
    # a scaling without the class scores' sums it was fitted with, or without its uncertainty
    for key, bad in [("purity", None), ("scaling_stderr", None), ("scaling_stderr", "0.1"),
                     ("scaling_stderr", -0.1), ("scaling_stderr", 2.0),
                     ("scaling_sensitivity", None), ("scaling_sensitivity", [0.0, 1.0]),
                     ("scaling_sensitivity", "x")]:
        doc = json.loads(path.read_text())
        if bad is None:
            del doc["calibration"][key]
        else:
            doc["calibration"][key] = bad
        refused_by_both(doc, hostile, "finite sensitivities; rebuild the baseline")


def test_the_band_carries_the_temperatures_uncertainty(overconfident, tmp_path):
    _, base = overconfident
    cal = base.calibration
    assert 0.0 < cal.scaling_stderr < 0.2
    residual = fit_gaps(cal.counts.tolist(), cal.correct.tolist(), cal.confidence_sum.tolist(),
                        cal.bucket_edges, cal.classes)
    np.testing.assert_array_equal(cal.gap, residual.gaps)
    filled = cal.counts > 0
    assert np.all(cal.gap_stderr[filled] > np.array(residual.stderr)[filled])
    # the sensitivity is the scaled top score's change per unit of log T
    scores = softmax(np.random.default_rng(2).normal(0, 2, size=(50, 4)))
    h = 1e-6
    numeric = (scaled_confidences(scores, 1.5 * math.exp(h))
               - scaled_confidences(scores, 1.5 * math.exp(-h))) / (2 * h)
    np.testing.assert_allclose(scaling_sensitivities(scores, 1.5), numeric, rtol=1e-5, atol=1e-9)
    # an entry of an earlier fit is refitted with it, by the library and the service alike
    doc = base.to_dict()
    doc["calibration"]["method"] = "an earlier fit"
    doc["baseline_id"] = content_id(doc)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    library, service = Baseline.load(path), load_baseline(path)
    assert library.baseline_id == service.baseline_id
    assert service.calibration_gap_stderr == pytest.approx(library.calibration.gap_stderr.tolist(),
                                                           abs=1e-12)
    np.testing.assert_allclose(library.calibration.gap_stderr, cal.gap_stderr, atol=1e-12)


def test_rows_without_a_positive_or_finite_score_are_refused_unless_their_confidence_is_missing():
    rng = np.random.default_rng(12)
    scores, correct, _ = _draw(3_000, 3, 1.6, 2.0, rng)
    confidence = scores.max(axis=1)
    scores[0], scores[1, 0] = 0.0, np.nan
    with pytest.raises(BaselineError, match=r"2 of 3,000 rows have class scores that are not "
                                            r"probabilities.*softmax"):
        fit_calibration(confidence, correct, scores=scores)
    # a row without a confidence is no prediction: its scores are not read
    confidence[:2] = np.nan
    cal = fit_calibration(confidence, correct, scores=scores)
    assert cal.n == 2_998 and cal.scaling != 1.0
    assert np.all(np.isfinite(cal.confidence_sum)) and np.all(np.isfinite(cal.gap_stderr))
