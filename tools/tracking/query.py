"""Reading runs back from MLflow: small, bounded answers for a person or a model.

Whatever the store holds, every answer has a fixed maximum size: at most :data:`MAX_RUNS` runs,
:data:`MAX_KEYS` parameters, metrics or tags per run, :data:`MAX_POINTS` points of a metric history
and :data:`MAX_TEXT` characters per value. What was left out is said in the answer's ``cut`` list,
so a reader never mistakes a cut answer for a whole one. Values are redacted on the way out too,
in case another tool wrote to the same store.

Example:
    >>> runs = search_runs("wine-v1", order_by="metrics.valid_log_loss ASC", limit=5)  # doctest: +SKIP
    >>> runs.runs[0].metrics["valid_log_loss"]  # doctest: +SKIP
    0.061
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from tools import settings
from tools.errors import InputError
from tools.redact import redact
from tools.tracking.runs import client

MAX_RUNS = 50
MAX_KEYS = 40
MAX_LIST_KEYS = 12
MAX_TEXT = 300
MAX_POINTS = 200
MAX_COMPARE = 10
MAX_NAMED = 20
_SHOWN_TAG_PREFIXES = ("trialrun.", "dataset.", "optuna.")


class RunSummary(BaseModel):
    """One run: identity, state, and capped parameters, metrics and tags."""

    run_id: str
    name: str | None
    experiment_id: str
    status: str
    role: str | None
    parent_run_id: str | None
    git_commit: str | None
    start_time: str | None
    duration_seconds: float | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    datasets: list[str] = Field(default_factory=list)
    artifacts: list[str] = Field(default_factory=list)
    cut: list[str] = Field(default_factory=list)


class RunList(BaseModel):
    """The runs a search found, in the order asked for."""

    experiments: list[str]
    filter: str | None
    order_by: list[str]
    runs: list[RunSummary]
    more: bool
    cut: list[str] = Field(default_factory=list)


class RunComparison(BaseModel):
    """Runs side by side: each parameter and metric with every run's value (None when absent)."""

    run_ids: list[str]
    names: dict[str, str | None]
    experiment_ids: dict[str, str] = Field(default_factory=dict)
    params: dict[str, dict[str, str | None]]
    metrics: dict[str, dict[str, float | None]]
    differing_params: list[str]
    cut: list[str] = Field(default_factory=list)


class MetricHistory(BaseModel):
    """A metric's values by step; long histories are downsampled, with the extremes kept."""

    run_id: str
    key: str
    total_points: int
    points: list[tuple[int, float]]
    min: tuple[int, float] | None
    max: tuple[int, float] | None
    last: tuple[int, float] | None
    cut: list[str] = Field(default_factory=list)


def search_runs(
    experiment: str | None = None,
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int = 10,
) -> RunList:
    """Search runs of one experiment (or every experiment), newest first unless ordered.

    Args:
        experiment: Experiment name (or id); every experiment when None.
        filter: An MLflow filter, e.g. ``"metrics.valid_rmse < 0.5 and params.family = 'xgboost'"``.
        order_by: MLflow orderings, e.g. ``"metrics.valid_roc_auc DESC"``.
        limit: Most runs to return, 1 to :data:`MAX_RUNS`.

    Raises:
        InputError: An unknown experiment (the message lists the existing ones), a filter or
            ordering MLflow cannot parse, or a limit below 1.
    """
    if limit < 1:
        raise InputError(
            f"limit {limit!r} is below 1.", field="limit", hint="Ask for 1 to 50 runs."
        )
    cut = []
    if limit > MAX_RUNS:
        cut.append(f"limit {limit} lowered to {MAX_RUNS}")
        limit = MAX_RUNS
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    mlflow_client = client()
    if experiment is None:
        found = mlflow_client.search_experiments(max_results=1000)
        ids, names = [e.experiment_id for e in found], [e.name for e in found]
    else:
        known = _experiment(mlflow_client, experiment)
        ids, names = [known.experiment_id], [known.name]
    try:
        runs = mlflow_client.search_runs(
            ids, filter_string=filter or "", max_results=limit + 1, order_by=orders or None
        )
    except Exception as exc:
        if not _is_invalid_input(exc):
            raise
        raise InputError(
            f"MLflow cannot use filter {filter!r} / order_by {orders!r}: {_text(str(exc))}",
            field="filter",
            hint="Use MLflow's search syntax, e.g. \"metrics.valid_rmse < 0.5 and "
            'params.family = \'xgboost\'" and "metrics.valid_rmse ASC".',
        ) from exc
    summaries = [_summary(run, MAX_LIST_KEYS) for run in runs[:limit]]
    if len(names) > MAX_NAMED:
        cut.append(f"{len(names) - MAX_NAMED} more experiments searched but not named")
    return RunList(
        experiments=names[:MAX_NAMED],
        filter=filter,
        order_by=orders,
        runs=summaries,
        more=len(runs) > limit,
        cut=cut,
    )


def get_run(run_id: str) -> RunSummary:
    """Return one run with its parameters, metrics, tags, datasets and top-level artifacts.

    Raises:
        InputError: No run has this id.
    """
    mlflow_client = client()
    run = _run(mlflow_client, run_id)
    summary = _summary(run, MAX_KEYS)
    summary.datasets = [
        _text(f"{d.dataset.name} (digest {d.dataset.digest})")
        for d in run.inputs.dataset_inputs[:MAX_NAMED]
    ]
    artifacts = [a.path for a in mlflow_client.list_artifacts(run_id)]
    summary.artifacts = artifacts[:MAX_NAMED]
    _note(summary.cut, len(run.inputs.dataset_inputs), MAX_NAMED, "datasets")
    _note(summary.cut, len(artifacts), MAX_NAMED, "artifacts")
    return summary


def compare_runs(run_ids: Sequence[str]) -> RunComparison:
    """Put runs side by side: every parameter and metric, with the parameters that differ first.

    Args:
        run_ids: Two to :data:`MAX_COMPARE` run IDs.

    Raises:
        InputError: Fewer than two or more than :data:`MAX_COMPARE` IDs, or an unknown run.
    """
    ids = list(dict.fromkeys(run_ids))
    if not 2 <= len(ids) <= MAX_COMPARE:
        raise InputError(
            f"compare_runs needs 2 to {MAX_COMPARE} distinct run IDs, got {len(ids)}: {ids!r}.",
            field="run_ids",
            hint="Pick the runs to compare with search_runs first.",
        )
    mlflow_client = client()
    runs = [_run(mlflow_client, run_id) for run_id in ids]
    cut: list[str] = []
    params = _side_by_side(ids, [_clip(dict(r.data.params), cut, "params") for r in runs])
    metrics = _side_by_side(ids, [dict(r.data.metrics) for r in runs])
    differing = [k for k, values in params.items() if len(set(values.values())) > 1]
    params = {k: params[k] for k in differing + [k for k in params if k not in differing]}
    _note(cut, len(params), MAX_KEYS, "params")
    _note(cut, len(metrics), MAX_KEYS, "metrics")
    return RunComparison(
        run_ids=ids,
        names={r.info.run_id: r.info.run_name for r in runs},
        experiment_ids={r.info.run_id: r.info.experiment_id for r in runs},
        params=dict(list(params.items())[:MAX_KEYS]),
        metrics=dict(list(metrics.items())[:MAX_KEYS]),
        differing_params=differing[:MAX_KEYS],
        cut=cut,
    )


def metric_history(run_id: str, key: str) -> MetricHistory:
    """Return the values of metric ``key`` by step (boosting round for ``round_*`` curves).

    Raises:
        InputError: No run has this id, or the run has no metric ``key`` (the message lists its
            metrics).
    """
    mlflow_client = client()
    run = _run(mlflow_client, run_id)
    if key not in run.data.metrics:
        keys = sorted(run.data.metrics)
        raise InputError(
            f"Run {run_id!r} has no metric {key!r}.",
            field="key",
            hint=f"Its metrics: {', '.join(keys[:MAX_KEYS]) or 'none'}"
            f"{' ...' if len(keys) > MAX_KEYS else ''}.",
        )
    history = sorted(mlflow_client.get_metric_history(run_id, key), key=_point_order)
    points = [(int(m.step), float(m.value)) for m in history]
    cut = []
    shown = points
    if len(points) > MAX_POINTS:
        last = len(points) - 1
        indices = sorted({round(i * last / (MAX_POINTS - 1)) for i in range(MAX_POINTS)})
        shown = [points[i] for i in indices]
        cut.append(
            f"{len(points)} points downsampled to {len(shown)} evenly spaced ones "
            "(first and last kept; min and max are over every point)"
        )
    return MetricHistory(
        run_id=run_id,
        key=key,
        total_points=len(points),
        points=shown,
        min=min(points, key=lambda p: p[1]) if points else None,
        max=max(points, key=lambda p: p[1]) if points else None,
        last=points[-1] if points else None,
        cut=cut,
    )


def _point_order(metric: Any) -> tuple[int, int]:
    return int(metric.step), int(metric.timestamp)


def _summary(run: Any, max_keys: int) -> RunSummary:
    info, data = run.info, run.data
    cut: list[str] = []
    shown_tags = sorted(k for k in data.tags if k.startswith(_SHOWN_TAG_PREFIXES))
    _note(cut, len(data.params), max_keys, "params")
    _note(cut, len(data.metrics), max_keys, "metrics")
    _note(cut, len(shown_tags), max_keys, "tags")
    params = _clip({k: data.params[k] for k in sorted(data.params)[:max_keys]}, cut, "params")
    metrics = {k: float(data.metrics[k]) for k in sorted(data.metrics)[:max_keys]}
    tags = _clip({k: data.tags[k] for k in shown_tags[:max_keys]}, cut, "tags")
    end = info.end_time
    return RunSummary(
        run_id=info.run_id,
        name=_text(info.run_name) if info.run_name else None,
        experiment_id=info.experiment_id,
        status=info.status,
        role=data.tags.get("trialrun.role"),
        parent_run_id=data.tags.get("mlflow.parentRunId"),
        git_commit=data.tags.get("mlflow.source.git.commit"),
        start_time=_iso(info.start_time),
        duration_seconds=(end - info.start_time) / 1000 if end and info.start_time else None,
        params=params,
        metrics=metrics,
        tags=tags,
        cut=cut,
    )


def _side_by_side(ids: list[str], per_run: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keys = sorted({k for values in per_run for k in values})
    return {
        k: {run_id: values.get(k) for run_id, values in zip(ids, per_run, strict=True)}
        for k in keys
    }


def _experiment(mlflow_client: Any, name_or_id: str) -> Any:
    found = mlflow_client.get_experiment_by_name(name_or_id)
    if found is None and name_or_id.isdigit():
        try:
            found = mlflow_client.get_experiment(name_or_id)
        except Exception as exc:
            if not _is_missing(exc):
                raise
    if found is not None:
        return found
    names = [e.name for e in mlflow_client.search_experiments(max_results=MAX_NAMED + 1)]
    listing = ", ".join(repr(n) for n in names[:MAX_NAMED]) or "none"
    raise InputError(
        f"No experiment {name_or_id!r} in the tracking store {settings.tracking_uri()!r}.",
        field="experiment",
        hint=f"Experiments there: {listing}{' ...' if len(names) > MAX_NAMED else ''}. "
        "Leave the experiment out to search them all.",
    )


def _run(mlflow_client: Any, run_id: str) -> Any:
    try:
        return mlflow_client.get_run(run_id)
    except Exception as exc:
        if not (_is_missing(exc) or _is_invalid_input(exc)):
            raise
        raise InputError(
            f"No run {run_id!r} in the tracking store {settings.tracking_uri()!r}.",
            field="run_id",
            hint="Find run IDs with search_runs (optionally for one experiment).",
        ) from exc


def _error_code(exc: Exception) -> str | None:
    from mlflow.exceptions import MlflowException

    return exc.error_code if isinstance(exc, MlflowException) else None


def _is_missing(exc: Exception) -> bool:
    return _error_code(exc) == "RESOURCE_DOES_NOT_EXIST"


def _is_invalid_input(exc: Exception) -> bool:
    return _error_code(exc) in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")


def _text(value: str) -> str:
    value = redact(value)
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."


def _clip(values: dict[str, str], cut: list[str], what: str) -> dict[str, str]:
    """Redact and shorten every value; say once which were shortened."""
    long = [k for k, v in values.items() if len(redact(v)) > MAX_TEXT]
    if long:
        named = ", ".join(repr(k) for k in long[:5]) + (" ..." if len(long) > 5 else "")
        cut.append(f"{len(long)} {what} cut to {MAX_TEXT} characters: {named}")
    return {k: _text(v) for k, v in values.items()}


def _note(cut: list[str], total: int, shown: int, what: str) -> None:
    if total > shown:
        cut.append(f"{total - shown} more {what} not shown ({total} in all)")


def _iso(millis: int | None) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds")
