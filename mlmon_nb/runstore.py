"""The run store: executed runbooks on disk, indexed in SQLite, with a persisted queue.

Layout under ``<state_dir>/runs``::

    index.sqlite            one row per run: alert, model, parameters, status, times, summary
    <run_id>/output.ipynb   the executed notebook
    <run_id>/output.html    its sanitized HTML

The index doubles as the launcher's work queue: a run is inserted as ``queued`` and committed
before the webhook is answered, so a restart loses no accepted alert. The dedupe key of an alert
is UNIQUE, so concurrent re-sends insert one run.

Every running run has an owner: a lease (owner id, expiry) taken in the same transaction that
moves it from ``queued`` to ``running``, so exactly one process executes it — two launchers on
one state dir, or the CLI and a launcher, never both. A store renews the leases it holds from a
heartbeat thread; a dead owner's runs go back to the queue once their lease expires, at most
``max_attempts`` times, then they are marked failed. Outcomes are only recorded by the owner.

The run list and the console filter by model through ``runs_model`` (model, created): a fleet of
a hundred models lists one model's newest runs, and the models with their run counts, from the
index without scanning the table.

The queue is fair: severity first (``priority`` 0 critical … 3 other), then the run's place in
its alert group (``group_seq``: how many runs of its group were queued before it), then age —
so one notification with a thousand alerts cannot starve a new critical alert.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from .errors import RunbookError

__all__ = ["DEFAULT_LEASE_SECONDS", "DEFAULT_MAX_ATTEMPTS", "FINAL_STATUSES", "RUN_STATUSES",
           "Run", "RunClaimed", "RunStatus", "RunStore", "is_run_id"]


class RunStatus(StrEnum):
    """Where a run is: waiting, executing (under a lease), or one of the final outcomes."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    TIMEOUT = "timeout"
    DEAD_KERNEL = "dead_kernel"


RUN_STATUSES = tuple(s.value for s in RunStatus)
FINAL_STATUSES = ("done", "failed", "timeout", "dead_kernel")
DEFAULT_LEASE_SECONDS = 30.0   # a dead owner's run is taken over this long after its last beat
DEFAULT_MAX_ATTEMPTS = 3       # executions started per run before it is given up
FINISH_ATTEMPTS = 4            # tries to record an outcome, each waiting up to 30 s on a lock
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{10}$")


class RunClaimed(RunbookError):
    """The run is already executed by another process (or finished); nothing ran here."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    alertname   TEXT NOT NULL,
    model_name  TEXT NOT NULL DEFAULT '',
    params      TEXT NOT NULL,
    status      TEXT NOT NULL,
    source      TEXT NOT NULL,
    dedupe_key  TEXT UNIQUE,
    created     REAL NOT NULL,
    started     REAL,
    finished    REAL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    summary     TEXT NOT NULL DEFAULT '{}',
    resolved_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, created);
CREATE INDEX IF NOT EXISTS runs_alert ON runs(alertname, model_name, created);
"""
# Columns added after the first release: ALTERed into an existing index on open.
_LEASE_COLUMNS = {
    "owner": "TEXT NOT NULL DEFAULT ''",
    "lease_expires": "REAL",
    "priority": "INTEGER NOT NULL DEFAULT 3",
    "group_key": "TEXT NOT NULL DEFAULT ''",
    "group_seq": "INTEGER NOT NULL DEFAULT 0",
}
_INDEXES = """
CREATE INDEX IF NOT EXISTS runs_queue ON runs(status, priority, group_seq, created);
CREATE INDEX IF NOT EXISTS runs_group ON runs(group_key, status);
CREATE INDEX IF NOT EXISTS runs_lease ON runs(status, lease_expires);
CREATE INDEX IF NOT EXISTS runs_model ON runs(model_name, created);
"""


def is_run_id(text: str) -> bool:
    """Whether ``text`` has the shape of a run id (never a path)."""
    return bool(_RUN_ID.fullmatch(text or ""))


def _new_run_id() -> str:
    now = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{secrets.token_hex(5)}"


@dataclass(frozen=True)
class Run:
    """One row of the run index."""

    run_id: str
    alertname: str
    model_name: str
    params: dict[str, object]
    status: RunStatus
    source: str
    dedupe_key: str | None
    created: float
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    error: str = ""
    summary: dict[str, object] = field(default_factory=dict)
    resolved_at: str = ""
    owner: str = ""
    lease_expires: float | None = None
    priority: int = 3

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, once finished."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def verdict(self) -> str:
        """The runbook's recorded one-line verdict, if it recorded one."""
        return str(self.summary.get("verdict", ""))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view for the API."""
        return {"run_id": self.run_id, "alertname": self.alertname, "model_name": self.model_name,
                "params": self.params, "status": self.status, "source": self.source,
                "created": self.created, "started": self.started, "finished": self.finished,
                "duration": self.duration, "attempts": self.attempts, "error": self.error,
                "summary": self.summary, "resolved_at": self.resolved_at, "owner": self.owner,
                "lease_expires": self.lease_expires, "priority": self.priority}


def _row(row: sqlite3.Row) -> Run:
    return Run(run_id=row["run_id"], alertname=row["alertname"], model_name=row["model_name"],
               params=json.loads(row["params"]), status=RunStatus(row["status"]), source=row["source"],
               dedupe_key=row["dedupe_key"], created=row["created"], started=row["started"],
               finished=row["finished"], attempts=row["attempts"], error=row["error"],
               summary=json.loads(row["summary"] or "{}"), resolved_at=row["resolved_at"],
               owner=row["owner"], lease_expires=row["lease_expires"], priority=row["priority"])


class RunStore:
    """Executed runs under ``root`` (``<state_dir>/runs``), their SQLite index and queue.

    Each store instance is one owner (``owner``: host, pid and a random part); runs it claims
    are leased for ``lease_seconds`` and renewed by a heartbeat thread while it holds them.
    """

    def __init__(self, root: Path, *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "index.sqlite"
        self.lease_seconds = float(lease_seconds)
        self.max_attempts = max(1, int(max_attempts))
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._beat_stop = threading.Event()
        self._beat: threading.Thread | None = None
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            have = {r["name"] for r in db.execute("PRAGMA table_info(runs)")}
            for column, decl in _LEASE_COLUMNS.items():
                if column not in have:
                    try:
                        db.execute(f"ALTER TABLE runs ADD COLUMN {column} {decl}")
                    except sqlite3.OperationalError:  # another process added it meanwhile
                        pass
            db.executescript(_INDEXES)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    # -- paths ----------------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        """The folder of a run; refuses anything that is not a run id inside the store."""
        if not is_run_id(run_id):
            raise RunbookError(f"{run_id!r} is not a run id (they look like 20240101T120000Z-"
                               f"0123456789); list runs with GET /runs")
        path = (self.root / run_id).resolve()
        if path.parent != self.root:
            raise RunbookError(f"run {run_id!r} resolves outside the run store")
        return path

    # -- writes ---------------------------------------------------------------------------------

    def submit(self, alertname: str, params: Mapping[str, object], *, source: str,
               dedupe_key: str | None = None, priority: int = 3, group_key: str = "",
               claim: bool = False) -> tuple[Run, bool]:
        """Queue a run; with a ``dedupe_key`` already known, return that run and False.

        ``priority`` orders the queue (0 first); ``group_key`` names the alert group for fair
        queueing; ``claim=True`` inserts the run already running under this store's lease
        (the CLI executes it itself, no launcher can take it in between)."""
        run_id, now = _new_run_id(), time.time()
        status = RunStatus.RUNNING if claim else RunStatus.QUEUED
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            seq = 0
            if group_key:
                seq = db.execute("SELECT COUNT(*) FROM runs WHERE group_key = ? AND status = ?",
                                 (group_key, RunStatus.QUEUED.value)).fetchone()[0]
            cur = db.execute(
                "INSERT OR IGNORE INTO runs (run_id, alertname, model_name, params, status, source,"
                " dedupe_key, created, started, attempts, owner, lease_expires, priority,"
                " group_key, group_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, alertname, str(params.get("model_name", "")),
                 json.dumps(dict(params), sort_keys=True), status.value, source, dedupe_key, now,
                 now if claim else None, 1 if claim else 0, self.owner if claim else "",
                 now + self.lease_seconds if claim else None, int(priority), group_key, seq))
            created = cur.rowcount == 1
            if created:
                row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            else:
                row = db.execute("SELECT * FROM runs WHERE dedupe_key = ?", (dedupe_key,)).fetchone()
            db.execute("COMMIT")
        if created and claim:
            self._hold(run_id)
        return _row(row), created

    def claim_next(self) -> Run | None:
        """Atomically take the next queued run under this store's lease: severity first, then
        its place in its alert group, then age. Expired leases are released first."""
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                self._release_expired(db, now)
                row = db.execute("SELECT run_id FROM runs WHERE status = 'queued' "
                                 "ORDER BY priority, group_seq, created, rowid LIMIT 1").fetchone()
                if row is None:
                    return None
                self._take(db, row["run_id"], now)
                run = _row(db.execute("SELECT * FROM runs WHERE run_id = ?",
                                      (row["run_id"],)).fetchone())
            finally:
                db.execute("COMMIT")
        self._hold(run.run_id)
        return run

    def start(self, run_id: str, *, lease_seconds: float | None = None) -> Run:
        """Claim one queued run for this store (for runs executed directly, e.g. from the CLI);
        RunClaimed when another process took it first or it already finished."""
        if lease_seconds is not None:
            self.lease_seconds = float(lease_seconds)
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT status, owner FROM runs WHERE run_id = ?",
                                 (run_id,)).fetchone()
                if row is None:
                    raise RunClaimed(f"no run {run_id!r} in {self.db_path}")
                if row["status"] == RunStatus.RUNNING and row["owner"] == self.owner:
                    pass  # already ours (submitted with claim=True)
                elif row["status"] != RunStatus.QUEUED:
                    raise RunClaimed(
                        f"run {run_id} is {row['status']} (owner {row['owner'] or 'none'}); "
                        f"another process executes it — see its page under /runs/{run_id}")
                else:
                    self._take(db, run_id, now)
                run = _row(db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone())
            finally:
                db.execute("COMMIT")
        self._hold(run_id)
        return run

    def _take(self, db: sqlite3.Connection, run_id: str, now: float) -> None:
        db.execute("UPDATE runs SET status = 'running', started = ?, attempts = attempts + 1, "
                   "owner = ?, lease_expires = ? WHERE run_id = ? AND status = 'queued'",
                   (now, self.owner, now + self.lease_seconds, run_id))

    def _release_expired(self, db: sqlite3.Connection, now: float) -> int:
        """Inside a write transaction: runs whose owner stopped renewing go back to the queue,
        or fail once they used up their attempts."""
        failed = db.execute(
            "UPDATE runs SET status = 'failed', finished = ?, owner = '', lease_expires = NULL, "
            "error = 'given up after ' || attempts || ' attempts: each time its process stopped "
            "renewing the lease (killed or hung); run it again from its page' "
            "WHERE status = 'running' AND (lease_expires IS NULL OR lease_expires < ?) "
            "AND attempts >= ?", (now, now, self.max_attempts)).rowcount
        back = db.execute(
            "UPDATE runs SET status = 'queued', started = NULL, owner = '', lease_expires = NULL "
            "WHERE status = 'running' AND (lease_expires IS NULL OR lease_expires < ?)",
            (now,)).rowcount
        return failed + back

    def finish(self, run_id: str, status: str, *, error: str = "",
               summary: Mapping[str, object] | None = None) -> bool:
        """Record a run's outcome; False (and nothing written) when this store no longer owns
        the run (its lease expired and another process took it over). An index locked for
        longer than the connection's timeout is tried again, :data:`FINISH_ATTEMPTS` times in
        all: the outcome of a run that executed is worth the wait."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"{status!r} is not a final status; use one of {FINAL_STATUSES}")
        for attempt in range(1, FINISH_ATTEMPTS + 1):
            try:
                with self._db() as db:
                    done = db.execute(
                        "UPDATE runs SET status = ?, finished = ?, error = ?, summary = ?, "
                        "owner = '', lease_expires = NULL WHERE run_id = ? AND "
                        "(owner = ? OR owner = '')",
                        (str(status), time.time(), error[:4000], json.dumps(dict(summary or {})),
                         run_id, self.owner)).rowcount
                break
            except sqlite3.OperationalError as exc:  # only a lock is worth waiting out
                if "locked" not in str(exc) or attempt == FINISH_ATTEMPTS:
                    raise
        self.release(run_id)
        return done == 1

    def release(self, run_id: str) -> None:
        """Stop renewing a run's lease: finished here, or to be taken over once it lapses."""
        with self._lock:
            self._held.discard(run_id)

    def requeue_interrupted(self) -> int:
        """Put runs no live owner holds back in the queue — expired leases, and this store's
        own (its caller starts over); how many. Runs out of attempts are marked failed."""
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                with self._lock:
                    mine, self._held = list(self._held), set()
                for run_id in mine:
                    db.execute("UPDATE runs SET lease_expires = 0 WHERE run_id = ? AND owner = ? "
                               "AND status = 'running'", (run_id, self.owner))
                return self._release_expired(db, now)
            finally:
                db.execute("COMMIT")

    def mark_resolved(self, dedupe_key: str, ends_at: str) -> int:
        """Note that the alert behind a run has resolved; how many runs matched."""
        with self._db() as db:
            return db.execute("UPDATE runs SET resolved_at = ? WHERE dedupe_key = ?",
                              (ends_at, dedupe_key)).rowcount

    # -- leases ---------------------------------------------------------------------------------

    def _hold(self, run_id: str) -> None:
        with self._lock:
            self._held.add(run_id)
            if self._beat is None or not self._beat.is_alive():
                self._beat_stop.clear()
                self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                              name="mlmon-run-lease")
                self._beat.start()

    def renew(self) -> int:
        """Extend the lease of every run this store holds; how many are still ours (a run
        taken over by another process after an expired lease is dropped)."""
        with self._lock:
            held = list(self._held)
        if not held:
            return 0
        expires = time.time() + self.lease_seconds
        with self._db() as db:
            still = {r["run_id"] for r in db.execute(
                f"SELECT run_id FROM runs WHERE owner = ? AND status = 'running' AND run_id IN "
                f"({','.join('?' * len(held))})", (self.owner, *held))}
            db.execute(f"UPDATE runs SET lease_expires = ? WHERE owner = ? AND status = 'running' "
                       f"AND run_id IN ({','.join('?' * len(held))})", (expires, self.owner, *held))
        with self._lock:
            self._held -= set(held) - still
        return len(still)

    def _heartbeat(self) -> None:
        while not self._beat_stop.wait(max(0.2, self.lease_seconds / 3)):
            try:
                self.renew()
            except sqlite3.Error:
                continue  # busy for longer than the timeout: try at the next beat

    def stop_heartbeat(self) -> None:
        """Stop renewing leases (at shutdown): runs still held here are taken over by the next
        process once their lease expires."""
        self._beat_stop.set()

    def held(self) -> set[str]:
        """Run ids this store executes right now."""
        with self._lock:
            return set(self._held)

    # -- reads ----------------------------------------------------------------------------------

    def get(self, run_id: str) -> Run | None:
        """One run, or None."""
        if not is_run_id(run_id):
            return None
        with self._db() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return _row(row) if row else None

    @staticmethod
    def _where(model_name: str | None, alertname: str | None, status: str | None,
               resolved: bool | None = None) -> tuple[str, list[str]]:
        where, args = [], []
        for column, value in (("model_name", model_name), ("alertname", alertname),
                              ("status", status)):
            if value:
                where.append(f"{column} = ?")
                args.append(str(value))
        if resolved is not None:
            where.append("resolved_at != ''" if resolved else "resolved_at = ''")
        return (" WHERE " + " AND ".join(where) if where else ""), args

    def list(self, *, model_name: str | None = None, alertname: str | None = None,
             status: str | None = None, resolved: bool | None = None, limit: int = 200,
             offset: int = 0) -> list[Run]:
        """Runs, newest first, filtered by model, alert, status and whether their alert
        resolved; ``offset`` skips that many (the run list's pages)."""
        where, args = self._where(model_name, alertname, status, resolved)
        with self._db() as db:
            rows = db.execute(f"SELECT * FROM runs{where} ORDER BY created DESC, rowid DESC "
                              f"LIMIT ? OFFSET ?", (*args, int(limit), max(0, int(offset))))
            return [_row(r) for r in rows.fetchall()]

    def count(self, *, model_name: str | None = None, alertname: str | None = None,
              status: str | None = None) -> int:
        """How many runs :meth:`list` would find without its limit."""
        where, args = self._where(model_name, alertname, status)
        with self._db() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM runs{where}", args).fetchone()[0])

    def models(self) -> dict[str, int]:
        """Every model with runs and its number of runs, by name (read from the model index)."""
        with self._db() as db:
            rows = db.execute("SELECT model_name, COUNT(*) AS n FROM runs GROUP BY model_name "
                              "ORDER BY model_name").fetchall()
        return {r["model_name"]: r["n"] for r in rows if r["model_name"]}

    def latest_matching(self, alertname: str, params: Mapping[str, object],
                        since: float) -> Run | None:
        """The newest run of ``alertname`` created after ``since`` whose parameters include
        every given one (a link carries fewer parameters than the webhook's run)."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM runs WHERE alertname = ? AND created >= ? "
                              "ORDER BY created DESC, rowid DESC LIMIT 500",
                              (alertname, since)).fetchall()
        for row in rows:
            run = _row(row)
            if all(run.params.get(k) == v for k, v in params.items() if v not in ("", None)):
                return run
        return None

    def counts(self) -> dict[str, int]:
        """Number of runs per status."""
        with self._db() as db:
            rows = db.execute("SELECT status, COUNT(*) AS n FROM runs GROUP BY status").fetchall()
        return {r["status"]: r["n"] for r in rows}
