"""The pending-prediction store of the ground-truth join: bounded in size and in age.

:class:`PendingStore` lives in one process's memory. :class:`SharedPendingStore` keeps the same
contract in an SQLite file that every worker of a multiprocess service opens, so feedback joins
whichever worker made the prediction. Its writes leave the request path: ``put`` queues, and a
writer thread per process commits the queue in one transaction.
"""

from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["PendingStore", "SharedPendingStore", "PendingPrediction", "SHARED_FILE"]

log = logging.getLogger("mlmon_nb")

SHARED_FILE = "mlmon_pending.sqlite"  # not *.db: prometheus-client reads those as its own


@dataclass(frozen=True)
class PendingPrediction:
    """What the join needs of a prediction until its true label arrives."""

    label: str
    segment: str
    created: float  # the store's clock


class _Bounds:
    """The bounds and eviction reporting both stores share."""

    def __init__(self, max_size: int, max_age: float, on_evict: Callable[[str, int], None] | None,
                 clock: Callable[[], float]):
        if max_size < 1 or max_age <= 0:
            raise ValueError(f"the pending store needs max_size >= 1 and max_age > 0, got "
                             f"{max_size} and {max_age}")
        self.max_size = max_size
        self.max_age = max_age
        self._clock = clock
        self._on_evict = on_evict

    def _outcome(self, item: PendingPrediction | None, aged: int,
                 now: float) -> tuple[PendingPrediction | None, str]:
        """What ``pop`` answers for a removed item; an item past ``max_age`` counts as aged."""
        if item is not None and now - item.created > self.max_age:
            self._report(aged + 1, 0)
            return None, "expired"
        self._report(aged, 0)
        return (item, "matched") if item is not None else (None, "unknown")

    def _report(self, aged: int, full: int) -> None:
        if self._on_evict is None:
            return
        if aged:
            self._on_evict("age", aged)
        if full:
            self._on_evict("size", full)


class PendingStore(_Bounds):
    """Request id → prediction, oldest first; the oldest are evicted past ``max_size``/``max_age``.

    ``on_evict(reason, n)`` is called outside the lock with reason ``size`` or ``age``. The clock
    is injectable so tests control age without sleeping.
    """

    def __init__(self, max_size: int = 10_000, max_age: float = 3600.0,
                 on_evict: Callable[[str, int], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(max_size, max_age, on_evict, clock)
        self._items: OrderedDict[str, PendingPrediction] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, request_id: str, label: str, segment: str) -> None:
        """Remember a prediction (a repeated id replaces the earlier one)."""
        now = self._clock()
        with self._lock:
            self._items.pop(request_id, None)
            self._items[request_id] = PendingPrediction(label, segment, now)
            aged = self._expire(now)
            full = 0
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)
                full += 1
        self._report(aged, full)

    def pop(self, request_id: str) -> tuple[PendingPrediction | None, str]:
        """The prediction and ``"matched"``, or None and ``"unknown"``/``"expired"``."""
        now = self._clock()
        with self._lock:
            item = self._items.pop(request_id, None)
            aged = self._expire(now)
        return self._outcome(item, aged, now)

    def _expire(self, now: float) -> int:
        n = 0
        items = self._items
        while items:
            oldest = next(iter(items.values()))
            if now - oldest.created <= self.max_age:
                break
            items.popitem(last=False)
            n += 1
        return n


_setup_lock = threading.Lock()


def _new_setup_lock() -> None:  # a lock held by another thread at a fork stays held in the child
    global _setup_lock
    _setup_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_setup_lock)


class SharedPendingStore(_Bounds):
    """:class:`PendingStore`'s contract for all workers of one service, in an SQLite file.

    ``put`` only queues (a few microseconds on the request path); a writer thread in each
    process commits what is queued in one WAL transaction, so other workers see a prediction
    about a millisecond later. ``pop`` first commits its own process's queue. Each process opens
    its own connection (also after a fork). Several models share the file, each with its own rows
    and bounds. The clock must be one all workers share (``time.monotonic`` is, on one Linux
    host). The file lives as long as the metrics directory: wipe both between runs.
    """

    _conn: sqlite3.Connection  # this process's, opened by _process() on first use

    def __init__(self, path: str | Path, model: str, max_size: int = 10_000,
                 max_age: float = 3600.0, on_evict: Callable[[str, int], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(max_size, max_age, on_evict, clock)
        self.path = Path(path)
        self.model = model
        self._pid = -1
        self._inherited: list[sqlite3.Connection] = []  # a parent's: never used nor closed

    def _process(self) -> None:
        """Fresh locks, queue, connection and writer in a new process (first use or a fork)."""
        pid = os.getpid()
        if self._pid == pid:
            return
        with _setup_lock:
            if self._pid == pid:
                return
            if self._pid != -1:
                self._inherited.append(self._conn)
            self._db = threading.Lock()  # the connection
            self._queued = threading.Lock()  # the queue
            self._queue: list[tuple[str, str, str, float]] = []
            self._wake = threading.Event()
            self._conn = self._connect()
            self._pid = pid
            threading.Thread(target=self._write_loop, name="mlmon-pending-writer",
                             daemon=True).start()
            atexit.register(self.flush)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript("""
            CREATE TABLE IF NOT EXISTS pending (
                seq INTEGER PRIMARY KEY, model TEXT NOT NULL, request_id TEXT NOT NULL,
                label TEXT NOT NULL, segment TEXT NOT NULL, created REAL NOT NULL,
                UNIQUE (model, request_id));
            CREATE INDEX IF NOT EXISTS pending_age ON pending (model, created);
            CREATE TABLE IF NOT EXISTS sizes (model TEXT PRIMARY KEY, n INTEGER NOT NULL);
        """)
        return conn

    def _write_loop(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            self._wake.wait()
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the next put retries; the service is never hurt by it
                log.exception("mlmon_nb: the shared pending store could not commit")

    def _transaction(self, work: Callable[[sqlite3.Connection, float], tuple]) -> tuple:
        now = self._clock()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn, now)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return result

    def _expire(self, conn: sqlite3.Connection, now: float) -> int:
        return conn.execute("DELETE FROM pending WHERE model = ? AND created < ?",
                            (self.model, now - self.max_age)).rowcount

    def _resize(self, conn: sqlite3.Connection, delta: int) -> int:
        conn.execute("INSERT INTO sizes (model, n) VALUES (?, ?) ON CONFLICT (model) DO UPDATE "
                     "SET n = n + excluded.n", (self.model, delta))
        return conn.execute("SELECT n FROM sizes WHERE model = ?", (self.model,)).fetchone()[0]

    def put(self, request_id: str, label: str, segment: str) -> None:
        """Queue a prediction for the writer (a repeated id replaces the earlier one)."""
        self._process()
        item = (request_id, label, segment, self._clock())
        with self._queued:
            self._queue.append(item)
        self._wake.set()

    def flush(self) -> None:
        """Commit this process's queued predictions (the writer thread does it on its own)."""
        self._process()
        with self._db:
            with self._queued:
                batch, self._queue = self._queue, []
            if not batch:
                return
            latest = {item[0]: item for item in batch}  # a repeated id: the last one counts

            def work(conn: sqlite3.Connection, now: float) -> tuple[int, int]:
                replaced = conn.executemany(
                    "DELETE FROM pending WHERE model = ? AND request_id = ?",
                    [(self.model, rid) for rid in latest]).rowcount
                conn.executemany("INSERT INTO pending (model, request_id, label, segment, created)"
                                 " VALUES (?, ?, ?, ?, ?)",
                                 [(self.model, *item) for item in latest.values()])
                aged = self._expire(conn, now)
                size = self._resize(conn, len(latest) - replaced - aged)
                full = max(0, size - self.max_size)
                if full:
                    conn.execute("DELETE FROM pending WHERE seq IN (SELECT seq FROM pending WHERE"
                                 " model = ? ORDER BY created, seq LIMIT ?)", (self.model, full))
                    self._resize(conn, -full)
                return aged, full

            try:
                aged, full = self._transaction(work)
            except Exception:  # keep the batch for the next commit, within the size bound
                with self._queued:
                    self._queue[:0] = latest.values()
                    full = max(0, len(self._queue) - self.max_size)
                    del self._queue[:full]
                self._report(0, full)
                raise
        self._report(aged, full)

    def __len__(self) -> int:
        self.flush()
        with self._db:
            row = self._conn.execute("SELECT n FROM sizes WHERE model = ?",
                                     (self.model,)).fetchone()
        return row[0] if row else 0

    def pop(self, request_id: str) -> tuple[PendingPrediction | None, str]:
        """The prediction and ``"matched"``, or None and ``"unknown"``/``"expired"``."""
        self.flush()

        def work(conn: sqlite3.Connection, now: float) -> tuple:
            rows = conn.execute("DELETE FROM pending WHERE model = ? AND request_id = ? "
                                "RETURNING label, segment, created",
                                (self.model, request_id)).fetchall()
            aged = self._expire(conn, now)
            self._resize(conn, -aged - len(rows))
            return (rows[0] if rows else None), aged, now

        with self._db:
            row, aged, now = self._transaction(work)
        return self._outcome(PendingPrediction(*row) if row is not None else None, aged, now)
