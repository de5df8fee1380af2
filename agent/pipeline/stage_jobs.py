"""The baselines and the final models as Kubernetes Jobs, on a Kubernetes runtime.

With ``runtime: {kubernetes: ...}`` every model trains in the cluster, tuning or not: the
baselines as one Job, the tuning trials as one Job of ``parallel`` pods
(:mod:`agent.pipeline.distributed`), the final models as one Job. This process validates the
data, opens the parent run (and the study), waits for each Job, reads what it trained back from
MLflow (:func:`tools.experiment.stage.read_outcomes`), verifies and reports. Each stage Job runs
``trialrun stage`` with its task in ``TRIALRUN_STAGE_TASK`` and gets the whole budget's CPUs and
GPUs; it is stopped at the stage's share of the time budget.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

from agent.pipeline import kubernetes_runtime
from agent.pipeline.distributed import STOP_SLACK_SECONDS, run_labels
from agent.pipeline.state import PipelineContext
from agent.request import ExperimentRequest
from tools.errors import Cancelled, TrialrunError
from tools.experiment.parent import ParentRun
from tools.experiment.request import TuneRequest
from tools.experiment.stage import STAGE_TASK_ENV, StageKind, StageTask, read_outcomes
from tools.jobs import lifecycle
from tools.jobs.base import load_backend
from tools.jobs.cancel import cancel as cancel_job
from tools.jobs.model import Job, JobSpec, JobState, Resources
from tools.training.run import DataContext, TrainOutcome

STAGE_COMMAND = ["trialrun", "stage"]
POLL_SECONDS = 0.5


def train_as_job(
    kind: StageKind,
    request: ExperimentRequest,
    tune_request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    context: PipelineContext,
    *,
    deadline: float,
    family: str | None = None,
    params: dict[str, Any] | None = None,
) -> list[TrainOutcome]:
    """Train a stage as one Kubernetes Job, wait for it, and return what it trained.

    Args:
        kind: ``baseline`` or ``final``.
        request: The experiment request (its Kubernetes runtime).
        tune_request: The tools' request.
        ctx: The prepared dataset (its catalog entry goes in the task).
        parent: The parent run.
        context: Cancel flag and backends; the job id is appended to ``context.jobs``.
        deadline: ``time.monotonic()`` instant by which the stage must end.
        family: The final models' family.
        params: The final models' parameters.

    Raises:
        Cancelled: The experiment was cancelled (the Job is cancelled with it).
        TrialrunError: The Job failed or overran; the message quotes its pods' last words.
    """
    seconds = max(1.0, deadline - time.monotonic())
    task = StageTask.for_request(
        tune_request,
        kind=kind,
        experiment_id=parent.experiment_id,
        parent_run_id=parent.run_id,
        dataset=ctx.entry,
        deadline=time.time() + seconds,
        family=family,
        params=params or {},
    )
    pods = kubernetes_runtime.pod_settings(request, context.backends)
    spec = JobSpec(
        name=kind,
        command=STAGE_COMMAND,
        env={STAGE_TASK_ENV: task.to_json(), **pods.env},
        resources=Resources(
            cpus=request.budget.cpus, gpus=request.budget.gpus, memory_mib=pods.memory_mib
        ),
        deadline_seconds=math.ceil(seconds) + STOP_SLACK_SECONDS,
        labels={
            "experiment": request.experiment_name,
            # One of the experiment's jobs: cancelling it settles only the runs it created.
            "worker_group": f"{kind}-{uuid.uuid4().hex[:8]}",
            **run_labels(parent, study=None),
        },
        namespace=request.namespace,
        **pods.job_fields(),
    )
    job = lifecycle.submit(spec, backend="kubernetes", backends=context.backends)
    context.jobs.append(job.id)
    job = _wait(job, context, hard_stop=deadline + 2 * STOP_SLACK_SECONDS)
    if job.state == JobState.SUCCEEDED:
        return read_outcomes(
            parent.experiment_id,
            parent.run_id,
            job_id=job.id,
            role=kind,
            metric=tune_request.metric,
        )
    if context.cancel.is_set():
        raise Cancelled(f"{kind} job {job.id} cancelled")
    tail = load_backend(job.backend, context.backends).logs(job, tail=10).strip()
    raise TrialrunError(
        f"The {kind} job {job.id} ended {job.state.value} ({job.reason or 'no reason recorded'})."
        f" Last lines of its log (`trialrun jobs logs {job.id}`):\n{tail}"
    )


def _wait(job: Job, context: PipelineContext, *, hard_stop: float) -> Job:
    while True:
        job = lifecycle.refresh(job.id, backends=context.backends)
        if job.state.finished:
            return job
        if context.cancel.is_set():
            return cancel_job(job.id, reason="experiment cancelled", backends=context.backends).job
        if time.monotonic() > hard_stop:
            reason = "still running past the deadline"
            return cancel_job(job.id, reason=reason, backends=context.backends).job
        context.cancel.wait(POLL_SECONDS)
