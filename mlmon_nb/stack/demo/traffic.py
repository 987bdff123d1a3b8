"""The demo's traffic generator: Poisson arrivals of realistic requests, and the human reviewer.

It posts ``/predict`` at ``rps`` on average from a few worker threads; answers marked
``"review": true`` (the service's ground-truth sample) get their true label posted to
``/feedback``, as a reviewer would. Every couple of seconds it reads ``GET /faults``: while
``drift`` is active the texts drift (``generate_texts(drift=1.0)``), while ``low-confidence`` is
active they turn ambiguous, while ``covariate-shift`` is active they turn faint and mixed
(:data:`~mlmon_nb.stack.demo.model.COVARIATE_SHIFT`). A service that serves a fleet of models (its
``/health`` lists them with their paths) gets each request for one of them, picked at random:
``rps`` is the fleet's total, and a model's own faults (``GET /faults``'s ``models``) shift
only its requests. When the service is down it backs off (0.5 s
doubling to 10 s) and resumes when it answers again; it never crashes on the service's account.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import requests

from .model import COVARIATE_SHIFT, LabeledText, generate_texts

__all__ = ["run_traffic", "TrafficStats", "FAULT_POLL_SECONDS"]

log = logging.getLogger(__name__)

FAULT_POLL_SECONDS = 2.0
BACKOFF_START, BACKOFF_MAX = 0.5, 10.0
TIMEOUT = 5.0


@dataclass
class TrafficStats:
    """What the generator did."""

    sent: int = 0
    ok: int = 0
    server_errors: int = 0
    unreachable: int = 0
    dropped: int = 0          # arrivals skipped because too many requests were in flight
    feedback: int = 0
    feedback_matched: int = 0
    drifted: int = 0          # requests sent while drift was active
    ambiguous: int = 0        # requests sent while low-confidence was active
    shifted: int = 0          # requests sent while covariate-shift was active
    outages: int = 0          # times the service went away
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for key, n in counts.items():
                setattr(self, key, getattr(self, key) + n)


class _Generator:
    def __init__(self, url: str, rps: float, seed: int | None, workers: int):
        if rps <= 0:
            raise ValueError(f"rps must be positive, got {rps}")
        self.url = url.rstrip("/")
        self.rps = rps
        self.rng = np.random.default_rng(seed)
        self.workers = workers
        self.stats = TrafficStats()
        self.faults: set[str] = set()
        self.paths: list[str] = [""]  # where each served model's /predict lives
        self._path_of: dict[str, str] = {}
        self.model_faults: dict[str, set[str]] = {}  # a model's own faults, by its path
        self._asked_models = False
        self.down = False
        self._local = threading.local()
        self._inflight = 0
        self._inflight_lock = threading.Lock()

    def session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def poll_faults(self) -> bool:
        """Refresh the active faults (and, once, the served models); False when the service
        does not answer."""
        try:
            if not self._asked_models:
                health = self.session().get(f"{self.url}/health", timeout=TIMEOUT)
                health.raise_for_status()
                models = health.json().get("models") or {"": ""}
                self.paths = sorted({str(p) for p in models.values()})
                self._path_of = {str(k): str(p) for k, p in models.items()}
                self._asked_models = True
            resp = self.session().get(f"{self.url}/faults", timeout=TIMEOUT)
            resp.raise_for_status()
            answer = resp.json()
            self.faults = set(answer.get("active", {}))
            self.model_faults = {self._path_of.get(str(name), ""): set(kinds)
                                 for name, kinds in (answer.get("models") or {}).items()}
            return True
        except (requests.RequestException, ValueError, AttributeError):
            return False

    def send(self, item: LabeledText, path: str = "") -> None:
        try:
            resp = self.session().post(f"{self.url}{path}/predict", timeout=TIMEOUT,
                                       json={"text": item.text, "channel": item.channel})
            if resp.status_code >= 500:
                self.stats.add(server_errors=1)
                return
            body = resp.json()
            self.stats.add(ok=1)
            if body.get("review"):
                fb = self.session().post(f"{self.url}{path}/feedback", timeout=TIMEOUT,
                                         json={"request_id": body["request_id"],
                                               "true_label": item.true_label})
                matched = fb.status_code == 200 and bool(fb.json().get("matched"))
                self.stats.add(feedback=1, feedback_matched=int(matched))
        except requests.RequestException:
            self.stats.add(unreachable=1)
            self.down = True
        except (ValueError, KeyError, AttributeError) as exc:  # an odd answer: count, go on
            log.warning("unexpected answer from %s: %r", self.url, exc)
            self.stats.add(server_errors=1)
        finally:
            with self._inflight_lock:
                self._inflight -= 1

    def submit(self, pool: ThreadPoolExecutor) -> None:
        # one model: the same random sequence as ever; a fleet: each request to one at random
        path = self.paths[int(self.rng.integers(len(self.paths)))] if len(self.paths) > 1 \
            else self.paths[0]
        faults = self.faults | self.model_faults.get(path, set())
        drifted, ambiguous, shifted = (f in faults
                                       for f in ("drift", "low-confidence", "covariate-shift"))
        options = {**(COVARIATE_SHIFT if shifted else {}), "drift": float(drifted)}
        if ambiguous:
            options["ambiguity"] = 1.0
        item = generate_texts(1, self.rng, **options)[0]
        with self._inflight_lock:
            if self._inflight >= 4 * self.workers:
                self.stats.dropped += 1
                return
            self._inflight += 1
        self.stats.add(sent=1, drifted=int(drifted), ambiguous=int(ambiguous),
                       shifted=int(shifted))
        pool.submit(self.send, item, path)


def run_traffic(url: str, *, rps: float = 5.0, duration: float | None = None,
                seed: int | None = None, workers: int = 8,
                stop: threading.Event | None = None) -> TrafficStats:
    """Send demo traffic to ``url`` until ``duration`` seconds passed or ``stop`` is set."""
    gen = _Generator(url, rps, seed, workers)
    stop = stop or threading.Event()
    start = time.monotonic()
    deadline = start + duration if duration is not None else float("inf")
    backoff = BACKOFF_START
    next_poll = start
    next_arrival = start
    with ThreadPoolExecutor(workers, thread_name_prefix="mlmon-traffic") as pool:
        while not stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            if gen.down or now >= next_poll:
                if gen.poll_faults():
                    if gen.down:
                        log.warning("the demo service at %s answers again", gen.url)
                    gen.down, backoff = False, BACKOFF_START
                    next_poll = now + FAULT_POLL_SECONDS
                else:
                    if not gen.down:
                        log.warning("the demo service at %s does not answer; retrying with "
                                    "backoff", gen.url)
                        gen.stats.add(outages=1)
                    gen.down = True
                    stop.wait(min(backoff, max(deadline - now, 0)))
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    next_arrival = time.monotonic()
                    continue
            next_arrival += gen.rng.exponential(1.0 / rps)
            wait = next_arrival - time.monotonic()
            if wait > 0 and stop.wait(min(wait, max(deadline - time.monotonic(), 0))):
                break
            if time.monotonic() >= deadline:
                break
            gen.submit(pool)
    return gen.stats
