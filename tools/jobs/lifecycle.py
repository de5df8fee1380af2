"""Submitting and observing jobs through a backend while keeping the store up to date.

The store is written first, so a job that trialrun starts is always on record, even if trialrun
dies before the backend answers: recovery then finds the record and settles it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Literal

from tools.jobs.base import Backend, load_backend
from tools.jobs.model import Job, JobSpec, JobState
from tools.jobs.store import JobStore, StaleJobError

CANCEL_CLAIM = timedelta(minutes=5)
"""How long a cancel in progress keeps refreshes off a job; then its canceller is presumed dead."""


def submit(
    spec: JobSpec,
    *,
    backend: Literal["local", "kubernetes"] = "local",
    store: JobStore | None = None,
    backends: Mapping[str, Backend] | None = None,
) -> Job:
    """Record and start a job; return its stored record.

    Args:
        spec: What to run.
        backend: Where to run it.
        store: The job store; the default one under ``home()`` when None.
        backends: Configured backends by name; default ones when None.

    Raises:
        InputError: The backend refused the spec (the record is kept, FAILED, with the reason).

    Example:
        >>> job = submit(JobSpec(name="hello", command=["echo", "hi"]))  # doctest: +SKIP
        >>> wait(job.id, timeout=10).state  # doctest: +SKIP
        <JobState.SUCCEEDED: 'succeeded'>
    """
    store = store or JobStore()
    runner = load_backend(backend, backends)
    queued = store.create(Job(id=store.new_id(), backend=backend, spec=spec))
    try:
        started = runner.submit(spec, job_id=queued.id)
    except Exception as exc:
        store.save(queued.transition(JobState.FAILED, reason=f"could not start: {exc}"))
        raise
    return store.save(
        started.model_copy(update={"created_at": queued.created_at, "revision": queued.revision})
    )


def cancel_in_progress(job: Job) -> bool:
    """Return True while another caller is cancelling ``job``."""
    requested = job.cancel_requested_at
    return requested is not None and datetime.now(UTC) - requested < CANCEL_CLAIM


def refresh(
    job_id: str, *, store: JobStore | None = None, backends: Mapping[str, Backend] | None = None
) -> Job:
    """Observe a job through its backend, store what changed, and return the current record.

    A job being cancelled is returned as stored: its canceller records how it ended.

    Raises:
        InputError: No job has this id.
        ConfigError: The backend cannot be reached.
    """
    store = store or JobStore()
    job = store.get(job_id)
    if job.state.finished or cancel_in_progress(job):
        return job
    observed = load_backend(job.backend, backends).refresh(job)
    if observed == job:
        return job
    try:
        return store.save(observed)
    except StaleJobError:
        return store.get(job_id)


def wait(
    job_id: str,
    *,
    timeout: float,
    interval: float = 0.1,
    store: JobStore | None = None,
    backends: Mapping[str, Backend] | None = None,
) -> Job:
    """Refresh a job until it finishes or ``timeout`` seconds pass; return the last record."""
    store = store or JobStore()
    end = time.monotonic() + timeout
    while True:
        job = refresh(job_id, store=store, backends=backends)
        if job.state.finished or time.monotonic() >= end:
            return job
        time.sleep(interval)
