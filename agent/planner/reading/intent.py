"""What one message asks for: the action and only the values it states."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal[
    "run_experiment",
    "answer",
    "query_runs",
    "show_run",
    "compare_runs",
    "metric_history",
    "reproduce_run",
    "list_datasets",
    "cancel_job",
    "cancel_all_jobs",
    "job_status",
    "list_jobs",
    "help",
    "confirm",
    "decline",
    "unknown",
]
RUN_QUERIES: frozenset[str] = frozenset(
    {"query_runs", "show_run", "compare_runs", "metric_history", "reproduce_run"}
)
"""Actions about past runs: for them an experiment name filters runs instead of naming a new one."""


class Intent(BaseModel):
    """What one message asks for, and only the values it states.

    Attributes:
        action: What the person wants done.
        fields: ``RequestDraft`` field values the message states (``dataset``, ``version``,
            ``target``, ``model``, ``metric``, ``direction``, ``optimize``, ``experiment``,
            ``runtime``, ``approve``, ``seeds``), plus ``budget``: a partial dict with any of
            ``trials``, ``seconds``, ``cpus``, ``gpus``, ``parallel``.
        run_ids: MLflow run IDs or run names, for ``show_run``, ``compare_runs``,
            ``metric_history`` and ``reproduce_run``.
        job_id: The job of ``cancel_job`` or ``job_status``.
        metric_key: The MLflow metric key of ``metric_history``, as written.
        experiment: The experiment a run query is about.
        since: The start of a run query's time window.
        order: How ``query_runs`` ranks: the best or the latest runs.
        order_by: An MLflow ordering for ``query_runs`` by a metric's extreme ("which run had
            the lowest rmse": ``metrics.valid_rmse ASC``).
        deploy_requested: The phrases that ask to deploy, register, promote, stage or serve a
            model; trialrun does none of these, so a non-empty list must be refused out loud.
        rejected: For each field the message asks for what trialrun cannot do as asked (an
            unsupported metric, model family or task, a count that is no count), why, with the
            supported choices; such a value is never mapped to a neighbour.
        spans: For each value returned, the exact text it came from (budget parts as
            ``budget.trials`` and so on).

    Example:
        >>> from agent.planner.reading.message import read_message
        >>> intent = read_message("tune xgboost on churn v3, 20 trials, seeds 1 2 3")
        >>> intent.action, intent.fields["budget"], intent.spans["version"]
        ('run_experiment', {'trials': 20}, 'churn v3')
    """

    model_config = ConfigDict(extra="forbid")

    action: Action
    fields: dict[str, Any]
    run_ids: list[str] = Field(default_factory=list)
    job_id: str | None = None
    metric_key: str | None = None
    experiment: str | None = None
    since: datetime | None = None
    order: Literal["best", "latest"] | None = None
    order_by: str | None = None
    deploy_requested: list[str] = Field(default_factory=list)
    rejected: dict[str, str] = Field(default_factory=dict)
    spans: dict[str, str] = Field(default_factory=dict)
