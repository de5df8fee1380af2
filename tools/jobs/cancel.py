"""One cancel that stops a job and settles everything it touched.

Cancelling a job stops it through its backend (a process group, or a Kubernetes Job and its pods),
marks the RUNNING Optuna trials of its study FAIL, marks its MLflow parent run and the runs under
it KILLED, and records on the job when that happened and what changed. Cancelling a job that has
finished, or that someone is already cancelling, changes nothing and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from tools.jobs import inprocess, process
from tools.jobs.base import Backend, load_backend
from tools.jobs.finalize import attach_log
from tools.jobs.lifecycle import cancel_in_progress
from tools.jobs.model import Job, JobState
from tools.jobs.reconcile import reconcile
from tools.jobs.store import JobStore, StaleJobError

_SAVE_ATTEMPTS = 5
IN_PROCESS_WAIT_SECONDS = 60.0
"""How long a cancel waits for an experiment running inside a trialrun process to stop itself."""


@dataclass(frozen=True)
class CancelResult:
    """What a cancel did.

    Attributes:
        job: The job record after the cancel.
        changed: False when there was nothing to cancel.
        message: A plain-text account for a person.
    """

    job: Job
    changed: bool
    message: str


def cancel(
    job_id: str,
    *,
    reason: str = "cancelled on request",
    store: JobStore | None = None,
    backends: Mapping[str, Backend] | None = None,
) -> CancelResult:
    """Stop a job and settle its trials and runs; a finished job is a no-op, not an error.

    Args:
        job_id: The job to cancel.
        reason: Why, recorded on the job.
        store: The job store; the default one when None.
        backends: Configured backends by name; default ones when None.

    Raises:
        InputError: No job has this id.
        ConfigError: The backend cannot be reached.

    Example:
        >>> print(cancel("j-3f9a2c").message)  # doctest: +SKIP
        Cancelled job j-3f9a2c:
          - local job j-3f9a2c (process group 4242) → CANCELLED
          - optuna trial 4 of study 'churn' → FAIL
          - mlflow run 5d1c… → KILLED
    """
    store = store or JobStore()
    backend = load_backend(store.get(job_id).backend, backends)
    claimed = _claim(job_id, store, backend)
    if isinstance(claimed, CancelResult):
        return claimed
    if inprocess.is_in_process(claimed):
        return _cancel_in_process(claimed, store, reason)
    try:
        stopped = backend.cancel(claimed)
    except Exception:
        # Release the claim, so the next cancel tries again instead of waiting for it to expire.
        store.save(claimed.model_copy(update={"cancel_requested_at": None}))
        raise
    note = f" ({stopped.reason})" if stopped.reason else ""
    what = [f"{_describe(stopped)} → CANCELLED{note}", *reconcile(stopped)]
    final = _record(job_id, store, stopped, what, reason)
    attach_log(final, backends=backends)
    lines = "\n".join(f"  - {line}" for line in what)
    return CancelResult(final, True, f"Cancelled job {job_id}:\n{lines}")


def _cancel_in_process(claimed: Job, store: JobStore, reason: str) -> CancelResult:
    # The experiment's process reads its record, sees the claim, stops within a boosting round,
    # reports cancelled and records its end; wait for that, or for the process to be gone.
    ended = process.wait_until(
        lambda: store.get(claimed.id).state.finished or not inprocess.process_alive(claimed),
        IN_PROCESS_WAIT_SECONDS,
        interval=0.1,
        tick=lambda: None,
    )
    current = store.get(claimed.id)
    if current.state.finished:
        stopped = current
        what = [f"{_describe(current)} stopped itself and ended {current.state.value.upper()}"]
    else:
        note = "" if ended else f"; it had not stopped within {IN_PROCESS_WAIT_SECONDS:g} s"
        stopped = current.transition(JobState.CANCELLED)
        what = [f"{_describe(current)} → CANCELLED{note}"]
    what += reconcile(stopped)
    final = _record(claimed.id, store, stopped, what, reason)
    lines = "\n".join(f"  - {line}" for line in what)
    return CancelResult(final, True, f"Cancelled job {claimed.id}:\n{lines}")


def _claim(job_id: str, store: JobStore, backend: Backend) -> Job | CancelResult:
    # Saving the claim first keeps every refresh, here or in another process, from recording the
    # stopped process as FAILED before this cancel records it as CANCELLED.
    for _ in range(_SAVE_ATTEMPTS):
        job = store.get(job_id)
        if job.state.finished:
            return _noop(job)
        if cancel_in_progress(job):
            since = _fmt(job.cancel_requested_at)
            text = f"Job {job_id} is already being cancelled (since {since}); nothing to do."
            return CancelResult(job, False, text)
        observed = backend.refresh(job)
        try:
            if observed.state.finished:
                ended = store.save(observed)
                attach_log(ended, backends={backend.name: backend})
                return _noop(ended)
            return store.save(observed.model_copy(update={"cancel_requested_at": _now()}))
        except StaleJobError:
            continue
    raise StaleJobError(f"Job {job_id!r} kept changing during {_SAVE_ATTEMPTS} cancel attempts.")


def _record(job_id: str, store: JobStore, stopped: Job, what: list[str], reason: str) -> Job:
    changes = {"cancelled_at": _now(), "cancelled_what": what, "reason": reason}
    try:
        return store.save(stopped.model_copy(update=changes))
    except StaleJobError:
        # Someone wrote meanwhile despite the claim (it expired): keep their record, add ours.
        current = store.get(job_id)
        if current.state.finished:
            return store.save(current.model_copy(update={**changes, "reason": current.reason}))
        return store.save(current.transition(JobState.CANCELLED, **changes))


def _noop(job: Job) -> CancelResult:
    if job.state == JobState.CANCELLED:
        when = job.cancelled_at or job.finished_at
        text = f"Job {job.id} was already cancelled at {_fmt(when)}; nothing to do."
    else:
        outcome = job.reason or (f"exit code {job.exit_code}" if job.exit_code is not None else "")
        detail = f" ({outcome})" if outcome else ""
        text = (
            f"Job {job.id} already {job.state.value}{detail} at {_fmt(job.finished_at)};"
            " nothing to cancel."
        )
    return CancelResult(job, False, text)


def _describe(job: Job) -> str:
    if inprocess.is_in_process(job):
        return f"job {job.id} (in trialrun process {job.handle.get('pid', '?')})"
    if job.backend == "local":
        return f"local job {job.id} (process group {job.handle.get('pgid', '?')})"
    return (
        f"kubernetes job {job.id} (Job {job.handle.get('namespace', '?')}/"
        f"{job.handle.get('job_name', '?')})"
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "an unknown time"
