"""Verification by read-back: every run the pipeline created, read again from the tracking server.

The verify node does not trust the flow's memory: it fetches each run and checks that it exists,
has the expected status, its parameters, metrics, dataset input, git SHA and seed tags, and that
the final models load through `mlflow.pyfunc` and score the raw validation rows as recorded.
"""

from __future__ import annotations

import math
from typing import Any

from agent.report.model import Check
from tools.tracking.context import NOT_A_CHECKOUT
from tools.tracking.readback import read_run, trial_run_states
from tools.training.run import DataContext, TrainOutcome

RUN_PARAMS = ("family", "seed", "metric", "task")


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
        _git_check(label, tags, run_id),
        _expect(label, "seed tag", seed, str(outcome.seed), run_id),
        _expect(label, "seed parameter", params.get("seed"), str(outcome.seed), run_id),
        _expect(label, "parent", tags.get("mlflow.parentRunId"), parent_run_id, run_id),
    ]
    return checks, data


def check_model_serves(
    outcome: TrainOutcome, ctx: DataContext, *, metric: str, recorded: float | None
) -> Check:
    """Load the final model as its users do and score it on the raw validation rows.

    The model is loaded with ``mlflow.pyfunc`` and given the validation rows as the catalogued
    file holds them (strings, categories, missing values); its score must be the one recorded
    on the run. LightGBM computes some recorded metrics itself, with float32 labels and its
    own summation order, so they are compared to within a relative 1e-7.
    """
    from tools.tracking.models import served_predictions
    from tools.training.metrics import get_metric, score

    name = "final model serves through pyfunc"
    uri = outcome.output.model_artifact_path
    run_id = outcome.output.mlflow_run_id
    if not uri:
        return Check(name=name, passed=False, run_id=run_id, detail="no model logged")
    if recorded is None:
        return Check(name=name, passed=False, run_id=run_id, detail=f"no valid_{metric} recorded")
    data = ctx.data
    # The file's columns as a user has them, less personal data: a failing check quotes rows.
    pii = [column for column, why in data.dropped.items() if why == "pii"]
    rows = data.raw.loc[ctx.split.X_valid.index].drop(columns=pii)
    try:
        pred = served_predictions(uri, rows, data.n_classes)
        served = score(get_metric(metric, data.task), ctx.split.y_valid, pred, data.n_classes)
    except Exception as exc:
        return Check(name=name, passed=False, run_id=run_id, detail=f"{uri}: {exc}"[:500])
    same = math.isclose(served, recorded, rel_tol=1e-7, abs_tol=1e-12)
    return Check(
        name=name,
        passed=same,
        run_id=run_id,
        detail=f"{uri} on {len(rows)} raw validation rows: valid_{metric} {served!r}"
        + (" = recorded" if same else f" but {recorded!r} recorded"),
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
    states, running = trial_run_states(experiment_id, parent_run_id)
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


def _git_check(label: str, tags: dict[str, str], run_id: str) -> Check:
    """Check the code version: a SHA passes, no checkout is a warning, a missing tag fails."""
    sha = tags.get("mlflow.source.git.commit")
    name = f"{label} git SHA"
    if sha == NOT_A_CHECKOUT:
        return Check(
            name=name,
            passed=True,
            warning=True,
            run_id=run_id,
            detail="not a git checkout: the code version is not recorded",
        )
    if not sha:
        return Check(name=name, passed=False, run_id=run_id, detail="no git SHA recorded")
    return Check(
        name=name,
        passed=True,
        run_id=run_id,
        detail=f"{sha[:12]} dirty={tags.get('trialrun.git.dirty')}",
    )


def _expect(label: str, what: str, actual: Any, expected: Any, run_id: str) -> Check:
    return Check(
        name=f"{label} {what}",
        passed=actual == expected,
        run_id=run_id,
        detail=f"{actual}" if actual == expected else f"expected {expected!r}, found {actual!r}",
    )
