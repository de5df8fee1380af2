"""Distributed tuning for the tune step: N workers sharing one study, run as jobs.

With ``budget.parallel`` above 1 on the local runtime, the study runs as that many local jobs
(process groups, each ``trialrun worker``); on the Kubernetes runtime, as ONE Kubernetes Job
whose ``parallelism`` pods each run ``trialrun worker`` in the runtime's image (what they are
given, and the checks before they start, are in :mod:`agent.pipeline.kubernetes_runtime`).
Workers share the Optuna storage and the MLflow tracking server, so those must be reachable from
every worker: Kubernetes needs a database server for Optuna (PostgreSQL) and a tracking server
for MLflow; local processes may share SQLite files, though PostgreSQL copes better with several
writers. The baselines and the final models train in the pipeline's process locally, and as
Kubernetes Jobs of their own on Kubernetes (:mod:`agent.pipeline.stage_jobs`).

The tune step waits for the jobs with the experiment's deadline and cancel flag. A cancel goes
through :func:`tools.jobs.cancel.cancel` for each job, which also settles their trials and runs.
Each job's log is attached to the parent run as ``jobs/<id>.log`` when it is seen to end (see
:mod:`tools.jobs.finalize`), and the study is read back from the storage exactly as an in-process
study is.
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import optuna

from agent.pipeline import kubernetes_runtime
from agent.pipeline.state import PipelineContext
from agent.request import ExperimentRequest
from tools import settings as paths
from tools.data.catalog import DatasetEntry
from tools.errors import InputError, TrialrunError
from tools.experiment.parent import ParentRun
from tools.experiment.request import TuneRequest
from tools.experiment.tune import study_settings
from tools.experiment.worker import TASK_ENV, WorkerTask, has_password
from tools.jobs import lifecycle
from tools.jobs.base import Backend, load_backend
from tools.jobs.cancel import cancel as cancel_job
from tools.jobs.model import Job, JobSpec, JobState, Resources
from tools.jobs.reconcile import fail_running_trials
from tools.tracking.settle import close_orphans
from tools.training.run import DataContext
from tools.tuning.storage import StudyOutcome, StudySettings, open_study, read_outcome

KUBERNETES_COMMAND = ["trialrun", "worker"]
STOP_SLACK_SECONDS = 15
"""Workers stop themselves at the deadline; their jobs are stopped this much later at the latest."""

POLL_SECONDS = 0.5
_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
_ENDED = (*_FINISHED, optuna.trial.TrialState.FAIL)

TrialCallback = Callable[[optuna.trial.FrozenTrial], None]


def is_distributed(request: ExperimentRequest) -> bool:
    """Return True when the request's tuning runs as jobs rather than in this process."""
    return request.optimize and (request.budget.parallel > 1 or request.namespace is not None)


def check_runtime(
    request: ExperimentRequest, backends: Mapping[str, Backend] | None = None
) -> None:
    """Refuse, before any compute, jobs that their stores or runtime cannot serve.

    On a Kubernetes runtime every model trains in pods (tuning or not: see
    :mod:`agent.pipeline.stage_jobs`), so its checks apply to every such request.

    Raises:
        InputError: GPUs that do not split evenly over the workers; on Kubernetes, what
            :func:`~agent.pipeline.kubernetes_runtime.pod_settings` refuses (no image, stores on
            this machine, credentials no Secret provides). Each message says what to set instead.
    """
    workers, gpus = request.budget.parallel, request.budget.gpus
    if is_distributed(request) and gpus % workers:
        raise InputError(
            f"budget.gpus {gpus!r} cannot be split evenly over {workers} workers.",
            field="budget.gpus",
            hint=f"Give a multiple of budget.parallel ({workers}), or 0.",
        )
    if request.namespace is not None:
        kubernetes_runtime.pod_settings(request, backends)


def check_data(request: ExperimentRequest, entry: DatasetEntry) -> None:
    """Refuse a dataset the pods of a Kubernetes runtime could not read."""
    if request.namespace is not None:
        kubernetes_runtime.check_data(request, entry)


def run_labels(parent: ParentRun, *, study: str | None) -> dict[str, str]:
    """Return the job labels that name the parent run and study a cancel or recovery settles.

    URLs holding a password are left out: the canceller then takes them from its environment.
    """
    labels = {"mlflow_run_id": parent.run_id}
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
    """Record the parent run and study on the job this pipeline runs in (``--detach``).

    A job id that is not on record (set by hand in the environment) is left alone.
    """
    try:
        lifecycle.add_labels(job_id, labels)
    except InputError:
        return


def tune_distributed(
    request: ExperimentRequest,
    tune_request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    context: PipelineContext,
    *,
    on_trial: TrialCallback,
) -> StudyOutcome:
    """Run the study as worker jobs, wait for them, and read the study back.

    Args:
        request: The experiment request (runtime, namespace, budget).
        tune_request: The tools' tuning request.
        ctx: The prepared dataset (for the metric's direction).
        parent: The parent run the trial runs are children of.
        context: The pipeline's context: deadline, cancel flag, job backends; each job id is
            appended to ``context.jobs`` as soon as it is submitted.
        on_trial: Called for each trial that ends, whichever worker ran it.

    Raises:
        TrialrunError: No trial finished and a worker job failed (its last lines quoted).
    """
    started = time.monotonic()
    settings = study_settings(tune_request, ctx, parent.study_name)
    study = open_study(settings)
    # Trials left RUNNING by an earlier attempt of this request hold places in the budget.
    fail_running_trials(settings.storage, settings.study_name)
    left = context.deadline - time.monotonic()
    if left <= 0 or context.cancel.is_set():
        reason = "cancelled" if context.cancel.is_set() else "time budget reached"
        return read_outcome(settings, stop_reason=reason, seconds=0.0)
    task = WorkerTask.for_request(
        tune_request,
        study_name=settings.study_name,
        experiment_id=parent.experiment_id,
        parent_run_id=parent.run_id,
        group=uuid.uuid4().hex[:8],
        workers=request.budget.parallel,
        deadline=time.time() + left,
        dataset=ctx.entry,
    )
    backend: Literal["local", "kubernetes"] = "local" if request.namespace is None else "kubernetes"
    specs = _specs(request, task, parent, context, study=settings.study_name, seconds=left)
    jobs = _submit(specs, backend, context)
    jobs, cancelled = _wait(jobs, study, context, on_trial)
    if not cancelled:
        # Every worker has ended: a trial or run still RUNNING belongs to one that died.
        fail_running_trials(settings.storage, settings.study_name)
        close_orphans(parent.experiment_id, parent.run_id)
    reason = _stop_reason(jobs, study, settings, context, cancelled=cancelled)
    return read_outcome(settings, stop_reason=reason, seconds=time.monotonic() - started)


def _specs(
    request: ExperimentRequest,
    task: WorkerTask,
    parent: ParentRun,
    context: PipelineContext,
    *,
    study: str,
    seconds: float,
) -> list[JobSpec]:
    workers = request.budget.parallel
    common: dict[str, Any] = {
        "name": "tune",
        "deadline_seconds": math.ceil(seconds) + STOP_SLACK_SECONDS,
        "labels": {
            "experiment": request.experiment_name,
            "worker_group": task.group,
            **run_labels(parent, study=study),
        },
    }
    cpus, gpus = max(1, request.budget.cpus // workers), request.budget.gpus // workers
    if request.namespace is not None:
        pods = kubernetes_runtime.pod_settings(request, context.backends)
        return [
            JobSpec(
                **common,
                command=KUBERNETES_COMMAND,
                env={TASK_ENV: task.to_json(), **pods.env},
                resources=Resources(cpus=cpus, gpus=gpus, memory_mib=pods.memory_mib),
                parallelism=workers,
                namespace=request.namespace,
                **pods.job_fields(),
            )
        ]
    # Local workers inherit this process's environment, credentials included.
    env = {TASK_ENV: task.to_json()}
    for name, value in (
        ("MLFLOW_TRACKING_URI", paths.tracking_uri()),
        ("TRIALRUN_OPTUNA_STORAGE", paths.optuna_storage()),
    ):
        if not has_password(value):
            env[name] = value
    command = [sys.executable, "-m", "agent.adapters.cli", "worker"]
    resources = Resources(cpus=cpus, gpus=gpus)
    return [
        JobSpec(**common, command=command, env=env, resources=resources, workdir=os.getcwd())
        for _ in range(workers)
    ]


def _submit(
    specs: list[JobSpec], backend: Literal["local", "kubernetes"], context: PipelineContext
) -> list[Job]:
    jobs: list[Job] = []
    try:
        for spec in specs:
            job = lifecycle.submit(spec, backend=backend, backends=context.backends)
            context.jobs.append(job.id)
            jobs.append(job)
    except BaseException:
        _cancel_all(jobs, context, reason="another worker could not be started")
        raise
    return jobs


def _wait(
    jobs: list[Job], study: optuna.Study, context: PipelineContext, on_trial: TrialCallback
) -> tuple[list[Job], bool]:
    """Return the jobs once all ended, and whether they were cancelled."""
    hard_stop = context.deadline + 2 * STOP_SLACK_SECONDS
    seen = {t.number for t in study.get_trials(deepcopy=False, states=_ENDED)}
    while True:
        jobs = [lifecycle.refresh(job.id, backends=context.backends) for job in jobs]
        for trial in study.get_trials(deepcopy=False, states=_ENDED):
            if trial.number not in seen:
                seen.add(trial.number)
                on_trial(trial)
        if all(job.state.finished for job in jobs):
            return jobs, False
        if context.cancel.is_set():
            return _cancel_all(jobs, context, reason="experiment cancelled"), True
        if time.monotonic() > hard_stop:
            return _cancel_all(jobs, context, reason="still running past the deadline"), False
        context.cancel.wait(POLL_SECONDS)


def _cancel_all(jobs: list[Job], context: PipelineContext, *, reason: str) -> list[Job]:
    if not jobs:
        return jobs
    # At once, not one after the other: each cancel may wait out its job's grace period.
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [
            pool.submit(cancel_job, job.id, reason=reason, backends=context.backends)
            for job in jobs
        ]
    return [future.result().job for future in futures]


def _stop_reason(
    jobs: list[Job],
    study: optuna.Study,
    settings: StudySettings,
    context: PipelineContext,
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
        raise TrialrunError(_failure(failed[0], context))
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


def _failure(job: Job, context: PipelineContext, lines: int = 10) -> str:
    tail = load_backend(job.backend, context.backends).logs(job, tail=lines).strip()
    return (
        f"Tuning worker job {job.id} failed ({job.reason or 'no reason recorded'}) before any "
        f"trial finished. Last lines of its log (`trialrun jobs logs {job.id}`):\n{tail}"
    )
