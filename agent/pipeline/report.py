"""Building the report from tool results and the read-back (never from free text)."""

from __future__ import annotations

import os
import statistics
from datetime import UTC, datetime

from agent.pipeline import distributed
from agent.pipeline.state import PipelineContext, PipelineState
from agent.report.model import (
    Change,
    Changes,
    Plan,
    PlanInput,
    Report,
    Rollback,
    SeedResult,
    Source,
    Summary,
    Verification,
)
from agent.request import REQUIRED_FIELDS, ExperimentRequest
from tools import settings
from tools.experiment.results import BEST_DEFINITION
from tools.tracking.links import ui_link
from tools.training.run import TrainOutcome
from tools.tuning.rollback import command as rollback_command


def build_report(state: PipelineState, context: PipelineContext) -> Report:
    """Return the five-section report of a pipeline run."""
    request = state["request"]
    status = state.get("status", "failed")
    plan = plan_section(request, context)
    plan.rerun = rerun_text(state)
    return Report(
        title=f"{request.experiment_name}: {request.metric} on {request.dataset}@{request.version}",
        status=status,
        plan=plan,
        changes=changes_section(state, context),
        verification=Verification(checks=state.get("checks", [])),
        rollback=rollback_section(state, context),
        summary=summary_section(state),
        failure=state.get("failure"),
        notes=_notes(state),
        timings=dict(state.get("timings", {})),
    )


def plan_section(request: ExperimentRequest, context: PipelineContext) -> Plan:
    """Return the Plan: confirmed inputs with their sources, defaults, steps and budget."""
    values = request.model_dump(mode="json")
    inputs = [
        PlanInput(name=name, value=values[name], source=context.sources.get(name, "default"))
        for name in (
            *REQUIRED_FIELDS,
            "target",
            "model",
            "direction",
            "optimize",
            "test_fraction",
            "experiment",
            "runtime",
        )
    ]
    if values["direction"] is None:
        inputs.append(PlanInput(name="direction", value=request.metric_direction, source="default"))
    if values["experiment"] is None:
        named = bool(os.environ.get("MLFLOW_EXPERIMENT_NAME"))
        source: Source = "environment" if named else "default"
        inputs.append(PlanInput(name="experiment", value=request.experiment_name, source=source))
    inputs = [i for i in inputs if i.value is not None]
    defaults = [i.name for i in inputs if i.source == "default"]
    # A budget stating one limit: the other one's default is named, e.g. "budget.seconds".
    defaults += sorted(n for n, s in context.sources.items() if "." in n and s == "default")
    k8s = request.kubernetes
    here = ", in this process" if k8s else ""
    job = f", as a Kubernetes Job in namespace {k8s.namespace}" if k8s else ""
    steps = [f"validate the dataset (catalog entry, digest, columns){here}"]
    if request.test_fraction > 0:
        steps.append(
            f"hold out {request.test_fraction:.0%} of the rows as a test share before anything "
            "trains; the baseline and final models are scored on it once"
        )
    steps.append(
        f"baseline: {', '.join(request.families)} with library defaults, seed "
        f"{request.seeds[0]}{job}"
    )
    if request.optimize:
        steps.append(
            f"tune: Optuna TPE (seed {request.seeds[0]}) over {' and '.join(request.families)}, "
            f"up to {request.budget.trials} trials, {request.budget.parallel} at a time"
            + _workers(request)
        )
    steps.append(f"final: the best configuration once per seed {request.seeds}{job}")
    steps.append(f"verify every run by reading it back from MLflow{here}")
    if k8s:
        steps.append(
            "on Kubernetes every model trains in pods, which read the dataset from its "
            "catalogued location and check its digest first; this process validates the data, "
            "opens the parent run, waits for the Jobs and verifies"
        )
    return Plan(
        inputs=inputs,
        defaults_used=defaults,
        steps=steps,
        trials=request.budget.trials if request.optimize else 0,
        stopping_rule=(
            "each model early-stops after 50 rounds without improvement on the validation split; "
            "the median pruner stops weak trials after 20 rounds; tuning ends at the trial budget, "
            f"when {request.budget.seconds:g} s would be exceeded (final models share that budget), "
            "or after 5 failed trials"
        ),
        best=BEST_DEFINITION,
        budget=request.budget.model_dump(),
        refusals=list(context.refusals),
    )


def rerun_text(state: PipelineState) -> str:
    """Say whether the experiment is new or resumes an interrupted attempt, and why."""
    parent = state.get("parent")
    if parent is None:
        return ""
    if parent.resumed:
        return (
            f"resumed: an earlier attempt of this request was interrupted, so its parent run "
            f"{parent.run_id} and study {parent.study_name!r} go on; its finished trials stand "
            "and are not trained again"
        )
    return (
        "new experiment: no interrupted attempt of this request was found (a finished one asked "
        "again is a new experiment, with a parent run and a study of its own)"
    )


def changes_section(state: PipelineState, context: PipelineContext | None = None) -> Changes:
    """Return what was created, with IDs and UI links when the server has a UI."""
    parent = state.get("parent")
    uri = settings.tracking_uri()
    changes = Changes(tracking_uri=uri)
    if context is not None:
        changes.items.extend(_job_changes(context))
    if parent is None:
        return changes
    exp = parent.experiment_id
    add = changes.items.append
    add(
        Change(
            kind="experiment", id=exp, name=state["request"].experiment_name, link=_link(uri, exp)
        )
    )
    add(
        Change(
            kind="parent_run",
            id=parent.run_id,
            link=_link(uri, exp, parent.run_id),
            detail="reopened (resumed)" if parent.resumed else "created",
        )
    )
    for outcome in state.get("baselines", []):
        run = outcome.output.mlflow_run_id
        add(
            Change(
                kind="baseline_run",
                id=run,
                name=f"baseline-{outcome.family}",
                link=_link(uri, exp, run),
            )
        )
    study = state.get("study")
    if study is not None:
        counts = ", ".join(f"{v} {k.lower()}" for k, v in sorted(study.counts.items()))
        add(Change(kind="study", id=study.study_name, name=study.storage_display, detail=counts))
        if study.best_run_id:
            add(
                Change(
                    kind="trial_runs",
                    id=study.best_run_id,
                    name=f"trial-{study.best_trial:03d} (best trial)",
                    link=_link(uri, exp, study.best_run_id),
                    detail=f"the best of {sum(study.counts.values())} trial runs, all children "
                    "of the parent run",
                )
            )
    for outcome in state.get("finals", []):
        run = outcome.output.mlflow_run_id
        add(
            Change(
                kind="final_run",
                id=run,
                name=f"final-{outcome.family}-seed{outcome.seed}",
                link=_link(uri, exp, run),
            )
        )
        if outcome.output.model_artifact_path:
            add(
                Change(
                    kind="model",
                    id=outcome.output.model_artifact_path,
                    detail="logged model (not registered)",
                )
            )
    return changes


def rollback_section(state: PipelineState, context: PipelineContext) -> Rollback:
    """Return how to stop or undo what was done."""
    rollback = Rollback()
    steps = rollback.steps
    if context.job_id:
        steps.append(f"stop it: trialrun jobs cancel {context.job_id}")
    if context.jobs:
        steps.append(
            "stop its jobs (their running trials become FAIL, their runs KILLED): "
            + "; ".join(f"trialrun jobs cancel {job_id}" for job_id in context.jobs)
        )
    parent = state.get("parent")
    if parent is not None:
        steps.append(
            "undo it (the parent run, every baseline, trial and final run, their logged models "
            f"and the Optuna study): {rollback_command(parent.run_id)}"
        )
        steps.append(f"see first what that deletes: {rollback_command(parent.run_id)} --dry-run")
    steps.append(
        "nothing was registered, aliased, staged or deployed: the model registry is untouched"
    )
    if state.get("status") == "cancelled":
        failure = state.get("failure")
        rollback.cancelled.append(f"cancelled during {failure.node if failure else 'the run'}")
        rollback.cancelled_at = datetime.now(UTC)
    return rollback


def summary_section(state: PipelineState) -> Summary:
    """Return best run vs baseline, with every number read back from MLflow."""
    request = state["request"]
    readback = state.get("readback", {})
    key, test_key = f"valid_{request.metric}", f"test_{request.metric}"
    sign = 1.0 if request.metric_direction == "maximize" else -1.0
    summary = Summary(metric=request.metric, direction=request.metric_direction)
    if state.get("data") is not None:
        summary.test_fraction = request.test_fraction

    def read_back(outcomes: list[TrainOutcome]) -> list[tuple[TrainOutcome, float, float | None]]:
        found = []
        for outcome in outcomes:
            metrics = readback.get(outcome.output.mlflow_run_id, {}).get("metrics", {})
            if key in metrics:
                test = metrics.get(test_key)
                found.append((outcome, float(metrics[key]), None if test is None else float(test)))
        return found

    baselines = read_back(state.get("baselines", []))
    if baselines:
        best_base, summary.baseline_value, summary.baseline_test_value = max(
            baselines, key=lambda ovt: sign * ovt[1]
        )
        summary.baseline_run_id = best_base.output.mlflow_run_id
    finals = read_back(state.get("finals", []))
    if finals:
        summary.seeds = [
            SeedResult(seed=o.seed, run_id=o.output.mlflow_run_id, value=v, test_value=t)
            for o, v, t in finals
        ]
        # Best is the configuration's mean over its final runs (BEST_DEFINITION), which the
        # parent run, /runs, Slack and the query tools show as well; its run is the first seed's.
        first = finals[0][0]
        values = [v for _, v, _ in finals]
        tests = [t for _, _, t in finals if t is not None]
        summary.best_value = summary.mean = statistics.fmean(values)
        summary.best_test_value = statistics.fmean(tests) if len(tests) == len(finals) else None
        summary.best_run_id = first.output.mlflow_run_id
        summary.output = first.output
        summary.std = statistics.stdev(values) if len(values) > 1 else 0.0
        if summary.baseline_value is not None:
            summary.delta = summary.best_value - summary.baseline_value
        if summary.best_test_value is not None and summary.baseline_test_value is not None:
            summary.test_delta = summary.best_test_value - summary.baseline_test_value
    study = state.get("study")
    if study is not None:
        summary.trials = dict(study.counts)
        summary.stop_reason = study.stop_reason
    summary.reproducibility = _reproducibility(request)
    return summary


def _reproducibility(request: ExperimentRequest) -> str:
    base = (
        "Each model is reproducible from its logged parameters and seed (rows and columns are "
        "sampled per round from the seed)."
    )
    if distributed.is_distributed(request):
        workers = request.budget.parallel
        return base + (
            f" Tuning ran as {workers} worker{'s' if workers > 1 else ''} sharing one study: "
            f"every trial trains with seed {request.seeds[0]}, and worker i's sampler is seeded "
            f"from seed {request.seeds[0]} and i (indices taken in the order workers start), so "
            "a re-run uses the same sampler seeds. Which configurations are tried, and so the "
            "best one found, depends on the order trials finish across workers and on what each "
            "worker has seen of the others' results: that is not reproducible."
        )
    return base + " With one trial at a time the seeded sampler proposes the same trials again."


def _workers(request: ExperimentRequest) -> str:
    if not distributed.is_distributed(request):
        return ""
    if request.namespace is not None:
        return (
            f", as one Kubernetes Job with {request.budget.parallel} worker pods "
            f"in namespace {request.namespace}"
        )
    return f", as {request.budget.parallel} local worker jobs"


def _job_changes(context: PipelineContext) -> list[Change]:
    """Return the jobs this experiment runs in or started, as their records say now."""
    from tools.errors import TrialrunError
    from tools.jobs.store import JobStore

    wanted = [*([context.job_id] if context.job_id else []), *context.jobs]
    if not wanted:
        return []
    store = JobStore()
    items = []
    for job_id in wanted:
        try:
            job = store.get(job_id)
        except TrialrunError as exc:
            items.append(Change(kind="job", id=job_id, detail=f"no record: {exc}"))
            continue
        if job_id == context.job_id:
            detail = f"{job.state.value}; this experiment runs in it"
        else:
            detail = (
                f"{job.spec.name}: {job.state.value}; {job.spec.parallelism} worker(s) of "
                f"{job.spec.resources.cpus} cpu; log: jobs/{job.id}.log on the parent run"
            )
        items.append(Change(kind="job", id=job.id, name=f"{job.backend} job", detail=detail))
    return items


def _notes(state: PipelineState) -> list[str]:
    notes = list(state.get("notes", []))
    for outcome in state.get("finals", [])[:1]:
        notes.append(f"device: {outcome.device_note}")
    return notes


def _link(uri: str, experiment_id: str, run_id: str | None = None) -> str | None:
    if not uri.startswith(("http://", "https://")):
        return None
    return ui_link(uri, experiment_id, run_id)
