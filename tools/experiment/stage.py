"""A training stage run as a job of its own: the baselines, or the final models.

On a Kubernetes runtime the submitting process opens the parent run and the study, and the
models train in pods: the tuning trials (:mod:`tools.experiment.worker`), and here the baselines
and the final models. A :class:`StageTask` tells the pod what to train; the pod trains it under
the parent run exactly as the pipeline would in its own process (each run tagged with the job
it ran in, ``trialrun.job_id``), and the submitter reads the outcomes back from MLflow with
:func:`read_outcomes`.

What does not cross: the trained model objects. A final model is trained anew rather than
taken from the best trial (whose model lives only in the pod that trained it), and outcomes read
back carry no model in memory: the logged model is their ``model_artifact_path``.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from tools.data.catalog import Catalog, DatasetEntry
from tools.errors import InputError, TrialrunError
from tools.experiment.data import load_context
from tools.experiment.parent import ParentRun
from tools.experiment.train import train_baseline, train_finals
from tools.experiment.worker import JobTask
from tools.tracking.runs import RunWriter, client
from tools.tracking.settle import RUN_JOB_TAG
from tools.training.base import FitResult
from tools.training.run import ModelTrainerOutput, TrainOutcome

STAGE_TASK_ENV = "TRIALRUN_STAGE_TASK"
"""The environment variable that carries a stage job's task as JSON."""

StageKind = Literal["baseline", "final"]
_RUN_PARAMS = ("family", "seed", "max_rounds", "early_stopping_rounds", "threads", "metric", "task")


class StageTask(JobTask):
    """What a stage job trains.

    Attributes:
        kind: ``baseline`` (each family with its library defaults) or ``final`` (the chosen
            configuration once per seed).
        request: The tuning request's fields (:class:`~tools.experiment.request.TuneRequest`).
        experiment_id: The MLflow experiment.
        parent_run_id: The parent run the models' runs are children of.
        dataset: The dataset's catalog entry, its location resolved.
        deadline: Unix time by which the stage must have ended.
        family: The final models' family.
        params: The final models' parameters.
    """

    what: ClassVar[str] = "stage task"
    env: ClassVar[str] = STAGE_TASK_ENV

    kind: StageKind
    experiment_id: str = Field(min_length=1)
    parent_run_id: str = Field(min_length=1)
    dataset: DatasetEntry
    deadline: float
    family: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


def run_stage(task: StageTask, *, cancel: threading.Event | None = None) -> list[TrainOutcome]:
    """Train what the task says under its parent run; return the outcomes.

    Raises:
        DigestMismatch: The dataset's file changed after it was catalogued.
        Cancelled: ``cancel`` was set (the run in progress is KILLED).
    """
    request = task.tune_request()
    catalog = Catalog(Path(f"the job's dataset entry {task.dataset.ref}"), [task.dataset])
    ctx = load_context(request, catalog=catalog)
    writer = RunWriter(task.experiment_id, "", run_id=task.parent_run_id)
    parent = ParentRun(task.experiment_id, writer, resumed=True, study_name="")
    # Wall-clock in the task (pods share no monotonic clock with the submitter), monotonic here.
    end = time.monotonic() + (task.deadline - time.time())
    if task.kind == "final":
        if task.family is None:
            raise InputError("A final stage task names no family.", field="family")
        return train_finals(
            request,
            ctx,
            parent,
            family=task.family,
            params=task.params,
            deadline=end,
            cancel=cancel,
        )
    outcomes = []
    for index, family in enumerate(request.families):
        share = time.monotonic() + (end - time.monotonic()) / (len(request.families) - index)
        outcomes.append(
            train_baseline(request, ctx, parent, family=family, deadline=share, cancel=cancel)
        )
    return outcomes


def read_outcomes(
    experiment_id: str, parent_run_id: str, *, job_id: str, role: StageKind, metric: str
) -> list[TrainOutcome]:
    """Read back from MLflow the finished runs a stage job created, in the order they started.

    Raises:
        TrialrunError: The job left no finished run of that role.
    """
    mlflow = client()
    runs = mlflow.search_runs(
        [experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and "
        f"tags.`{RUN_JOB_TAG}` = '{job_id}' and tags.`trialrun.role` = '{role}' and "
        "attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
        max_results=100,
    )
    if not runs:
        raise TrialrunError(f"Job {job_id} finished but left no finished {role} run.")
    return [_outcome(mlflow, run, metric) for run in runs]


def _outcome(mlflow: Any, run: Any, metric: str) -> TrainOutcome:
    tags, metrics = run.data.tags, run.data.metrics
    params = {k: _value(v) for k, v in run.data.params.items() if k not in _RUN_PARAMS}
    # The run's outputs name the model it logged, wherever MLflow filed that model.
    outputs = mlflow.get_run(run.info.run_id).outputs
    models = [m.model_id for m in (outputs.model_outputs if outputs else [])]
    best_iteration = int(metrics.get("best_iteration", 0))
    train, valid = f"train_{metric}", f"valid_{metric}"
    fit = FitResult(
        model=None,
        best_iteration=best_iteration,
        rounds=int(metrics.get("rounds", 0)),
        stopped=tags.get("trialrun.stopped", "completed"),
        curves={},
        curve_metric="",
        train_score=float(metrics[train]),
        valid_score=float(metrics[valid]),
        importances={},
        seconds=float(metrics.get("training_time_seconds", 0.0)),
        device=tags.get("trialrun.device", "cpu"),
        resumed_from=int(tags.get("trialrun.resumed_from_round", 0)),
    )
    output = ModelTrainerOutput(
        model_artifact_path=f"models:/{models[-1]}" if models else None,
        training_metrics={train: fit.train_score},
        validation_metrics={valid: fit.valid_score},
        best_hyperparameters={**params, "n_estimators": best_iteration + 1},
        mlflow_run_id=run.info.run_id,
        training_time_seconds=fit.seconds,
    )
    return TrainOutcome(
        output=output,
        fit=fit,
        device_note=tags.get("trialrun.device_note", ""),
        family=tags["trialrun.family"],
        seed=int(tags["trialrun.seed"]),
    )


def _value(text: str) -> Any:
    """Return a logged parameter as the value it was (MLflow keeps parameters as text)."""
    try:
        return json.loads(text)
    except ValueError:
        return text
