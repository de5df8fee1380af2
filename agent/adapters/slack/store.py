"""What the Slack app keeps on disk: deliveries it has seen, threads, and their experiments.

One SQLite file beside the conversations' checkpoints, so a restarted app knows which events it
already handled (Slack redelivers when an acknowledgement is late), who asked in each thread, which
plan waits for approval, and every experiment a thread started. Experiment records follow the job
states of :mod:`tools.jobs.model` and its legal transitions.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tools.errors import InputError
from tools.jobs.model import LEGAL_TRANSITIONS, JobState
from tools.redact import redact

CLAIMS_KEPT_SECONDS = 7 * 24 * 3600
"""Seen deliveries older than this are forgotten (Slack retries within minutes)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS threads (
    key TEXT PRIMARY KEY, team TEXT NOT NULL, channel TEXT NOT NULL, thread_ts TEXT NOT NULL,
    requester TEXT NOT NULL, approval TEXT, approval_ts TEXT
);
CREATE TABLE IF NOT EXISTS experiments (
    id TEXT PRIMARY KEY, thread_key TEXT NOT NULL, user TEXT NOT NULL, state TEXT NOT NULL,
    progress_ts TEXT, detail TEXT NOT NULL, reason TEXT NOT NULL, result TEXT NOT NULL,
    created_at REAL NOT NULL, finished_at REAL
);
CREATE INDEX IF NOT EXISTS experiments_thread ON experiments (thread_key, created_at);
"""


@dataclass(frozen=True)
class Thread:
    """A Slack thread that holds a conversation.

    Attributes:
        team: The workspace (team) ID.
        channel: The channel ID (a DM's too).
        thread_ts: The timestamp of the thread's first message.
        requester: Who started the conversation; the one who may approve its plans.
        approval: The id of the approval a plan waits for, while it waits.
        approval_ts: The message with that approval's buttons, once posted.
    """

    team: str
    channel: str
    thread_ts: str
    requester: str
    approval: str | None = None
    approval_ts: str | None = None

    @property
    def key(self) -> str:
        """The thread's key, also the conversation's checkpoint thread id."""
        return f"{self.team}/{self.channel}/{self.thread_ts}"


@dataclass(frozen=True)
class Experiment:
    """An experiment a thread started, as last recorded.

    Attributes:
        id: Short id, e.g. ``s-3f9a2c``.
        thread_key: The thread it belongs to.
        user: Who asked for it.
        state: Queued for a slot, running, or how it ended.
        progress_ts: The progress message edited in place.
        detail: The latest progress line (or why it queued).
        reason: Why it ended the way it did, when not by itself.
        result: What the report said: status, metric, direction, best run, experiment id.
        created_at: When it was first seen (epoch seconds).
        finished_at: When it ended.
    """

    id: str
    thread_key: str
    user: str
    state: JobState = JobState.QUEUED
    progress_ts: str | None = None
    detail: str = ""
    reason: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None


class SlackStore:
    """The Slack app's records in one SQLite file, safe to share between threads.

    Args:
        path: The database file (created with its directory).
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._db.execute("DELETE FROM claims WHERE at < ?", (time.time() - CLAIMS_KEPT_SECONDS,))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def claim(self, key: str) -> bool:
        """Record ``key`` (an event id, a message) as handled; False when it already was."""
        return (
            self._run("INSERT OR IGNORE INTO claims VALUES (?, ?)", (key, time.time())).rowcount
            == 1
        )

    def thread(self, key: str) -> Thread | None:
        """Return the thread with this key, or None when no conversation lives there."""
        row = self._run(
            "SELECT team, channel, thread_ts, requester, approval, approval_ts FROM threads "
            "WHERE key = ?",
            (key,),
        ).fetchone()
        return Thread(*row) if row else None

    def add_thread(self, thread: Thread) -> Thread:
        """Record a new conversation's thread; an existing one is kept as it is and returned."""
        self._run(
            "INSERT OR IGNORE INTO threads VALUES (?, ?, ?, ?, ?, NULL, NULL)",
            (thread.key, thread.team, thread.channel, thread.thread_ts, thread.requester),
        )
        return self.thread(thread.key) or thread

    def await_approval(self, key: str) -> str:
        """Record that the thread's plan waits for approval; return the approval's id.

        The id is recorded before the buttons are posted (they carry it), so a click that
        arrives at once finds it.
        """
        approval = secrets.token_hex(4)
        self._run(
            "UPDATE threads SET approval = ?, approval_ts = NULL WHERE key = ?", (approval, key)
        )
        return approval

    def approval_posted(self, key: str, approval: str, message_ts: str) -> None:
        """Record the message that holds the buttons of a waiting approval."""
        self._run(
            "UPDATE threads SET approval_ts = ? WHERE key = ? AND approval = ?",
            (message_ts, key, approval),
        )

    def take_approval(self, key: str, approval: str) -> bool:
        """Settle a waiting approval; False when it was already settled (or superseded)."""
        cursor = self._run(
            "UPDATE threads SET approval = NULL, approval_ts = NULL WHERE key = ? AND approval = ?",
            (key, approval),
        )
        return cursor.rowcount == 1

    def add_experiment(self, thread_key: str, user: str) -> Experiment:
        """Record a new experiment of a thread, queued."""
        experiment = Experiment(id=f"s-{secrets.token_hex(3)}", thread_key=thread_key, user=user)
        self._run(
            "INSERT INTO experiments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _row(experiment),
        )
        return experiment

    def experiment(self, experiment_id: str) -> Experiment:
        """Return one experiment.

        Raises:
            InputError: No experiment has this id.
        """
        row = self._run("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        if row is None:
            raise InputError(f"No Slack experiment {experiment_id!r}.", hint="Say 'status'.")
        return _experiment(row)

    def update(self, experiment_id: str, **changes: Any) -> Experiment:
        """Change an experiment's record; a change of ``state`` must be a legal transition.

        Raises:
            InputError: The state change is not legal (e.g. out of a finished state).
        """
        current = self.experiment(experiment_id)
        state = changes.get("state", current.state)
        if state != current.state and state not in LEGAL_TRANSITIONS[current.state]:
            raise InputError(
                f"Experiment {experiment_id!r} cannot go from {current.state.value!r} to "
                f"{state.value!r}.",
                hint="Finished experiments do not change.",
            )
        if state.finished and current.finished_at is None:
            changes.setdefault("finished_at", time.time())
        if isinstance(changes.get("reason"), str):
            changes["reason"] = redact(changes["reason"])
        updated = replace(current, **changes)
        names = [f.name for f in fields(Experiment)][1:]
        self._run(
            f"UPDATE experiments SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",
            (*_row(updated)[1:], experiment_id),
        )
        return updated

    def experiments(self, thread_key: str) -> list[Experiment]:
        """Return a thread's experiments, oldest first."""
        rows = self._run(
            "SELECT * FROM experiments WHERE thread_key = ? ORDER BY created_at", (thread_key,)
        ).fetchall()
        return [_experiment(r) for r in rows]

    def unfinished(self) -> list[Experiment]:
        """Return every experiment still queued or running, oldest first."""
        rows = self._run(
            "SELECT * FROM experiments WHERE state IN (?, ?) ORDER BY created_at",
            (JobState.QUEUED.value, JobState.RUNNING.value),
        ).fetchall()
        return [_experiment(r) for r in rows]


def _row(e: Experiment) -> tuple[Any, ...]:
    return (
        e.id,
        e.thread_key,
        e.user,
        e.state.value,
        e.progress_ts,
        e.detail,
        e.reason,
        json.dumps(e.result),
        e.created_at,
        e.finished_at,
    )


def _experiment(row: tuple[Any, ...]) -> Experiment:
    id_, thread_key, user, state, progress_ts, detail, reason, result, created, finished = row
    return Experiment(
        id=id_,
        thread_key=thread_key,
        user=user,
        state=JobState(state),
        progress_ts=progress_ts,
        detail=detail,
        reason=reason,
        result=json.loads(result),
        created_at=created,
        finished_at=finished,
    )
