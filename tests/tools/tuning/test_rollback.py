"""The Rollback section's command, run as written, removes exactly what the experiment created."""

from __future__ import annotations

import shlex

import mlflow
import optuna

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from agent.pipeline import run_pipeline
from agent.request import ExperimentRequest
from tools import settings


def experiment(seeds: list[int]) -> ExperimentRequest:
    return ExperimentRequest.model_validate(
        {
            "dataset": "breast_cancer",
            "version": "v1",
            "metric": "roc_auc",
            "model": "both",
            "budget": {"trials": 3, "seconds": 20, "cpus": 1},
            "seeds": seeds,
            "experiment": "rollback-test",
        }
    )


def rollback_step(steps: list[str]) -> str:
    (step,) = [s for s in steps if s.startswith("undo it")]
    return step.split(": ", 1)[1]


def created(client: mlflow.MlflowClient, parent: str) -> tuple[set[str], set[str]]:
    """Every run of the experiment whose parent run is ``parent``, and their logged models."""
    runs = client.search_runs(
        [client.get_run(parent).info.experiment_id],
        run_view_type=mlflow.entities.ViewType.ALL,
        max_results=5000,
    )
    ids = {
        r.info.run_id
        for r in runs
        if parent in (r.info.run_id, r.data.tags.get("mlflow.parentRunId"))
    }
    models = {o.model_id for r in runs if r.info.run_id in ids for o in r.outputs.model_outputs}
    return ids, models


def test_the_rollback_command_removes_one_experiment_and_nothing_else(
    examples_catalog, tracking_store, capsys
) -> None:
    first = run_pipeline(experiment([1, 2]))
    second = run_pipeline(experiment([3]))
    assert first.status == second.status == "succeeded"
    client = mlflow.MlflowClient(settings.tracking_uri())
    parents = [c.id for r in (first, second) for c in r.changes.items if c.kind == "parent_run"]
    studies = [c.id for r in (first, second) for c in r.changes.items if c.kind == "study"]
    (runs, models), (kept_runs, kept_models) = (created(client, p) for p in parents)
    # baselines of both families, the trials, the finals, the parent
    assert len(runs) == 2 + sum(first.summary.trials.values()) + 2 + 1
    assert len(models) == 2 + 2

    command = rollback_step(first.rollback.steps)
    assert command == f"trialrun rollback {parents[0]}"
    assert main(shlex.split(command)[1:]) == ExitCode.OK

    out = capsys.readouterr().out
    assert f"Deleted {len(runs)} runs and {len(models)} logged models, and study" in out
    assert {r for r in runs if client.get_run(r).info.lifecycle_stage == "deleted"} == runs
    left = {
        m.model_id
        for m in client.search_logged_models([client.get_run(parents[1]).info.experiment_id])
    }
    assert left == kept_models
    assert all(client.get_run(r).info.lifecycle_stage == "active" for r in kept_runs)
    names = {s.study_name for s in optuna.get_all_study_summaries(settings.optuna_storage())}
    assert studies[0] not in names and studies[1] in names


def test_rolling_back_a_child_run_points_at_its_parent(
    examples_catalog, tracking_store, capsys
) -> None:
    report = run_pipeline(experiment([1]).model_copy(update={"optimize": False}))
    final = report.summary.best_run_id
    parent = next(c.id for c in report.changes.items if c.kind == "parent_run")

    assert main(["rollback", str(final)]) == ExitCode.USAGE
    assert (
        f"is a 'final' run, not an experiment's parent run. Roll back its parent: trialrun rollback {parent}."
        in (capsys.readouterr().err)
    )
    assert f"see first what that deletes: trialrun rollback {parent} --dry-run" in (
        report.rollback.steps
    )
    assert main(["rollback", parent, "--dry-run"]) == ExitCode.OK
    assert (
        mlflow.MlflowClient(settings.tracking_uri()).get_run(parent).info.lifecycle_stage
        == "active"
    )
    assert main(["rollback", "0" * 32]) == ExitCode.USAGE
    assert "No run '0000" in capsys.readouterr().err
