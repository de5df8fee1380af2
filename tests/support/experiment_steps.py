"""The experiment's steps run in the pipeline graph's order, without the graph around them.

Tests that look at what the steps record (runs, trials, the budget) run them here, with the
request's own rounds and patience, which the graph's request does not carry. The clock starts
before the data is loaded and the finals end the budget, as in the tuning benchmark.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tools.experiment import steps
from tools.experiment.data import load_context
from tools.experiment.parent import open_parent
from tools.experiment.request import TuneRequest
from tools.experiment.results import baseline_configuration
from tools.experiment.train import baseline_deadline
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
    cancel = cancel or threading.Event()
    started = time.monotonic()
    deadline = started + request.seconds
    ctx = load_context(request)
    parent = open_parent(request, ctx)
    try:
        (baseline,) = steps.train_baselines(
            request,
            ctx,
            parent,
            deadline=baseline_deadline(request, started),
            cancel=cancel,
            families=request.families[:1],
        )
        study, note = None, None
        family, params = baseline_configuration(
            [baseline], get_metric(request.metric, ctx.data.task)
        )
        if request.optimize:
            tuned = steps.tune(request, ctx, parent, [baseline], deadline=deadline, cancel=cancel)
            study, family, params, note = tuned.study, tuned.family, tuned.params, tuned.note
        finals = steps.train_final_models(
            request,
            ctx,
            parent,
            [baseline],
            study,
            family=family,
            params=params,
            deadline=deadline,
            cancel=cancel,
        )
        steps.close(parent, study)
    except BaseException as exc:
        parent.writer.fail(exc)
        raise
    return Ran(parent.run_id, baseline, study, finals, notes=[note] if note else [])
