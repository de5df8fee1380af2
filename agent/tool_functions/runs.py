"""The tracked-run tools: search, show and compare runs, read a metric's history, replay a run.

Each one that finds runs also adds them as a table for the person (``AgentContext.tables``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain.tools import ToolRuntime

from agent.context import AgentContext
from agent.tool_functions.results import dump, result


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
    return dump(found)


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
    return dump(run)


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
    return dump(found)


def metric_history(run_id: str, key: str) -> str:
    """Return a metric's history (per boosting round) for one run.

    Args:
        run_id: MLflow run ID.
        key: Metric key, e.g. "round_valid_auc".
    """
    from tools.tracking import query

    return dump(query.metric_history(run_id, key))


def reproduce_run(run_id: str) -> str:
    """Train a baseline, trial or final run again from its record, as a new linked run.

    Refuses when the data's digest or a library's version differs from the record. Reports
    whether every replayed score equals the recorded one to the last digit.

    Args:
        run_id: MLflow run ID of the run to replay.
    """
    from tools.experiment.reproduce import reproduce

    replay = reproduce(run_id)
    return result(
        status="identical" if replay.identical else "different",
        original_run_id=replay.original_run_id,
        replay_run_id=replay.run_id,
        scores={k: {"recorded": a, "replayed": b} for k, (a, b) in replay.metrics.items()},
        notes=list(replay.notes),
    )
