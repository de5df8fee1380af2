"""Undoing an experiment: its parent run, every child run, their logged models and its study.

What an experiment created is found from its record, not from memory: the runs whose parent is
the experiment's parent run, the logged models whose source is one of those runs, and the
Optuna study named on the parent. Nothing else is touched — not the MLflow experiment (other
runs may share it), not runs that merely link to these (a reproduction is a run of its own).

Runs and logged models are deleted the way ``mlflow runs delete`` deletes (the ``deleted``
lifecycle stage, which ``mlflow gc`` then purges); the study is deleted from its storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tools import settings
from tools.errors import InputError
from tools.tracking.runs import client

PAGE = 1000


@dataclass(frozen=True)
class RollbackPlan:
    """What undoing one experiment deletes.

    Attributes:
        parent_run_id: The experiment's parent run.
        experiment_id: Its MLflow experiment.
        runs: Every child run, then the parent.
        models: The logged models of those runs.
        study: The Optuna study's name, when the experiment tuned.
        storage: The Optuna storage the study is looked for in.
    """

    parent_run_id: str
    experiment_id: str
    runs: tuple[str, ...]
    models: tuple[str, ...]
    study: str | None
    storage: str


@dataclass
class RollbackResult:
    """What was deleted, and what was already gone."""

    runs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    study: str | None = None
    notes: list[str] = field(default_factory=list)


def command(parent_run_id: str) -> str:
    """Return the command that undoes the experiment of ``parent_run_id``."""
    return f"trialrun rollback {parent_run_id}"


def plan_rollback(parent_run_id: str, *, storage: str | None = None) -> RollbackPlan:
    """Read from the store what the experiment of ``parent_run_id`` created.

    Raises:
        InputError: No such run, or the run is not an experiment's parent run.
    """
    mlflow_client = client()
    try:
        parent = mlflow_client.get_run(parent_run_id)
    except Exception as exc:
        raise InputError(
            f"No run {parent_run_id!r} in the tracking store {settings.tracking_uri()!r}.",
            field="run_id",
            hint="Pass the parent run ID the report's Changes section lists.",
        ) from exc
    tags = parent.data.tags
    if tags.get("trialrun.role") != "parent":
        above = tags.get("mlflow.parentRunId")
        raise InputError(
            f"Run {parent_run_id!r} is a {tags.get('trialrun.role', 'non-trialrun')!r} run, not "
            "an experiment's parent run.",
            field="run_id",
            hint=f"Roll back its parent: {command(above)}." if above else None,
        )
    experiment_id = parent.info.experiment_id
    children = _search(
        mlflow_client,
        experiment_id,
        f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
    )
    runs = (*(run.info.run_id for run in children), parent_run_id)
    wanted = set(runs)
    models = tuple(
        model.model_id
        for model in _logged_models(mlflow_client, experiment_id)
        if model.source_run_id in wanted
    )
    return RollbackPlan(
        parent_run_id=parent_run_id,
        experiment_id=experiment_id,
        runs=runs,
        models=models,
        study=tags.get("optuna.study"),
        storage=storage or settings.optuna_storage(),
    )


def apply_rollback(plan: RollbackPlan) -> RollbackResult:
    """Delete what ``plan`` lists: models, then child runs, then the parent, then the study."""
    import optuna

    mlflow_client = client()
    result = RollbackResult()
    for model_id in plan.models:
        mlflow_client.delete_logged_model(model_id)
        result.models.append(model_id)
    for run_id in plan.runs:
        mlflow_client.delete_run(run_id)
        result.runs.append(run_id)
    if plan.study is not None:
        try:
            optuna.delete_study(study_name=plan.study, storage=plan.storage)
            result.study = plan.study
        except KeyError:
            result.notes.append(f"study {plan.study!r} is not in the Optuna storage (none ran)")
    return result


def _search(mlflow_client: Any, experiment_id: str, filter_string: str) -> list[Any]:
    found: list[Any] = []
    token = None
    while True:
        page = mlflow_client.search_runs(
            [experiment_id], filter_string=filter_string, max_results=PAGE, page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def _logged_models(mlflow_client: Any, experiment_id: str) -> list[Any]:
    found: list[Any] = []
    token = None
    while True:
        page = mlflow_client.search_logged_models([experiment_id], page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found
