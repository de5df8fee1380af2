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
from agent.pipeline import distributed, stage_jobs
from agent.pipeline.state import PipelineContext, PipelineState
from agent.report.model import Failure
from agent.request import ExperimentRequest
from tools.errors import Cancelled, PolicyError
from tools.experiment.data import load_context
from tools.experiment.parent import open_parent
from tools.experiment.request import TuneRequest
from tools.experiment.results import (
    best_outcome,
    choose_configuration,
    record_optimization,
    record_results,
)
from tools.experiment.train import baseline_deadline, train_baseline, train_finals
from tools.experiment.tune import tune_study
from tools.stores import store_failure
from tools.tracking.runs import unclosed_runs
from tools.training import get_trainer
from tools.training.metrics import get_metric

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
                runtime.context.emit("failed", node=name, error=message)
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
        "stage", name="validate data", detail=f"{request.dataset}@{request.version}"
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
        distributed.label_own_job(job_id, distributed.run_labels(parent, study=study))
    # The compute budget starts now: loading data and opening the store are not training time.
    runtime.context.started = time.monotonic()
    runtime.context.deadline = runtime.context.started + request.budget.seconds
    runtime.context.emit(
        "start",
        trials=request.budget.trials if request.optimize else 0,
        seconds=request.budget.seconds,
        direction=request.metric_direction,
        metric=request.metric,
    )
    return {"tune_request": treq, "data": ctx, "parent": parent}


@guarded("baseline")
def baseline(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Train each requested family with its library defaults (a Job on Kubernetes)."""
    treq, context = state["tune_request"], runtime.context
    end = baseline_deadline(treq, context.started)
    if state["request"].namespace is not None:
        context.emit("stage", name="baseline", detail=f"{', '.join(treq.families)} (Kubernetes)")
        outcomes = stage_jobs.train_as_job(
            "baseline",
            state["request"],
            treq,
            state["data"],
            state["parent"],
            context,
            deadline=end,
        )
    else:
        outcomes = []
        for index, family in enumerate(treq.families):
            context.emit("stage", name="baseline", detail=family)
            share = time.monotonic() + (end - time.monotonic()) / (len(treq.families) - index)
            outcomes.append(
                train_baseline(
                    treq,
                    state["data"],
                    state["parent"],
                    family=family,
                    deadline=share,
                    cancel=context.cancel,
                )
            )
    best = best_outcome(outcomes, get_metric(treq.metric, state["data"].data.task))
    return {
        "baselines": outcomes,
        "family": best.family,
        "params": get_trainer(best.family).default_params(),
    }


@guarded("tune")
def tune(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Run the Optuna study; its best configuration replaces the baseline's for the finals."""
    context = runtime.context
    context.emit("stage", name="tune", detail=f"{state['request'].budget.trials} trials")

    def on_trial(trial: Any) -> None:
        context.emit("trial", number=trial.number, state=trial.state.name, value=trial.value)

    if distributed.is_distributed(state["request"]):
        study = distributed.tune_distributed(
            state["request"],
            state["tune_request"],
            state["data"],
            state["parent"],
            context,
            on_trial=on_trial,
        )
    else:
        study = tune_study(
            state["tune_request"],
            state["data"],
            state["parent"],
            deadline=context.deadline,
            cancel=context.cancel,
            on_trial=on_trial,
        )
    record_optimization(state["parent"], study)
    if context.cancel.is_set():
        raise Cancelled("tuning cancelled")
    metric = get_metric(state["tune_request"].metric, state["data"].data.task)
    family, params, note = choose_configuration(state["baselines"], study, metric)
    return {"study": study, "family": family, "params": params, "notes": [note] if note else []}


@guarded("final_training")
def final_training(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Train the chosen configuration once per seed (a Job on Kubernetes)."""
    context = runtime.context
    context.emit("stage", name="final training", detail=f"seeds {state['request'].seeds}")
    study = state.get("study")
    if state["request"].namespace is not None:
        finals = stage_jobs.train_as_job(
            "final",
            state["request"],
            state["tune_request"],
            state["data"],
            state["parent"],
            context,
            deadline=context.deadline,
            family=state["family"],
            params=state["params"],
        )
    else:
        finals = train_finals(
            state["tune_request"],
            state["data"],
            state["parent"],
            family=state["family"],
            params=state["params"],
            deadline=context.deadline,
            cancel=context.cancel,
            reuse=[
                *state.get("baselines", []),
                *([study.best_outcome] if study and study.best_outcome else []),
            ],
        )
    metric = get_metric(state["tune_request"].metric, state["data"].data.task)
    record_results(state["parent"], metric, state.get("baselines", []), finals)
    # verify closes the parent once it has read everything back.
    return {"finals": finals, "status": "succeeded"}
