"""Attach a finished job's log to its experiment's MLflow run, whatever the outcome.

It happens when a job is seen to end: a refresh that records the end (``trialrun jobs``, a wait,
a recovery at the next start) or a cancel. A job that ends while nobody watches gets its log
attached when it is next observed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from tools.errors import InputError
from tools.jobs.base import Backend, load_backend
from tools.jobs.model import Job
from tools.jobs.reconcile import mlflow_target
from tools.tracking.settle import attach_text

LOG_LINES = 100_000
"""The most log lines attached; the local backend also reads at most the last MiB."""


def finalize(job: Job, *, backends: Mapping[str, Backend] | None = None) -> str | None:
    """Log the job's output as the artifact ``jobs/<id>.log`` of its MLflow parent run.

    Call it once the job has finished (succeeded, failed or cancelled). When the backend has no
    logs (a cluster without log access), the artifact says so, so the run still shows why.

    Args:
        job: The finished job; its ``mlflow_run_id`` label names the run.
        backends: Configured backends by name; default ones when None.

    Returns:
        The artifact path, or None when the job names no MLflow run.

    Raises:
        InputError: The job has not finished yet.
    """
    if not job.state.finished:
        raise InputError(
            f"Job {job.id!r} is still {job.state.value!r}.",
            field="job",
            hint="Finalize it once it has finished, or cancel it first.",
        )
    target = mlflow_target(job)
    if target is None:
        return None
    text = load_backend(job.backend, backends).logs(job, tail=LOG_LINES)
    if not text.strip():
        text = f"(job {job.id} wrote no output)"
    path = f"jobs/{job.id}.log"
    tracking_uri, run_id = target
    attach_text(tracking_uri, run_id, text + "\n", path)
    return path


def attach_log(job: Job, *, backends: Mapping[str, Backend] | None = None) -> str | None:
    """Like :func:`finalize`, but never raises: return why the log could not be attached, if so.

    The job has ended by then; a tracking server that is down must not undo that. The reason is
    also logged as a warning; the log stays in the job's own place (``trialrun jobs logs``).
    """
    try:
        finalize(job, backends=backends)
    except Exception as exc:
        reason = f"job {job.id}: log not attached to its MLflow run: {type(exc).__name__}: {exc}"
        logging.getLogger(__name__).warning(reason)
        return reason
    return None
