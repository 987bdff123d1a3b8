"""Multiprocess mode: real worker processes write their metrics; one scrape sums them all."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlmon_nb.baseline import Baseline
from mlmon_nb.demo.model import MODEL_NAME, SentimentModel, generate_texts, training_baseline
from mlmon_nb.instrument import le_label
from mlmon_nb.stack import free_port

REPO = Path(__file__).resolve().parent.parent

WORKER = """
import sys
import numpy as np
from mlmon_nb.baseline import Baseline
from mlmon_nb.demo.model import MODEL_NAME, SentimentModel, generate_texts
from mlmon_nb.instrument import ModelMonitor, is_multiprocess
assert is_multiprocess()
baseline_path, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mon = ModelMonitor(MODEL_NAME, model_version="1.0.0", baseline=Baseline.load(baseline_path))
model = SentimentModel()
for item in generate_texts(n, np.random.default_rng(seed)):
    with mon.track("predict"):
        p = model.predict(item.text, item.channel)
        mon.record_prediction(p.label, p.confidence, features=p.features, segment=item.channel)
"""


@pytest.fixture(scope="module")
def baseline_file(tmp_path_factory) -> tuple[Baseline, Path]:
    base = training_baseline(2000)
    path = tmp_path_factory.mktemp("baseline") / f"{MODEL_NAME}.json"
    return base, base.save(path)


def samples(text: str) -> list:
    return [s for f in text_string_to_metric_families(text) for s in f.samples]


def total(ss: list, name: str, **labels) -> float:
    return sum(s.value for s in ss
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_aggregation_across_real_worker_processes(baseline_file, tmp_path, monkeypatch):
    base, path = baseline_file
    mp_dir = tmp_path / "multiproc"
    mp_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    jobs = [(11, 150), (12, 90), (13, 60)]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), str(seed), str(n)], env=env)
             for seed, n in jobs]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert len({f.name.rsplit("_", 1)[-1] for f in mp_dir.glob("*.db")}) >= 3  # one file per pid

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(mp_dir))
    from mlmon_nb.instrument import exposition_registry
    ss = samples(generate_latest(exposition_registry()).decode())

    model = SentimentModel()
    preds = [model.predict(i.text, i.channel)
             for seed, n in jobs for i in generate_texts(n, np.random.default_rng(seed))]
    n_all = sum(n for _, n in jobs)
    assert total(ss, "ml_requests_total", endpoint="predict") == n_all
    assert total(ss, "ml_request_duration_seconds_count", endpoint="predict") == n_all
    assert total(ss, "ml_requests_in_progress") == 0  # livesum of exited workers
    assert total(ss, "ml_model_info", baseline_id=base.baseline_id) == 1  # max, not a sum
    for cls in {p.label for p in preds}:
        assert total(ss, "ml_predictions_total", predicted_class=cls) == \
            sum(p.label == cls for p in preds)
    assert total(ss, "ml_low_confidence_predictions_total") == sum(p.confidence < 0.7 for p in preds)
    for feature, stats in base.numeric.items():
        vals = np.array([p.features[feature] for p in preds])
        want = np.cumsum(np.bincount(np.searchsorted(stats.edges, vals, side="left"),
                                     minlength=stats.edges.size + 1))
        les = [le_label(e) for e in stats.edges] + ["+Inf"]
        got = [total(ss, "ml_feature_value_bucket", feature=feature, le=le) for le in les]
        assert got == list(want), feature
        assert total(ss, "ml_feature_value_sum", feature=feature) == pytest.approx(vals.sum())
    assert total(ss, "ml_feature_category_total") == n_all


STORE_WORKER = """
import sys
from mlmon_nb.instrument import SharedPendingStore
path, mode, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = SharedPendingStore(path, "m", max_size=100_000)
if mode == "put":
    for i in range(400):
        store.put(f"{k}-{i}", "pos" if i % 2 else "neg", f"s{k}")
else:  # join the feedback of another process's predictions
    for i in range(400):
        item, outcome = store.pop(f"{(k + 1) % 4}-{i}")
        assert outcome == "matched", (k, i, outcome)
        assert (item.label, item.segment) == ("pos" if i % 2 else "neg", f"s{(k + 1) % 4}")
"""


def test_pending_store_is_shared_by_real_processes(tmp_path):
    """Four processes write predictions at once, four others join each one's feedback at once."""
    path = str(tmp_path / "pending.sqlite")
    for mode in ("put", "pop"):
        procs = [subprocess.Popen([sys.executable, "-c", STORE_WORKER, path, mode, str(k)],
                                  stderr=subprocess.PIPE) for k in range(4)]
        for p in procs:
            assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    from mlmon_nb.instrument import SharedPendingStore
    assert len(SharedPendingStore(path, "m")) == 0


def test_uvicorn_workers_serve_one_aggregated_metrics_endpoint(baseline_file, tmp_path):
    base, path = baseline_file
    state = tmp_path / "state"
    (state / "baselines").mkdir(parents=True)
    base.save(state / "baselines" / f"{MODEL_NAME}.json")
    mp_dir = tmp_path / "multiproc"
    mp_dir.mkdir()
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir), "MLMON_STATE_DIR": str(state),
           "MLMON_CONFIG": str(REPO / "stack" / "mlmon.yaml")}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory",
                             "mlmon_nb.demo.service:app_from_env", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "2", "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "uvicorn workers did not start"
            time.sleep(0.2)
        close = {"Connection": "close"}

        def one(i: int) -> int:  # a new connection each time, so either worker may accept it
            r = requests.post(f"{url}/predict", json={"text": f"great product {i}", "channel": "web",
                                                      "request_id": f"r{i}"},
                              headers=close, timeout=5)
            assert r.status_code == 200
            labels[i] = r.json()["label"]
            return requests.get(f"{url}/health", headers=close, timeout=5).json()["pid"]

        def feedback(i: int) -> bool:  # on another connection, so often to the other worker
            r = requests.post(f"{url}/feedback", json={"request_id": f"r{i}",
                                                       "true_label": "positive"},
                              headers=close, timeout=5)
            assert r.status_code == 200
            return r.json()["matched"]

        # The kernel may hand an idle listener's connections to one worker for a while;
        # concurrent batches keep one busy, so both answer well before the cap.
        n, pids, labels = 0, set(), {}
        with ThreadPoolExecutor(8) as pool:
            while len(pids) < 2 and n < 4000:
                pids.update(pool.map(one, range(n, n + 120)))
                n += 120
            assert len(pids) == 2, f"only worker(s) {pids} answered {n} requests"
            # the join is shared: every prediction is matched, whichever worker gets its feedback
            # (others see a prediction once its worker's writer thread commits it: ~1 ms)
            time.sleep(0.5)
            assert all(pool.map(feedback, range(n)))
        correct = sum(label == "positive" for label in labels.values())
        scrapes = [samples(requests.get(f"{url}/metrics", headers={"Connection": "close"},
                                        timeout=5).text) for _ in range(4)]
        for ss in scrapes:  # whichever worker answers, it reports every worker's requests
            assert total(ss, "ml_requests_total", endpoint="/predict") == n
            assert total(ss, "ml_ground_truth_total", outcome="correct") == correct
            assert total(ss, "ml_ground_truth_total", outcome="incorrect") == n - correct
            assert total(ss, "ml_feedback_unmatched_total") == 0
            assert total(ss, "ml_predictions_total") == n
            assert total(ss, "ml_feature_value_count", feature="text_length") == n
            assert total(ss, "ml_model_info", baseline_id=base.baseline_id) == 1
            stats = base.numeric["text_length"]
            ratios = [total(ss, "ml_feature_baseline_ratio", feature="text_length", le=le)
                      for le in [le_label(e) for e in stats.edges] + ["+Inf"]]
            np.testing.assert_allclose(ratios, list(stats.cumulative) + [1.0])  # not summed
        text = requests.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=5).text
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        print(f"both workers answered within {n} requests")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
