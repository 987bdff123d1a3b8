"""A curve fitted with every class's score: the purity sums built from frames, record batches
and the CLI alike, read back exactly, served by the standard-library loader with the library's
numbers, refused when malformed; the estimate needs the window's purity sum, its band widens as
the window's scores move from the reference's within buckets; without scores nothing changes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from mlmon_nb import ModelMonitor
from mlmon_nb import metrics as m
from mlmon_nb.baseline import Baseline, BaselineBuilder
from mlmon_nb.cli import main
from mlmon_nb.errors import BaselineError
from mlmon_nb.estimated.calibration import (
    bucket_counts,
    bucket_sums,
    calibration_of_sums,
    fit_calibration,
    purity,
)
from mlmon_nb.instrument import baseline_series, load_baseline
from mlmon_nb.metrics import CONFIDENCE_BUCKETS

CLASSES = ("neg", "neu", "pos")
SCORES = [f"p_{c}" for c in CLASSES]
OPTIONS = dict(categorical=["channel"], prediction="prediction", confidence="confidence",
               label="label", bins=10)


def _draw(n: int, sharpness: float, spread: float, seed: int) -> pd.DataFrame:
    """A 3-class model's scores (softmax of logits × ``sharpness``; labels drawn from the
    softmax of the logits, so ``sharpness`` 0.7 is underconfident) and its labels."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, spread, size=(n, 3))
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    scores = np.exp(sharpness * logits)
    scores /= scores.sum(axis=1, keepdims=True)
    label = np.array([rng.choice(3, p=p) for p in truth])
    top = scores.argmax(axis=1)
    frame = pd.DataFrame(scores, columns=SCORES)
    return frame.assign(x=rng.normal(size=n), channel=rng.choice(["a", "b"], size=n),
                        prediction=np.array(CLASSES)[top], confidence=scores.max(axis=1),
                        label=np.array(CLASSES)[label])


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _draw(30_000, 0.7, 2.5, 3)


@pytest.fixture(scope="module")
def scored(frame) -> Baseline:
    return Baseline.from_frame(frame, "m", scores=SCORES, **OPTIONS)


def test_the_curve_has_purity_sums_and_a_purity_slope(frame, scored):
    cal = scored.calibration
    expected = fit_calibration(frame["confidence"].to_numpy(),
                               (frame["prediction"] == frame["label"]).to_numpy(),
                               scores=frame[SCORES].to_numpy())
    assert cal.purity_sums is not None and cal.purity_sums.shape == (4, cal.n_buckets)
    np.testing.assert_allclose(cal.purity_sums, expected.purity_sums)
    # an underconfident 3-class model (logits × 0.7): its scores are scaled back first...
    assert 0.6 < cal.scaling < 0.8 and cal.slopes.covariance is not None
    # ...and without that, at one confidence, a close runner-up (a purer rest) loses more
    # often than the scores say: the purity slope sees it
    sums = bucket_sums(frame["confidence"].to_numpy(),
                       (frame["prediction"] == frame["label"]).to_numpy(),
                       purities=purity(frame[SCORES].to_numpy()))
    assert calibration_of_sums(sums, CONFIDENCE_BUCKETS, 3).purity_slope < -0.1
    assert not set(SCORES) & set(scored.numeric)  # the scores are no features
    described = scored.describe().set_index("kind")
    assert described.loc["calibration", "purity_slope"] == cal.purity_slope
    plain = Baseline.from_frame(frame, "m", exclude=SCORES, **OPTIONS)
    assert plain.calibration.purity_sums is None and plain.calibration.purity_slope == 0.0
    assert plain.baseline_id != scored.baseline_id


def test_record_batches_partitions_and_the_cli_give_the_same_curve(frame, scored, tmp_path,
                                                                  capsys):
    batches = BaselineBuilder("m", scores=SCORES, **OPTIONS)
    for start in range(0, len(frame), 10_000):
        part = frame.iloc[start:start + 10_000]
        batches.update_arrow(pa.RecordBatch.from_pandas(part, preserve_index=False))
    np.testing.assert_allclose(batches.build().calibration.purity_sums,
                               scored.calibration.purity_sums)
    data = tmp_path / "valid.parquet"
    frame.to_parquet(data)
    out = tmp_path / "b.json"
    assert main(["baseline", "build", str(data), "--model", "m", "--categorical", "channel",
                 "--prediction", "prediction", "--confidence", "confidence", "--label", "label",
                 "--scores", ",".join(SCORES), "--bins", "10", "--no-progress",
                 "-o", str(out)]) == 0
    printed, said = capsys.readouterr()
    assert "with their class scores (underconfident: scores scaled by temperature 0." in printed
    assert "without its class scores" not in said
    plain = tmp_path / "plain.json"  # the same model without its scores: told what it misses
    assert main(["baseline", "build", str(data), "--model", "m", "--categorical", "channel",
                 "--prediction", "prediction", "--confidence", "confidence", "--label", "label",
                 "--exclude", ",".join(SCORES), "--bins", "10", "--no-progress",
                 "-o", str(plain)]) == 0
    said = capsys.readouterr().err
    assert "note: a 3-class model calibrated without its class scores" in said
    assert "--scores" in said and said.count("\n") == 1
    built = Baseline.load(out)
    np.testing.assert_allclose(built.calibration.purity_sums, scored.calibration.purity_sums)
    assert built.calibration.purity_slope == pytest.approx(scored.calibration.purity_slope)
    with pytest.raises(BaselineError, match="label="):
        Baseline.from_frame(frame, "m", scores=SCORES, exclude=["label"],
                            categorical=["channel"], prediction="prediction",
                            confidence="confidence")


def test_round_trip_and_the_service_serves_the_librarys_numbers(scored, tmp_path):
    path = scored.save(tmp_path / "b.json")
    again = Baseline.load(path)
    assert again.baseline_id == scored.baseline_id
    np.testing.assert_array_equal(again.calibration.purity_sums, scored.calibration.purity_sums)
    served = load_baseline(path)
    cal = scored.calibration
    assert served.calibration_purity_slope == pytest.approx(cal.purity_slope, abs=1e-12)
    assert served.calibration_offset == pytest.approx(cal.offset.tolist(), abs=1e-12)
    assert served.calibration_mean_purity == pytest.approx(cal.mean_purity.tolist(), abs=1e-12)
    assert served.calibration_slope_covariance == pytest.approx(cal.slopes.covariance,
                                                                abs=1e-15)
    # (the last label: a covariance's term, the version the others serve)
    exported = {(spec.name, labels[-1]) for spec, labels, _ in baseline_series(served, "2")}
    for term in m.SLOPE_COVARIANCE_TERMS:
        assert (m.CALIBRATION_SLOPE_COVARIANCE.name, term) in exported
    assert (m.CALIBRATION_PURITY_SLOPE.name, "2") in exported
    # a curve without scores exports none of them
    plain = {spec for spec, _, _ in baseline_series(load_baseline(
        Baseline.from_frame(pd.DataFrame({"x": [1.0, 2.0], "prediction": ["a", "b"],
                                          "confidence": [0.6, 0.9], "label": ["a", "a"]}),
                            "p", prediction="prediction", confidence="confidence",
                            label="label").save(tmp_path / "p.json")))}
    assert not plain & {m.CALIBRATION_PURITY_SLOPE, m.CALIBRATION_MEAN_PURITY,
                        m.CALIBRATION_SLOPE_COVARIANCE}


def test_a_corrupt_purity_entry_is_refused(scored, tmp_path):
    doc = scored.to_dict()
    doc["calibration"]["purity"]["sum"] = doc["calibration"]["purity"]["sum"][:-1]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BaselineError, match="purity"):
        Baseline.load(path)


def test_the_estimate_weighs_purity_and_its_band_the_slopes(frame, scored):
    cal = scored.calibration
    shifted = _draw(20_000, 0.7, 1.2, 8)  # inputs nearer the classes' meeting point
    counts = bucket_counts(shifted["confidence"].to_numpy())
    # the window's scaled top scores, as the service counts them under this curve
    total = float(cal.confidences(shifted["confidence"].to_numpy(),
                                  shifted[SCORES].to_numpy()).sum())
    with pytest.raises(ValueError, match="purity sum"):
        cal.estimate(counts, total)
    purities = float(purity(shifted[SCORES].to_numpy()).sum())
    est = cal.estimate(counts, total, purities)
    truth = float((shifted["prediction"] == shifted["label"]).mean())
    alone = Baseline.from_frame(frame, "m", exclude=SCORES, **OPTIONS).calibration.estimate(
        counts, float(shifted["confidence"].sum()))
    assert abs(est.accuracy - truth) < abs(alone.accuracy - truth)
    assert est.lower <= truth <= est.upper
    # the slopes' uncertainty widens the band as the window's purity leaves the reference's
    assert est.margin > 1.96 * np.sqrt((counts @ cal.gap_stderr / counts.sum()) ** 2
                                       + est.accuracy * (1 - est.accuracy) / counts.sum())


def test_the_service_counts_purity_and_refuses_bad_scores():
    registry = CollectorRegistry()
    monitor = ModelMonitor("m", registry=registry)
    monitor.record_prediction("a", 0.7, scores=[0.7, 0.2, 0.1])
    monitor.record_prediction("a", 0.6, scores={"a": 0.6, "b": 0.4})
    monitor.record_prediction("a", 0.9)  # a binary model's purity: 0.81 + 0.01
    for bad in (["x", 0.2], [0.5], [float("nan"), 0.5], [1.5, -0.5], 3):
        monitor.record_prediction("a", 0.8, scores=bad)  # taken as absent: 0.64 + 0.04
    text = generate_latest(registry).decode()
    total = next(float(line.split()[-1]) for line in text.splitlines()
                 if line.startswith("ml_prediction_purity_total{"))
    assert total == pytest.approx(0.54 + 0.52 + 0.82 + 5 * 0.68)
    invalid = next(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith("ml_feature_invalid_total{") and "__scores__" in line)
    assert invalid == 5
