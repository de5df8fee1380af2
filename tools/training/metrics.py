"""The metrics trialrun optimises, their direction and the tasks they fit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from tools.errors import InputError

Task = Literal["binary", "multiclass", "regression"]
Direction = Literal["maximize", "minimize"]
MetricName = Literal["roc_auc", "log_loss", "accuracy", "f1", "rmse", "mae", "r2"]


@dataclass(frozen=True)
class Metric:
    """A metric: its name, direction, the tasks it fits and whether it scores probabilities."""

    name: MetricName
    direction: Direction
    tasks: tuple[Task, ...]
    uses_proba: bool

    def better(self, a: float, b: float) -> bool:
        """Return True when ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "maximize" else a < b


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", "maximize", ("binary", "multiclass"), True),
        Metric("log_loss", "minimize", ("binary", "multiclass"), True),
        Metric("accuracy", "maximize", ("binary", "multiclass"), False),
        Metric("f1", "maximize", ("binary", "multiclass"), False),
        Metric("rmse", "minimize", ("regression",), False),
        Metric("mae", "minimize", ("regression",), False),
        Metric("r2", "maximize", ("regression",), False),
    )
}

DEFAULT_METRIC: dict[Task, MetricName] = {
    "binary": "roc_auc",
    "multiclass": "log_loss",
    "regression": "rmse",
}


def metrics_for(task: Task) -> list[str]:
    """Return the metric names that fit ``task``."""
    return [name for name, m in METRICS.items() if task in m.tasks]


def get_metric(name: str, task: Task | None = None) -> Metric:
    """Look a metric up by name, refusing one that is unknown or does not fit ``task``.

    Example:
        >>> get_metric("rmse", "regression").direction
        'minimize'
    """
    metric = METRICS.get(name)
    if metric is None:
        raise InputError(
            f"Unknown metric {name!r}.",
            field="metric",
            hint=f"Use one of: {', '.join(METRICS)}.",
        )
    if task is not None and task not in metric.tasks:
        raise InputError(
            f"Metric {name!r} does not fit a {task} task.",
            field="metric",
            hint=f"For {task} use one of: {', '.join(metrics_for(task))}.",
        )
    return metric


def score(metric: Metric, y_true: np.ndarray, pred: np.ndarray, n_classes: int | None) -> float:
    """Score predictions; ``pred`` holds probabilities for classification, values otherwise."""
    from sklearn import metrics as skm

    if metric.name in ("rmse", "mae", "r2"):
        if metric.name == "rmse":
            return float(np.sqrt(skm.mean_squared_error(y_true, pred)))
        if metric.name == "mae":
            return float(skm.mean_absolute_error(y_true, pred))
        return float(skm.r2_score(y_true, pred))
    proba = _as_proba_matrix(pred, n_classes or 2)
    labels = np.arange(proba.shape[1])
    if metric.name == "log_loss":
        return float(skm.log_loss(y_true, proba, labels=labels))
    if metric.name == "roc_auc":
        if proba.shape[1] == 2:
            return float(skm.roc_auc_score(y_true, proba[:, 1]))
        return float(skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=labels))
    hard = proba.argmax(axis=1)
    if metric.name == "accuracy":
        return float(skm.accuracy_score(y_true, hard))
    average = "binary" if proba.shape[1] == 2 else "macro"
    return float(skm.f1_score(y_true, hard, average=average))


def _as_proba_matrix(pred: np.ndarray, n_classes: int) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim == 1:
        return np.column_stack([1.0 - pred, pred])
    # Libraries return float32 probabilities whose rows sum to 1 only to float32 precision.
    matrix = pred.reshape(len(pred), n_classes)
    return matrix / matrix.sum(axis=1, keepdims=True)
