"""Verification by read-back: every run the pipeline created, read again from the tracking server.

The verify node does not trust the flow's memory: it fetches each run and checks that it exists,
has the expected status, its parameters, metrics, dataset input, git SHA and seed tags, and that
the final models load and predict.
"""

from __future__ import annotations

from typing import Any

from agent.report.model import Check
from tools.tracking.runs import client
from tools.training.run import DataContext, TrainOutcome

RUN_PARAMS = ("family", "seed", "metric", "task")
MAX_TRIAL_RUNS = 5000


def read_run(run_id: str) -> tuple[dict[str, Any] | None, str]:
    """Return a run as plain data (status, params, metrics, tags, dataset inputs), or an error."""
    try:
        run = client().get_run(run_id)
    except Exception as exc:  # a missing run and an unreachable server both fail the check
        return None, f"{type(exc).__name__}: {exc}"
    inputs = run.inputs.dataset_inputs if run.inputs else []
    return (
        {
            "run_id": run_id,
            "name": run.info.run_name,
            "status": run.info.status,
            "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
            "tags": dict(run.data.tags),
            "datasets": [{"name": d.dataset.name, "digest": d.dataset.digest} for d in inputs],
        },
        "",
    )


def check_training_run(
    outcome: TrainOutcome, *, role: str, metric: str, parent_run_id: str, digest: str
) -> tuple[list[Check], dict[str, Any] | None]:
    """Read one baseline or final run back and check everything a run must carry."""
    run_id = outcome.output.mlflow_run_id
    data, error = read_run(run_id)
    label = f"{role} run {outcome.family}"
    if data is None:
        return [Check(name=f"{label} exists", passed=False, run_id=run_id, detail=error)], None
    tags, params, metrics = data["tags"], data["params"], data["metrics"]
    missing_params = [p for p in RUN_PARAMS if p not in params]
    wanted = [f"train_{metric}", f"valid_{metric}", *outcome.output.test_metrics]
    missing_metrics = [m for m in wanted if m not in metrics]
    seed = tags.get("trialrun.seed")
    checks = [
        Check(name=f"{label} exists", passed=True, run_id=run_id),
        _expect(label, "status", data["status"], "FINISHED", run_id),
        Check(
            name=f"{label} parameters",
            passed=not missing_params,
            run_id=run_id,
            detail=f"missing {missing_params}" if missing_params else f"{len(params)} params",
        ),
        Check(
            name=f"{label} metrics",
            passed=not missing_metrics,
            run_id=run_id,
            detail=f"missing {missing_metrics}"
            if missing_metrics
            else ", ".join(f"{m}={metrics[m]:.6g}" for m in wanted[1:]),
        ),
        Check(
            name=f"{label} dataset input",
            passed=any(digest.startswith(d["digest"]) for d in data["datasets"]),
            run_id=run_id,
            detail=", ".join(f"{d['name']} {d['digest'][:12]}" for d in data["datasets"]) or "none",
        ),
        Check(
            name=f"{label} git SHA",
            passed=bool(tags.get("mlflow.source.git.commit")),
            run_id=run_id,
            detail=(
                f"{tags.get('mlflow.source.git.commit', 'missing')[:12]} "
                f"dirty={tags.get('trialrun.git.dirty')}"
            ),
        ),
        _expect(label, "seed tag", seed, str(outcome.seed), run_id),
        _expect(label, "seed parameter", params.get("seed"), str(outcome.seed), run_id),
        _expect(label, "parent", tags.get("mlflow.parentRunId"), parent_run_id, run_id),
    ]
    return checks, data


def check_model_loads(outcome: TrainOutcome, ctx: DataContext) -> Check:
    """Load the final model from its artifact and predict on a few validation rows."""
    uri = outcome.output.model_artifact_path
    run_id = outcome.output.mlflow_run_id
    if not uri:
        return Check(
            name="final model loads", passed=False, run_id=run_id, detail="no model logged"
        )
    try:
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(uri)
        predictions = model.predict(ctx.split.X_valid.head(5))
    except Exception as exc:
        return Check(name="final model loads", passed=False, run_id=run_id, detail=f"{uri}: {exc}")
    return Check(
        name="final model loads",
        passed=len(predictions) == min(5, len(ctx.split.X_valid)),
        run_id=run_id,
        detail=f"{uri} predicted {len(predictions)} rows",
    )


def check_parent(
    parent_run_id: str, *, expected_status: str, digest: str
) -> tuple[list[Check], dict[str, Any] | None]:
    """Read the parent run back."""
    data, error = read_run(parent_run_id)
    if data is None:
        return [
            Check(name="parent run exists", passed=False, run_id=parent_run_id, detail=error)
        ], None
    return [
        Check(name="parent run exists", passed=True, run_id=parent_run_id),
        _expect("parent run", "status", data["status"], expected_status, parent_run_id),
        Check(
            name="parent run dataset input",
            passed=any(digest.startswith(d["digest"]) for d in data["datasets"]),
            run_id=parent_run_id,
        ),
    ], data


def check_trials(
    experiment_id: str, parent_run_id: str, trial_counts: dict[str, int]
) -> list[Check]:
    """Check that every Optuna trial has a child run whose state matches."""
    runs = client().search_runs(
        [experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and tags.`trialrun.role` = 'trial'",
        max_results=MAX_TRIAL_RUNS,
    )
    states: dict[str, int] = {}
    running = 0
    for run in runs:
        state = run.data.tags.get("trialrun.trial_state") or (
            "FAIL" if run.info.status in ("FAILED", "KILLED") else run.info.status
        )
        states[state] = states.get(state, 0) + 1
        running += run.info.status == "RUNNING"
    expected = {k: v for k, v in trial_counts.items() if k in ("COMPLETE", "PRUNED", "FAIL")}
    found = {k: states.get(k, 0) for k in expected}
    return [
        Check(
            name="trial runs match the study",
            passed=found == expected,
            run_id=parent_run_id,
            detail=f"study {expected}, runs {found}",
        ),
        Check(
            name="no trial run left RUNNING",
            passed=running == 0,
            run_id=parent_run_id,
            detail=f"{running} running",
        ),
    ]


def _expect(label: str, what: str, actual: Any, expected: Any, run_id: str) -> Check:
    return Check(
        name=f"{label} {what}",
        passed=actual == expected,
        run_id=run_id,
        detail=f"{actual}" if actual == expected else f"expected {expected!r}, found {actual!r}",
    )
