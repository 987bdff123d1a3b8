"""The run store: executed runbooks on disk, indexed in SQLite, with a persisted queue.

Layout under ``<state_dir>/runs``::

    index.sqlite            one row per run: alert, model, parameters, status, times, summary
    <run_id>/output.ipynb   the executed notebook
    <run_id>/output.html    its sanitized HTML

The index doubles as the launcher's work queue: a run is inserted as ``queued`` and committed
before the webhook is answered, so a restart loses no accepted alert (``requeue_interrupted``
puts runs that were ``running`` when the process died back in the queue). The dedupe key of an
alert (fingerprint and startsAt) is UNIQUE, so concurrent re-sends insert one run.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import secrets
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

from .errors import RunbookError

__all__ = ["Run", "RunStore", "RUN_STATUSES", "FINAL_STATUSES", "is_run_id"]

RUN_STATUSES = ("queued", "running", "done", "failed", "timeout", "dead_kernel")
FINAL_STATUSES = ("done", "failed", "timeout", "dead_kernel")
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{10}$")

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


def is_run_id(text: str) -> bool:
    """Whether ``text`` has the shape of a run id (never a path)."""
    return bool(_RUN_ID.match(text or ""))


def _new_run_id() -> str:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{secrets.token_hex(5)}"


@dataclass(frozen=True)
class Run:
    """One row of the run index."""

    run_id: str
    alertname: str
    model_name: str
    params: dict[str, object]
    status: str
    source: str
    dedupe_key: str | None
    created: float
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    error: str = ""
    summary: dict[str, object] = field(default_factory=dict)
    resolved_at: str = ""

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
                "summary": self.summary, "resolved_at": self.resolved_at}


def _row(row: sqlite3.Row) -> Run:
    return Run(run_id=row["run_id"], alertname=row["alertname"], model_name=row["model_name"],
               params=json.loads(row["params"]), status=row["status"], source=row["source"],
               dedupe_key=row["dedupe_key"], created=row["created"], started=row["started"],
               finished=row["finished"], attempts=row["attempts"], error=row["error"],
               summary=json.loads(row["summary"] or "{}"), resolved_at=row["resolved_at"])


class RunStore:
    """Executed runs under ``root`` (``<state_dir>/runs``) and their SQLite index."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "index.sqlite"
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

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
               dedupe_key: str | None = None) -> tuple[Run, bool]:
        """Queue a run; with a ``dedupe_key`` already known, return that run and False."""
        run_id = _new_run_id()
        with self._db() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO runs (run_id, alertname, model_name, params, status, source,"
                " dedupe_key, created) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
                (run_id, alertname, str(params.get("model_name", "")),
                 json.dumps(dict(params), sort_keys=True), source, dedupe_key, time.time()))
            created = cur.rowcount == 1
            if created:
                row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            else:
                row = db.execute("SELECT * FROM runs WHERE dedupe_key = ?", (dedupe_key,)).fetchone()
        return _row(row), created

    def claim_next(self) -> Run | None:
        """Atomically take the oldest queued run and mark it running."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT run_id FROM runs WHERE status = 'queued' "
                             "ORDER BY created, rowid LIMIT 1").fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            db.execute("UPDATE runs SET status = 'running', started = ?, attempts = attempts + 1 "
                       "WHERE run_id = ?", (time.time(), row["run_id"]))
            db.execute("COMMIT")
            return _row(db.execute("SELECT * FROM runs WHERE run_id = ?",
                                   (row["run_id"],)).fetchone())

    def start(self, run_id: str) -> None:
        """Mark a run running (for runs executed directly, e.g. from the CLI)."""
        with self._db() as db:
            db.execute("UPDATE runs SET status = 'running', started = ?, attempts = attempts + 1 "
                       "WHERE run_id = ?", (time.time(), run_id))

    def finish(self, run_id: str, status: str, *, error: str = "",
               summary: Mapping[str, object] | None = None) -> None:
        """Record a run's outcome."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"{status!r} is not a final status; use one of {FINAL_STATUSES}")
        with self._db() as db:
            db.execute("UPDATE runs SET status = ?, finished = ?, error = ?, summary = ? "
                       "WHERE run_id = ?",
                       (status, time.time(), error[:4000], json.dumps(dict(summary or {})), run_id))

    def requeue_interrupted(self) -> int:
        """Put runs left ``running`` by a dead process back in the queue; how many."""
        with self._db() as db:
            return db.execute("UPDATE runs SET status = 'queued', started = NULL "
                              "WHERE status = 'running'").rowcount

    def mark_resolved(self, dedupe_key: str, ends_at: str) -> int:
        """Note that the alert behind a run has resolved; how many runs matched."""
        with self._db() as db:
            return db.execute("UPDATE runs SET resolved_at = ? WHERE dedupe_key = ?",
                              (ends_at, dedupe_key)).rowcount

    # -- reads ----------------------------------------------------------------------------------

    def get(self, run_id: str) -> Run | None:
        """One run, or None."""
        if not is_run_id(run_id):
            return None
        with self._db() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return _row(row) if row else None

    def list(self, *, model_name: str | None = None, alertname: str | None = None,
             status: str | None = None, limit: int = 200) -> list[Run]:
        """Runs, newest first, filtered by model, alert and status."""
        where, args = [], []
        for column, value in (("model_name", model_name), ("alertname", alertname),
                              ("status", status)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        with self._db() as db:
            rows = db.execute(sql + " ORDER BY created DESC, rowid DESC LIMIT ?",
                              (*args, int(limit))).fetchall()
        return [_row(r) for r in rows]

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
