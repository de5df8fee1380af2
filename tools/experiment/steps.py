"""The experiment's steps after its data and parent run: baselines, tuning, final models, close.

The pipeline graph (:mod:`agent.pipeline.graph`) runs each as a node, after
:func:`~tools.experiment.data.load_context` and :func:`~tools.experiment.parent.open_parent`;
the benchmarks run them in the same order. Each step ends by the deadline it is given, stops
within one boosting round when ``cancel`` is set, and trains in this process or, given a
:class:`~tools.experiment.jobs.JobRuntime`, as jobs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tools.errors import Cancelled
from tools.experiment.jobs import JobRuntime, train_as_job, tune_as_workers
from tools.experiment.parent import ParentRun
from tools.experiment.request import TuneRequest
from tools.experiment.results import (
    choose_configuration,
    record_best,
    record_optimization,
    record_results,
)
from tools.experiment.train import train_baseline, train_finals
from tools.experiment.tune import tune_study
from tools.training.metrics import get_metric
from tools.training.run import DataContext, TrainOutcome
from tools.tuning.distributed import TrialCallback
from tools.tuning.storage import StudyOutcome


@dataclass(frozen=True)
class TuneOutcome:
    """What the tune step did: the study, and the configuration the final models train.

    Attributes:
        study: The study, read back from its storage.
        family: The final models' family.
        params: The final models' parameters.
        note: Why the configuration is not the best trial's, when it is not.
    """

    study: StudyOutcome
    family: str
    params: dict[str, Any]
    note: str | None


def train_baselines(
    request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    *,
    deadline: float,
    cancel: threading.Event,
    jobs: JobRuntime | None = None,
    families: Sequence[str] | None = None,
    on_family: Callable[[str], None] = lambda _: None,
) -> list[TrainOutcome]:
    """Train each family (default: the request's) with its library defaults: the number to beat.

    In this process each family gets an equal share of the time left before ``deadline``;
    with ``jobs`` (Kubernetes) they train as one stage Job.
    """
    if jobs is not None:
        return train_as_job(
            "baseline", request, ctx, parent, jobs, deadline=deadline, cancel=cancel
        )
    families = request.families if families is None else families
    outcomes = []
    for index, family in enumerate(families):
        on_family(family)
        share = time.monotonic() + (deadline - time.monotonic()) / (len(families) - index)
        outcomes.append(
            train_baseline(request, ctx, parent, family=family, deadline=share, cancel=cancel)
        )
    return outcomes


def tune(
    request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    baselines: Sequence[TrainOutcome],
    *,
    deadline: float,
    cancel: threading.Event,
    workers: JobRuntime | None = None,
    on_trial: TrialCallback = lambda _: None,
) -> TuneOutcome:
    """Run the study, record it on the parent, and choose what the final models train.

    The study runs in this process, or, given ``workers``, as worker jobs sharing it. It leaves
    time for the final models before ``deadline``.

    Raises:
        Cancelled: ``cancel`` was set while tuning.
    """
    if workers is not None:
        study = tune_as_workers(
            request, ctx, parent, workers, deadline=deadline, cancel=cancel, on_trial=on_trial
        )
    else:
        study = tune_study(
            request, ctx, parent, deadline=deadline, cancel=cancel, on_trial=on_trial
        )
    record_optimization(parent, study)
    if cancel.is_set():
        raise Cancelled("tuning cancelled")
    metric = get_metric(request.metric, ctx.data.task)
    family, params, note = choose_configuration(baselines, study, metric)
    return TuneOutcome(study, family, params, note)


def train_final_models(
    request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    baselines: Sequence[TrainOutcome],
    study: StudyOutcome | None,
    *,
    family: str,
    params: dict[str, Any],
    deadline: float,
    cancel: threading.Event,
    jobs: JobRuntime | None = None,
) -> list[TrainOutcome]:
    """Train the chosen configuration once per seed and record the results on the parent.

    In this process a baseline or the best trial trained the very same way is recorded as a
    final model rather than trained again; with ``jobs`` (Kubernetes) the finals train as one
    stage Job.
    """
    if jobs is not None:
        finals = train_as_job(
            "final",
            request,
            ctx,
            parent,
            jobs,
            deadline=deadline,
            cancel=cancel,
            family=family,
            params=params,
        )
    else:
        finals = train_finals(
            request,
            ctx,
            parent,
            family=family,
            params=params,
            deadline=deadline,
            cancel=cancel,
            reuse=[*baselines, *([study.best_outcome] if study and study.best_outcome else [])],
        )
    metric = get_metric(request.metric, ctx.data.task)
    record_results(parent, metric, baselines, finals)
    return finals


def close(parent: ParentRun, study: StudyOutcome | None) -> None:
    """Put the best trial's parameters on the parent and finish it: the experiment is done.

    Last of all: a process killed before leaves the parent RUNNING, so the request asked again
    resumes it instead of counting it done and starting anew.
    """
    record_best(parent, study)
    parent.writer.finish("FINISHED")
