"""Distributed tuning: one study shared by worker jobs, waited for and read back.

A coordinator opens the study, submits the workers' jobs (local process groups, or one
Kubernetes Job of ``parallelism`` pods), and waits for them with the experiment's deadline and
cancel flag. A cancel goes through :func:`tools.jobs.cancel.cancel` for each job, which also
settles their trials and runs. Each job's log is attached to the parent run as ``jobs/<id>.log``
when it is seen to end (see :mod:`tools.jobs.finalize`), and the study is read back from the
storage exactly as an in-process study is. What each worker runs is
:mod:`tools.experiment.worker`; the jobs that run it are built by :mod:`tools.experiment.jobs`.

Workers share the Optuna storage and the MLflow tracking server, so those must be reachable from
every worker: Kubernetes needs a database server for Optuna (PostgreSQL) and a tracking server
for MLflow; local processes may share SQLite files, though PostgreSQL copes better with several
writers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Literal
from urllib.parse import urlsplit

import optuna

from tools import settings as paths
from tools.errors import InputError, TrialrunError
from tools.jobs import lifecycle
from tools.jobs.base import Backend, load_backend
from tools.jobs.cancel import cancel as cancel_job
from tools.jobs.model import Job, JobSpec, JobState
from tools.jobs.reconcile import fail_running_trials
from tools.tracking.settle import close_orphans
from tools.tuning.storage import StudyOutcome, StudySettings, open_study, read_outcome

STOP_SLACK_SECONDS = 15
"""Workers stop themselves at the deadline; their jobs are stopped this much later at the latest."""

POLL_SECONDS = 0.5
_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
_ENDED = (*_FINISHED, optuna.trial.TrialState.FAIL)

TrialCallback = Callable[[optuna.trial.FrozenTrial], None]


def has_password(url: str) -> bool:
    """Return True when ``url`` holds a password (it must then stay out of job specs)."""
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def run_labels(parent_run_id: str, *, study: str | None) -> dict[str, str]:
    """Return the job labels that name the parent run and study a cancel or recovery settles.

    URLs holding a password are left out: the canceller then takes them from its environment.
    """
    labels = {"mlflow_run_id": parent_run_id}
    tracking = paths.tracking_uri()
    if not has_password(tracking):
        labels["mlflow_tracking_uri"] = tracking
    if study is not None:
        labels["study"] = study
        storage = paths.optuna_storage()
        if not has_password(storage):
            labels["optuna_storage"] = storage
    return labels


def label_own_job(job_id: str, labels: dict[str, str]) -> None:
    """Record the parent run and study on the job this process runs in (``--detach``).

    A job id that is not on record (set by hand in the environment) is left alone.
    """
    try:
        lifecycle.add_labels(job_id, labels)
    except InputError:
        return


def tune_with_workers(
    settings: StudySettings,
    specs: Callable[[float], list[JobSpec]],
    *,
    backend: Literal["local", "kubernetes"],
    experiment_id: str,
    parent_run_id: str,
    deadline: float,
    cancel: threading.Event,
    backends: Mapping[str, Backend] | None = None,
    on_job: Callable[[str], None] = lambda _: None,
    on_trial: TrialCallback = lambda _: None,
) -> StudyOutcome:
    """Run the study as worker jobs, wait for them, and read the study back.

    Args:
        settings: The study's settings (the workers open it with the same).
        specs: Returns the workers' job specs, given the seconds left for tuning.
        backend: Where the jobs run.
        experiment_id: The MLflow experiment of the trial runs.
        parent_run_id: The parent run the trial runs are children of.
        deadline: ``time.monotonic()`` instant by which tuning must have ended.
        cancel: Set to cancel the jobs.
        backends: Configured job backends by name; default ones when None.
        on_job: Called with each job id as soon as it is submitted.
        on_trial: Called for each trial that ends, whichever worker ran it.

    Raises:
        TrialrunError: No trial finished and a worker job failed (its last lines quoted).
    """
    started = time.monotonic()
    study = open_study(settings)
    # Trials left RUNNING by an earlier attempt of this request hold places in the budget.
    fail_running_trials(settings.storage, settings.study_name)
    left = deadline - time.monotonic()
    if left <= 0 or cancel.is_set():
        reason = "cancelled" if cancel.is_set() else "time budget reached"
        return read_outcome(settings, stop_reason=reason, seconds=0.0)
    jobs = _submit(specs(left), backend, backends, on_job)
    jobs, cancelled = _wait(jobs, study, deadline, cancel, backends, on_trial)
    if not cancelled:
        # Every worker has ended: a trial or run still RUNNING belongs to one that died.
        fail_running_trials(settings.storage, settings.study_name)
        close_orphans(experiment_id, parent_run_id)
    reason = _stop_reason(jobs, study, settings, backends, cancelled=cancelled)
    return read_outcome(settings, stop_reason=reason, seconds=time.monotonic() - started)


def _submit(
    specs: list[JobSpec],
    backend: Literal["local", "kubernetes"],
    backends: Mapping[str, Backend] | None,
    on_job: Callable[[str], None],
) -> list[Job]:
    jobs: list[Job] = []
    try:
        for spec in specs:
            job = lifecycle.submit(spec, backend=backend, backends=backends)
            on_job(job.id)
            jobs.append(job)
    except BaseException:
        _cancel_all(jobs, backends, reason="another worker could not be started")
        raise
    return jobs


def _wait(
    jobs: list[Job],
    study: optuna.Study,
    deadline: float,
    cancel: threading.Event,
    backends: Mapping[str, Backend] | None,
    on_trial: TrialCallback,
) -> tuple[list[Job], bool]:
    """Return the jobs once all ended, and whether they were cancelled."""
    hard_stop = deadline + 2 * STOP_SLACK_SECONDS
    seen = {t.number for t in study.get_trials(deepcopy=False, states=_ENDED)}
    while True:
        jobs = [lifecycle.refresh(job.id, backends=backends) for job in jobs]
        for trial in study.get_trials(deepcopy=False, states=_ENDED):
            if trial.number not in seen:
                seen.add(trial.number)
                on_trial(trial)
        if all(job.state.finished for job in jobs):
            return jobs, False
        if cancel.is_set():
            return _cancel_all(jobs, backends, reason="experiment cancelled"), True
        if time.monotonic() > hard_stop:
            return _cancel_all(jobs, backends, reason="still running past the deadline"), False
        cancel.wait(POLL_SECONDS)


def _cancel_all(
    jobs: list[Job], backends: Mapping[str, Backend] | None, *, reason: str
) -> list[Job]:
    if not jobs:
        return jobs
    # At once, not one after the other: each cancel may wait out its job's grace period.
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [
            pool.submit(cancel_job, job.id, reason=reason, backends=backends) for job in jobs
        ]
    return [future.result().job for future in futures]


def _stop_reason(
    jobs: list[Job],
    study: optuna.Study,
    settings: StudySettings,
    backends: Mapping[str, Backend] | None,
    *,
    cancelled: bool,
) -> str:
    if cancelled:
        return "cancelled"
    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in _FINISHED for t in trials)
    failed_trials = sum(t.state == optuna.trial.TrialState.FAIL for t in trials)
    if finished >= settings.trials:
        return "trial budget reached"
    failed = [job for job in jobs if job.state == JobState.FAILED and job.reason != "deadline"]
    if failed and not finished:
        raise TrialrunError(_failure(failed[0], backends))
    if failed:
        return f"worker job {failed[0].id} failed ({failed[0].reason}); the others went on"
    stopped = [job for job in jobs if job.state == JobState.CANCELLED]
    if stopped and len(stopped) < len(jobs):
        return f"worker job {stopped[0].id} was cancelled; the others went on"
    if failed_trials > settings.max_failures:
        return (
            f"stopped after {failed_trials} failed trials (failure budget {settings.max_failures})"
        )
    # Workers end on their own only at the trial, failure or time budget: here, the time.
    return f"time budget reached ({finished} of {settings.trials} trials finished)"


def _failure(job: Job, backends: Mapping[str, Backend] | None, lines: int = 10) -> str:
    tail = load_backend(job.backend, backends).logs(job, tail=lines).strip()
    return (
        f"Tuning worker job {job.id} failed ({job.reason or 'no reason recorded'}) before any "
        f"trial finished. Last lines of its log (`trialrun jobs logs {job.id}`):\n{tail}"
    )
