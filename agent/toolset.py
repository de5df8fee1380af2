"""The agent's tools: plain functions over ``tools/``, wrapped for langchain in exactly one place.

Each function's Google-style docstring is what the model reads; :func:`build_tools` wraps them with
``@tool(parse_docstring=True)`` and refuses to register a parameter without a description. Errors a
model can fix come back to it as tool results naming the argument; anything else propagates.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import Any, Literal

from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, tool
from langgraph.types import interrupt

from agent.context import AgentContext
from agent.proposal import Proposal, catalog_names, propose
from agent.report.model import Plan, Report, Source
from tools import settings
from tools.errors import InputError, PolicyError

MAX_RESULT_CHARS = 6000
FIELD_HINTS = {
    "dataset": "the dataset (catalogued: {datasets})",
    "version": "its version",
    "version-alone": "the version (catalogued: {datasets})",
    "metric": "the primary metric (roc_auc, log_loss, accuracy, f1, rmse, mae or r2)",
    "budget": "the budget: trials, a time limit or both (e.g. '20 trials' or '10 minutes')",
    "seeds": "the seeds (e.g. 'seeds 1, 2, 3')",
}


def run_experiment(  # noqa: D417 - runtime is injected by langchain, not shown to the model
    runtime: ToolRuntime[AgentContext, Any],
    dataset: str | None = None,
    version: str | None = None,
    metric: Literal["roc_auc", "log_loss", "accuracy", "f1", "rmse", "mae", "r2"] | None = None,
    trials: int | None = None,
    seconds: float | None = None,
    seeds: list[int] | None = None,
    target: str | None = None,
    model: Literal["xgboost", "lightgbm", "both"] | None = None,
    optimize: bool | None = None,
    experiment: str | None = None,
    namespace: str | None = None,
    parallel: int | None = None,
    gpus: int | None = None,
) -> str:
    """Run a tracked experiment: baseline, tuning, final models, verification, report.

    Only pass values the person stated. If a required input is missing or was not stated, the
    tool refuses and lists what to ask for; then call ask_user once with all of them.

    Args:
        dataset: Catalogued dataset name, exactly as the person wrote it.
        version: Catalogued dataset version, as the person wrote it.
        metric: Primary metric to optimise.
        trials: Tuning trial budget.
        seconds: Wall-clock budget in seconds.
        seeds: Random seeds; the final model is trained once per seed.
        target: Target column, when the person named one.
        model: Model family.
        optimize: False for a baseline only (no tuning).
        experiment: MLflow experiment name, when the person named one.
        namespace: Kubernetes namespace, when the person asked for Kubernetes.
        parallel: Parallel trials or workers.
        gpus: GPUs granted.
    """
    context = runtime.context
    args = {
        "dataset": dataset,
        "version": version,
        "metric": metric,
        "trials": trials,
        "seconds": seconds,
        "seeds": seeds,
        "target": target,
        "model": model,
        "optimize": optimize,
        "experiment": experiment,
        "namespace": namespace,
        "parallel": parallel,
        "gpus": gpus,
    }
    try:
        return _run_experiment(context, propose(args, context, runtime.state, runtime.tool_call_id))
    except PolicyError as exc:
        context.refuse(str(exc))
        raise
    except InputError as exc:
        context.errors.append(str(exc))
        raise


def _run_experiment(context: AgentContext, proposal: Proposal) -> str:
    """Check the grounded request, then plan it or run it (see run_experiment)."""
    if proposal.error is not None:
        context.errors.append(proposal.error)
        return _result(status="invalid", error=proposal.error)
    if proposal.missing or proposal.draft is None:
        context.pending_missing = list(proposal.missing)
        context.pending_problems = [p for p in proposal.problems if "not stated" not in p]
        return _result(
            status="needs_input",
            missing=proposal.missing,
            problems=proposal.problems,
            next_step="call ask_user with these missing inputs, all in one question",
        )
    context.pending_missing = []
    context.pending_problems = []
    draft = proposal.draft
    sources = request_sources(proposal)
    approved = bool(context.pre_approved or proposal.approval_reasons(context))
    request = draft.model_copy(update={"approve": draft.approve or approved}).complete(
        context.policy.budget_defaults()
    )
    from agent.deploy import add_refusals
    from agent.preflight import check_request

    add_refusals(context.refusals, check_request(request))
    if context.dry_run:
        plan = plan_preview(proposal, context)
        context.plans.append(plan.model_dump(mode="json"))
        return _result(status="planned", plan=plan.model_dump(mode="json"))
    from agent.pipeline import run_pipeline
    from agent.pipeline.state import PipelineContext

    report = run_pipeline(
        request,
        PipelineContext(
            sources=sources,
            cancel=context.cancel,
            progress=context.progress,
            refusals=list(context.refusals),
        ),
    )
    context.reports.append(report)
    return _result(**summarise(report))


def request_sources(proposal: Proposal) -> dict[str, Source]:
    """Return where each request field came from; a budget limit nobody stated is a default."""
    sources: dict[str, Source] = {
        name.split(".")[0]: source for name, source in proposal.sources.items()
    }
    if proposal.draft is not None:
        sources.update(dict.fromkeys(proposal.draft.default_limits(), "default"))
    return sources


def plan_preview(proposal: Proposal, context: AgentContext) -> Plan:
    """Return the Plan section of a request that has not run (``trialrun plan``)."""
    from agent.pipeline.report import plan_section
    from agent.pipeline.state import PipelineContext

    assert proposal.draft is not None  # only a complete proposal is planned
    request = proposal.draft.complete(context.policy.budget_defaults())
    plan = plan_section(
        request,
        PipelineContext(sources=request_sources(proposal), refusals=list(context.refusals)),
    )
    needs = proposal.approval_reasons(context)
    if needs and not context.pre_approved:
        plan.steps.append("needs approval: " + "; ".join(needs))
    return plan


def ask_user(  # noqa: D417 - runtime is injected by langchain, not shown to the model
    runtime: ToolRuntime[AgentContext, Any], missing: list[str], question: str = ""
) -> str:
    """Ask the person for missing inputs, all in one question, and return their answer.

    Args:
        missing: The missing inputs exactly as run_experiment listed them.
        question: Optional extra words for the question.
    """
    wanted = list(dict.fromkeys([*runtime.context.pending_missing, *missing]))
    text = question_for(wanted, catalog_names()) if wanted else question
    problems = runtime.context.pending_problems
    if wanted and problems:
        # Say why a value the person gave is asked for again: it is not in the catalog.
        text = f"{'; '.join(problems)}. {text}"
    answer = interrupt({"kind": "ask", "question": text, "missing": wanted})
    return str(answer)


def question_for(missing: list[str], known: dict[str, list[str]]) -> str:
    """Return one question asking for every missing input."""
    datasets = ", ".join(f"{n} ({', '.join(v)})" for n, v in sorted(known.items())) or "none yet"
    # Asked for a version alone, the person needs the catalogued ones; with the dataset they
    # are already listed once.
    keys = [m + "-alone" if m == "version" and "dataset" not in missing else m for m in missing]
    parts = [FIELD_HINTS.get(k, k).format(datasets=datasets) for k in keys]
    listing = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"To run this I need {listing}. What should I use?"


def validate_dataset(dataset: str, version: str) -> str:
    """Validate a catalogued dataset: digest, target, columns, task; no training.

    Args:
        dataset: Catalogued dataset name.
        version: Catalogued version.
    """
    from tools.data.catalog import Catalog
    from tools.data.load import load_curated
    from tools.data.validate import prepare

    entry, frame = load_curated(dataset, version, catalog=Catalog.load(settings.catalog_path()))
    data = prepare(frame, entry)
    return _result(
        dataset=entry.ref,
        rows=len(data.X),
        task=data.task,
        target=entry.target,
        features=len(data.feature_names),
        categorical=data.categorical_features[:50],
        dropped=data.dropped,
        description=entry.description,
    )


def list_datasets() -> str:
    """List the catalogued datasets with their versions, targets and tasks."""
    from tools.data.catalog import Catalog

    entries = Catalog.load(settings.catalog_path()).entries()
    return _result(
        datasets=[
            {
                "name": e.name,
                "version": e.version,
                "target": e.target,
                "task": e.task,
                "rows": e.rows,
            }
            for e in entries[:100]
        ],
        total=len(entries),
    )


def query_runs(  # noqa: D417 - runtime is injected by langchain, not shown to the model
    runtime: ToolRuntime[AgentContext, Any],
    experiment: str | None = None,
    filter: str | None = None,
    order_by: str | None = None,
    limit: int = 10,
) -> str:
    """Search tracked runs, newest first, or best first with order_by "best".

    Args:
        experiment: Experiment name; all experiments when omitted.
        filter: MLflow filter string, e.g. "metrics.valid_rmse < 0.5".
        order_by: MLflow order, e.g. "metrics.valid_roc_auc DESC", or "best" for the final
            models ranked by each one's primary metric.
        limit: Most runs to return (1-50).
    """
    from agent.answers import runs_table
    from tools.tracking import query

    if order_by != "best":
        found = query.search_runs(experiment, filter=filter, order_by=order_by, limit=limit)
    else:
        finals = "tags.`trialrun.role` = 'final'"
        found = query.search_runs(
            experiment, filter=f"{filter} and {finals}" if filter else finals, limit=query.MAX_RUNS
        )
        found.runs = sorted(found.runs, key=_primary_score, reverse=True)[:limit]
        found.order_by = ["best: each run's valid_<metric>, by the metric's direction"]
    names = experiment_names(r.experiment_id for r in found.runs)
    runtime.context.tables.append(runs_table(found, names=names, best=order_by == "best"))
    return _dump(found)


def _primary_score(run: Any) -> float:
    from tools.training.metrics import METRICS

    metric = METRICS.get(run.params.get("metric", ""))
    value = run.metrics.get(f"valid_{metric.name}") if metric else None
    if metric is None or value is None:
        return float("-inf")
    return value if metric.direction == "maximize" else -value


def experiment_names(ids: Iterable[str]) -> dict[str, str]:
    """Return experiment id -> name for ``ids`` (the id itself where the store has none)."""
    from tools.tracking.runs import client

    mlflow_client = client()
    names = {}
    for experiment_id in dict.fromkeys(ids):
        try:
            names[experiment_id] = mlflow_client.get_experiment(experiment_id).name
        except Exception:  # deleted meanwhile: the id still says which one
            names[experiment_id] = experiment_id
    return names


def show_run(  # noqa: D417 - runtime is injected by langchain, not shown to the model
    runtime: ToolRuntime[AgentContext, Any], run_id: str
) -> str:
    """Show one run: status, parameters, metrics, tags.

    Args:
        run_id: MLflow run ID.
    """
    from agent.answers import run_table
    from tools.tracking import query

    run = query.get_run(run_id)
    experiment = experiment_names([run.experiment_id])[run.experiment_id]
    runtime.context.tables.append(run_table(run, experiment=experiment))
    return _dump(run)


def compare_runs(  # noqa: D417 - runtime is injected by langchain, not shown to the model
    runtime: ToolRuntime[AgentContext, Any], run_ids: list[str]
) -> str:
    """Compare runs side by side: parameters and metrics.

    Args:
        run_ids: Two or more MLflow run IDs.
    """
    from agent.answers import comparison_table
    from tools.tracking import query

    found = query.compare_runs(run_ids)
    names = experiment_names(found.experiment_ids.values())
    where = ", ".join(sorted(set(names.values()))) or "-"
    runtime.context.tables.append(comparison_table(found, experiment=where))
    return _dump(found)


def metric_history(run_id: str, key: str) -> str:
    """Return a metric's history (per boosting round) for one run.

    Args:
        run_id: MLflow run ID.
        key: Metric key, e.g. "round_valid_auc".
    """
    from tools.tracking import query

    return _dump(query.metric_history(run_id, key))


def reproduce_run(run_id: str) -> str:
    """Train a baseline, trial or final run again from its record, as a new linked run.

    Refuses when the data's digest or a library's version differs from the record. Reports
    whether every replayed score equals the recorded one to the last digit.

    Args:
        run_id: MLflow run ID of the run to replay.
    """
    from tools.experiment.reproduce import reproduce

    replay = reproduce(run_id)
    return _result(
        status="identical" if replay.identical else "different",
        original_run_id=replay.original_run_id,
        replay_run_id=replay.run_id,
        scores={k: {"recorded": a, "replayed": b} for k, (a, b) in replay.metrics.items()},
        notes=list(replay.notes),
    )


def list_jobs() -> str:
    """List recent jobs (local processes and Kubernetes Jobs), newest first."""
    from tools.jobs import api

    return api.list_jobs()


def show_job(job_id: str) -> str:
    """Show one job: state, resources, labels, timings.

    Args:
        job_id: The job's id, e.g. "j-3f9a2c".
    """
    from tools.jobs import api

    return api.show_job(job_id)


def cancel_job(job_id: str) -> str:
    """Cancel a job: stop it, fail its running trials, kill its running runs.

    Args:
        job_id: The job's id, e.g. "j-3f9a2c".
    """
    from tools.jobs import api

    return api.cancel_job(job_id)


def cancel_all_jobs() -> str:
    """Cancel every queued or running job; the person first confirms the list of them."""
    from tools.jobs.cancel import cancel

    jobs = unfinished_jobs()
    if not jobs:
        return "No job is queued or running: nothing to cancel."
    return _bounded("\n".join(cancel(job.id).message for job in jobs))


def unfinished_jobs() -> list[Any]:
    """Return the jobs that are queued or running, newest first."""
    from tools.jobs.model import JobState
    from tools.jobs.store import JobStore

    return JobStore().list(states=[JobState.QUEUED, JobState.RUNNING])


TOOL_FUNCTIONS = (
    run_experiment,
    ask_user,
    validate_dataset,
    list_datasets,
    query_runs,
    show_run,
    compare_runs,
    metric_history,
    reproduce_run,
    list_jobs,
    show_job,
    cancel_job,
    cancel_all_jobs,
)


def build_tools() -> list[BaseTool]:
    """Wrap every tool function for langchain; fail loudly on an undescribed parameter."""
    return [as_tool(fn) for fn in TOOL_FUNCTIONS]


def as_tool(fn: Callable[..., str]) -> BaseTool:
    """Wrap one tool function for langchain, the only place tools are wrapped.

    Raises:
        TypeError: A parameter the model sees has no description in the docstring's ``Args``.
    """
    try:
        wrapped = tool(parse_docstring=True)(_model_fixable(fn))
    except ValueError as exc:  # langchain's parser: parameters but no Google-style Args section
        raise TypeError(
            f"tool {fn.__name__!r}: {exc} Describe every parameter in an 'Args:' section."
        ) from exc
    for name, schema in wrapped.args.items():
        if not schema.get("description"):
            raise TypeError(
                f"tool {wrapped.name!r}: parameter {name!r} has no description; "
                "describe it in the docstring's 'Args:' section"
            )
    return wrapped


def _model_fixable(fn: Callable[..., str]) -> Callable[..., str]:
    """Return errors the model can fix (bad input, a refusal) as tool results; others propagate."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> str:
        try:
            return fn(*args, **kwargs)
        except (InputError, PolicyError) as exc:
            return _result(status="error", error=str(exc))

    return run


def summarise(report: Report) -> dict[str, Any]:
    """Return the few report numbers the model needs to answer (all from the report)."""
    summary = report.summary
    return {
        "status": report.status,
        "failure": report.failure.model_dump() if report.failure else None,
        "metric": summary.metric,
        "best_run_id": summary.best_run_id,
        "best_value": summary.best_value,
        "baseline_run_id": summary.baseline_run_id,
        "baseline_value": summary.baseline_value,
        "delta": summary.delta,
        "verification_passed": report.verification.passed,
        "note": "the full five-section report is shown to the person; summarise it briefly",
    }


def _result(**fields: Any) -> str:
    return _bounded(json.dumps(fields, default=str))


def _dump(value: Any) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return _bounded(json.dumps(value, default=str))


def _bounded(text: str) -> str:
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return text[:MAX_RESULT_CHARS] + f"... [cut: {len(text) - MAX_RESULT_CHARS} more characters]"
