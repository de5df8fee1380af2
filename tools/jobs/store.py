"""Job records on disk: one SQLite file that several trialrun processes share.

Each record is stored whole as JSON beside the columns used to filter it. Transactions are short
and the journal is in WAL mode, so readers never wait for a writer and a writer waits at most
``timeout`` seconds for another. Saves are optimistic: a record carries the revision it was read
at, and saving over a newer revision raises :class:`StaleJobError` instead of losing the other
writer's change (a cancel racing a recovery, two terminals cancelling the same job).
"""

from __future__ import annotations

import builtins
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tools import settings
from tools.errors import InputError, TrialrunError
from tools.jobs.model import Job, JobState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    backend TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revision INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created_at);
"""

_ID_ATTEMPTS = 20


class StaleJobError(TrialrunError):
    """A save lost a race: the stored record changed since it was read."""


def new_job_id() -> str:
    """Return a short, readable job id such as ``j-3f9a2c``."""
    return f"j-{secrets.token_hex(3)}"


class JobStore:
    """Job records in a SQLite file, safe to share between processes.

    Args:
        path: The database file; defaults to ``jobs.db`` in :func:`tools.settings.home`.
        timeout: Seconds a writer waits for another writer's lock before failing.

    Example:
        >>> store = JobStore(tmp_path / "jobs.db")  # doctest: +SKIP
        >>> job = store.create(Job(id=store.new_id(), backend="local", spec=spec))  # doctest: +SKIP
        >>> store.get(job.id).state  # doctest: +SKIP
        <JobState.QUEUED: 'queued'>
    """

    def __init__(self, path: str | Path | None = None, *, timeout: float = 30.0):
        self.path = Path(path) if path is not None else settings.home() / "jobs.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per operation: nothing is held open between calls, so other processes
        # (and forked children) never inherit or wait on a long-lived handle.
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def new_id(self) -> str:
        """Return a job id no stored record uses yet."""
        with self._connect() as conn:
            for _ in range(_ID_ATTEMPTS):
                job_id = new_job_id()
                if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                    return job_id
        raise TrialrunError(f"No free job id after {_ID_ATTEMPTS} attempts in {self.path}.")

    def create(self, job: Job) -> Job:
        """Store a new record and return it at revision 1.

        Raises:
            InputError: A record with this id already exists.
        """
        stored = job.model_copy(update={"revision": 1})
        try:
            with self._connect() as conn:
                conn.execute(
                    "INSERT INTO jobs (id, state, backend, created_at, revision, record)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        job.id,
                        job.state.value,
                        job.backend,
                        job.created_at.isoformat(),
                        1,
                        stored.model_dump_json(),
                    ),
                )
        except sqlite3.IntegrityError:
            raise InputError(
                f"Job id {job.id!r} is already taken.", field="id", hint="Use JobStore.new_id()."
            ) from None
        return stored

    def get(self, job_id: str) -> Job:
        """Return the stored record of ``job_id``.

        Raises:
            InputError: No job has this id.
        """
        with self._connect() as conn:
            row = conn.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise InputError(
                f"No job with id {job_id!r}.",
                field="job_id",
                hint="Run `trialrun jobs list` to see the ids.",
            )
        return Job.model_validate_json(row[0])

    def list(
        self, *, states: Iterable[JobState] | None = None, limit: int = 100
    ) -> builtins.list[Job]:
        """Return stored records, newest first.

        Args:
            states: Only records in one of these states; all states when None.
            limit: At most this many records.
        """
        query = "SELECT record FROM jobs"
        params: list[object] = []
        if states is not None:
            wanted = [JobState(s).value for s in states]
            query += f" WHERE state IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        query += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        params.append(limit)
        with self._connect() as conn:
            rows = conn.execute(query, params).fetchall()
        return [Job.model_validate_json(row[0]) for row in rows]

    def save(self, job: Job) -> Job:
        """Store ``job`` over the revision it was read at and return it at the next revision.

        Raises:
            InputError: No job has this id.
            StaleJobError: The record was saved by someone else since ``job`` was read; read it
                again and decide anew (it may have finished meanwhile).
        """
        stored = job.model_copy(update={"revision": job.revision + 1})
        with self._connect() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET state = ?, revision = ?, record = ? WHERE id = ? AND revision = ?",
                (job.state.value, stored.revision, stored.model_dump_json(), job.id, job.revision),
            )
            if cursor.rowcount == 1:
                return stored
            row = conn.execute(
                "SELECT revision, state FROM jobs WHERE id = ?", (job.id,)
            ).fetchone()
        if row is None:
            raise InputError(f"No job with id {job.id!r}.", field="job_id")
        raise StaleJobError(
            f"Job {job.id!r} changed since it was read (revision {job.revision}, now {row[0]}, "
            f"state {row[1]!r}); read it again."
        )
