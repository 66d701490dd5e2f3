"""The job store: jobs, their state and the log of finished samples, in SQLite.

Why SQLite: a job and its progress must survive the server being killed, and a restarted server
must know which jobs to resume and in which order. The `samples` log records each finished image
index once (UNIQUE), in the order it finished; its sequence numbers are the stream cursors, so a
trainer's cursor stays valid across a server restart. WAL mode lets the request loop read while the
job runner writes; each thread has its own connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenesmith.api.protocol import TERMINAL_STATES

_COLUMNS = "id, seq, state, spec, total, done, created, started, finished, error"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    request_key TEXT UNIQUE,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
CREATE TABLE IF NOT EXISTS samples (
    job TEXT NOT NULL,
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    t REAL NOT NULL,
    PRIMARY KEY (job, seq),
    UNIQUE (job, idx)
);
"""
RATE_WINDOW = 20  # images/s is measured over the last few finished images of the current run


class QueueFull(Exception):
    """The server's cap on queued + running jobs is reached."""


def _count_active(db: sqlite3.Connection) -> int:
    active = "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running', 'cancelling')"
    return int(db.execute(active).fetchone()[0])


@dataclass(frozen=True)
class Job:
    id: str
    seq: int
    state: str
    spec: dict[str, Any]
    total: int
    done: int
    created: float
    started: float | None
    finished: float | None
    error: str | None


class JobStore:
    """Thread-safe access to the job database (one SQLite connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        db = self._db()
        db.execute("PRAGMA journal_mode=WAL")  # outside a transaction, as SQLite requires
        db.executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            # FULL: every commit is on disk before it returns, so after a power cut the sample log
            # (whose sequence numbers are stream cursors) still matches the fsynced sample files.
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    def _tx(self) -> _Transaction:
        return _Transaction(self._db())

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # ------------------------------------------------------------------ jobs
    def create(
        self, job_id: str, request_key: str | None, spec: dict[str, Any], total: int, max_active: int
    ) -> Job:
        """A new queued job, or the existing one submitted under the same request key (a retry).

        The cap on active jobs is checked in the same transaction as the insert, after the retry
        lookup: a retry of an accepted job is never refused, and a burst of submits cannot overshoot.
        """
        with self._tx() as db:
            if request_key is not None:
                row = db.execute("SELECT id FROM jobs WHERE request_key = ?", (request_key,)).fetchone()
                if row is not None:
                    return self._get(db, row[0])  # type: ignore[return-value]
            if _count_active(db) >= max_active:
                raise QueueFull(f"{max_active} jobs are already queued or running")
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            db.execute(
                "INSERT INTO jobs (id, seq, request_key, state, spec, total, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, seq, request_key, "queued", json.dumps(spec), total, time.time()),
            )
            return self._get(db, job_id)  # type: ignore[return-value]

    def get(self, job_id: str) -> Job | None:
        return self._get(self._db(), job_id)

    def by_request_key(self, request_key: str) -> Job | None:
        """The job a submit under `request_key` created, if any (a retry's)."""
        row = self._db().execute("SELECT id FROM jobs WHERE request_key = ?", (request_key,)).fetchone()
        return None if row is None else self._get(self._db(), row[0])

    @staticmethod
    def _get(db: sqlite3.Connection, job_id: str) -> Job | None:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE id = ?",
            (job_id,),
        ).fetchone()
        return _job(row) if row else None

    def list(self, limit: int = 100) -> list[Job]:
        """The newest `limit` jobs, oldest first."""
        rows = self._db().execute(
            f"SELECT {_COLUMNS} FROM jobs ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        return [_job(row) for row in reversed(rows.fetchall())]

    def next_queued(self) -> Job | None:
        """The oldest queued job (jobs run first in, first out)."""
        row = self._db().execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
        return self.get(row[0]) if row else None

    def queue_position(self, job: Job) -> int:
        """Jobs ahead of a queued job (the running one included)."""
        row = (
            self._db()
            .execute(
                "SELECT COUNT(*) FROM jobs WHERE seq < ? AND state IN ('queued', 'running', 'cancelling')",
                (job.seq,),
            )
            .fetchone()
        )
        return int(row[0])

    def set_state(self, job_id: str, state: str, error: str | None = None) -> None:
        now = time.time()
        with self._tx() as db:
            if state == "running":
                db.execute(
                    "UPDATE jobs SET state = ?, started = ?, error = NULL WHERE id = ?", (state, now, job_id)
                )
            elif state in ("complete", "failed", "cancelled"):
                db.execute(
                    "UPDATE jobs SET state = ?, finished = ?, error = ? WHERE id = ?",
                    (state, now, error, job_id),
                )
            else:
                db.execute("UPDATE jobs SET state = ? WHERE id = ?", (state, job_id))

    def request_cancel(self, job_id: str) -> str:
        """Cancel a queued job at once; mark a running one 'cancelling' (the runner stops it).

        Returns the state after the request. Done in one transaction, so a job the runner is about
        to start is either started (then stopped) or never started.
        """
        with self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            state = row[0]
            if state == "queued":
                db.execute(
                    "UPDATE jobs SET state = 'cancelled', finished = ? WHERE id = ?", (time.time(), job_id)
                )
                return "cancelled"
            if state == "running":
                db.execute("UPDATE jobs SET state = 'cancelling' WHERE id = ?", (job_id,))
                return "cancelling"
            return state

    def request_resume(self, job_id: str, max_active: int) -> str:
        """Queue a failed or cancelled job again, at the back of the queue; return its state after.

        Its folder and its log of finished samples are kept: the run resumes the dataset where it
        stopped (a full disk at image 9,000 of 10,000 costs the last 1,000, not all of them). Any
        other state is returned unchanged. The cap on active jobs holds as for a new submit.
        """
        with self._tx() as db:
            state = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
            if state not in ("failed", "cancelled"):
                return state
            if _count_active(db) >= max_active:
                raise QueueFull(f"{max_active} jobs are already queued or running")
            db.execute(
                "UPDATE jobs SET state = 'queued', finished = NULL, error = NULL, "
                "seq = (SELECT MAX(seq) + 1 FROM jobs) WHERE id = ?",
                (job_id,),
            )
            return "queued"

    def job_ids(self) -> set[str]:
        """Every job the store knows, whatever its state."""
        return {row[0] for row in self._db().execute("SELECT id FROM jobs")}

    def delete(self, job_id: str) -> str:
        """Forget a complete, failed or cancelled job and its log of samples; return "deleted", or the
        state of a job that is not over (left as it is: the runner may be writing its folder)."""
        with self._tx() as db:
            state = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
            if state not in TERMINAL_STATES:
                return state
            db.execute("DELETE FROM samples WHERE job = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            return "deleted"

    def claim_next(self) -> Job | None:
        """Atomically move the oldest queued job to 'running' and return it."""
        with self._tx() as db:
            row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', started = ?, error = NULL WHERE id = ?",
                (time.time(), row[0]),
            )
            return self._get(db, row[0])

    def requeue_interrupted(self) -> tuple[list[str], list[str]]:
        """After a restart: jobs that were running go back to the queue (in their old order);
        jobs that were being cancelled are cancelled. Returns (the requeued ids, the cancelled ids)."""
        with self._tx() as db:
            ids, cancelled = (
                [r[0] for r in db.execute(f"SELECT id FROM jobs WHERE state = '{state}' ORDER BY seq")]
                for state in ("running", "cancelling")
            )
            db.execute("UPDATE jobs SET state = 'queued' WHERE state = 'running'")
            db.execute(
                "UPDATE jobs SET state = 'cancelled', finished = ? WHERE state = 'cancelling'", (time.time(),)
            )
            return ids, cancelled

    # --------------------------------------------------------------- samples
    def add_samples(self, job_id: str, indices: Iterable[int], rendered_now: bool = True) -> int:
        """Append finished image indices to the job's log (ones already there are ignored);
        returns how many were new. `rendered_now=False` (images found on disk, rendered by an earlier
        run) stamps them before any run, so the rate of the current run does not count them: logged
        together, they read as images rendered in no time."""
        now = time.time() if rendered_now else 0.0
        added = 0
        with self._tx() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM samples WHERE job = ?", (job_id,)).fetchone()[
                0
            ]
            for index in indices:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO samples (job, seq, idx, t) VALUES (?, ?, ?, ?)",
                    (job_id, seq + 1, int(index), now),
                )
                if cursor.rowcount:
                    seq += 1
                    added += 1
            if added:
                db.execute(
                    "UPDATE jobs SET done = (SELECT COUNT(*) FROM samples WHERE job = ?) WHERE id = ?",
                    (job_id, job_id),
                )
        return added

    def has_sample(self, job_id: str, index: int) -> bool:
        row = (
            self._db().execute("SELECT 1 FROM samples WHERE job = ? AND idx = ?", (job_id, index)).fetchone()
        )
        return row is not None

    def logged_indices(self, job_id: str) -> set[int]:
        return {r[0] for r in self._db().execute("SELECT idx FROM samples WHERE job = ?", (job_id,))}

    def samples_after(
        self, job_id: str, cursor: int, shard: tuple[int, int], limit: int
    ) -> list[tuple[int, int]]:
        """(seq, index) of logged samples after `cursor` whose index falls in `shard` (k, n)."""
        rows = self._db().execute(
            "SELECT seq, idx FROM samples WHERE job = ? AND seq > ? AND idx % ? = ? ORDER BY seq LIMIT ?",
            (job_id, cursor, shard[1], shard[0], limit),
        )
        return [(int(s), int(i)) for s, i in rows]

    def log_length(self, job_id: str) -> int:
        row = (
            self._db()
            .execute("SELECT COALESCE(MAX(seq), 0) FROM samples WHERE job = ?", (job_id,))
            .fetchone()
        )
        return int(row[0])

    def rate(self, job: Job) -> float | None:
        """Images per second over the last few images of the current run (None before two)."""
        if job.started is None:
            return None
        times = [
            r[0]
            for r in self._db().execute(
                "SELECT t FROM samples WHERE job = ? AND t >= ? ORDER BY seq DESC LIMIT ?",
                (job.id, job.started, RATE_WINDOW),
            )
        ]
        if len(times) < 2 or times[0] <= times[-1]:
            return None
        return (len(times) - 1) / (times[0] - times[-1])


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): writers never interleave half-done updates."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        """SQLite rolls back by itself on some errors (a full disk): a second ROLLBACK would then replace
        the real error with "no transaction is active", so it is sent only while one is open."""
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error:
                self._roll_back()  # else this thread's next BEGIN fails "within a transaction"
                raise
        else:
            self._roll_back()

    def _roll_back(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")


def _job(row: tuple) -> Job:
    return Job(
        id=row[0],
        seq=row[1],
        state=row[2],
        spec=json.loads(row[3]),
        total=row[4],
        done=row[5],
        created=row[6],
        started=row[7],
        finished=row[8],
        error=row[9],
    )
