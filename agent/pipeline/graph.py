"""The pipeline graph, with every failure routed to verify and report rather than raised.

validate data → baseline → tune (when optimising) → final training → verify → report.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.pipeline import nodes
from agent.pipeline.events import StageStarted
from agent.pipeline.report import build_report
from agent.pipeline.state import PipelineContext, PipelineState
from agent.pipeline.verify import (
    check_model_serves,
    check_parent,
    check_training_run,
    check_trials,
)
from agent.report.model import Check, Report
from agent.request import ExperimentRequest
from tools.experiment import steps
from tools.jobs.inprocess import InProcessJob
from tools.jobs.lifecycle import settle
from tools.jobs.model import JobSpec, JobState
from tools.stores import TRACKING_LOST


def verify(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Read back every run the pipeline created and check it."""
    parent = state.get("parent")
    if parent is None:
        return {"checks": [], "readback": {}}
    failure = state.get("failure")
    if (
        failure is not None
        and failure.error_type == nodes.LOST
        and failure.message.startswith(TRACKING_LOST)
    ):
        # Every read-back would wait out MLflow's retries and fail the same way.
        lost = Check(
            name="read back from MLflow",
            passed=False,
            run_id=parent.run_id,
            detail=f"not attempted: {failure.message.split(';')[0]} during {failure.node}; "
            "nothing was checked or marked finished",
        )
        return {"checks": [lost], "readback": {}}
    runtime.context.emit(StageStarted(name="verify", detail=parent.run_id))
    request, digest = state["request"], state["data"].entry.sha256
    status = state.get("status", "failed")
    checks: list[Check] = []
    readback: dict[str, dict[str, Any]] = {}
    for role, outcomes in (
        ("baseline", state.get("baselines", [])),
        ("final", state.get("finals", [])),
    ):
        for outcome in outcomes:
            found, data = check_training_run(
                outcome,
                role=role,
                metric=request.metric,
                parent_run_id=parent.run_id,
                digest=digest,
            )
            checks.extend(found)
            if data is not None:
                readback[data["run_id"]] = data
            if role == "final":
                recorded = (data or {}).get("metrics", {}).get(f"valid_{request.metric}")
                checks.append(
                    check_model_serves(
                        outcome, state["data"], metric=request.metric, recorded=recorded
                    )
                )
    study = state.get("study")
    if study is not None:
        checks.extend(check_trials(parent.experiment_id, parent.run_id, study.counts))
    if status == "succeeded":
        # Closed only now: a process killed while verifying leaves the parent RUNNING, so the
        # request asked again resumes it instead of counting it done and starting anew.
        steps.close(parent, study)
    expected = {"succeeded": "FINISHED", "cancelled": "KILLED"}.get(status, "FAILED")
    found, parent_data = check_parent(parent.run_id, expected_status=expected, digest=digest)
    if parent_data is not None:
        readback = {parent.run_id: parent_data, **readback}
    return {"checks": [*found, *checks], "readback": readback}


def report(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Assemble the five-section report from tool results and the read-back."""
    return {"report": build_report(state, runtime.context)}


def _after(node: str, success: str) -> Any:
    def route(state: PipelineState) -> str:
        return "verify" if state.get("failure") else success

    route.__name__ = f"after_{node}"
    return route


def _after_baseline(state: PipelineState) -> str:
    if state.get("failure"):
        return "verify"
    return "tune" if state["request"].optimize else "final_training"


Node = Callable[[PipelineState, Runtime[PipelineContext]], dict[str, Any]]


def timed(phase: str, node: Node) -> Any:
    """Return ``node`` recording its wall seconds as ``timings[phase]`` (for the report).

    Typed ``Any``: langgraph's node protocols do not match a wrapper's signature.
    """

    @functools.wraps(node)
    def run(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
        started = time.monotonic()
        update = node(state, runtime)
        return {**update, "timings": {phase: round(time.monotonic() - started, 3)}}

    return run


def build_graph() -> Any:
    """Compile the pipeline graph."""
    graph = StateGraph(PipelineState, context_schema=PipelineContext)
    graph.add_node("validate_data", timed("validate", nodes.validate_data))
    graph.add_node("baseline", timed("baseline", nodes.baseline))
    graph.add_node("tune", timed("tune", nodes.tune))
    graph.add_node("final_training", timed("finals", nodes.final_training))
    graph.add_node("verify", timed("verify", verify))
    graph.add_node("report", report)
    graph.add_edge(START, "validate_data")
    graph.add_conditional_edges(
        "validate_data", _after("validate_data", "baseline"), ["baseline", "verify"]
    )
    graph.add_conditional_edges("baseline", _after_baseline, ["tune", "final_training", "verify"])
    graph.add_conditional_edges(
        "tune", _after("tune", "final_training"), ["final_training", "verify"]
    )
    graph.add_edge("final_training", "verify")
    graph.add_edge("verify", "report")
    graph.add_edge("report", END)
    # No checkpointer, even when run inside the agent graph: the state holds live objects
    # (datasets, run writers) that are not meant to be serialised.
    return graph.compile(checkpointer=False)


def run_pipeline(request: ExperimentRequest, context: PipelineContext | None = None) -> Report:
    """Run one complete request through the graph and return its report.

    The tracking store (and the Optuna storage, when tuning) is checked first: one that does not
    answer stops the request before any run exists, within the store timeouts.

    Every experiment is a job. One that does not run as a job already (``--detach`` sets
    ``context.job_id``) is recorded as a job of this process (:mod:`tools.jobs.inprocess`) for
    as long as it runs: ``trialrun jobs list`` shows it, ``trialrun jobs cancel`` stops it from
    another shell, and a process killed outright leaves a record the next command settles.

    Example:
        >>> report = run_pipeline(request)  # doctest: +SKIP
        >>> report.status
        'succeeded'

    Raises:
        Unreachable: A store that cannot be used; nothing was created.
    """
    from tools.stores import check_stores

    check_stores(optuna=request.optimize)
    context = context or PipelineContext()
    if context.job_id is not None:
        return _invoke(request, context)
    with InProcessJob(_job_spec(request), cancel=context.cancel) as job:
        context.job_id = job.job_id
        try:
            report = _invoke(request, context)
        finally:
            context.job_id = None
        state, reason = JOB_ENDS.get(report.status, (JobState.FAILED, None))
        if report.failure is not None and state != JobState.SUCCEEDED:
            reason = f"{report.failure.node}: {report.failure.message}"[:500]
        ended = job.end(state, reason=reason)
    if ended.state != JobState.SUCCEEDED and not ended.cancelled_at:
        # What the failed or cancelled run could not close (a store that went away) is settled
        # now, or, while a store stays down, by the next trialrun command.
        settle(ended)
    return report


JOB_ENDS: dict[str, tuple[JobState, str | None]] = {
    "succeeded": (JobState.SUCCEEDED, None),
    "cancelled": (JobState.CANCELLED, "cancelled"),
    "refused": (JobState.FAILED, "refused"),
}
"""A report's status -> how its in-process job ends (anything else: FAILED)."""


def _invoke(request: ExperimentRequest, context: PipelineContext) -> Report:
    final = build_graph().invoke({"request": request}, context=context)
    report: Report = final["report"]
    return report


def _job_spec(request: ExperimentRequest) -> JobSpec:
    from tools.redact import redact

    experiment = redact(request.experiment_name)
    return JobSpec(
        name=f"run {experiment}"[:40],
        command=["trialrun", *(redact(arg) for arg in sys.argv[1:])] or ["trialrun"],
        labels={"experiment": experiment},
        workdir=os.getcwd(),
    )
