"""The task of a target: inferred from what it holds, or checked against the one given.

Whole numbers are the ambiguous case: at most :data:`MAX_INFERRED_CLASSES` distinct values read
as class codes, more as quantities. The catalog records the choice and how it was made, so
training never depends on the inference rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tools.data.catalog import TASKS, Task
from tools.errors import DataError, InputError

GIVEN_TASK = "given with --task"
"""How a catalog entry records a task its curator stated (never second-guessed)."""
MAX_INFERRED_CLASSES = 20
"""A whole-number target with at most this many distinct values is inferred as classification."""


def label_value(value: Any) -> Any:
    """Return a numpy scalar as the Python value, so messages and labels read naturally."""
    return value.item() if isinstance(value, np.generic) else value


def is_numeric(y: pd.Series) -> bool:
    """Return whether ``y`` holds numbers (booleans are labels, not numbers)."""
    return ptypes.is_numeric_dtype(y.dtype) and not ptypes.is_bool_dtype(y.dtype)


def _infer_task(y: pd.Series) -> Task:
    distinct = y.nunique()
    if is_numeric(y):
        values = y.to_numpy(dtype=float)
        whole = bool(np.all(np.mod(values, 1) == 0))
        if not whole or distinct > MAX_INFERRED_CLASSES:
            return "regression"
    return "binary" if distinct == 2 else "multiclass"


@dataclass(frozen=True)
class TaskChoice:
    """The task of a target and how it was decided.

    Attributes:
        task: The task.
        reason: How it was decided, in words (``given with --task``, or what the target holds).
        alternative: The other reading of an ambiguous whole-number target, when there is one.
    """

    task: Task
    reason: str
    alternative: Task | None = None


def explain_task(y: pd.Series, task: Task, *, given: bool, target: str) -> TaskChoice:
    """Return how ``task`` follows from target ``y`` (or that it was given), and any ambiguity.

    Whole numbers are the ambiguous case: at most :data:`MAX_INFERRED_CLASSES` distinct values
    read as class codes, more as quantities, and either reading can be wrong.
    """
    distinct = int(y.nunique())
    whole = is_numeric(y) and bool(np.all(np.mod(y.to_numpy(dtype=float), 1) == 0))
    alternative: Task | None = None
    if whole and distinct > 2:
        alternative = "regression" if task != "regression" else "multiclass"
    if given:
        return TaskChoice(task, GIVEN_TASK, None)
    if not is_numeric(y):
        return TaskChoice(task, f"inferred: target {target!r} holds {distinct} distinct labels")
    if not whole:
        return TaskChoice(task, f"inferred: target {target!r} holds fractional numbers")
    limit = MAX_INFERRED_CLASSES
    if task == "regression":
        why = f"{distinct} distinct whole numbers, more than the {limit} read as class codes"
    else:
        why = f"{distinct} distinct whole numbers (up to {limit} are read as class codes)"
    return TaskChoice(task, f"inferred: target {target!r} holds {why}", alternative)


def choose_task(y: pd.Series, requested: str | None, target: str) -> Task:
    """Return ``requested`` when target ``y`` can be trained as it, else infer the task.

    Raises:
        InputError: ``requested`` is not a task.
        DataError: The target cannot be trained as ``requested``.
    """
    if requested is None:
        return _infer_task(y)
    if requested not in TASKS:
        raise InputError(
            f"Unknown task {requested!r}.", field="task", hint=f"Use one of: {', '.join(TASKS)}."
        )
    distinct = y.nunique()
    if requested == "regression" and not is_numeric(y):
        raise DataError(
            f"Task 'regression' needs a numeric target, but {target!r} has dtype "
            f"{str(y.dtype)!r} (values such as {label_value(y.iloc[0])!r}).",
            field="task",
            hint="Use binary or multiclass, or pick a numeric target.",
        )
    if requested == "binary" and distinct != 2:
        raise DataError(
            f"Task 'binary' needs exactly 2 classes, but target {target!r} has {distinct}.",
            field="task",
            hint="Use multiclass.",
        )
    if requested == "multiclass" and distinct < 3:
        raise DataError(
            f"Task 'multiclass' needs at least 3 classes, but target {target!r} has {distinct}.",
            field="task",
            hint="Use binary.",
        )
    return requested


def task_for_metric(y: pd.Series, task: Task | None, metric_tasks: Sequence[Task]) -> Task | None:
    """Return the task a metric implies when the given (catalogued or inferred) one does not fit.

    A whole-number target with more than :data:`MAX_INFERRED_CLASSES` values is inferred as
    regression and one with a few values as classification; a request for ``log_loss`` or
    ``rmse`` on it says which the person means. ``task`` is returned unchanged when the metric
    fits it, or when the metric fits no task the target can have (the metric check then says so).

    Example:
        >>> task_for_metric(pd.Series([1, 2, 3] * 10), "regression", ("binary", "multiclass"))
        'multiclass'
    """
    if task is None or task in metric_tasks:
        return task
    if "regression" in metric_tasks:
        return "regression" if is_numeric(y) else task
    return "binary" if y.nunique() == 2 else "multiclass"
