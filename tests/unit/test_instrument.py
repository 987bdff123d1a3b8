"""ModelMonitor against the metric contract: types, labels, buckets, bad input, caps, the join."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlmon_nb import ModelMonitor
from mlmon_nb import metrics as m
from mlmon_nb.baseline import Baseline
from mlmon_nb.errors import InstrumentError
from mlmon_nb.estimated.calibration import fit_calibration
from mlmon_nb.instrument import GroundTruthSampler, JsonLinesSink, PendingStore, SharedPendingStore, le_label
from mlmon_nb.stack.demo.model import MODEL_NAME, SentimentModel, generate_texts, training_baseline


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return training_baseline(3000, top_k=3)


def scrape(registry) -> dict:
    """Family name → family, parsed from the text exposition as Prometheus would read it."""
    return {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}


def value(families: dict, sample: str, **labels) -> float:
    """The sum of the samples named ``sample`` that carry ``labels`` (0 when none)."""
    family = sample.removesuffix("_total").removesuffix("_bucket").removesuffix("_count") \
        .removesuffix("_sum")
    return sum(s.value for s in (families[family].samples if family in families else ())
               if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))


def drive(monitor: ModelMonitor, n: int = 200, seed: int = 3) -> list:
    """Serve ``n`` demo requests through the monitor; returns the predictions made."""
    model = SentimentModel()
    preds = []
    for i, item in enumerate(generate_texts(n, np.random.default_rng(seed))):
        with monitor.track("predict"):
            p = model.predict(item.text, item.channel)
            monitor.record_prediction(p.label, p.confidence, features=p.features,
                                      request_id=f"r{i}", segment=item.channel)
        preds.append((p, item))
    return preds


def scored(baseline: Baseline, n: int = 1500) -> Baseline:
    """``baseline`` with a curve fitted with the demo model's class scores."""
    model = SentimentModel()
    items = generate_texts(n, np.random.default_rng(5))
    preds = [model.predict(item.text, item.channel) for item in items]
    curve = fit_calibration(np.array([p.confidence for p in preds]),
                            np.array([p.label == item.true_label for p, item in zip(preds, items)]),
                            scores=np.array([p.probabilities for p in preds]))
    return baseline.with_calibration(curve)


def test_every_contract_metric_has_its_type_labels_and_buckets(baseline):
    reg = CollectorRegistry()
    served = scored(baseline)
    mon = ModelMonitor(MODEL_NAME, model_version="1.0.0", baseline=served, registry=reg)
    preds = drive(mon)
    for i, (_, item) in enumerate(preds[:50]):
        mon.record_feedback(f"r{i}", item.true_label)
    with pytest.raises(ZeroDivisionError):
        with mon.track("predict"):
            _ = 1 / 0
    mon.record_prediction("positive", 0.9, features={"text_length": float("nan")})
    fams = scrape(reg)
    for spec in m.CONTRACT:
        assert spec.name in fams, spec.name
        fam = fams[spec.name]
        # the baseline's series are exposed untyped: promtool reserves `le` for histograms
        assert fam.type == ("unknown" if spec in m.BASELINE_SERIES else spec.type)
        samples = [s for s in fam.samples if not s.name.endswith("_created")]
        assert samples, spec.name
        for s in samples:
            names = set(s.labels) - ({"le"} if s.name.endswith("_bucket") else set())
            assert names == set(spec.labels), (spec.name, s.labels)
            assert s.labels["model_name"] == MODEL_NAME

    def les(name, **labels):
        return [s.labels["le"] for s in fams[name].samples
                if s.name == f"{name}_bucket" and all(s.labels[k] == v for k, v in labels.items())]

    assert les(m.REQUEST_DURATION.name) == [le_label(b) for b in m.DEFAULT_LATENCY_BUCKETS] + ["+Inf"]
    assert les(m.CONFIDENCE.name) == [le_label(b) for b in m.CONFIDENCE_BUCKETS] + ["+Inf"]
    for feature, stats in baseline.numeric.items():
        expected = [le_label(e) for e in stats.edges] + ["+Inf"]
        assert les(m.FEATURE_VALUE.name, feature=feature) == expected
        ratio = {s.labels["le"]: s.value for s in fams[m.FEATURE_BASELINE_RATIO.name].samples
                 if s.labels["feature"] == feature}
        assert list(ratio) == expected  # the same `le` strings as the histogram's buckets
        np.testing.assert_allclose([ratio[le] for le in expected[:-1]], stats.cumulative)
        assert ratio["+Inf"] == 1.0
        lower = {s.labels["le"]: s.labels["lower"]
                 for s in fams[m.FEATURE_BASELINE_RATIO.name].samples
                 if s.labels["feature"] == feature}
        assert [lower[le] for le in expected] == ["-Inf"] + expected[:-1]  # the bucket below
        assert value(fams, m.FEATURE_BASELINE_VALUES.name, feature=feature) == stats.n
        # the histogram holds exactly what was fed, in the baseline's buckets
        vals = np.array([p.features[feature] for p, _ in preds])
        want = np.cumsum(np.bincount(np.searchsorted(stats.edges, vals, side="left"),
                                     minlength=stats.edges.size + 1))
        got = [value(fams, "ml_feature_value_bucket", feature=feature, le=le) for le in expected]
        assert got == list(want)
        assert value(fams, "ml_feature_value_sum", feature=feature) == pytest.approx(vals.sum())
    top = set(baseline.categorical["channel"].categories)
    cats = {s.labels["category"]: s.value for s in fams[m.FEATURE_CATEGORY.name].samples
            if s.name.endswith("_total")}
    assert set(cats) <= top | {m.OTHER_CATEGORY} and m.OTHER_CATEGORY in cats
    assert sum(cats.values()) == len(preds)
    assert value(fams, "ml_requests_total", endpoint="predict") == len(preds) + 1
    assert value(fams, "ml_errors_total", error_type="ZeroDivisionError") == 1
    assert value(fams, "ml_request_duration_seconds_count") == len(preds) + 1
    assert value(fams, "ml_model_info", model_version="1.0.0",
                 baseline_id=served.baseline_id) == 1
    low = sum(p.confidence < 0.7 for p, _ in preds)
    assert value(fams, "ml_low_confidence_predictions_total") == low
    truth = sum(value(fams, "ml_ground_truth_total", outcome=o) for o in ("correct", "incorrect"))
    assert truth == 50
    assert value(fams, "ml_feature_invalid_total", feature="text_length", reason="nan") == 1
    assert value(fams, "ml_feature_invalid_total", feature="sentiment_score", reason="missing") == 1


@pytest.mark.parametrize("bad, reason", [
    (float("nan"), "nan"), (float("inf"), "inf"), (-float("inf"), "inf"), (None, "missing"),
    ("12", "wrong_type"), (True, "wrong_type"), ([1.0], "wrong_type"), (10 ** 400, "inf"),
])
def test_bad_numeric_values_are_counted_by_reason_never_raised(baseline, bad, reason):
    reg = CollectorRegistry()
    mon = ModelMonitor(MODEL_NAME, baseline=baseline, registry=reg)
    mon.record_prediction("neutral", 0.5, features={"text_length": bad, "sentiment_score": 0.1,
                                                      "channel": "web"})
    fams = scrape(reg)
    assert value(fams, "ml_feature_invalid_total", feature="text_length", reason=reason) == 1
    assert value(fams, "ml_feature_value_count", feature="text_length") == 0
    assert value(fams, "ml_feature_value_count", feature="sentiment_score") == 1


def test_unknown_features_and_odd_categories(baseline):
    reg = CollectorRegistry()
    mon = ModelMonitor(MODEL_NAME, baseline=baseline, registry=reg, max_label_values=5)
    for i in range(20):
        mon.record_prediction("neutral", 0.5, features={
            "text_length": 10.0, "sentiment_score": 0.0, "channel": f"new-{i}", f"extra_{i}": 1.0})
    mon.record_prediction("neutral", 0.5, features={"text_length": 1, "sentiment_score": 0,
                                                      "channel": None})
    fams = scrape(reg)
    assert value(fams, "ml_feature_category_total", category=m.OTHER_CATEGORY) == 20
    unknown = [s for s in fams[m.FEATURE_INVALID.name].samples
               if s.name.endswith("_total") and s.labels["reason"] == "unknown_feature"]
    assert sum(s.value for s in unknown) == 20
    assert len(unknown) <= 6  # five names, then __overflow__
    assert value(fams, "ml_feature_invalid_total", feature=m.OVERFLOW_VALUE) == 15
    assert value(fams, "ml_feature_invalid_total", feature="channel", reason="missing") == 1
    assert value(fams, "ml_feature_value_count", feature="text_length") == 21  # ints are numbers


def test_without_baseline_features_use_default_buckets_and_learn_categories():
    reg = CollectorRegistry()
    mon = ModelMonitor("m", registry=reg)
    mon.record_prediction("a", 0.8, features={"x": 3.0, "c": "blue"})
    mon.record_prediction("a", 0.8, features={"x": "oops", "c": "red"})
    fams = scrape(reg)
    les = [s.labels["le"] for s in fams["ml_feature_value"].samples if s.name.endswith("_bucket")]
    assert les == [le_label(b) for b in m.DEFAULT_FEATURE_BUCKETS] + ["+Inf"]
    assert value(fams, "ml_feature_invalid_total", feature="x", reason="wrong_type") == 1
    assert value(fams, "ml_feature_category_total", feature="c", category="red") == 1
    assert value(fams, "ml_model_info", baseline_id="none") == 1
    assert "ml_feature_baseline_ratio" not in fams or not fams["ml_feature_baseline_ratio"].samples


def test_track_sync_async_decorator_and_context_manager():
    reg = CollectorRegistry()
    mon = ModelMonitor("m", registry=reg)
    seen_in_flight = []

    @mon.track("sync")
    def handler(x):
        seen_in_flight.append(value(scrape(reg), "ml_requests_in_progress"))
        if x < 0:
            raise ValueError("negative")
        return x * 2

    @mon.track("async")
    async def ahandler(x):
        await asyncio.sleep(0)
        if x < 0:
            raise KeyError(x)
        return x + 1

    async def actx():
        async with mon.track("actx"):
            seen_in_flight.append(value(scrape(reg), "ml_requests_in_progress"))

    assert handler(2) == 4 and handler.__name__ == "handler"
    err = ValueError("mine")
    with pytest.raises(ValueError) as caught:
        with mon.track("ctx"):
            raise err
    assert caught.value is err  # re-raised unchanged
    with pytest.raises(ValueError, match="negative"):
        handler(-1)
    assert asyncio.run(ahandler(1)) == 2
    with pytest.raises(KeyError):
        asyncio.run(ahandler(-1))
    asyncio.run(actx())
    fams = scrape(reg)
    assert seen_in_flight == [1.0, 1.0, 1.0]
    assert value(fams, "ml_requests_in_progress") == 0
    for endpoint, n, errors, etype in [("sync", 2, 1, "ValueError"), ("async", 2, 1, "KeyError"),
                                       ("ctx", 1, 1, "ValueError"), ("actx", 1, 0, None)]:
        assert value(fams, "ml_requests_total", endpoint=endpoint) == n
        assert value(fams, "ml_request_duration_seconds_count", endpoint=endpoint) == n
        if etype:
            assert value(fams, "ml_errors_total", endpoint=endpoint, error_type=etype) == errors


def test_label_cardinality_is_capped_and_overflow_counted():
    reg = CollectorRegistry()
    mon = ModelMonitor("m", registry=reg, max_label_values=10)
    for i in range(500):  # a request id used as a label
        with mon.track(f"/item/{i}"):
            pass
        mon.record_prediction(f"class-{i}", 0.9)
    fams = scrape(reg)
    endpoints = {s.labels["endpoint"] for s in fams["ml_requests"].samples}
    classes = {s.labels["predicted_class"] for s in fams["ml_predictions"].samples}
    assert len(endpoints) == 11 and m.OVERFLOW_VALUE in endpoints
    assert len(classes) == 11 and m.OVERFLOW_VALUE in classes
    assert value(fams, "ml_requests_total", endpoint=m.OVERFLOW_VALUE) == 490
    assert value(fams, "ml_label_overflow_total", label="endpoint") == 490
    assert value(fams, "ml_label_overflow_total", label="predicted_class") == 490


def test_a_failing_request_of_a_folded_endpoint_overflows_once():
    reg = CollectorRegistry()
    mon = ModelMonitor("m", registry=reg, max_label_values=1)
    with mon.track("/kept"):
        pass
    for i in range(5):  # each a request that fails, at an endpoint past the cap
        with pytest.raises(ValueError), mon.track(f"/item/{i}"):
            raise ValueError("no")
    mon.record_error("/item/9", "Timeout")  # an error without its request: its own lookup
    fams = scrape(reg)
    assert value(fams, "ml_requests_total", endpoint=m.OVERFLOW_VALUE) == 5
    assert value(fams, "ml_errors_total", endpoint=m.OVERFLOW_VALUE, error_type="ValueError") == 5
    assert value(fams, "ml_label_overflow_total", label="endpoint") == 6  # once per request


def test_feedback_join_correct_incorrect_unknown_expired_and_evicted():
    now = [1000.0]
    reg = CollectorRegistry()
    mon = ModelMonitor("m", registry=reg, segments=["web", "api"], max_pending=3,
                       max_pending_age=60, clock=lambda: now[0])
    mon.record_prediction("pos", 0.9, request_id="a", segment="web")
    mon.record_prediction("neg", 0.9, request_id="b", segment="api")
    mon.record_prediction("neg", 0.9, request_id="c", segment="fax")  # not an allowed segment
    assert mon.record_feedback("a", "pos") is True
    assert mon.record_feedback("a", "pos") is False  # joined once only
    assert mon.record_feedback("b", "pos") is True
    assert mon.record_feedback("c", "neg") is True
    assert mon.record_feedback("nope", "neg") is False
    for rid in "defg":  # the store holds 3: d is evicted by size
        mon.record_prediction("pos", 0.9, request_id=rid, segment="web")
    assert mon.pending == 3
    assert mon.record_feedback("d", "pos") is False
    now[0] += 61  # e, f, g age out
    assert mon.record_feedback("e", "pos") is False
    fams = scrape(reg)
    assert value(fams, "ml_ground_truth_total", segment="web", outcome="correct") == 1
    assert value(fams, "ml_ground_truth_total", segment="api", outcome="incorrect") == 1
    assert value(fams, "ml_ground_truth_total", segment=m.OTHER_CATEGORY, outcome="correct") == 1
    assert value(fams, "ml_feedback_unmatched_total", reason="unknown") == 3
    assert value(fams, "ml_feedback_unmatched_total", reason="expired") == 1
    assert value(fams, "ml_pending_predictions_evicted_total", reason="size") == 1
    assert value(fams, "ml_pending_predictions_evicted_total", reason="age") == 3
    assert mon.pending == 0


@pytest.fixture(params=["in-process", "shared"])
def make_store(request, tmp_path):
    """Each pending store: the in-memory one and the SQLite one workers share."""
    def make(**kw):
        if request.param == "in-process":
            return PendingStore(**kw)
        return SharedPendingStore(tmp_path / "pending.sqlite", "m", **kw)
    return make


def test_pending_store_bounds_in_size_and_age(make_store, tmp_path):
    now, evicted = [0.0], []
    store = make_store(max_size=3, max_age=60, on_evict=lambda r, n: evicted.append((r, n)),
                       clock=lambda: now[0])
    store.put("a", "neg", "web")
    store.put("a", "pos", "web")  # a repeated id replaces, it is not an eviction
    assert len(store) == 1 and evicted == []
    for rid in "bcd":  # a, the oldest, is evicted by size
        now[0] += 1
        store.put(rid, "pos", "api")
    assert len(store) == 3 and evicted == [("size", 1)]
    assert store.pop("a") == (None, "unknown")
    item, outcome = store.pop("b")
    assert outcome == "matched" and (item.label, item.segment) == ("pos", "api")
    now[0] = 100  # c and d are older than 60 s: c is found expired, d evicted on the way
    assert store.pop("c") == (None, "expired")
    assert evicted[-1] == ("age", 2) and len(store) == 0
    if isinstance(store, SharedPendingStore):  # another model's rows and bounds are its own
        other = SharedPendingStore(tmp_path / "pending.sqlite", "other", max_size=1)
        other.put("a", "pos", "web")
        store.put("a", "neg", "web")
        assert other.pop("a")[0].label == "pos" and store.pop("a")[0].label == "neg"


def test_shared_store_keeps_queued_predictions_when_a_commit_fails(tmp_path, monkeypatch):
    """A failed commit (disk full, a lock held too long) loses nothing beyond the size bound."""
    evicted = []
    store = SharedPendingStore(tmp_path / "pending.sqlite", "m", max_size=3,
                               on_evict=lambda r, n: evicted.append((r, n)))
    store.flush()  # the writer thread is up; it retries on the next put
    real = store._transaction
    monkeypatch.setattr(store, "_transaction", lambda work: (_ for _ in ()).throw(
        sqlite3.OperationalError("database or disk is full")))
    with store._db:  # hold the writer back so the puts queue together
        for rid in "abcd":
            store.put(rid, "pos", "web")
    with pytest.raises(sqlite3.OperationalError):
        store.flush()
    assert evicted == [("size", 1)]  # a, the oldest of four, past the bound of three
    monkeypatch.setattr(store, "_transaction", real)
    assert len(store) == 3
    assert store.pop("a")[1] == "unknown" and store.pop("d")[1] == "matched"


def test_pending_store_under_interleaving_threads(make_store):
    store = make_store(max_size=100_000)
    matched = []

    def worker(t: int) -> None:
        for i in range(300):
            store.put(f"{t}-{i}", "pos", "web")
            if i:
                matched.append(store.pop(f"{(t + 1) % 4}-{i - 1}")[1])

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # another thread's previous id may not be put yet: whatever was not matched is still there
    assert len(store) == 4 * 300 - matched.count("matched")
    assert set(matched) <= {"matched", "unknown"}


def test_feedback_join_under_interleaving_threads():
    reg = CollectorRegistry()
    mon = ModelMonitor("m", registry=reg, max_pending=100_000)
    n_threads, per = 8, 500
    results = [[] for _ in range(n_threads)]
    barrier = threading.Barrier(n_threads)

    def worker(t):
        barrier.wait()
        for i in range(per):
            rid = f"{t}-{i}"
            label = "pos" if i % 2 else "neg"
            mon.record_prediction(label, 0.9, request_id=rid, segment=f"s{t % 2}")
            # feedback for the previous request of this thread; the others' interleave
            if i:
                prev = f"{t}-{i - 1}"
                results[t].append(mon.record_feedback(prev, "pos" if i % 3 else "neg"))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(all(r) for r in results)
    # expected outcome of the feedback for request i-1 with true label by i
    correct = sum(((i - 1) % 2 == 1) == (i % 3 != 0) for i in range(1, per))
    fams = scrape(reg)
    for seg in ("s0", "s1"):
        assert value(fams, "ml_ground_truth_total", segment=seg, outcome="correct") == 4 * correct
        assert value(fams, "ml_ground_truth_total", segment=seg, outcome="incorrect") == \
            4 * (per - 1 - correct)
    assert mon.pending == n_threads  # the last request of each thread waits


def test_hot_path_counts_are_exact_across_threads(baseline):
    """The hot-path metrics share one lock per request phase, re-entered when a request brings
    a new label value: counts stay exact while threads switch mid-request (switch interval shrunk
    to force it), create label values concurrently and scrape in between."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    reg = CollectorRegistry()
    mon = ModelMonitor(MODEL_NAME, baseline=baseline, registry=reg)
    n_threads, per = 8, 2000
    barrier = threading.Barrier(n_threads)
    features = {"text_length": 40.0, "sentiment_score": 0.25, "channel": "web"}

    def worker():
        barrier.wait()
        for i in range(per):
            with mon.track(f"e{i // 40}"):  # new label values while the others count
                mon.record_prediction("positive" if i % 2 else "negative", 0.5 + (i % 5) / 10,
                                      features=features)
            scrape(reg) if i % 500 == 0 else None  # scrapes interleave with updates

    try:
        threads = [threading.Thread(target=worker) for _ in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        sys.setswitchinterval(old)
    total = n_threads * per
    fams = scrape(reg)
    assert value(fams, "ml_requests_total") == total
    assert value(fams, "ml_request_duration_seconds_count") == total
    assert value(fams, "ml_requests_in_progress") == 0
    assert value(fams, "ml_predictions_total", predicted_class="positive") == total / 2
    assert value(fams, "ml_prediction_confidence_count") == total
    assert value(fams, "ml_low_confidence_predictions_total") == total * 2 / 5  # 0.5 and 0.6
    assert value(fams, "ml_prediction_confidence_sum") == pytest.approx(total * 0.7)
    for feature in ("text_length", "sentiment_score"):
        assert value(fams, "ml_feature_value_count", feature=feature) == total
    assert value(fams, "ml_feature_category_total", category="web") == total


def test_review_sampler_writes_jsonl_and_a_failing_sink_never_raises(tmp_path):
    sink = JsonLinesSink(tmp_path / "reviews" / "m.jsonl")
    reg = CollectorRegistry()
    mon = ModelMonitor("m", registry=reg, sampler=GroundTruthSampler(0.3, sink, seed=1))
    picked = [mon.record_prediction("pos", 0.8, features={"x": float("nan"), "c": "web"},
                                    request_id=f"r{i}" if i % 2 else None) for i in range(400)]
    rows = sink.read()
    assert len(rows) == sum(picked) and 80 < len(rows) < 160
    assert all(r["model_name"] == "m" and r["label"] == "pos" and r["request_id"] for r in rows)
    assert rows[0]["features"]["x"] is None  # NaN is written as null: valid JSON
    json.loads((tmp_path / "reviews" / "m.jsonl").read_text().splitlines()[0])
    # a sampled prediction without request id got one, and its feedback joins
    generated = next(r["request_id"] for r in rows if not r["request_id"].startswith("r"))
    assert mon.record_feedback(generated, "pos") is True

    def broken(item):
        raise OSError("disk full")

    reg2 = CollectorRegistry()
    mon2 = ModelMonitor("m", registry=reg2, sampler=GroundTruthSampler(1.0, broken))
    assert mon2.record_prediction("pos", 0.8) is True
    assert value(scrape(reg2), "ml_review_samples_total", outcome="failed") == 1


def test_setup_errors_are_clear(baseline):
    with pytest.raises(InstrumentError, match="baseline is of model"):
        ModelMonitor("other_model", baseline=baseline, registry=CollectorRegistry())
    reg = CollectorRegistry()
    ModelMonitor("a", registry=reg)
    with pytest.raises(InstrumentError, match="same latency_buckets"):
        ModelMonitor("b", registry=reg, latency_buckets=[0.1, 1.0])
    for bad in ([float("nan")], ["fast"], [float("inf")]):
        with pytest.raises(InstrumentError, match="latency_buckets"):
            ModelMonitor("c", registry=CollectorRegistry(), latency_buckets=bad)
    reg = CollectorRegistry()
    with ModelMonitor("d", registry=reg, latency_buckets=[1.0, 0.1, 0.1]).track("predict"):
        pass
    les = [s.labels["le"] for s in scrape(reg)[m.REQUEST_DURATION.name].samples if "le" in s.labels]
    assert les == ["0.1", "1.0", "+Inf"]  # sorted, duplicates dropped
    with pytest.raises(ValueError, match="between 0 and 1"):
        GroundTruthSampler(1.5, print)


def test_two_models_share_one_registry(baseline):
    reg = CollectorRegistry()
    a = ModelMonitor(MODEL_NAME, baseline=baseline, registry=reg)
    b = ModelMonitor("other", registry=reg)
    a.record_prediction("positive", 0.9, features={"text_length": 5.0})
    b.record_prediction("x", 0.9, features={"text_length": 5.0})
    fams = scrape(reg)
    assert value(fams, "ml_feature_value_count", model_name=MODEL_NAME, feature="text_length") == 1
    assert value(fams, "ml_feature_value_count", model_name="other", feature="text_length") == 1
    assert value(fams, "ml_predictions_total", model_name="other", predicted_class="x") == 1


def test_instrument_imports_stay_light():
    code = ("import sys, mlmon_nb; from mlmon_nb import ModelMonitor; "
            "heavy = [x for x in ('pandas', 'scipy', 'starlette', 'matplotlib', 'mlmon_nb.baseline')"
            " if x in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300) | st.binary(max_size=10),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=5)
feature_names = st.sampled_from(["text_length", "sentiment_score", "channel"]) | st.text(max_size=200)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(label=anything, confidence=anything,
       features=st.none() | st.dictionaries(feature_names, anything, max_size=6),
       request_id=anything, segment=anything, true_label=anything, endpoint=anything)
def test_recording_never_raises(baseline, caplog, label, confidence, features, request_id,
                                segment, true_label, endpoint):
    caplog.clear()
    reg = CollectorRegistry()
    mon = ModelMonitor(MODEL_NAME, baseline=baseline, registry=reg, max_label_values=3,
                       sampler=GroundTruthSampler(0.5, lambda item: item.to_json(), seed=0))
    with mon.track(endpoint):
        mon.record_prediction(label, confidence, features=features, request_id=request_id,
                              segment=segment)
    mon.record_feedback(request_id, true_label)
    mon.record_error(endpoint, label)
    text = generate_latest(reg).decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}  # still parses
    assert value(fams, "ml_feature_invalid_total", reason="internal_error") == 0
    assert value(fams, "ml_requests_total") == 1
    # record_feedback and record_error swallow their failures: none may have happened
    assert not [r.getMessage() for r in caplog.records if "mlmon_nb: fail" in r.getMessage()]


def test_known_label_values_are_exported_at_zero_from_the_start():
    # rate() over a counter that appears at 1 misses the first event; series known in advance
    # exist at 0 before any traffic, so the first request, error and prediction count
    from prometheus_client import CollectorRegistry, generate_latest
    reg = CollectorRegistry()
    ModelMonitor("m", registry=reg, endpoints=["/predict"], error_types=["Timeout"],
                 classes=["pos", "neg"], segments=["web"])
    text = generate_latest(reg).decode()
    for line in ('ml_requests_total{endpoint="/predict",model_name="m",model_version=""} 0.0',
                 'ml_errors_total{endpoint="/predict",error_type="Timeout",model_name="m",'
                 'model_version=""} 0.0',
                 'ml_request_duration_seconds_count{endpoint="/predict",model_name="m"} 0.0',
                 'ml_predictions_total{model_name="m",model_version="",predicted_class="neg"} 0.0',
                 'ml_ground_truth_total{model_name="m",model_version="",outcome="incorrect",'
                 'segment="web"} 0.0',
                 'ml_ground_truth_total{model_name="m",model_version="",outcome="correct",'
                 'segment="all"} 0.0'):
        assert line in text.splitlines()
    with pytest.raises(InstrumentError, match=r"classes=\['pos'\]"):
        ModelMonitor("m2", classes="pos", registry=CollectorRegistry())


def test_a_baseline_path_in_place_of_the_model_name_says_how_to_pass_it():
    from mlmon_nb.errors import InstrumentError
    from mlmon_nb.instrument import ModelMonitor
    for path in ("baselines/churn.json", "churn.json", r"C:\\models\\churn"):
        with pytest.raises(InstrumentError, match=r"not a baseline file.*baseline=load_baseline"):
            ModelMonitor(path, registry=CollectorRegistry())


def test_a_baseline_feature_under_a_reserved_name_is_refused():
    # its invalid values and the confidence's would share one counter
    from types import SimpleNamespace

    from mlmon_nb.errors import InstrumentError
    from mlmon_nb.instrument import ModelMonitor
    taken = SimpleNamespace(numeric={"__confidence__": None}, categorical={})
    with pytest.raises(InstrumentError, match="feature named '__confidence__', the name the "
                                              "service counts its own invalid inputs under"):
        ModelMonitor("m", baseline=taken, registry=CollectorRegistry())


LONE_SURROGATE = json.loads('"bad\\ud83dlabel"')  # what a JSON request body can carry


def test_a_lone_surrogate_in_any_label_cannot_break_the_scrape(baseline):
    """A string with no UTF-8 form, exported as is, would fail every later scrape."""
    reg = CollectorRegistry()
    mon = ModelMonitor(MODEL_NAME, baseline=baseline, registry=reg)
    with mon.track(LONE_SURROGATE):
        pass
    mon.record_error("predict", LONE_SURROGATE)
    mon.record_prediction(LONE_SURROGATE, 0.9, request_id=LONE_SURROGATE, segment=LONE_SURROGATE,
                          features={"text_length": 3.0, "sentiment_score": 0.1,
                                    "channel": LONE_SURROGATE, LONE_SURROGATE: 1.0})
    assert mon.record_feedback(LONE_SURROGATE, LONE_SURROGATE)
    fams = scrape(reg)
    shown = "bad\ufffdlabel"
    assert value(fams, "ml_requests_total", endpoint=shown) == 1
    assert value(fams, "ml_errors_total", error_type=shown) == 1
    assert value(fams, "ml_predictions_total", predicted_class=shown) == 1
    assert value(fams, "ml_ground_truth_total", segment=shown, outcome="correct") == 1
    assert value(fams, "ml_feature_invalid_total", feature=shown, reason="unknown_feature") == 1
    assert value(fams, "ml_feature_category_total", feature="channel",
                 category=m.OTHER_CATEGORY) == 1


def test_the_shared_store_keeps_joining_after_a_lone_surrogate_id(tmp_path):
    """One unencodable id must not keep a worker's whole queue from committing."""
    store = SharedPendingStore(tmp_path / "pending.sqlite", "m")
    reg = CollectorRegistry()
    mon = ModelMonitor("m", registry=reg)
    mon._pending = store
    mon.record_prediction("pos", 0.9, request_id="good-1")
    mon.record_prediction("pos", 0.9, request_id=LONE_SURROGATE)
    mon.record_prediction("pos", 0.9, request_id="good-2")
    store.flush()
    assert mon.record_feedback("good-1", "pos") and mon.record_feedback("good-2", "neg")
    assert mon.record_feedback(LONE_SURROGATE, "pos")


@pytest.mark.parametrize("confidence", [87.0, -0.2, 1.5, 10 ** 400])
def test_a_confidence_outside_zero_one_is_counted_invalid_not_observed(confidence):
    """A percentage or a logit passed as the confidence would read as certainty."""
    reg = CollectorRegistry()
    mon = ModelMonitor("m", registry=reg)
    mon.record_prediction("pos", confidence)
    mon.record_prediction("pos", 1.0 + 1e-12)  # a softmax's rounding: clipped to 1
    fams = scrape(reg)
    reason = "inf" if confidence == 10 ** 400 else "out_of_range"
    assert value(fams, "ml_feature_invalid_total", feature="__confidence__", reason=reason) == 1
    assert value(fams, "ml_prediction_confidence_count") == 1
    assert value(fams, "ml_prediction_confidence_sum") == 1.0
    assert value(fams, "ml_predictions_total") == 2


@pytest.mark.parametrize("bad", [10 ** 400, 1 + 2j])
def test_a_value_the_joint_check_cannot_use_loses_neither_the_join_nor_the_error(bad):
    """The reconstruction error takes an unusable value as the baseline's mean; the prediction
    still waits for its label."""
    served = training_baseline(3000, top_k=3)
    assert served.multivariate is not None
    reg = CollectorRegistry()
    mon = ModelMonitor(MODEL_NAME, baseline=served, registry=reg)
    features = {name: 1.0 for name in served.numeric} | {"channel": "web"}
    features[served.multivariate.features[0]] = bad
    mon.record_prediction("neutral", 0.9, features=features, request_id="r0")
    assert mon.record_feedback("r0", "neutral")
    fams = scrape(reg)
    assert value(fams, "ml_reconstruction_error_count") == 1
    assert value(fams, "ml_feature_invalid_total", reason="internal_error") == 0


@pytest.mark.parametrize("features", [[1.0, 2.0], "text_length=3", np.zeros(3)])
def test_features_that_are_not_a_mapping_are_counted_and_the_join_kept(baseline, features):
    reg = CollectorRegistry()
    mon = ModelMonitor(MODEL_NAME, baseline=baseline, registry=reg,
                       sampler=GroundTruthSampler(1.0, lambda item: item.to_json(), seed=0))
    assert mon.record_prediction("neutral", 0.9, features=features, request_id="r0")
    assert mon.record_feedback("r0", "neutral")
    fams = scrape(reg)
    assert value(fams, "ml_feature_invalid_total", feature="__features__",
                 reason="wrong_type") == 1
    assert value(fams, "ml_feature_invalid_total", reason="internal_error") == 0
