"""The experiment's data: the catalogued dataset, validated and split as the request says."""

from __future__ import annotations

from typing import Any

from tools import settings as paths
from tools.data.catalog import Catalog, DatasetEntry
from tools.data.curate import recatalogue_command
from tools.data.load import load_curated
from tools.data.split import split
from tools.data.task import GIVEN_TASK, explain_task, task_for_metric
from tools.data.validate import prepare
from tools.errors import InputError
from tools.experiment.request import TuneRequest
from tools.training.metrics import METRICS, Task, get_metric, metrics_for
from tools.training.run import DataContext


def load_context(request: TuneRequest, *, catalog: Catalog | None = None) -> DataContext:
    """Load the catalogued dataset (from ``catalog``, else the request's), validate and split it."""
    catalog = catalog or Catalog.load(paths.catalog_path(request.catalog))
    entry, frame = load_curated(request.dataset, request.version, catalog=catalog)
    if request.target and request.target != entry.target:
        entry = entry.model_copy(update={"target": request.target})
    fractions = {"valid_fraction": request.valid_fraction, "test_fraction": request.test_fraction}
    # A task the person asked for is kept, and so is one the curator gave with --task (a metric
    # that does not fit is then refused, saying how to re-catalogue); otherwise the metric says
    # whether a whole-number target is classes or values.
    task = request.task
    curated = entry.task_reason == GIVEN_TASK
    if task is None and not curated and entry.target in frame.columns:
        task = task_for_metric(frame[entry.target], entry.task, get_metric(request.metric).tasks)
    data = prepare(frame, entry, task=task, **fractions)
    try:
        get_metric(request.metric, data.task)
    except InputError as exc:
        raise _metric_refusal(request, catalog, entry, frame, data.task, exc) from exc
    parts = split(data, seed=request.split_seed, **fractions)
    return DataContext(
        entry=entry, data=data, split=parts, split_seed=request.split_seed, **fractions
    )


def _metric_refusal(
    request: TuneRequest,
    catalog: Catalog,
    entry: DatasetEntry,
    frame: Any,
    task: Task,
    error: InputError,
) -> InputError:
    """Say why the metric does not fit: the task, how it was decided, how to re-catalogue."""
    if request.task is not None:
        how = "asked for in the request"
    else:
        how = (
            entry.task_reason
            or explain_task(frame[entry.target], task, given=False, target=entry.target).reason
        )
    metric = METRICS.get(request.metric)
    hint = f"For {task} use one of: {', '.join(metrics_for(task))}."
    if metric is not None:
        other: Task = "regression"
        if "regression" not in metric.tasks:
            other = "binary" if frame[entry.target].nunique() == 2 else "multiclass"
        hint += (
            f" If target {entry.target!r} is meant as {other}, catalogue it again: "
            f"{recatalogue_command(catalog, entry, other)}"
        )
    return InputError(
        f"Metric {request.metric!r} does not fit dataset {entry.ref!r}, which trains as {task} "
        f"({how}).",
        field=error.field,
        hint=hint,
    )
