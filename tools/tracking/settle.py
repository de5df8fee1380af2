"""Settling MLflow runs that nobody will finish: what a killed process or worker left RUNNING.

A run is KILLED, never FINISHED: whoever reads the experiment sees that it did not complete.
Children are settled before their parents, so a parent never ends while something under it runs.
"""

from __future__ import annotations

from typing import Any

from tools.errors import ConfigError
from tools.redact import redact
from tools.tracking.runs import client

RUN_JOB_TAG = "trialrun.job_id"
"""The MLflow tag naming the job a run was created in."""

_MAX_RUNS = 10_000
_PAGE = 1000


def kill_running_runs(
    tracking_uri: str, parent_run_id: str, *, only_job: str | None = None
) -> list[str]:
    """Mark the parent run and its descendants that are RUNNING as KILLED; return a line per run.

    Args:
        tracking_uri: The tracking store.
        parent_run_id: The experiment's parent run.
        only_job: Kill only the runs this job created (tagged :data:`RUN_JOB_TAG`) and the runs
            under them, never the parent.

    Raises:
        ConfigError: The tracking store cannot be read.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow_client = MlflowClient(tracking_uri=tracking_uri)
    try:
        parent = mlflow_client.get_run(parent_run_id)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return [f"mlflow run {parent_run_id} not found at {redact(tracking_uri)}"]
        raise ConfigError(f"Cannot read MLflow run {parent_run_id!r}: {exc.message}") from exc
    runs = [parent, *_descendants(mlflow_client, parent.info.experiment_id, parent_run_id)]
    if only_job is not None:
        owned: set[str] = set()
        for run in runs[1:]:  # parents come before their children
            if (
                run.data.tags.get(RUN_JOB_TAG) == only_job
                or run.data.tags.get("mlflow.parentRunId") in owned
            ):
                owned.add(run.info.run_id)
        runs = [run for run in runs if run.info.run_id in owned]
    lines = []
    # Children first: whoever watches the parent sees it end after everything under it.
    for run in reversed(runs):
        if run.info.status == "RUNNING":
            mlflow_client.set_terminated(run.info.run_id, "KILLED")
            lines.append(f"mlflow run {run.info.run_id} → KILLED")
    return lines


def close_orphans(experiment_id: str, parent_run_id: str) -> None:
    """Mark the parent's child runs still RUNNING as KILLED, in trialrun's tracking store.

    Call it when nothing can still be writing them: when an interrupted experiment resumes, or
    once every worker of a distributed study has ended. The parent itself is left as it is.
    """
    mlflow_client = client()
    orphans = mlflow_client.search_runs(
        [experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' "
        "and attributes.status = 'RUNNING'",
        max_results=_PAGE,
    )
    for run in orphans:
        mlflow_client.set_terminated(run.info.run_id, "KILLED")


def attach_text(tracking_uri: str, run_id: str, text: str, path: str) -> None:
    """Write ``text`` as the artifact ``path`` of run ``run_id`` in the store at ``tracking_uri``."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).log_text(run_id, text, path)


def _descendants(mlflow_client: Any, experiment_id: str, root: str) -> list[Any]:
    found: list[Any] = []
    frontier = [root]
    while frontier and len(found) < _MAX_RUNS:
        parent = frontier.pop()
        token = None
        while len(found) < _MAX_RUNS:
            page = mlflow_client.search_runs(
                [experiment_id],
                filter_string=f"tags.mlflow.parentRunId = '{parent}'",
                max_results=_PAGE,
                page_token=token,
            )
            found.extend(page)
            frontier.extend(run.info.run_id for run in page)
            token = page.token
            if not token:
                break
    return found[:_MAX_RUNS]
