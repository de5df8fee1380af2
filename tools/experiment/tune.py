"""The experiment's study: its settings, and the time it leaves for the final models."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tools import settings as paths
from tools.experiment.parent import ParentRun
from tools.experiment.request import TuneRequest
from tools.training.metrics import get_metric
from tools.training.run import DataContext
from tools.tuning.storage import StudyOutcome, StudySettings
from tools.tuning.study import run_study


def tune_study(
    request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    *,
    deadline: float,
    cancel: threading.Event | None = None,
    on_trial: Any = None,
) -> StudyOutcome:
    """Run the Optuna study, leaving time for the final models before ``deadline``."""
    return run_study(
        ctx,
        study_settings(request, ctx, parent.study_name),
        experiment_id=parent.experiment_id,
        parent_run_id=parent.run_id,
        deadline=deadline,
        reserve=finals_reserve(request),
        cancel=cancel,
        on_trial=on_trial,
    )


def study_settings(request: TuneRequest, ctx: DataContext, study_name: str) -> StudySettings:
    """Return the settings of the request's study: ``parallel`` trials at a time in one process."""
    return StudySettings(
        study_name=study_name,
        storage=request.storage or paths.optuna_storage(),
        families=request.families,
        metric=get_metric(request.metric, ctx.data.task),
        trials=request.trials,
        seed=request.seeds[0],
        threads=max(1, request.cpus // request.parallel),
        parallel=request.parallel,
        max_failures=request.max_failures,
        max_rounds=request.max_rounds,
        early_stopping_rounds=request.early_stopping_rounds,
    )


def finals_reserve(request: TuneRequest) -> Callable[[list[float]], float]:
    """Return the seconds tuning leaves for the final models, given the trial durations so far."""
    # The first seed's final model is the best trial's (or the baseline's), recorded again rather
    # than retrained; the other seeds train anew. Logging a model takes about half a second.
    retrained = len(request.seeds) - 1

    def reserve(durations: list[float]) -> float:
        typical = max(durations) if durations else 0.0
        return (
            typical * retrained / max(1, min(request.parallel, retrained))
            + 0.5 * len(request.seeds)
            + 1.0
        )

    return reserve
