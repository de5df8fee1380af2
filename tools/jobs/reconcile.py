"""Settle what a stopped job leaves behind: Optuna trials and MLflow runs still RUNNING.

A job names what it works on through its spec's labels: ``study`` and ``optuna_storage`` (default
:func:`tools.settings.optuna_storage`), ``mlflow_run_id`` (the experiment's parent run) and
``mlflow_tracking_uri`` (else the job's ``MLFLOW_TRACKING_URI`` env, else
:func:`tools.settings.tracking_uri`). Trials become FAIL, which Optuna simply re-samples when the
study resumes, so no trial is lost and none that finished runs twice. Runs become KILLED.

A job that is one of several workers of an experiment (it has a ``worker_group`` label) settles
only its own: the trials whose ``trialrun_job_id`` attribute names it, and the runs whose
``trialrun.job_id`` tag names it (with the runs under them). The parent run and the other
workers' trials and runs go on. Any other job is the experiment itself: its parent run and
every run under it are settled.

Each function returns human-readable lines, one per thing it changed.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from tools import settings
from tools.jobs.model import Job
from tools.tracking.settle import kill_running_runs

TRIAL_JOB_ATTR = "trialrun_job_id"
"""A trial user attribute a worker may set to its ``TRIALRUN_JOB_ID``: spares other jobs' trials."""
WORKER_GROUP_LABEL = "worker_group"
"""The job label of a worker among several: a cancel then settles only what that worker owns."""


def optuna_target(job: Job) -> tuple[str, str] | None:
    """Return ``(storage_url, study_name)`` the job works on, or None."""
    study = job.spec.labels.get("study")
    if not study:
        return None
    storage = (
        job.spec.labels.get("optuna_storage")
        or job.spec.env.get("TRIALRUN_OPTUNA_STORAGE")
        or settings.optuna_storage()
    )
    return storage, study


def mlflow_target(job: Job) -> tuple[str, str] | None:
    """Return ``(tracking_uri, parent_run_id)`` the job reports to, or None."""
    run_id = job.spec.labels.get("mlflow_run_id")
    if not run_id:
        return None
    uri = (
        job.spec.labels.get("mlflow_tracking_uri")
        or job.spec.env.get("MLFLOW_TRACKING_URI")
        or settings.tracking_uri()
    )
    return uri, run_id


def redact(url: str) -> str:
    """Return ``url`` with any password masked, fit for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def fail_running_trials(
    storage_url: str, study_name: str, *, job_id: str | None = None
) -> list[str]:
    """Mark the study's RUNNING trials FAIL; return a line per trial.

    Args:
        storage_url: An Optuna RDB storage URL.
        study_name: The study.
        job_id: Spare trials whose ``trialrun_job_id`` attribute names another job.
    """
    if storage_url.startswith("sqlite:///") and not Path(storage_url[10:]).exists():
        return [f"optuna storage {redact(storage_url)} does not exist; no trial to mark"]
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = optuna.storages.RDBStorage(storage_url)
    try:
        try:
            study_id = storage.get_study_id_from_name(study_name)
        except KeyError:
            return [f"optuna study {study_name!r} not found in {redact(storage_url)}"]
        lines = []
        for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            owner = trial.user_attrs.get(TRIAL_JOB_ATTR)
            if job_id is not None and owner not in (None, job_id):
                continue
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            try:
                storage.set_trial_state_values(trial_id, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue  # it finished meanwhile: its result stands
            lines.append(f"optuna trial {trial.number} of study {study_name!r} → FAIL")
        return lines
    finally:
        storage.engine.dispose()


def reconcile(
    job: Job,
    *,
    skip_trials: Collection[tuple[str, str]] = (),
    skip_runs: Collection[tuple[str, str]] = (),
) -> list[str]:
    """Settle the job's RUNNING trials and runs; return what changed, errors included as lines.

    Args:
        job: The stopped job.
        skip_trials: Optuna targets (see :func:`optuna_target`) a live job still works on.
        skip_runs: MLflow targets (see :func:`mlflow_target`) a live job still reports to.
    """
    return reconcile_fully(job, skip_trials=skip_trials, skip_runs=skip_runs)[0]


def reconcile_fully(
    job: Job,
    *,
    skip_trials: Collection[tuple[str, str]] = (),
    skip_runs: Collection[tuple[str, str]] = (),
) -> tuple[list[str], bool]:
    """Like :func:`reconcile`, and also say whether every store could be read and written.

    A store that is down (a stopped tracking server or database) leaves the job unsettled, so
    the next trialrun command tries again.
    """
    lines: list[str] = []
    complete = True
    trials = optuna_target(job)
    if trials is not None and trials not in skip_trials:
        try:
            lines += fail_running_trials(*trials, job_id=job.id)
        except Exception as exc:  # the job is stopped already: report, do not undo that
            complete = False
            lines.append(f"optuna study {trials[1]!r} not reconciled: {type(exc).__name__}: {exc}")
    runs = mlflow_target(job)
    if runs is not None and runs not in skip_runs:
        only_job = job.id if WORKER_GROUP_LABEL in job.spec.labels else None
        try:
            lines += kill_running_runs(*runs, only_job=only_job)
        except Exception as exc:
            complete = False
            lines.append(f"mlflow run {runs[1]} not reconciled: {type(exc).__name__}: {exc}")
    return lines, complete
