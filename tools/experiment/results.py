"""The experiment's results: which configuration the finals train, Best, and the parent's record."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from tools.experiment.parent import ParentRun
from tools.training import get_trainer
from tools.training.metrics import Metric
from tools.training.run import TrainOutcome
from tools.tuning.storage import StudyOutcome

BEST_DEFINITION = (
    "the chosen configuration's mean score over its final runs, one per seed (validation, and "
    "test on the test share); the configuration is the best trial's by validation score, or the "
    "best baseline's when no trial beat it"
)
"""What Best means, everywhere it is shown: report, parent run, ``/runs``, Slack, query tools."""


def best_outcome(outcomes: Sequence[TrainOutcome], metric: Metric) -> TrainOutcome:
    """Return the outcome with the best validation score (the first of equals)."""
    best = outcomes[0]
    for outcome in outcomes[1:]:
        if metric.better(outcome.fit.valid_score, best.fit.valid_score):
            best = outcome
    return best


def choose_configuration(
    baselines: Sequence[TrainOutcome], study: StudyOutcome | None, metric: Metric
) -> tuple[str, dict[str, Any], str | None]:
    """Return the family and parameters the final models train with, and a note when it matters.

    The study's best trial, unless a baseline scored strictly better on the validation split:
    tuning that found nothing better than the library defaults must not leave the final model
    worse than the baseline.
    """
    best = best_outcome(baselines, metric)
    defaults = get_trainer(best.family).default_params()
    if study is None or study.best_family is None or study.best_value is None:
        return best.family, defaults, None
    if metric.better(best.fit.valid_score, study.best_value):
        note = (
            f"no trial beat the {best.family} baseline ({metric.name} "
            f"{best.fit.valid_score:.6g} vs the best trial's {study.best_value:.6g}): the final "
            "models use the baseline's configuration"
        )
        return best.family, defaults, note
    return study.best_family, study.best_params, None


def headline(
    metric: str, baselines: Sequence[TrainOutcome], finals: Sequence[TrainOutcome], direction: str
) -> dict[str, float]:
    """Return the experiment's results as the parent run's metrics, named after ``metric``.

    ``best_valid_<metric>`` and ``best_test_<metric>`` are Best (:data:`BEST_DEFINITION`);
    ``baseline_*`` the best baseline's scores (by validation); ``delta_*`` Best minus baseline.
    """
    sign = 1.0 if direction == "maximize" else -1.0
    found: dict[str, float] = {}
    baseline = max(baselines, key=lambda o: sign * o.fit.valid_score) if baselines else None
    for share in ("valid", "test"):
        key = f"{share}_{metric}"
        scores = [_score(o, key) for o in finals]
        if finals and None not in scores:
            found[f"best_{key}"] = statistics.fmean(v for v in scores if v is not None)
        base = _score(baseline, key) if baseline is not None else None
        if base is not None:
            found[f"baseline_{key}"] = base
            if f"best_{key}" in found:
                found[f"delta_{key}"] = found[f"best_{key}"] - base
    return found


def _score(outcome: TrainOutcome, key: str) -> float | None:
    output = outcome.output
    return {**output.validation_metrics, **output.test_metrics}.get(key)


def record_results(
    parent: ParentRun,
    metric: Metric,
    baselines: Sequence[TrainOutcome],
    finals: Sequence[TrainOutcome],
) -> None:
    """Log the experiment's results (:func:`headline`) on the parent run, Best's run as a tag."""
    writer = parent.writer
    writer.log(
        metrics=headline(metric.name, baselines, finals, metric.direction),
        tags={"trialrun.best_run_id": finals[0].output.mlflow_run_id} if finals else {},
    )


def record_optimization(parent: ParentRun, study: StudyOutcome) -> None:
    """Put the optimisation results on the parent: best params, trials table, plots."""
    from tools.tuning.report import write_study_artifacts

    write_study_artifacts(parent.writer, study)


def record_best(parent: ParentRun, study: StudyOutcome | None) -> None:
    """Put the best trial's parameters on the parent, once the experiment has finished."""
    from tools.tuning.report import write_best_params

    if study is not None:
        write_best_params(parent.writer, study)


def baseline_configuration(
    baselines: Sequence[TrainOutcome], metric: Metric
) -> tuple[str, dict[str, Any]]:
    """Return the best baseline's family and its library defaults: the finals' when untuned."""
    best = best_outcome(baselines, metric)
    return best.family, get_trainer(best.family).default_params()
