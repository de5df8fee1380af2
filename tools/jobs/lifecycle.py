"""Submitting and observing jobs through a backend while keeping the store up to date.

The store is written first, so a job that trialrun starts is always on record, even if trialrun
dies before the backend answers: recovery then finds the record and settles it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tools.jobs import process
from tools.jobs.base import Backend, load_backend
from tools.jobs.finalize import attach_log
from tools.jobs.model import Job, JobSpec, JobState
from tools.jobs.reconcile import mlflow_target, optuna_target, reconcile_fully
from tools.jobs.store import JobStore, StaleJobError

CANCEL_CLAIM = timedelta(minutes=5)
"""How long a cancel in progress keeps refreshes off a job; then its canceller is presumed dead."""

_SAVE_ATTEMPTS = 5


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
    queued = store.create(
        Job(id=store.new_id(), backend=backend, spec=spec, handle={"submitter": _this_process()})
    )
    try:
        started = runner.submit(spec, job_id=queued.id)
    except Exception as exc:
        store.save(queued.transition(JobState.FAILED, reason=f"could not start: {exc}"))
        raise
    return store.save(
        started.model_copy(update={"created_at": queued.created_at, "revision": queued.revision})
    )


def submit_in_progress(job: Job) -> bool:
    """Return True while the process that recorded ``job`` is still starting it.

    Between the record and the backend's answer a job is QUEUED with no process or Kubernetes Job
    yet; observed then, it would look like one that never started.
    """
    submitter = job.handle.get("submitter")
    if job.state != JobState.QUEUED or not isinstance(submitter, dict):
        return False
    return submitter == _this_process() or (
        submitter.get("host") == socket.gethostname()
        and submitter.get("boot_id") == process.boot_id()
        and process.is_alive(submitter["pid"], submitter["start_time"])
    )


def _this_process() -> dict[str, Any]:
    stat = process.read_stat(os.getpid())
    return {
        "pid": os.getpid(),
        "start_time": stat.start_time if stat else 0,
        "host": socket.gethostname(),
        "boot_id": process.boot_id(),
    }


def add_labels(job_id: str, labels: Mapping[str, str], *, store: JobStore | None = None) -> Job:
    """Add labels to a job's record, e.g. the MLflow run it reports to once that run exists.

    A cancel or a recovery reads the labels to find the study and the runs to settle.

    Raises:
        InputError: No job has this id.
        StaleJobError: The record kept changing meanwhile.
    """
    store = store or JobStore()
    for _ in range(_SAVE_ATTEMPTS):
        job = store.get(job_id)
        spec = job.spec.model_copy(update={"labels": {**job.spec.labels, **labels}})
        try:
            return store.save(job.model_copy(update={"spec": spec}))
        except StaleJobError:
            continue
    raise StaleJobError(f"Job {job_id!r} kept changing during {_SAVE_ATTEMPTS} label attempts.")


def cancel_in_progress(job: Job) -> bool:
    """Return True while another caller is cancelling ``job``."""
    requested = job.cancel_requested_at
    return requested is not None and datetime.now(UTC) - requested < CANCEL_CLAIM


def refresh(
    job_id: str, *, store: JobStore | None = None, backends: Mapping[str, Backend] | None = None
) -> Job:
    """Observe a job through its backend, store what changed, and return the current record.

    A job being cancelled is returned as stored: its canceller records how it ended. A job seen
    to end here gets its log attached to its MLflow run (:func:`~tools.jobs.finalize.attach_log`).

    Raises:
        InputError: No job has this id.
        ConfigError: The backend cannot be reached.
    """
    store = store or JobStore()
    job = store.get(job_id)
    if job.state.finished or cancel_in_progress(job) or submit_in_progress(job):
        return job
    observed = load_backend(job.backend, backends).refresh(job)
    if observed == job:
        return job
    try:
        saved = store.save(observed)
    except StaleJobError:
        return store.get(job_id)
    if saved.state.finished:
        attach_log(saved, backends=backends)
        if saved.state != JobState.SUCCEEDED:
            saved = settle(saved, store=store)
    return saved


def settle(job: Job, *, store: JobStore | None = None) -> Job:
    """Settle what a stopped job left RUNNING (trials FAIL, runs KILLED) and record it on the job.

    Whoever sees a job end settles it, so a ``trialrun jobs list`` that notices a killed job
    leaves nothing RUNNING behind it. Studies and runs that a job still running works on (a
    resumed attempt of the same request) are left to it. When a store cannot be reached the
    record stays unsettled, with what was tried, and the next trialrun command tries again.

    Returns:
        The record, with ``settled_what`` (and ``settled_at`` once everything was settled).
    """
    store = store or JobStore()
    live = [
        other
        for other in store.list(states=(JobState.QUEUED, JobState.RUNNING), limit=1000)
        if other.id != job.id
    ]
    lines, complete = reconcile_fully(
        job,
        skip_trials={target for other in live if (target := optuna_target(other))},
        skip_runs={target for other in live if (target := mlflow_target(other))},
    )
    changes: dict[str, Any] = {"settled_what": lines}
    if complete:
        changes["settled_at"] = datetime.now(UTC)
    for _ in range(_SAVE_ATTEMPTS):
        current = store.get(job.id)
        try:
            return store.save(current.model_copy(update=changes))
        except StaleJobError:
            continue
    return store.get(job.id)


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
