"""Cost of one multiprocess scrape: our sum of the worker files against prometheus-client's.

``/metrics`` in multiprocess mode reads every worker's files. Ours (``WorkerFilesCollector``)
reads each file whole before it counts it and asks whether the process of each live gauge
still runs; prometheus-client's ``MultiProcessCollector`` does neither. Real worker processes
of the demo model (a ``ModelMonitor`` each, 300 predictions) write the files and stay alive
while both collectors render the same directory in turns; then the workers exit and both
render it again (ours now leaves out their in-flight gauges).

    .venv/bin/python benchmarks/bench_scrape.py [--workers 4 16] [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import timed  # noqa: E402

from mlmon_nb.instrument._multiprocess import WorkerFilesCollector  # noqa: E402
from mlmon_nb.stack.demo.model import MODEL_NAME, training_baseline  # noqa: E402

WORKER = """
import sys
import numpy as np
from mlmon_nb.baseline import Baseline
from mlmon_nb.stack.demo.model import MODEL_NAME, SentimentModel, generate_texts
from mlmon_nb.instrument import ModelMonitor
mon = ModelMonitor(MODEL_NAME, model_version="1.0.0", baseline=Baseline.load(sys.argv[1]))
model = SentimentModel()
for item in generate_texts(300, np.random.default_rng(int(sys.argv[2]))):
    with mon.track("predict"):
        p = model.predict(item.text, item.channel)
        mon.record_prediction(p.label, p.confidence, features=p.features, segment=item.channel)
print("ready", flush=True)
sys.stdin.readline()
"""


def scrapes(path: str) -> tuple:
    stock, ours = CollectorRegistry(), CollectorRegistry()
    MultiProcessCollector(stock, path=path)
    ours.register(WorkerFilesCollector(path))
    return (lambda: generate_latest(stock)), (lambda: generate_latest(ours))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"milliseconds per scrape (median of {args.repeat}, in turns)")
    print(f"{'workers':>8s}{'files':>7s}{'state':>7s}{'stock':>9s}{'ours':>9s}{'ours/stock':>12s}")
    with tempfile.TemporaryDirectory() as tmp:
        baseline = training_baseline(2000).save(Path(tmp) / f"{MODEL_NAME}.json")
        for n in args.workers:
            mp_dir = Path(tmp) / f"mp{n}"
            mp_dir.mkdir()
            env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
            procs = []
            for seed in range(n):  # a few at a time: the machine may be small
                procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(baseline),
                                               str(seed)], env=env, stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, text=True))
                if len(procs) % 4 == 0 or seed == n - 1:
                    for p in procs[-4:]:
                        assert p.stdout.readline().strip() == "ready"
            files = len(list(mp_dir.glob("*.db")))
            for state in ("alive", "exited"):
                if state == "exited":
                    for p in procs:
                        p.stdin.close()
                        assert p.wait(timeout=60) == 0
                (stock_t, stock_body), (ours_t, ours_body) = timed(*scrapes(str(mp_dir)),
                                                                   repeat=args.repeat)
                assert len(ours_body) > 0.9 * len(stock_body)  # the same families, read whole
                print(f"{n:8d}{files:7d}{state:>7s}{stock_t * 1e3:9.2f}{ours_t * 1e3:9.2f}"
                      f"{ours_t / stock_t:12.2f}")


if __name__ == "__main__":
    main()
