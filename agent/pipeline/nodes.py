"""The pipeline's nodes, each named after what it does.

A node that raises does not escape as a traceback: :func:`guarded` records the failure in the
state, closes the parent run FAILED (KILLED when cancelled), and the graph goes on to verify what
was created and to report.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, Protocol

from langgraph.runtime import Runtime

from agent import approval
from agent.deploy import add_refusals, data_refusals
from agent.pipeline import distributed
from agent.pipeline.events import BudgetStarted, StageStarted, StepFailed, TrialFinished
from agent.pipeline.state import PipelineContext, PipelineState
from agent.report.model import Failure
from agent.request import ExperimentRequest
from tools.errors import Cancelled, PolicyError
from tools.experiment import steps
from tools.experiment.data import load_context
from tools.experiment.parent import open_parent
from tools.experiment.request import TuneRequest
from tools.experiment.results import baseline_configuration
from tools.experiment.train import baseline_deadline
from tools.stores import store_failure
from tools.tracking.runs import unclosed_runs
from tools.training.metrics import get_metric
from tools.tuning.distributed import label_own_job, run_labels

LOST = "Unreachable"
"""A failure's ``error_type`` when a store (tracking, Optuna) stopped answering during the run."""


class NodeFn(Protocol):
    """A pipeline node: reads the state, returns the keys it sets."""

    def __call__(  # noqa: D102 - the class docstring says it
        self, state: PipelineState, runtime: Runtime[PipelineContext]
    ) -> dict[str, Any]: ...


def guarded(name: str) -> Callable[[NodeFn], NodeFn]:
    """Turn an exception in node ``name`` into a recorded failure instead of a traceback."""

    def wrap(node: NodeFn) -> NodeFn:
        @functools.wraps(node)
        def run(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
            try:
                return node(state, runtime)
            except (Exception, KeyboardInterrupt) as exc:
                cancelled = (
                    isinstance(exc, Cancelled | KeyboardInterrupt)
                    or runtime.context.cancel.is_set()
                )
                status = (
                    "cancelled"
                    if cancelled
                    else "refused"
                    if isinstance(exc, PolicyError)
                    else "failed"
                )
                parent = state.get("parent")
                unclosed: list[str] = []
                if parent is not None:
                    parent.writer.fail(exc if not cancelled else Cancelled(str(exc) or "cancelled"))
                    unclosed = unclosed_runs(parent.run_id)
                lost = store_failure(exc)
                message = failure_message(lost, unclosed) if lost else str(exc)
                runtime.context.emit(StepFailed(node=name, error=message))
                error_type = LOST if lost and not cancelled else type(exc).__name__
                return {
                    "status": status,
                    "failure": Failure(node=name, error_type=error_type, message=message),
                }

        return run

    return wrap


def failure_message(lost: str, unclosed: list[str]) -> str:
    """Say in one line which store stopped answering, with the runs it could not close.

    The runs the store did not take the end of stay RUNNING in it; the next trialrun command that
    finds the store answering settles them (see :mod:`tools.jobs.recovery`).
    """
    if not unclosed:
        return lost
    return (
        f"{lost}; {len(unclosed)} run(s) could not be closed there and show RUNNING until "
        f"the next trialrun command settles them: {', '.join(unclosed)}"
    )


def tune_request(request: ExperimentRequest) -> TuneRequest:
    """Translate the experiment request into the tools' tuning request."""
    return TuneRequest(
        dataset=request.dataset,
        version=request.version,
        metric=request.metric,
        families=tuple(request.families),
        trials=request.budget.trials,
        seconds=request.budget.seconds,
        cpus=request.budget.cpus,
        gpus=request.budget.gpus,
        parallel=request.budget.parallel,
        seeds=tuple(request.seeds),
        experiment=request.experiment_name,
        optimize=request.optimize,
        target=request.target,
        test_fraction=request.test_fraction,
    )


@guarded("validate_data")
def validate_data(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Load the catalogued dataset, check its digest, validate and split it, open the parent run."""
    request = state["request"]
    try:
        approval.check_parallel(request.budget.parallel, approved=request.approve)
    except PolicyError as exc:
        runtime.context.refusals.append(str(exc))
        raise
    distributed.check_runtime(request, runtime.context.backends)
    treq = tune_request(request)
    runtime.context.emit(
        StageStarted(name="validate data", detail=f"{request.dataset}@{request.version}")
    )
    ctx = load_context(treq)
    columns = [*ctx.data.feature_names, ctx.entry.target, *ctx.data.dropped]
    add_refusals(
        runtime.context.refusals, data_refusals(ctx.entry.ref, ctx.entry.description, columns)
    )
    distributed.check_data(request, ctx.entry)
    job_id = runtime.context.job_id
    extra = {"trialrun.job_id": job_id} if job_id else {}
    parent = open_parent(treq, ctx, extra_tags=extra)
    if job_id:
        study = parent.study_name if request.optimize else None
        label_own_job(job_id, run_labels(parent.run_id, study=study))
    # The compute budget starts now: loading data and opening the store are not training time.
    runtime.context.started = time.monotonic()
    runtime.context.deadline = runtime.context.started + request.budget.seconds
    runtime.context.emit(
        BudgetStarted(
            trials=request.budget.trials if request.optimize else 0,
            seconds=request.budget.seconds,
            direction=request.metric_direction,
            metric=request.metric,
        )
    )
    return {"tune_request": treq, "data": ctx, "parent": parent}


@guarded("baseline")
def baseline(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Train each requested family with its library defaults (a Job on Kubernetes)."""
    request, treq, context = state["request"], state["tune_request"], runtime.context
    jobs = distributed.job_runtime(request, context) if request.namespace is not None else None
    if jobs is not None:
        context.emit(
            StageStarted(name="baseline", detail=f"{', '.join(treq.families)} (Kubernetes)")
        )
    outcomes = steps.train_baselines(
        treq,
        state["data"],
        state["parent"],
        deadline=baseline_deadline(treq, context.started),
        cancel=context.cancel,
        jobs=jobs,
        on_family=lambda family: context.emit(StageStarted(name="baseline", detail=family)),
    )
    metric = get_metric(treq.metric, state["data"].data.task)
    family, params = baseline_configuration(outcomes, metric)
    return {"baselines": outcomes, "family": family, "params": params}


@guarded("tune")
def tune(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Run the Optuna study; its best configuration replaces the baseline's for the finals."""
    request, context = state["request"], runtime.context
    context.emit(StageStarted(name="tune", detail=f"{request.budget.trials} trials"))

    def on_trial(trial: Any) -> None:
        context.emit(TrialFinished(number=trial.number, state=trial.state.name, value=trial.value))

    tuned = steps.tune(
        state["tune_request"],
        state["data"],
        state["parent"],
        state["baselines"],
        deadline=context.deadline,
        cancel=context.cancel,
        workers=distributed.job_runtime(request, context)
        if distributed.is_distributed(request)
        else None,
        on_trial=on_trial,
    )
    return {
        "study": tuned.study,
        "family": tuned.family,
        "params": tuned.params,
        "notes": [tuned.note] if tuned.note else [],
    }


@guarded("final_training")
def final_training(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Train the chosen configuration once per seed (a Job on Kubernetes)."""
    request, context = state["request"], runtime.context
    context.emit(StageStarted(name="final training", detail=f"seeds {request.seeds}"))
    finals = steps.train_final_models(
        state["tune_request"],
        state["data"],
        state["parent"],
        state.get("baselines", []),
        state.get("study"),
        family=state["family"],
        params=state["params"],
        deadline=context.deadline,
        cancel=context.cancel,
        jobs=distributed.job_runtime(request, context) if request.namespace is not None else None,
    )
    # verify closes the parent once it has read everything back.
    return {"finals": finals, "status": "succeeded"}
