"""The experiment's steps run in the pipeline graph's order, without the graph around them.

Tests that look at what the steps record (runs, trials, the budget) run them here, with the
request's own rounds and patience, which the graph's request does not carry. The clock starts
before the data is loaded and the finals end the budget, as in the tuning benchmark.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tools.experiment.data import load_context
from tools.experiment.parent import open_parent
from tools.experiment.request import TuneRequest
from tools.experiment.results import (
    choose_configuration,
    record_best,
    record_optimization,
    record_results,
)
from tools.experiment.train import baseline_deadline, train_baseline, train_finals
from tools.experiment.tune import tune_study
from tools.training.metrics import get_metric
from tools.training.run import TrainOutcome
from tools.tuning.storage import StudyOutcome


@dataclass
class Ran:
    """What the steps created, with IDs."""

    parent_run_id: str
    baseline: TrainOutcome
    study: StudyOutcome | None
    finals: list[TrainOutcome]
    notes: list[str] = field(default_factory=list)


def run_steps(request: TuneRequest, *, cancel: threading.Event | None = None) -> Ran:
    """Train the first family's baseline, tune (when optimising), train the finals, close."""
    started = time.monotonic()
    deadline = started + request.seconds
    ctx = load_context(request)
    parent = open_parent(request, ctx)
    try:
        baseline = train_baseline(
            request, ctx, parent, deadline=baseline_deadline(request, started), cancel=cancel
        )
        study = None
        if request.optimize:
            study = tune_study(request, ctx, parent, deadline=deadline, cancel=cancel)
            record_optimization(parent, study)
        metric = get_metric(request.metric, ctx.data.task)
        family, params, note = choose_configuration([baseline], study, metric)
        reuse = [baseline, *([study.best_outcome] if study and study.best_outcome else [])]
        finals = train_finals(
            request,
            ctx,
            parent,
            family=family,
            params=params,
            deadline=deadline,
            cancel=cancel,
            reuse=reuse,
        )
        record_results(parent, metric, [baseline], finals)
        record_best(parent, study)
    except BaseException as exc:
        parent.writer.fail(exc)
        raise
    parent.writer.finish("FINISHED")
    return Ran(parent.run_id, baseline, study, finals, notes=[note] if note else [])
