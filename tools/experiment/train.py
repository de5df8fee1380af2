"""The experiment's trained models besides the trials: the baselines and the final models.

Each takes its share of the deadline and stops within one boosting round when cancelled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools import settings as paths
from tools.experiment.parent import ParentRun
from tools.experiment.request import TuneRequest
from tools.training import get_trainer
from tools.training.metrics import get_metric
from tools.training.run import DataContext, TrainOptions, TrainOutcome, train_tracked
from tools.tuning.resume import finished_baseline


def train_baseline(
    request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    *,
    family: str | None = None,
    deadline: float | None = None,
    cancel: threading.Event | None = None,
) -> TrainOutcome:
    """Train ``family`` (default: the first) with its library defaults: the number to beat.

    A resumed request keeps the baseline its interrupted attempt finished (see
    :mod:`tools.tuning.resume`) instead of training it again.
    """
    family = family or request.families[0]
    params = get_trainer(family).default_params()
    metric = get_metric(request.metric, ctx.data.task)
    if parent.resumed:
        kept = finished_baseline(
            experiment_id=parent.experiment_id,
            parent_run_id=parent.run_id,
            family=family,
            params=params,
            seed=request.seeds[0],
            metric=metric,
        )
        if kept is not None:
            return kept
    return train_tracked(
        ctx,
        family=family,
        params=params,
        metric=metric,
        seed=request.seeds[0],
        experiment_id=parent.experiment_id,
        run_name=f"baseline-{family}",
        role="baseline",
        parent_run_id=parent.run_id,
        options=_options(request, deadline, cancel, log_model=True, run_name=f"baseline-{family}"),
    )


def train_finals(
    request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    *,
    family: str,
    params: dict[str, Any],
    deadline: float | None = None,
    cancel: threading.Event | None = None,
    reuse: Sequence[TrainOutcome] = (),
) -> list[TrainOutcome]:
    """Train the chosen configuration once per seed (mean and spread go in the report).

    Each seed gets an equal share of the time left before ``deadline``, so a slow first seed
    cannot starve the last one. A model in ``reuse`` trained the very same way (the best trial,
    or the baseline when tuning found nothing better) is recorded as that seed's final model
    instead of being trained again.
    """
    outcomes = []
    for index, seed in enumerate(request.seeds):
        share = None
        if deadline is not None:
            share = time.monotonic() + (deadline - time.monotonic()) / (len(request.seeds) - index)
        name = f"final-{family}-seed{seed}"
        outcomes.append(
            train_tracked(
                ctx,
                family=family,
                params=params,
                metric=get_metric(request.metric, ctx.data.task),
                seed=seed,
                experiment_id=parent.experiment_id,
                run_name=name,
                role="final",
                parent_run_id=parent.run_id,
                options=_options(request, share, cancel, log_model=True, run_name=name),
                reuse=reuse,
            )
        )
    return outcomes


def baseline_deadline(request: TuneRequest, started: float) -> float:
    """Return when the baselines must stop.

    A fifth of the budget when tuning follows, else a share equal to one final model's.
    """
    share = 0.2 if request.optimize else 1.0 / (1 + len(request.seeds))
    return started + share * request.seconds


def _options(
    request: TuneRequest,
    deadline: float | None,
    cancel: threading.Event | None,
    *,
    log_model: bool,
    run_name: str,
) -> TrainOptions:
    return TrainOptions(
        threads=request.cpus,
        gpus=request.gpus,
        max_rounds=request.max_rounds,
        early_stopping_rounds=request.early_stopping_rounds,
        deadline=deadline,
        cancel=cancel,
        checkpoint_dir=Path(paths.home()) / "checkpoints" / request.fingerprint() / run_name,
        log_model=log_model,
    )
