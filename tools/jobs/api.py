"""Job operations as plain functions returning bounded plain text.

The ``trialrun jobs`` commands print what these return, and the agent wraps them as tools. Each
observes unfinished jobs again before answering, so what it says is current. Jobs live in the
store under :func:`tools.settings.home` (``TRIALRUN_HOME``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from tools.errors import InputError, TrialrunError
from tools.jobs import lifecycle
from tools.jobs.base import load_backend
from tools.jobs.cancel import cancel
from tools.jobs.model import Job, JobState
from tools.jobs.store import JobStore

MAX_OUTPUT_CHARS = 8000
"""The most characters any function here returns."""

StateName = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def _bounded(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    cut = len(text) - MAX_OUTPUT_CHARS + 60
    return f"… ({cut} earlier characters cut)\n" + text[cut:]


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InputError(
            f"{name} must be between {low} and {high}, got {value!r}.",
            field=name,
            hint=f"Pass a {name} in that range.",
        )


def _observed(job: Job, store: JobStore) -> tuple[Job, str]:
    if job.state.finished:
        return job, ""
    try:
        return lifecycle.refresh(job.id, store=store), ""
    except TrialrunError as exc:
        return job, f"not refreshed: {exc}"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def list_jobs(*, state: StateName | None = None, limit: int = 20) -> str:
    """List recent jobs, newest first, one line each.

    Args:
        state: Only jobs in this state: queued, running, succeeded, failed or cancelled.
        limit: How many jobs at most (1 to 100).
    """
    _check_range("limit", limit, 1, 100)
    if state is not None and state not in {s.value for s in JobState}:
        raise InputError(
            f"Unknown job state {state!r}.",
            field="state",
            hint=f"Use one of {[s.value for s in JobState]}.",
        )
    store = JobStore()
    jobs = store.list(states=None if state is None else [JobState(state)], limit=limit)
    if not jobs:
        return "No jobs." if state is None else f"No {state} jobs."
    rows = [f"{'ID':<10} {'STATE':<10} {'BACKEND':<11} {'CREATED (UTC)':<20} NAME / DETAIL"]
    for stored in jobs:
        job, note = _observed(stored, store)
        detail = note or job.reason or ("" if job.exit_code is None else f"exit {job.exit_code}")
        rows.append(
            f"{job.id:<10} {job.state.value:<10} {job.backend:<11} {_when(job.created_at):<20} "
            f"{job.spec.name}{f' — {detail}' if detail else ''}"
        )
    return _bounded("\n".join(rows))


def show_job(job_id: str) -> str:
    """Describe one job: its state, command, resources, labels and what cancelling it changed.

    Args:
        job_id: The job id, e.g. ``j-3f9a2c`` (see list_jobs).
    """
    store = JobStore()
    job, note = _observed(store.get(job_id), store)
    spec = job.spec
    res = spec.resources
    lines = [
        f"job {job.id}: {job.state.value}" + (f" ({job.reason})" if job.reason else ""),
        f"name: {spec.name}",
        f"backend: {job.backend}",
        f"command: {' '.join(spec.command)}",
        f"resources: {res.cpus} cpu, {res.memory_mib} MiB, {res.gpus} gpu"
        f"; parallelism {spec.parallelism}",
        f"deadline: {spec.deadline_seconds} s" if spec.deadline_seconds else "deadline: none",
        f"created: {_when(job.created_at)}  started: {_when(job.started_at)}"
        f"  finished: {_when(job.finished_at)} (UTC)",
    ]
    if job.exit_code is not None:
        lines.append(f"exit code: {job.exit_code}")
    if spec.labels:
        lines.append("labels: " + ", ".join(f"{k}={v}" for k, v in sorted(spec.labels.items())))
    if spec.image:
        lines.append(f"image: {spec.image}")
    for key in ("namespace", "job_name", "pgid", "log_path"):
        if key in job.handle:
            lines.append(f"{key.replace('_', ' ')}: {job.handle[key]}")
    if job.cancelled_at:
        lines.append(f"cancelled at: {_when(job.cancelled_at)} (UTC)")
        lines += [f"  - {what}" for what in job.cancelled_what]
    if note:
        lines.append(note)
    return _bounded("\n".join(lines))


def job_logs(job_id: str, *, tail: int = 100) -> str:
    """Return the last lines a job wrote (stdout and stderr).

    Args:
        job_id: The job id, e.g. ``j-3f9a2c`` (see list_jobs).
        tail: How many last lines (1 to 2000).
    """
    _check_range("tail", tail, 1, 2000)
    job = JobStore().get(job_id)
    text = load_backend(job.backend).logs(job, tail=tail)
    return _bounded(text) if text.strip() else f"Job {job_id} has written no output yet."


def cancel_job(job_id: str) -> str:
    """Cancel a job: stop it, mark its running Optuna trials FAIL and its MLflow runs KILLED.

    Cancelling a job that has already finished changes nothing and says so.

    Args:
        job_id: The job id, e.g. ``j-3f9a2c`` (see list_jobs).
    """
    return _bounded(cancel(job_id).message)
