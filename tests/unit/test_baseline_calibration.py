"""A baseline's reliability curve: built with ``label=`` (frames, record batches, partitions
alike), hashed into the id only when present, replaced with ``with_calibration``, read back
exactly, and refused with one clear error when malformed. The service's loader still reads it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from baseline_support import refused_by_both

from mlmon_nb.baseline import Baseline, BaselineBuilder
from mlmon_nb.cli import main
from mlmon_nb.errors import BaselineError
from mlmon_nb.estimated.calibration import N_BUCKETS, bucket_counts, fit_calibration
from mlmon_nb.instrument import baseline_series, content_id, load_baseline
from mlmon_nb.metrics import (
    CALIBRATION_OFFSET,
    CONFIDENCE_BASELINE_RATIO,
    CONFIDENCE_BUCKETS,
    LEGACY_CONFIDENCE_BUCKETS,
    le_label,
)

OPTIONS = dict(categorical=["channel"], prediction="prediction", confidence="confidence", bins=10)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 8000
    conf = rng.uniform(0.34, 1.0, n)
    pred = rng.choice(["neg", "neu", "pos"], size=n)
    right = rng.random(n) < conf  # a calibrated model: right as often as it says
    other = np.where(pred == "neg", "pos", "neg")
    label = np.where(right, pred, other).astype(object)
    label[::97] = None  # unlabelled rows are left out of the curve
    return pd.DataFrame({"x": rng.normal(0, 1, n), "channel": rng.choice(["a", "b"], size=n),
                         "prediction": pred, "confidence": conf, "label": label})


@pytest.fixture(scope="module")
def calibrated(frame) -> Baseline:
    return Baseline.from_frame(frame, "m", label="label", **OPTIONS)


def test_the_curve_counts_labelled_rows_and_correct_ones(frame, calibrated):
    cal = calibrated.calibration
    labelled = frame["label"].notna()
    assert cal is not None and cal.n == labelled.sum()
    rows = frame[labelled]
    expected = fit_calibration(rows["confidence"].to_numpy(),
                               (rows["prediction"] == rows["label"]).to_numpy())
    assert np.array_equal(cal.counts, expected.counts)
    assert np.array_equal(cal.correct, expected.correct)
    assert np.allclose(cal.confidence_sum, expected.confidence_sum)
    assert cal.reference_accuracy == pytest.approx((rows["prediction"] == rows["label"]).mean())
    # the estimate of the reference's own confidences is its accuracy
    est = cal.estimate(bucket_counts(rows["confidence"].to_numpy()), rows["confidence"].sum())
    assert est.accuracy == pytest.approx(cal.reference_accuracy, abs=0.01)
    assert "label" not in calibrated.numeric  # the label is no feature
    described = calibrated.describe().set_index("kind")
    assert described.loc["calibration", "n"] == cal.n


def test_without_label_the_id_and_file_are_unchanged(frame, calibrated, tmp_path):
    plain = Baseline.from_frame(frame, "m", exclude=["label"], **OPTIONS)
    assert plain.calibration is None and "calibration" not in plain.to_dict()
    assert calibrated.baseline_id != plain.baseline_id
    # the same statistics otherwise: dropping the curve gives back the plain baseline's id
    assert calibrated.with_calibration(None).baseline_id == plain.baseline_id
    path = plain.save(tmp_path / "plain.json")
    assert "calibration" not in json.loads(path.read_text())


def test_round_trip_and_serving_loader(calibrated, tmp_path):
    path = calibrated.save(tmp_path / "b.json")
    again = Baseline.load(path)
    assert again.baseline_id == calibrated.baseline_id
    assert np.array_equal(again.calibration.accuracy, calibrated.calibration.accuracy)
    served = load_baseline(path)
    assert served.baseline_id == calibrated.baseline_id
    # the service's piecewise-linear curve (standard library) is the library's (numpy)
    assert served.calibration_slope == pytest.approx(calibrated.calibration.slope, abs=1e-12)
    assert served.calibration_offset == pytest.approx(calibrated.calibration.offset.tolist(),
                                                      abs=1e-12)
    assert calibrated.calibration.square_sum is not None


def test_with_calibration_takes_a_validation_sets_curve(frame, calibrated):
    plain = Baseline.from_frame(frame, "m", exclude=["label"], **OPTIONS)
    rng = np.random.default_rng(9)
    conf = rng.uniform(0.5, 1.0, 3000)
    curve = fit_calibration(conf, rng.random(3000) < conf - 0.1)
    validated = plain.with_calibration(curve)
    assert validated.calibration is curve
    assert validated.baseline_id not in (plain.baseline_id, calibrated.baseline_id)
    assert Baseline.from_dict(validated.to_dict()).baseline_id == validated.baseline_id
    with pytest.raises(BaselineError, match="needs a Calibration"):
        plain.with_calibration({"counts": []})  # type: ignore[arg-type]


def test_streamed_and_merged_builds_give_the_same_curve(frame, calibrated):
    table = pa.Table.from_pandas(frame, preserve_index=False)
    streamed = BaselineBuilder("m", label="label", **OPTIONS)
    for batch in table.to_batches(max_chunksize=1500):
        streamed.update_arrow(batch)
    halves = [BaselineBuilder("m", label="label", **OPTIONS).update_frame(part)
              for part in (frame.iloc[:3000], frame.iloc[3000:])]
    merged = halves[0].merge(halves[1])
    for builder in (streamed, merged):
        cal = builder.build().calibration
        assert np.array_equal(cal.counts, calibrated.calibration.counts)
        assert np.array_equal(cal.correct, calibrated.calibration.correct)


def test_label_needs_prediction_and_confidence_and_labelled_rows(frame):
    with pytest.raises(BaselineError, match="needs the prediction and confidence"):
        Baseline.from_frame(frame, "m", label="label", categorical=["channel"],
                            exclude=["prediction"], confidence="confidence")
    with pytest.raises(BaselineError, match="not in the data"):
        Baseline.from_frame(frame, "m", label="truth", **OPTIONS)
    unlabelled = frame.assign(label=None)
    with pytest.raises(BaselineError, match="no labelled rows"):
        Baseline.from_frame(unlabelled, "m", label="label", **OPTIONS)


@pytest.mark.parametrize("entry, message", [
    ("not a dict", "calibration is malformed"),
    ({"edges": [0.5]}, "calibration is malformed"),
    ("short", f"{N_BUCKETS} buckets"),
    ("tampered", "do not match its counts"),
])
def test_a_malformed_calibration_is_one_clear_error(calibrated, tmp_path, entry, message):
    doc = calibrated.to_dict()
    if entry == "short":
        doc["calibration"] = {**doc["calibration"], "counts": [1.0] * 3, "correct": [1.0] * 3}
    elif entry == "tampered":
        doc["calibration"]["gap"] = [0.5] * N_BUCKETS
    else:
        doc["calibration"] = entry
    path = tmp_path / "b.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BaselineError, match=message) as info:
        Baseline.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("key, change, message", [
    ("gap", lambda v: [*v[:7], float("nan"), *v[8:]], "do not match its counts"),
    ("gap", lambda v: [5.0] * len(v), "do not match its counts"),
    ("gap_stderr", lambda v: [-0.5] * len(v), "do not match its counts"),
    ("counts", lambda v: [-1.0, *v[1:]], "finite and non-negative"),
    ("counts", lambda v: [float("nan"), *v[1:]], "finite and non-negative"),
    ("correct", lambda v: [x + 1000 for x in v], "at most as many correct rows"),
])
def test_an_edited_calibration_under_a_fresh_id_is_refused_by_the_service_too(
        calibrated, tmp_path, key, change, message):
    # the service's loader took such files and exported NaN gaps and offsets
    doc = calibrated.to_dict()
    doc["calibration"] = {**doc["calibration"], key: change(doc["calibration"][key])}
    refused_by_both(doc, tmp_path / "b.json", message)


def _first(section: str):
    """An edit of the document's first entry of ``section`` (a feature's)."""
    def edit(doc: dict, key: str, change) -> None:
        entry = next(iter(doc[section].values()))
        entry[key] = change(entry[key])
    return edit


@pytest.mark.parametrize("edit, message", [
    (lambda d: _first("numeric")(d, "fractions", lambda v: [-v[0], *v[1:-1], v[-1] + 2 * v[0]]),
     "inconsistent edges, fractions"),  # negative, still summing to 1
    (lambda d: _first("numeric")(d, "edges", lambda v: [*v[:-1], float("nan")]),
     "inconsistent edges, fractions"),
    (lambda d: _first("categorical")(d, "fractions", lambda v: [float("nan"), *v[1:]]),
     "one finite, non-negative fraction per category"),
    (lambda d: d["confidence"].update(fractions=[float("nan")] * len(d["confidence"]["fractions"])),
     "confidence distribution's shares must be finite"),
    (lambda d: d.update(n_rows=-10), "n_rows -10 is negative"),
])
def test_impossible_shares_under_a_fresh_id_are_refused_by_both_loaders(
        calibrated, tmp_path, edit, message):
    # negative or NaN shares, NaN edges, a negative row count: loaded and exported before
    doc = calibrated.to_dict()
    edit(doc)
    refused_by_both(doc, tmp_path / "b.json", message)


def test_cli_builds_a_calibrated_baseline(frame, calibrated, tmp_path, capsys):
    data = tmp_path / "train.parquet"
    frame.to_parquet(data)
    out = tmp_path / "b.json"
    assert main(["baseline", "build", str(data), "--model", "m", "--categorical", "channel",
                 "--prediction", "prediction", "--confidence", "confidence", "--label", "label",
                 "--bins", "10", "--no-progress", "-o", str(out)]) == 0
    assert f"calibrated on {calibrated.calibration.n} labelled rows" in capsys.readouterr().out
    built = Baseline.load(out)
    assert np.array_equal(built.calibration.correct, calibrated.calibration.correct)


def test_a_calibration_of_the_older_fit_is_refitted_alike_by_library_and_service(calibrated,
                                                                                   tmp_path):
    # a baseline written by the first fit (gaps shrunk toward 0, no standard errors): both
    # readers refit it from its counts, to the same gaps and the same (migrated) id
    from mlmon_nb.instrument import content_id
    doc = calibrated.to_dict()
    doc["calibration"] = {k: v for k, v in doc["calibration"].items() if k != "gap_stderr"}
    doc["calibration"].update(method="binned-gap-empirical-bayes",
                              gap=[0.0] * len(doc["calibration"]["gap"]))
    doc["baseline_id"] = content_id(doc)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    library, service = Baseline.load(path), load_baseline(path)
    assert library.baseline_id == service.baseline_id == calibrated.baseline_id
    assert np.array_equal(library.calibration.gap, calibrated.calibration.gap)
    assert np.array_equal(library.calibration.gap_stderr, calibrated.calibration.gap_stderr)
    assert service.calibration_gap == tuple(calibrated.calibration.gap.tolist())
    assert service.calibration_gap_stderr == tuple(calibrated.calibration.gap_stderr.tolist())


# a baseline saved before the finer confidence edges near 1 (0.1-wide buckets) and before the
# random-walk fit (its gaps were shrunk toward the pooled gap): both readers refit its counts on
# its own buckets, to the migrated id; the estimate of 3,000 live confidences uniform in 0.5–1.0
# (counts per bucket and their sum) and the calibration offsets its service exports, bucket by
# bucket, are the refit's (the fit of then gave 69.37% ± 1.96 × 3.65 points for that window)
LEGACY_FILE = Path(__file__).resolve().parents[1] / "golden" / "baseline_legacy_confidence.json"
LEGACY_SAVED_ID = "368d97671ddd9acf"
LEGACY_ID = "0d3a0d23a2705c77"
LEGACY_WINDOW = ([0, 0, 0, 0, 0, 622, 574, 642, 571, 591, 0], 2244.3432379532337)
LEGACY_ESTIMATE = (0.6961113242155111, 0.03502949237996389)
LEGACY_OFFSETS = [0.030819728303974045, 0.04754523390058779, 0.06427073949720156,
                  0.08534443640405072, 0.08868464689831296, 0.06697586339517379,
                  0.07217968961963404, 0.07922193377166926, 0.10339101560106685,
                  0.04463893113587307, 0.0525929199292693]


def test_a_baseline_saved_with_the_earlier_buckets_keeps_them_refitted_alike(tmp_path):
    assert json.loads(LEGACY_FILE.read_text())["baseline_id"] == LEGACY_SAVED_ID
    base = Baseline.load(LEGACY_FILE)
    assert base.baseline_id == LEGACY_ID
    assert base.confidence_edges == LEGACY_CONFIDENCE_BUCKETS != CONFIDENCE_BUCKETS
    assert base.calibration.edges == (*LEGACY_CONFIDENCE_BUCKETS, float("inf"))
    assert base.confidence_fractions.size == base.calibration.n_buckets == 11
    counts, total = LEGACY_WINDOW
    est = base.calibration.estimate(np.array(counts, float), total)
    assert (est.accuracy, est.stderr) == pytest.approx(LEGACY_ESTIMATE, rel=1e-12)
    # the same window counted on the finer buckets, read back at the calibration's edges
    live = np.random.default_rng(5).uniform(0.5, 1.0, 3000)
    assert bucket_counts(live, LEGACY_CONFIDENCE_BUCKETS).tolist() == counts
    assert bucket_counts(live).size == N_BUCKETS == 14
    # saved again: the refitted content, and the same id
    again = Baseline.load(base.save(tmp_path / "again.json"))
    assert again.baseline_id == LEGACY_ID and again.confidence_edges == LEGACY_CONFIDENCE_BUCKETS
    assert json.loads((tmp_path / "again.json").read_text())["calibration"]["edges"] == \
        list(LEGACY_CONFIDENCE_BUCKETS)
    # the service reads it too, and exports the same series on the earlier buckets' labels
    served = load_baseline(LEGACY_FILE)
    assert served.baseline_id == LEGACY_ID
    offsets = {labels[2:]: v for spec, labels, v in baseline_series(served)
               if spec is CALIBRATION_OFFSET}
    assert list(offsets) == list(zip([le_label(e) for e in LEGACY_CONFIDENCE_BUCKETS] + ["+Inf"],
                                     ["-Inf"] + [le_label(e) for e in LEGACY_CONFIDENCE_BUCKETS]))
    assert list(offsets.values()) == pytest.approx(LEGACY_OFFSETS, rel=1e-12)
    assert list(offsets.values()) == pytest.approx(base.calibration.offset.tolist(), rel=1e-12)
    shares = [v for spec, labels, v in baseline_series(served)
              if spec is CONFIDENCE_BASELINE_RATIO]
    assert len(shares) == 11 and shares[-1] == 1.0


def test_a_new_baseline_has_the_finer_buckets_and_their_shares(frame, calibrated):
    conf = frame["confidence"].to_numpy()
    assert calibrated.confidence_edges == CONFIDENCE_BUCKETS
    assert {0.95, 0.99, 0.999} <= set(CONFIDENCE_BUCKETS) and CONFIDENCE_BUCKETS[-1] == 1.0
    assert calibrated.confidence_fractions.size == len(CONFIDENCE_BUCKETS) + 1
    for i, (low, high) in enumerate(zip((0.9, 0.95, 0.99), (0.95, 0.99, 0.999)), start=9):
        share = float(np.mean((conf > low) & (conf <= high)))
        assert calibrated.confidence_fractions[i] == pytest.approx(share, abs=1e-12) and share > 0
    labelled = frame["label"].notna().to_numpy()
    assert calibrated.calibration.counts[10] == np.sum(labelled & (conf > 0.95) & (conf <= 0.99))
    assert calibrated.calibration.edges == (*CONFIDENCE_BUCKETS, float("inf"))


def test_confidence_buckets_other_than_the_two_known_are_refused(calibrated, tmp_path):
    doc = calibrated.to_dict()
    doc["confidence"]["edges"] = [0.25, 0.5, 0.75, 1.0]
    doc["confidence"]["fractions"] = [0.2] * 5
    path = tmp_path / "b.json"
    path.write_text(json.dumps({**doc, "baseline_id": content_id(doc)}))
    for load in (Baseline.load, load_baseline):
        with pytest.raises(BaselineError, match="neither the exporter's"):
            load(path)
    with pytest.raises(BaselineError, match="neither the exporter's"):
        fit_calibration(np.array([0.5]), np.array([True]), (0.5, 1.0))


@pytest.mark.parametrize("edit, said", [
    (lambda doc: doc["calibration"].update(gap=doc["calibration"]["gap"][:-2]), "calibration"),
    (lambda doc: next(iter(doc["numeric"].values())).update(n=-5),
     "inconsistent edges, fractions or reference"),
])
def test_the_service_and_the_library_refuse_an_edited_baseline_alike(calibrated, tmp_path,
                                                                      edit, said):
    """Both loaders run the same checks and name the file once, in one sentence."""
    doc = calibrated.to_dict()
    edit(doc)
    path = tmp_path / "b.json"
    path.write_text(json.dumps({**doc, "baseline_id": content_id(doc)}))
    for load in (Baseline.load, load_baseline):
        with pytest.raises(BaselineError, match=said) as caught:
            load(path)
        message = str(caught.value)
        assert message.count(str(path)) == 1 and "BaselineError(" not in message
