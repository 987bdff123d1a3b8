"""The estimated accuracy on models the CBPE benchmark's generator does not make, recorded
through a real ModelMonitor and read back from its exposition, as Prometheus would hold it: a
boosted-tree-like binary model whose scores are a step function (many tied scores, some on the
buckets' edges), many-class models underconfident by a temperature, a calibrated multiclass
model under strong shift (no purity slope the rows cannot tell from 0), a 95/5 validation set of
500 rows, a window of 50 predictions, a window where the curve has no rows; and bad input
refused with what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from scores_support import softmax

from mlmon_nb import ModelMonitor
from mlmon_nb import metrics as m
from mlmon_nb.baseline import Baseline, BaselineBuilder
from mlmon_nb.errors import BaselineError
from mlmon_nb.estimated.accuracy import calibration_of
from mlmon_nb.estimated.calibration import (
    AccuracyEstimate,
    bucket_counts,
    fit_calibration,
    purity,
)
from mlmon_nb.estimated.rules import THIN_ROWS, THIN_SHARE


class _Rows:
    """Predictions: the model's class scores, labels drawn from the truth, and each
    prediction's true chance of being right."""

    def __init__(self, scores: np.ndarray, truth: np.ndarray, rng: np.random.Generator):
        self.scores = scores
        cumulative = np.cumsum(truth, axis=1)
        self.label = np.minimum((rng.random((len(truth), 1)) > cumulative).sum(axis=1),
                                truth.shape[1] - 1)
        self.predicted = scores.argmax(axis=1)
        self.confidence = scores.max(axis=1)
        self.correct = self.predicted == self.label
        self.expected = float(truth[np.arange(len(truth)), self.predicted].mean())
        self.accuracy = float(self.correct.mean())


def _linear(classes: int, dims: int, scale: float, temper: float, seed: int):
    """A linear-softmax truth on standard-normal inputs; the model's logits × ``temper``. Returns
    a function of (rows, rng, inputs' spread) giving :class:`_Rows`."""
    rng = np.random.default_rng(seed)
    weights, bias = rng.normal(0, scale, (dims, classes)), rng.normal(0, 0.3, classes)

    def draw(n: int, gen: np.random.Generator, spread: float = 1.0) -> _Rows:
        logits = gen.normal(size=(n, dims)) * spread @ weights + bias
        return _Rows(softmax(temper * logits), softmax(logits), gen)
    return draw


def _steps(seed: int):
    """A boosted-tree-like binary model: its score of class 1 is a step function of a 1-D
    input (24 leaves at the reference's quantiles), each leaf's value the true mean P(y = 1)
    there rounded to 2 digits, so scores tie and some sit on the buckets' edges (0.9, 0.95,
    0.99)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1.5, 200_000)
    cuts = np.quantile(x, np.linspace(0, 1, 25)[1:-1])
    leaf = np.searchsorted(cuts, x)
    mean = np.bincount(leaf, 1 / (1 + np.exp(-2 * x))) / np.bincount(leaf)
    values = np.clip(np.round(mean, 2), 0.01, 0.99)
    values[[0, 1, -2, -1]] = [0.01, 0.05, 0.95, 0.99]  # on the edges, as a rounded leaf can be

    def draw(n: int, gen: np.random.Generator, spread: float = 1.5) -> _Rows:
        u = gen.normal(0, spread, n)
        truth = 1 / (1 + np.exp(-2 * u))
        s = values[np.searchsorted(cuts, u)]
        return _Rows(np.column_stack([1 - s, s]), np.column_stack([1 - truth, truth]), gen)
    return draw


def _baseline(rows: _Rows, scored: bool = True) -> Baseline:
    """The baseline a user builds from a labelled validation frame (with every class's score
    column when ``scored``)."""
    frame = pd.DataFrame({"x": np.arange(len(rows.label), dtype=float),
                          "pred": [f"c{k}" for k in rows.predicted],
                          "conf": rows.confidence,
                          "label": [f"c{k}" for k in rows.label]})
    names = [f"s{k}" for k in range(rows.scores.shape[1])] if scored else []
    for k, name in enumerate(names):
        frame[name] = rows.scores[:, k]
    return Baseline.from_frame(frame, "cases", prediction="pred", confidence="conf",
                               label="label", scores=names, variance=None)


def _recorded(baseline: Baseline, rows: _Rows, scored: bool = True
              ) -> tuple[np.ndarray, AccuracyEstimate]:
    """The window's bucket counts as a ModelMonitor loaded with ``baseline`` exported them, and
    the estimate from its exposition (the counts, the confidence or scaled sum, the purity
    sum), as the rules compute it."""
    registry = CollectorRegistry()
    monitor = ModelMonitor("cases", registry=registry, baseline=baseline)
    for row, top in zip(rows.scores, rows.predicted):
        monitor.record_prediction(f"c{top}", float(row[top]),
                                  scores=row.tolist() if scored else None)
    cumulative: dict[float, float] = {}
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            if s.name == m.CONFIDENCE.name + "_bucket":
                cumulative[float(s.labels["le"])] = s.value
            elif s.name in (m.CONFIDENCE.name + "_sum", m.PURITY.name + "_total",
                            m.SCALED_CONFIDENCE.name + "_total"):
                sums[s.name] = s.value
    cal = calibration_of(baseline)
    counts = np.diff([0.0, *(cumulative[e] for e in cal.edges)])
    total = sums[m.SCALED_CONFIDENCE.name + "_total" if cal.scaling != 1.0
                 else m.CONFIDENCE.name + "_sum"]
    return counts, cal.estimate(counts, total, sums[m.PURITY.name + "_total"]
                                if cal.purity_sums is not None else None)


def test_a_step_function_binary_model_with_tied_scores_is_estimated_within_2_points():
    covered = 0
    for seed in range(5):
        model, rng = _steps(seed), np.random.default_rng(100 + seed)
        reference, window = model(2_000, rng), model(5_000, rng, spread=0.8)
        counts, est = _recorded(_baseline(reference), window)
        # the service counts the tied scores on the edges in the buckets the curve has them in
        np.testing.assert_array_equal(counts, bucket_counts(window.confidence))
        assert abs(est.accuracy - window.expected) < 0.02, (seed, est, window.expected)
        covered += est.lower <= window.accuracy <= est.upper
    assert covered >= 4


@pytest.mark.parametrize("classes, dims", [(4, 6), (10, 12)])
def test_a_many_class_model_underconfident_by_0_7_is_estimated_within_2_points(classes, dims):
    for seed in range(3):
        model = _linear(classes, dims, 1.2 if classes == 4 else 1.0, 0.7, seed)
        rng = np.random.default_rng(200 + seed)
        reference, window = model(3_000, rng), model(5_000, rng, spread=0.6)
        baseline = _baseline(reference)
        assert 0.6 < calibration_of(baseline).scaling < 0.8  # the temperature found
        _, est = _recorded(baseline, window)
        assert abs(est.accuracy - window.expected) < 0.02, (seed, est, window.expected)
        assert est.lower <= window.accuracy <= est.upper


def test_a_calibrated_multiclass_curve_keeps_no_purity_slope_the_rows_cannot_tell_from_0():
    # a calibrated 3-class model (true within-bucket slopes: 1 on the confidence, 0 on the
    # purity) and windows whose inputs shrink to 0.15 of their spread: a purity slope fitted
    # from noise moves such windows' estimates by points
    kept, errors = 0, []
    for seed in range(12):
        model, rng = _linear(3, 4, 3.0, 1.0, seed), np.random.default_rng(300 + seed)
        reference, window = model(2_000, rng), model(5_000, rng, spread=0.15)
        cal = fit_calibration(reference.confidence, reference.correct, scores=reference.scores)
        kept += cal.purity_slope != 0.0
        est = cal.estimate(bucket_counts(window.confidence),
                           float(cal.confidences(window.confidence, window.scores).sum()),
                           float(purity(window.scores).sum()))
        errors.append(abs(est.accuracy - window.expected))
    assert kept <= 2
    assert np.mean(errors) < 0.006 and max(errors) < 0.03


def _calibrated_rare(x: np.ndarray, rng: np.random.Generator) -> _Rows:
    """A calibrated binary model of a 1-D input whose class 1 has a prior of 5 %."""
    p1 = 1 / (1 + np.exp(-(2.5 * x + np.log(0.05 / 0.95))))
    both = np.column_stack([1 - p1, p1])
    return _Rows(both, both, rng)


def test_a_rare_class_validation_set_of_500_rows_and_a_shift_toward_it():
    # 95/5 classes, 500 validation rows (about 25 of the rare one); the window's inputs spread
    # evenly over the rare class's side, labels from the same P(label | input): covariate shift
    # onto the thin part of the curve
    errors, covered, thin = [], 0, []
    for seed in range(20):
        rng = np.random.default_rng(400 + seed)

        rare = rng.random(500) < 0.05
        reference = _calibrated_rare(rng.normal(np.where(rare, 1.25, -1.25), 1.0), rng)
        window = _calibrated_rare(rng.uniform(-1.0, 3.0, 5_000), rng)
        baseline = _baseline(reference)
        counts, est = _recorded(baseline, window)
        errors.append(abs(est.accuracy - window.expected))
        covered += est.lower <= window.accuracy <= est.upper
        thin.append(calibration_of(baseline).thin_share(counts, THIN_ROWS))
    # two draws keep a temperature the 5 % test lets through on a calibrated model (4 points
    # off, their bands wide enough to hold the truth); the others are within 1.2 points
    assert np.mean(errors) < 0.01 and sum(e > 0.02 for e in errors) <= 2
    assert covered >= 18
    assert np.mean(thin) > THIN_SHARE  # the runbook says the estimate is uncertain there


def test_a_window_of_50_predictions_has_a_band_that_holds_the_truth():
    model, rng = _linear(4, 6, 1.2, 0.7, 7), np.random.default_rng(500)
    baseline = _baseline(model(3_000, rng))
    covered, margins = 0, []
    for _ in range(120):
        window = model(50, rng, spread=0.6)
        _, est = _recorded(baseline, window)
        covered += est.lower <= window.accuracy <= est.upper
        margins.append(est.margin)
    assert covered >= 0.9 * 120
    assert min(margins) > 0.1  # the window's own noise at 50 predictions: ± 13 points or so


def test_a_window_where_the_curve_has_no_rows_is_thin_and_its_band_wider():
    # a sure 3-class model: its validation rows sit above 0.5, the shifted window's mostly
    # below, where the curve is extrapolated
    model, rng = _linear(3, 4, 4.0, 1.0, 11), np.random.default_rng(600)
    reference = model(1_000, rng)
    baseline = _baseline(reference)
    cal = calibration_of(baseline)
    near, far = model(5_000, rng), model(5_000, rng, spread=0.08)
    near_counts, near_est = _recorded(baseline, near)
    far_counts, far_est = _recorded(baseline, far)
    assert cal.thin_share(near_counts, THIN_ROWS) < THIN_SHARE
    assert cal.thin_share(far_counts, THIN_ROWS) > THIN_SHARE
    # the curve's own share of the band grows where it has no rows
    near_curve = float(near_counts @ cal.gap_stderr) / near_counts.sum()
    far_curve = float(far_counts @ cal.gap_stderr) / far_counts.sum()
    assert far_curve > 1.5 * near_curve and far_est.margin > near_est.margin
    assert far_est.lower <= far.expected <= far_est.upper


def _frame(rows: _Rows) -> pd.DataFrame:
    frame = pd.DataFrame({"x": np.arange(len(rows.label), dtype=float),
                          "pred": [f"c{k}" for k in rows.predicted], "conf": rows.confidence,
                          "label": [f"c{k}" for k in rows.label]})
    for k in range(rows.scores.shape[1]):
        frame[f"s{k}"] = rows.scores[:, k]
    return frame


def _build(frame: pd.DataFrame, scored: bool = True) -> Baseline:
    names = [c for c in frame.columns if c.startswith("s")] if scored else []
    return Baseline.from_frame(frame, "cases", prediction="pred", confidence="conf",
                               label="label", scores=names, variance=None)


@pytest.fixture(scope="module")
def validation() -> _Rows:
    return _linear(4, 6, 1.2, 0.7, 3)(1_000, np.random.default_rng(700))


def test_confidences_in_percent_are_refused_saying_so(validation):
    frame = _frame(validation).assign(conf=lambda f: f["conf"] * 100)
    with pytest.raises(BaselineError, match=r"1,000 of 1,000 confidences are outside \[0, 1\] "
                                            r".*percentages: divide them by 100"):
        _build(frame, scored=False)
    with pytest.raises(BaselineError, match="logits or raw scores"):
        fit_calibration(np.log(validation.confidence / (1 - validation.confidence)),
                        validation.correct)
    # a few bad rows among probabilities are no percentages
    few = _frame(validation)
    few.loc[:10, "conf"] = 1.5
    with pytest.raises(BaselineError, match=r"11 of 1,000 confidences are outside \[0, 1\] "
                                            r"\(e.g. 1.5\); the others are probabilities: fix "
                                            r"or drop those rows"):
        _build(few, scored=False)
    # without labels the confidences still make the distribution concept drift compares with
    unlabelled = frame.drop(columns=["label"])
    for build in (lambda: Baseline.from_frame(unlabelled, "cases", prediction="pred",
                                              confidence="conf", variance=None),
                  lambda: BaselineBuilder("cases", prediction="pred", confidence="conf",
                                          variance=None)
                  .update_arrow(pa.Table.from_pandas(unlabelled)).build()):
        with pytest.raises(BaselineError, match=r"outside \[0, 1\].*percentages"):
            build()


def test_class_scores_that_are_not_probabilities_are_refused(validation):
    nan = _frame(validation)
    nan.loc[:149, "s2"] = np.nan  # a model that overflowed on 150 rows
    with pytest.raises(BaselineError, match=r"150 of 1,000 rows have class scores that are not "
                                            r"probabilities .*row 0: \[.*nan.*softmax"):
        _build(nan)
    logits = _frame(validation)
    for k in range(4):
        logits[f"s{k}"] = np.log(validation.scores[:, k])
    with pytest.raises(BaselineError, match="1,000 of 1,000 rows have class scores"):
        _build(logits)
    with pytest.raises(BaselineError, match="1,000 confidences but 10 rows of class scores"):
        fit_calibration(validation.confidence, validation.correct, scores=validation.scores[:10])


def test_labels_spelled_unlike_the_predictions_are_refused(validation):
    for label in (validation.label, [f"C{k}" for k in validation.label]):  # 0 or 'C0' vs 'c0'
        frame = _frame(validation).assign(label=label)
        with pytest.raises(BaselineError, match=r"none of the 1,000 labelled predictions equals "
                                                r"its label.*promise \d+ right"):
            _build(frame, scored=False)
    # a model right on none of a few rows it was unsure of is a model, not a spelling
    few = fit_calibration(np.full(12, 0.3), np.zeros(12, dtype=bool))
    assert few.n == 12 and few.reference_accuracy == 0.0


def test_an_estimate_without_a_curve_or_of_unreadable_counts_says_what_to_do(validation):
    plain = Baseline.from_frame(_frame(validation)[["x", "pred", "conf"]], "cases",
                                prediction="pred", confidence="conf", variance=None)
    with pytest.raises(BaselineError, match="has no calibration; build it with label=COLUMN"):
        calibration_of(plain)
    cal = fit_calibration(validation.confidence, validation.correct)
    counts = bucket_counts(validation.confidence).astype(float)
    counts[3] = np.nan
    with pytest.raises(ValueError, match="bucket counts must be finite"):
        cal.estimate(counts, 600.0)
