"""Multiprocess mode: real worker processes write their metrics; one scrape sums them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlmon_nb.baseline import Baseline
from mlmon_nb.instrument import le_label
from mlmon_nb.stack import free_port
from mlmon_nb.stack.demo.model import MODEL_NAME, SentimentModel, generate_texts, training_baseline

REPO = Path(__file__).resolve().parents[2]

WORKER = """
import sys
import numpy as np
from mlmon_nb.baseline import Baseline
from mlmon_nb.stack.demo.model import MODEL_NAME, SentimentModel, generate_texts
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


def start_uvicorn(base: Baseline, tmp_path: Path, workers: int) -> tuple[subprocess.Popen, str, Path]:
    """The demo service under ``uvicorn --workers`` on a free port, once one worker answers;
    its stderr goes to ``tmp_path/uvicorn.err``."""
    state = tmp_path / "state"
    (state / "baselines").mkdir(parents=True)
    base.save(state / "baselines" / f"{MODEL_NAME}.json")
    mp_dir = tmp_path / "multiproc"
    mp_dir.mkdir()
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir), "MLMON_STATE_DIR": str(state),
           "MLMON_CONFIG": str(REPO / "stack" / "mlmon.yaml")}
    with open(tmp_path / "uvicorn.err", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory",
                                 "mlmon_nb.stack.demo.service:app_from_env", "--host", "127.0.0.1",
                                 "--port", str(port), "--workers", str(workers),
                                 "--log-level", "warning"],
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url, mp_dir
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"uvicorn workers did not start:\n{server_log(tmp_path)}")
        time.sleep(0.2)


def server_log(tmp_path: Path) -> str:
    return (tmp_path / "uvicorn.err").read_text(errors="replace")[-4000:]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # uvicorn stops its workers, then itself
    proc.wait(timeout=30)


def test_uvicorn_workers_serve_one_aggregated_metrics_endpoint(baseline_file, tmp_path):
    base, _ = baseline_file
    proc, url, _ = start_uvicorn(base, tmp_path, workers=2)
    try:
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
        stop(proc)


# What the scrape promises while workers start, die and restart (prometheus-client keeps a file
# per worker and metric type; a dead worker's files stay unless something removes them):
# - every scrape answers 200, with every worker's counters and histograms, a dead worker's too,
#   so no counter ever goes backwards;
# - what a dead worker held only while it ran, its live gauges (the in-flight requests), leaves
#   the sum, as gunicorn's child_exit calling mark_process_dead would make it; uvicorn has no
#   such hook, so a scrape leaves out the live gauges of workers that are no longer running;
# - a file a starting worker has created and not yet sized is a worker with no values yet, and
#   a file that cannot be read is left out and counted in ml_metric_files_unreadable.

@pytest.mark.parametrize("name, want", [
    ("counter_123.db", ("counter", "", "123", False)),
    ("histogram_7.db", ("histogram", "", "7", False)),
    ("gauge_livesum_123.db", ("gauge", "livesum", "123", True)),
    ("gauge_max_9.db", ("gauge", "max", "9", False)),
    ("gauge_all_worker_2.db", ("gauge", "all", "worker_2", False)),  # a chosen identifier
    ("cache.db", None),
    ("gauge_123.db", None),
    ("gauge_bogus_123.db", None),
])
def test_worker_file_names(name, want):
    from mlmon_nb.instrument._multiprocess import pid_running, worker_file

    wf = worker_file(f"/d/{name}")
    assert (wf and (wf.type, wf.mode, wf.pid, wf.live)) == want
    if wf is not None and not wf.pid.isdigit():
        assert pid_running(wf.pid)  # nothing can be known of it: its live gauges count


def test_a_wiped_directory_still_answers_and_says_why_it_is_empty(tmp_path, caplog):
    from mlmon_nb.instrument._multiprocess import WorkerFilesCollector, read_worker_file

    # what a scrape meets when mark_process_dead removes a file between listing and reading it
    assert read_worker_file(str(tmp_path / "gauge_livesum_1.db"), {}) == []

    caplog.set_level("WARNING", logger="mlmon_nb")
    [family] = WorkerFilesCollector(tmp_path / "wiped").collect()
    assert (family.name, family.samples[0].value) == ("ml_metric_files_unreadable", 0)
    assert any("wiped is gone" in r.getMessage() for r in caplog.records)


STALLED = """
import os, sys
path = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], f"counter_{os.getpid()}.db")
open(path, "a+b")  # what prometheus-client does first: the file exists, empty
print("created", flush=True)
sys.stdin.readline()  # a worker descheduled (or killed) right here, before it sizes the file
from prometheus_client import Counter
Counter("ml_late", "Counted once the worker resumed.").inc(3)  # sizes the same file, writes
print("written", flush=True)
sys.stdin.readline()
"""


def start_stalled(env: dict) -> subprocess.Popen:
    """A real process whose counter file exists, empty, until it is told to go on."""
    proc = subprocess.Popen([sys.executable, "-c", STALLED], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "created"
    return proc


def test_a_scrape_leaves_out_what_it_cannot_read_and_sums_the_rest(baseline_file, tmp_path,
                                                                   monkeypatch, caplog):
    """prometheus-client's own collector fails the whole scrape (struct.error, HTTP 500) on the
    empty file of a worker that has not sized it yet, and on any damaged file."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from mlmon_nb.instrument import exposition_registry

    _, path = baseline_file
    mp_dir = tmp_path / "multiproc"
    mp_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    jobs = [(21, 40), (22, 30)]
    for seed, n in jobs:
        subprocess.run([sys.executable, "-c", WORKER, str(path), str(seed), str(n)], env=env,
                       check=True, timeout=120)
    healthy = tmp_path / "healthy"  # the same workers' files alone, for prometheus-client's sum
    healthy.mkdir()
    for f in mp_dir.glob("*.db"):
        (healthy / f.name).write_bytes(f.read_bytes())
    stock = CollectorRegistry()
    MultiProcessCollector(stock, path=str(healthy))
    want = sorted(line for line in generate_latest(stock).decode().splitlines()
                  if "ml_requests_in_progress" not in line)  # exited workers: none here

    damaged = mp_dir / "counter_999999999.db"  # a copy whose first key length points past the end
    data = bytearray(next(mp_dir.glob("counter_*.db")).read_bytes())
    data[8:12] = (2**31 - 1).to_bytes(4, "little")
    damaged.write_bytes(bytes(data))
    (mp_dir / "cache.db").write_bytes(b"not a prometheus-client file")
    stalled = start_stalled(env)
    try:
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(mp_dir))
        caplog.set_level("WARNING", logger="mlmon_nb")
        for _ in range(2):  # the same answer each time; the log names each file once
            text = generate_latest(exposition_registry()).decode()
            ss = samples(text)
            assert total(ss, "ml_metric_files_unreadable") == 2  # the empty file is not damaged
            assert total(ss, "ml_requests_in_progress") == 0  # the workers have exited
            assert sorted(line for line in text.splitlines()  # the same sums as the stock
                          if "ml_metric_files_unreadable" not in line) == want
            assert total(ss, "ml_requests_total", endpoint="predict") == sum(n for _, n in jobs)
        logged = [r.getMessage() for r in caplog.records]
        assert len(logged) == 2, logged
        assert any(str(damaged) in msg and "cannot be read" in msg and "wipe PROMETHEUS_MULTIPROC_DIR" in msg
                   for msg in logged)
        assert any(str(mp_dir / "cache.db") in msg for msg in logged)

        stalled.stdin.write("go\n")
        stalled.stdin.flush()
        assert stalled.stdout.readline().strip() == "written"
        ss = samples(generate_latest(exposition_registry()).decode())
        assert total(ss, "ml_late_total") == 3  # the resumed worker's file is read like any other
        assert total(ss, "ml_requests_total", endpoint="predict") == sum(n for _, n in jobs)
    finally:
        stalled.kill()
        stalled.wait()


INFLIGHT = """
import sys
from mlmon_nb.baseline import Baseline
from mlmon_nb.stack.demo.model import MODEL_NAME
from mlmon_nb.instrument import ModelMonitor
mon = ModelMonitor(MODEL_NAME, model_version="1.0.0", baseline=Baseline.load(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    with mon.track("predict"):
        pass
with mon.track("predict"):  # one request in flight until stdin says it is done
    print("serving", flush=True)
    sys.stdin.readline()
"""


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0].decode()


def test_a_killed_workers_in_flight_requests_leave_the_sum_and_its_counts_stay(baseline_file,
                                                                               tmp_path,
                                                                               monkeypatch):
    from mlmon_nb.instrument import exposition_registry

    _, path = baseline_file
    mp_dir = tmp_path / "multiproc"
    mp_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    procs = [subprocess.Popen([sys.executable, "-c", INFLIGHT, str(path), str(n)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for n in (5, 7)]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(mp_dir))

    def scrape() -> tuple[float, float]:
        ss = samples(generate_latest(exposition_registry()).decode())
        return (total(ss, "ml_requests_in_progress"),
                total(ss, "ml_requests_total", endpoint="predict"))

    try:
        assert [p.stdout.readline().strip() for p in procs] == ["serving", "serving"]
        assert scrape() == (2, 12)
        killed, other = procs
        killed.kill()  # not reaped yet: a zombie is not running either
        deadline = time.monotonic() + 30
        while proc_state(killed.pid) != "Z":
            assert time.monotonic() < deadline, "the killed worker did not die"
            time.sleep(0.05)
        assert scrape() == (1, 12)  # its in-flight request leaves; its 5 requests stay
        killed.wait()
        assert scrape() == (1, 12)
        other.stdin.write("done\n")
        other.stdin.flush()
        assert other.wait(timeout=60) == 0
        assert scrape() == (0, 13)
    finally:
        for p in procs:
            p.kill()
            p.wait()


def worker_pids(parent: int) -> set[int]:
    """The uvicorn workers the parent runs now (its children that multiprocessing spawned)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_bytes().rpartition(b")")[2].split()
            if int(fields[1]) == parent and fields[0] != b"Z" and \
                    b"spawn_main" in (stat.parent / "cmdline").read_bytes():
                pids.add(int(stat.parent.name))
        except (OSError, IndexError, ValueError):  # a process that ended meanwhile
            continue
    return pids


def wait_for_workers(proc: subprocess.Popen, mp_dir: Path, n: int, tmp_path: Path,
                     gone: int | None = None) -> set[int]:
    """The pids once ``n`` workers run (without ``gone``) and each has sized its metric files."""
    deadline = time.monotonic() + 120
    while True:
        pids = worker_pids(proc.pid)
        sized = {int(f.name[len("counter_"):-3]) for f in mp_dir.glob("counter_*.db")
                 if f.stat().st_size > 8}
        if len(pids) == n and gone not in pids and pids <= sized:
            return pids
        assert proc.poll() is None and time.monotonic() < deadline, \
            f"wanted {n} workers, have {sorted(pids)}:\n{server_log(tmp_path)}"
        time.sleep(0.1)


def series(ss: list, types: dict[str, str]) -> dict[tuple, float]:
    """The samples that may only grow: counters, and histogram buckets and counts."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in ss
            if types.get(s.name) == "counter"
            or (types.get(s.name) == "histogram" and s.name.endswith(("_bucket", "_count")))}


def test_metrics_always_answer_while_uvicorn_workers_start_die_and_restart(baseline_file,
                                                                           tmp_path):
    """Scrapes and predictions run on while a worker is added (SIGTTIN), three are killed with
    SIGKILL (uvicorn starts a replacement each time), one is retired (SIGTTOU), and a process
    has created its counter file and not sized it for the whole run (then dies so)."""
    base, _ = baseline_file
    proc, url, mp_dir = start_uvicorn(base, tmp_path, workers=3)
    close = {"Connection": "close"}
    stop_traffic = threading.Event()
    sent = [0, 0]  # predictions sent, answered 200
    refused: list[str] = []  # predictions answered otherwise
    lock = threading.Lock()
    scrapes: list[list] = [[], []]  # per scraper, in order: status code or exception name

    def traffic(k: int) -> None:
        i = 0
        while not stop_traffic.is_set():
            with lock:
                sent[0] += 1
            try:
                r = requests.post(f"{url}/predict", headers=close, timeout=10,
                                  json={"text": f"fine product {k} {i}", "channel": "web"})
            except requests.RequestException:  # its worker was killed while serving it
                continue
            finally:
                i += 1
            with lock:
                if r.status_code == 200:
                    sent[1] += 1
                else:
                    refused.append(f"{r.status_code} {r.text}")

    def scraper(k: int) -> None:
        while not stop_traffic.is_set():
            try:
                r = requests.get(f"{url}/metrics", headers=close, timeout=10)
            except requests.RequestException as exc:
                scrapes[k].append(type(exc).__name__)
                continue
            if r.status_code != 200:
                scrapes[k].append(r.status_code)
                continue
            fams = list(text_string_to_metric_families(r.text))
            types = {s.name: f.type for f in fams for s in f.samples}
            scrapes[k].append(series([s for f in fams for s in f.samples], types))

    def scraped(n: int) -> None:  # each scraper answers n more times
        start = [len(s) for s in scrapes]
        deadline = time.monotonic() + 120
        while any(len(s) - s0 < n for s, s0 in zip(scrapes, start)):
            assert time.monotonic() < deadline, "the scrapes stopped"
            time.sleep(0.05)

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    stalled = start_stalled(env)
    threads = [threading.Thread(target=traffic, args=(k,)) for k in range(3)]
    threads += [threading.Thread(target=scraper, args=(k,)) for k in range(2)]
    kills = 0
    try:
        wait_for_workers(proc, mp_dir, 3, tmp_path)
        for t in threads:
            t.start()
        scraped(5)
        os.kill(proc.pid, signal.SIGTTIN)  # a fourth worker starts while scrapes run
        pids = wait_for_workers(proc, mp_dir, 4, tmp_path)
        scraped(5)
        for _ in range(3):
            victim = min(pids)
            os.kill(victim, signal.SIGKILL)
            kills += 1
            pids = wait_for_workers(proc, mp_dir, 4, tmp_path, gone=victim)
            scraped(5)
        stalled.kill()  # dies before it sized its file: the file stays empty
        stalled.wait()
        os.kill(proc.pid, signal.SIGTTOU)  # one worker retires
        wait_for_workers(proc, mp_dir, 3, tmp_path)
        scraped(5)
    finally:
        stop_traffic.set()
        for t in threads:
            if t.ident is not None:  # started
                t.join(timeout=60)
        stalled.kill()
        stalled.wait()
    try:
        answered = [s for per in scrapes for s in per]
        failed = [s for s in answered if isinstance(s, int)]
        assert not failed, (f"{len(failed)} of {len(answered)} scrapes answered "
                            f"{sorted(set(failed))}:\n{server_log(tmp_path)}")
        assert not refused, refused[:3]
        lost = [s for s in answered if isinstance(s, str)]  # a scrape its killed worker held
        assert len(lost) <= kills * len(scrapes), lost
        for per in scrapes:
            got = [s for s in per if isinstance(s, dict)]
            for before, after in zip(got, got[1:]):
                back = {k: (v, after.get(k)) for k, v in before.items()
                        if after.get(k, float("-inf")) < v}
                assert not back, f"counters went backwards or vanished: {back}"
        final = [samples(requests.get(f"{url}/metrics", headers=close, timeout=10).text)
                 for _ in range(6)]
        n_predicted = total(final[0], "ml_predictions_total")
        for ss in final:  # whichever worker answers, the same sums, the dead workers' included
            assert total(ss, "ml_predictions_total") == n_predicted
            assert total(ss, "ml_requests_in_progress") == 0  # live workers only, all idle
            assert total(ss, "ml_metric_files_unreadable") == 0
        # every answered prediction is counted; a killed worker may have counted one it never
        # answered (it records the prediction before it sends the answer)
        assert sent[1] <= n_predicted <= sent[0]
        assert n_predicted - sent[1] <= kills * len(threads)
        print(f"{len(answered)} scrapes, {len(lost)} lost with a killed worker, "
              f"{sent[1]} predictions answered of {sent[0]} sent")
    finally:
        stop(proc)
