"""The experiment tools: run (or plan) an experiment, and ask the person for what it is missing."""

from __future__ import annotations

from typing import Any, Literal

from langchain.tools import ToolRuntime
from langgraph.types import interrupt

from agent.context import AgentContext
from agent.proposal import Proposal, catalog_names, propose
from agent.report.model import Plan, Report, Source
from agent.tool_functions.results import result
from tools.errors import InputError, PolicyError

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
        return result(status="invalid", error=proposal.error)
    if proposal.missing or proposal.draft is None:
        context.pending_missing = list(proposal.missing)
        context.pending_problems = [p for p in proposal.problems if "not stated" not in p]
        return result(
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
        return result(status="planned", plan=plan.model_dump(mode="json"))
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
    return result(**summarise(report))


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
