"""The experiment's steps as jobs: tuning workers, and the baselines and finals on Kubernetes.

With ``parallel`` above 1 on the local runtime, the study runs as that many local jobs (process
groups, each ``trialrun worker``); on a Kubernetes runtime, as ONE Kubernetes Job whose
``parallelism`` pods each run ``trialrun worker`` (:mod:`tools.experiment.worker`), and every
other model trains in the cluster too: the baselines as one Job, the final models as one Job,
each running ``trialrun stage`` (:mod:`tools.experiment.stage`) with the whole budget's CPUs and
GPUs, stopped at the stage's share of the time budget. This process opens the parent run and the
study, waits for each Job and reads what it trained back.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tools import settings as paths
from tools.errors import Cancelled, TrialrunError
from tools.experiment.parent import ParentRun
from tools.experiment.request import TuneRequest
from tools.experiment.stage import STAGE_TASK_ENV, StageKind, StageTask, read_outcomes
from tools.experiment.tune import study_settings
from tools.experiment.worker import TASK_ENV, WorkerTask
from tools.jobs import lifecycle
from tools.jobs.base import Backend, load_backend
from tools.jobs.cancel import cancel as cancel_job
from tools.jobs.model import Job, JobSpec, JobState, PodSettings, Resources
from tools.training.run import DataContext, TrainOutcome
from tools.tuning.distributed import (
    STOP_SLACK_SECONDS,
    TrialCallback,
    has_password,
    run_labels,
    tune_with_workers,
)
from tools.tuning.storage import StudyOutcome

KUBERNETES_COMMAND = ["trialrun", "worker"]
STAGE_COMMAND = ["trialrun", "stage"]
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class JobRuntime:
    """Where the experiment's jobs run.

    Attributes:
        experiment: The experiment's name, a label of every job.
        namespace: The Kubernetes namespace; None for local jobs.
        pods: Returns what a Kubernetes Job's pods are given, checked again before each Job is
            submitted; None for local jobs.
        backends: Configured job backends by name (a non-default kubeconfig); default ones when
            None.
        on_job: Called with each job id as soon as it is submitted.
    """

    experiment: str
    namespace: str | None = None
    pods: Callable[[], PodSettings] | None = None
    backends: Mapping[str, Backend] | None = None
    on_job: Callable[[str], None] = lambda _: None

    @property
    def backend(self) -> Literal["local", "kubernetes"]:
        """Return the job backend: ``kubernetes`` with a namespace, else ``local``."""
        return "local" if self.namespace is None else "kubernetes"


def tune_as_workers(
    request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    runtime: JobRuntime,
    *,
    deadline: float,
    cancel: threading.Event,
    on_trial: TrialCallback,
) -> StudyOutcome:
    """Run the study as ``request.parallel`` workers' jobs, wait for them, and read it back.

    Raises:
        TrialrunError: No trial finished and a worker job failed (its last lines quoted).
    """
    settings = study_settings(request, ctx, parent.study_name)

    def specs(seconds: float) -> list[JobSpec]:
        task = WorkerTask.for_request(
            request,
            study_name=settings.study_name,
            experiment_id=parent.experiment_id,
            parent_run_id=parent.run_id,
            group=uuid.uuid4().hex[:8],
            workers=request.parallel,
            deadline=time.time() + seconds,
            dataset=ctx.entry,
        )
        return _worker_specs(request, task, parent, runtime, seconds=seconds)

    return tune_with_workers(
        settings,
        specs,
        backend=runtime.backend,
        experiment_id=parent.experiment_id,
        parent_run_id=parent.run_id,
        deadline=deadline,
        cancel=cancel,
        backends=runtime.backends,
        on_job=runtime.on_job,
        on_trial=on_trial,
    )


def _worker_specs(
    request: TuneRequest,
    task: WorkerTask,
    parent: ParentRun,
    runtime: JobRuntime,
    *,
    seconds: float,
) -> list[JobSpec]:
    workers = request.parallel
    common: dict[str, Any] = {
        "name": "tune",
        "deadline_seconds": math.ceil(seconds) + STOP_SLACK_SECONDS,
        "labels": {
            "experiment": runtime.experiment,
            "worker_group": task.group,
            **run_labels(parent.run_id, study=task.study_name),
        },
    }
    cpus, gpus = max(1, request.cpus // workers), request.gpus // workers
    if runtime.pods is not None:
        pods = runtime.pods()
        return [
            JobSpec(
                **common,
                command=KUBERNETES_COMMAND,
                env={TASK_ENV: task.to_json(), **pods.env},
                resources=Resources(cpus=cpus, gpus=gpus, memory_mib=pods.memory_mib),
                parallelism=workers,
                namespace=runtime.namespace,
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


def train_as_job(
    kind: StageKind,
    request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    runtime: JobRuntime,
    *,
    deadline: float,
    cancel: threading.Event,
    family: str | None = None,
    params: dict[str, Any] | None = None,
) -> list[TrainOutcome]:
    """Train a stage as one Kubernetes Job, wait for it, and return what it trained.

    Args:
        kind: ``baseline`` or ``final``.
        request: The tools' request.
        ctx: The prepared dataset (its catalog entry goes in the task).
        parent: The parent run.
        runtime: The Kubernetes runtime (its pods' settings).
        deadline: ``time.monotonic()`` instant by which the stage must end.
        cancel: Set to cancel the Job.
        family: The final models' family.
        params: The final models' parameters.

    Raises:
        Cancelled: The experiment was cancelled (the Job is cancelled with it).
        TrialrunError: The Job failed or overran; the message quotes its pods' last words.
    """
    assert runtime.pods is not None, "a stage job runs on Kubernetes"
    seconds = max(1.0, deadline - time.monotonic())
    task = StageTask.for_request(
        request,
        kind=kind,
        experiment_id=parent.experiment_id,
        parent_run_id=parent.run_id,
        dataset=ctx.entry,
        deadline=time.time() + seconds,
        family=family,
        params=params or {},
    )
    pods = runtime.pods()
    spec = JobSpec(
        name=kind,
        command=STAGE_COMMAND,
        env={STAGE_TASK_ENV: task.to_json(), **pods.env},
        resources=Resources(cpus=request.cpus, gpus=request.gpus, memory_mib=pods.memory_mib),
        deadline_seconds=math.ceil(seconds) + STOP_SLACK_SECONDS,
        labels={
            "experiment": runtime.experiment,
            # One of the experiment's jobs: cancelling it settles only the runs it created.
            "worker_group": f"{kind}-{uuid.uuid4().hex[:8]}",
            **run_labels(parent.run_id, study=None),
        },
        namespace=runtime.namespace,
        **pods.job_fields(),
    )
    job = lifecycle.submit(spec, backend="kubernetes", backends=runtime.backends)
    runtime.on_job(job.id)
    job = _wait(job, runtime, cancel, hard_stop=deadline + 2 * STOP_SLACK_SECONDS)
    if job.state == JobState.SUCCEEDED:
        return read_outcomes(
            parent.experiment_id,
            parent.run_id,
            job_id=job.id,
            role=kind,
            metric=request.metric,
        )
    if cancel.is_set():
        raise Cancelled(f"{kind} job {job.id} cancelled")
    tail = load_backend(job.backend, runtime.backends).logs(job, tail=10).strip()
    raise TrialrunError(
        f"The {kind} job {job.id} ended {job.state.value} ({job.reason or 'no reason recorded'})."
        f" Last lines of its log (`trialrun jobs logs {job.id}`):\n{tail}"
    )


def _wait(job: Job, runtime: JobRuntime, cancel: threading.Event, *, hard_stop: float) -> Job:
    backends = runtime.backends
    while True:
        job = lifecycle.refresh(job.id, backends=backends)
        if job.state.finished:
            return job
        if cancel.is_set():
            return cancel_job(job.id, reason="experiment cancelled", backends=backends).job
        if time.monotonic() > hard_stop:
            reason = "still running past the deadline"
            return cancel_job(job.id, reason=reason, backends=backends).job
        cancel.wait(POLL_SECONDS)
