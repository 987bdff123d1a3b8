"""The reliability curve keeps a consistent over- or underconfidence on a small validation set:
the gaps are shrunk toward a temperature curve (the model's top logit margin × a temperature)
where the rows show one, and toward one level for all buckets where they do not; a calibrated
model's curve is what it was; the model's number of classes shapes the curve and travels with
the baseline, refused when malformed by the library and the service alike."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from baseline_support import refused_by_both
from scores_support import softmax

from mlmon_nb.baseline import Baseline
from mlmon_nb.estimated import reliability
from mlmon_nb.estimated.calibration import bucket_counts, fewest_classes, fit_calibration
from mlmon_nb.estimated.reliability import temperature_gap
from mlmon_nb.instrument import content_id, load_baseline

ANGLES = np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3])
CENTERS = np.column_stack([2.3 * np.cos(ANGLES), 2.3 * np.sin(ANGLES), np.zeros((3, 2))])



def _draw(n: int, shift: float, sharpness: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 3-class model on Gaussian classes, its logits × ``sharpness`` (0.7: underconfident):
    each row's top-class confidence, whether a label drawn from the true posterior matches it,
    and its true chance of being right; inputs pulled ``shift`` toward the classes' meeting
    point."""
    label = rng.integers(0, 3, n)
    x = (CENTERS[label] + rng.normal(size=(n, 4))) * (1 - shift)
    logits = -0.5 * ((x[:, None, :] - CENTERS[None]) ** 2).sum(axis=2)
    posterior, scores = softmax(logits), softmax(sharpness * logits)
    top = scores.argmax(axis=1)
    # a label per row from its posterior: the first class whose cumulative share passes a draw
    truth = (rng.random(n)[:, None] > posterior.cumsum(axis=1)[:, :-1]).sum(axis=1)
    return scores.max(axis=1), top == truth, posterior[np.arange(n), top]


def _errors(sharpness: float, draws: int = 20) -> np.ndarray:
    """The estimate's error (points) of a covariate-shifted window of 20,000 predictions, per
    draw of a 500-row validation set."""
    out = []
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        conf, correct, _ = _draw(500, 0.0, sharpness, rng)
        window, _, chance = _draw(20_000, 0.4, sharpness, rng)
        est = fit_calibration(conf, correct).estimate(bucket_counts(window), float(window.sum()))
        out.append(est.accuracy - chance.mean())
    return np.array(out) * 100


def test_an_underconfident_models_bias_is_kept_on_500_rows(monkeypatch):
    # one level for all buckets (no temperature) loses most of it: the shifted window sits
    # where the underconfident model's gap is widest, the level is set by the buckets near 1
    with_curve = _errors(0.7)
    monkeypatch.setattr(reliability, "TEMPERATURES", (1.0,))
    level_only = _errors(0.7)
    assert level_only.mean() < -2.5
    assert abs(with_curve.mean()) < 0.6 * abs(level_only.mean())
    assert np.abs(with_curve).mean() < np.abs(level_only).mean()


def test_a_calibrated_models_curve_is_unchanged(monkeypatch):
    # a calibrated model's rows rarely pass the temperature's test: the same gaps as one level
    with_curve = _errors(1.0)
    monkeypatch.setattr(reliability, "TEMPERATURES", (1.0,))
    assert np.sum(with_curve == _errors(1.0)) >= 18
    assert np.abs(with_curve).mean() < 0.5


@pytest.mark.parametrize("classes", [2, 3, 10])
def test_the_temperature_curve_has_the_gaps_of_over_and_underconfidence(classes):
    confidences = np.linspace(1 / classes + 0.01, 0.999, 50)
    assert all(temperature_gap(c, 1.0, classes) == 0.0 for c in confidences)
    under = [temperature_gap(c, 0.7, classes) for c in confidences]
    over = [temperature_gap(c, 1.5, classes) for c in confidences]
    assert all(g > 0 for g in under) and all(g < 0 for g in over)
    assert all(0 <= c + g <= 1 for c, g in zip(confidences, under + over))
    # sure and right: the gap vanishes toward a confidence of 1
    assert abs(temperature_gap(0.999999, 2.0, classes)) < 0.1 * abs(temperature_gap(0.99, 2.0,
                                                                                     classes))
    assert temperature_gap(0.0, 0.5, classes) == pytest.approx(0.0, abs=1e-6)


def test_the_classes_come_from_the_scores_the_confidences_or_the_caller():
    rng = np.random.default_rng(1)
    conf, correct, _ = _draw(2_000, 0.0, 1.0, rng)
    assert fewest_classes(np.array([0.6, 0.9])) == 2
    assert fewest_classes(np.array([0.34, 0.9, np.nan])) == 3
    assert fewest_classes(np.array([np.nan])) == 2
    assert fit_calibration(conf, correct).classes == fewest_classes(conf) == 3
    assert fit_calibration(conf, correct, classes=5).classes == 5
    scores = np.column_stack([conf, (1 - conf) / 2, (1 - conf) / 2])
    assert fit_calibration(conf, correct, scores=scores).classes == 3


def _baseline(conf: np.ndarray, correct: np.ndarray) -> Baseline:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=conf.size), "confidence": conf,
                          "prediction": rng.choice(["a", "b", "c"], size=conf.size)})
    return Baseline.from_frame(frame, "m", prediction="prediction", confidence="confidence",
                               bins=10).with_calibration(fit_calibration(conf, correct))


def test_the_classes_travel_with_the_baseline_and_a_bad_one_is_refused(tmp_path):
    rng = np.random.default_rng(3)
    conf, correct, _ = _draw(3_000, 0.0, 0.7, rng)
    base = _baseline(conf, correct)
    path = tmp_path / "b.json"
    base.save(path)
    again, served = Baseline.load(path), load_baseline(path)
    assert again.calibration.classes == 3 and again.baseline_id == base.baseline_id
    assert served.calibration_gap == tuple(base.calibration.gap.tolist())
    for bad, method in [(1, "an earlier fit"), ("3", "an earlier fit"), (2.5, None),
                        (True, None)]:  # an entry refitted when read, and one of this fit
        doc = json.loads(path.read_text())
        doc["calibration"].update(classes=bad, method=method or doc["calibration"]["method"])
        refused_by_both(doc, tmp_path / "bad.json", "classes must be a whole number")


def test_an_entry_without_classes_takes_the_baselines_predicted_classes(tmp_path):
    # written before the classes were stored: refitted with the baseline's predicted classes,
    # by the library and the service alike
    rng = np.random.default_rng(4)
    conf, correct, _ = _draw(3_000, 0.0, 0.7, rng)
    base = _baseline(conf, correct)
    doc = base.to_dict()
    doc["calibration"] = {k: v for k, v in doc["calibration"].items() if k != "classes"}
    doc["calibration"]["method"] = "binned-gap-random-walk/3"
    doc["baseline_id"] = content_id(doc)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    library, service = Baseline.load(path), load_baseline(path)
    assert library.calibration.classes == 3
    assert library.baseline_id == service.baseline_id == base.baseline_id
    assert service.calibration_gap == tuple(library.calibration.gap.tolist())


def test_the_temperature_kept_is_described_and_named_by_the_cli(tmp_path, capsys):
    from mlmon_nb.cli import main
    rng = np.random.default_rng(5)
    conf, correct, _ = _draw(5_000, 0.0, 0.7, rng)
    base = _baseline(conf, correct)
    temperature = base.calibration.temperature
    assert 0.5 < temperature < 0.95  # logits × 0.7: underconfident, T near 0.7
    row = base.describe().set_index("kind").loc["calibration"]
    assert row["temperature"] == temperature
    calibrated = _baseline(*_draw(5_000, 0.0, 1.0, rng)[:2])
    assert calibrated.calibration.temperature == 1.0
    frame = pd.DataFrame({"x": rng.normal(size=conf.size), "confidence": conf,
                          "prediction": rng.choice(["a", "b", "c"], size=conf.size),
                          "label": "a"})
    frame["label"] = np.where(correct, frame["prediction"], "wrong")
    data = tmp_path / "valid.parquet"
    frame.to_parquet(data)
    assert main(["baseline", "build", str(data), "--model", "m", "--prediction", "prediction",
                 "--confidence", "confidence", "--label", "label", "--no-progress",
                 "-o", str(tmp_path / "b.json")]) == 0
    assert "(underconfident: temperature 0." in capsys.readouterr().out
