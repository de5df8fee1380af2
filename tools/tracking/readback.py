"""What verification reads back of a finished experiment: whole runs, and its trial runs' states.

Unlike :mod:`tools.tracking.query`, which answers people and the model with runs cut to a
readable size, these return everything a run holds, so a check can compare it with what the
experiment meant to record.
"""

from __future__ import annotations

from typing import Any

from tools.stores import store_failure
from tools.tracking.runs import client

MAX_TRIAL_RUNS = 5000


def read_run(run_id: str) -> tuple[dict[str, Any] | None, str]:
    """Return a run as plain data (status, params, metrics, tags, dataset inputs), or an error."""
    try:
        run = client().get_run(run_id)
    except Exception as exc:  # a missing run and an unreachable server both fail the check
        return None, store_failure(exc) or f"{type(exc).__name__}: {exc}"
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


def trial_run_states(experiment_id: str, parent_run_id: str) -> tuple[dict[str, int], int]:
    """Count the parent's trial runs by Optuna state, and how many are still RUNNING.

    A run's state is its ``trialrun.trial_state`` tag, else ``FAIL`` for a FAILED or KILLED run,
    else its MLflow status.
    """
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
    return states, running
