"""Crash recovery: settle what a killed trialrun process left RUNNING.

Run it when trialrun starts. Every job recorded QUEUED or RUNNING is observed again through its
backend: a job that ended meanwhile gets its real outcome (a local job's wrapper wrote its exit
status); a job with nothing left behind it becomes FAILED, an experiment whose trialrun process
is gone (:mod:`tools.jobs.inprocess`) too. For those jobs, the Optuna trials and MLflow runs still
RUNNING are settled as a cancel would (trials FAIL, runs KILLED), unless a job that still runs
works on the same study or run; so are those of a job that ended earlier while a store was down.
Optuna re-samples FAIL trials when the study resumes, so no trial is lost and none that finished
runs twice.

Scope: only what jobs on record name. Trials of in-process studies (no job) are Optuna's own
heartbeat's business (``heartbeat_interval`` with ``fail_stale_trials``).
"""

from __future__ import annotations

from collections.abc import Mapping

from tools.errors import TrialrunError
from tools.jobs import lifecycle
from tools.jobs.base import Backend
from tools.jobs.model import Job, JobState
from tools.jobs.store import JobStore

MAX_JOBS = 1000
"""The most unfinished jobs one recovery looks at."""


def recover(
    store: JobStore | None = None, *, backends: Mapping[str, Backend] | None = None
) -> list[str]:
    """Settle jobs, trials and runs left RUNNING with nothing live behind them.

    Args:
        store: The job store; the default one when None.
        backends: Configured backends by name; default ones when None.

    Returns:
        One line per thing changed or left alone on purpose, e.g.
        ``job j-3f9a2c (local) → FAILED: process gone without an exit status …``.
    """
    store = store or JobStore()
    lines: list[str] = []
    for job in store.list(states=(JobState.QUEUED, JobState.RUNNING), limit=MAX_JOBS):
        try:
            current = lifecycle.refresh(job.id, store=store, backends=backends)
        except TrialrunError as exc:
            # Unknown: it stays unfinished, so nothing it may use is touched.
            lines.append(f"job {job.id} ({job.backend}) not checked: {exc}")
            continue
        if current.state.finished:
            lines.append(f"job {current.id} ({current.backend}) → {_outcome(current)}")
            lines += current.settled_what
    # Jobs that ended while their trials or runs could not be settled (a store was down).
    for job in store.list(states=(JobState.FAILED, JobState.CANCELLED), limit=MAX_JOBS):
        if job.settled_at is None and not job.cancelled_at:
            lines += lifecycle.settle(job, store=store).settled_what
    return lines


def _outcome(job: Job) -> str:
    state = job.state.value.upper()
    if job.reason:
        return f"{state}: {job.reason}"
    if job.exit_code is not None:
        return f"{state}: exit code {job.exit_code}"
    return state
