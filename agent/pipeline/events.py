"""The progress events the pipeline sends to live displays (the terminal, CI logs, Slack).

Each event is a frozen dataclass; a display ``match``-es on the classes of :data:`ProgressEvent`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StageStarted:
    """A phase of the experiment began.

    Attributes:
        name: The phase, e.g. ``validate data``, ``baseline``, ``tune``, ``final training``.
        detail: What it works on, e.g. the dataset, the family or the trials.
    """

    name: str
    detail: str


@dataclass(frozen=True)
class BudgetStarted:
    """The data is validated and the parent run open: the compute budget starts now.

    Attributes:
        trials: Trials the study may run (0 without tuning).
        seconds: Wall seconds the baseline, tuning and finals may take together.
        direction: ``maximize`` or ``minimize``, the metric's direction.
        metric: The metric trials are scored on.
    """

    trials: int
    seconds: float
    direction: str
    metric: str


@dataclass(frozen=True)
class TrialFinished:
    """One tuning trial ended.

    Attributes:
        number: The trial's number in the study.
        state: Its Optuna state, e.g. ``COMPLETE``, ``PRUNED``, ``FAIL``.
        value: Its score, None when it has none (pruned or failed).
    """

    number: int
    state: str
    value: float | None


@dataclass(frozen=True)
class StepFailed:
    """A pipeline step stopped the experiment (failed, refused or cancelled).

    Attributes:
        node: The step, e.g. ``validate_data`` or ``tune``.
        error: Its message, the one the report shows.
    """

    node: str
    error: str


ProgressEvent = StageStarted | BudgetStarted | TrialFinished | StepFailed

ProgressFn = Callable[[ProgressEvent], None]
"""A live display: receives every progress event of an experiment."""
