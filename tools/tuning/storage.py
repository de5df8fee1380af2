"""The study in its Optuna storage: its settings, opening it, and what it did, read back.

:func:`tools.tuning.study.run_study` runs trials in a study opened here; distributed workers
share one, and :func:`read_outcome` reads back what they did.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import optuna

from tools.errors import ConfigError
from tools.training.metrics import Metric
from tools.training.run import DataContext, TrainOutcome
from tools.tuning.shared import SharedStudy
from tools.tuning.space import starting_points

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class StudySettings:
    """How to run the study.

    Attributes:
        study_name: Name in the Optuna storage; the same name resumes the same study.
        storage: Any Optuna RDB storage URL.
        families: Model families to search over (a categorical choice when several).
        metric: The metric optimised on the validation split.
        trials: Trials to finish in total, counting trials finished by earlier runs of the study.
        seed: Seeds the TPE sampler.
        threads: Library threads per trial.
        parallel: Trials at once (threads in this process).
        max_failures: Failed trials tolerated before the study stops.
        max_rounds: Boosting rounds per trial at most.
        early_stopping_rounds: Patience of each trial's early stopping.
        sampler_seed: Seeds the TPE sampler instead of ``seed`` (each distributed worker has its
            own); every trial still trains with ``seed``.
        shared: Other processes run trials of this study at the same time: a trial starts only
            while the budget has room, checked under a lock in the storage (see
            :mod:`tools.tuning.shared`), so together they never start more than ``trials``.
        job_id: The job running these trials, recorded on each as the ``trialrun_job_id`` user
            attribute so cancelling another job spares them.
    """

    study_name: str
    storage: str
    families: tuple[str, ...]
    metric: Metric
    trials: int
    seed: int
    threads: int = 1
    parallel: int = 1
    max_failures: int = 5
    max_rounds: int = 1000
    early_stopping_rounds: int = 50
    sampler_seed: int | None = None
    shared: bool = False
    job_id: str | None = None


@dataclass
class StudyOutcome:
    """What the study did, read back from the Optuna storage."""

    study_name: str
    storage: str
    best_family: str | None
    best_params: dict[str, Any]
    best_value: float | None
    best_trial: int | None
    best_run_id: str | None
    counts: dict[str, int]
    stop_reason: str
    seconds: float
    trial_seconds: list[float] = field(default_factory=list)
    best_outcome: TrainOutcome | None = None
    """The best trial's trained model, when this process trained it (not read back)."""

    @property
    def storage_display(self) -> str:
        """Return the storage URL with any password redacted, fit to print."""
        from tools.redact import redact

        return redact(self.storage)


def open_study(settings: StudySettings) -> optuna.Study:
    """Create or load the study (seeded TPE, median pruning after a short warm-up).

    A ``shared`` study is returned as a :class:`~tools.tuning.shared.SharedStudy`.
    """
    seed = settings.seed if settings.sampler_seed is None else settings.sampler_seed
    # TPE models the search space as soon as the starting points have run, rather than after
    # Optuna's default ten random trials: at small budgets the trials after the portfolio are few,
    # and sampling near the best configurations so far is worth more than random ones. ``group``
    # lets the multivariate model handle each family's own parameters (a conditional space).
    startup = len(starting_points(settings.families)) if not settings.shared else 10
    with warnings.catch_warnings():
        # ``group`` is marked experimental; every study would print that to the person's terminal.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, n_startup_trials=startup
        )
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=20)
    try:
        study = _create_or_load(settings, sampler, pruner)
        if settings.shared:
            return SharedStudy(
                settings.study_name,
                settings.storage,
                trials=settings.trials,
                sampler=sampler,
                pruner=pruner,
            )
        return study
    except Exception as exc:
        raise ConfigError(f"Cannot open Optuna storage {settings.storage!r}: {exc}") from exc


_SCHEMA_ATTEMPTS = 5


def _create_or_load(
    settings: StudySettings, sampler: optuna.samplers.BaseSampler, pruner: optuna.pruners.BasePruner
) -> optuna.Study:
    """Create or load the study; retry when another process creates the same storage meanwhile.

    Several trialrun processes starting at once on a new storage all create its tables; all but
    one lose that race (a duplicate ``alembic_version`` row, a table that already exists) and
    find the storage ready when they look again.
    """
    from sqlalchemy.exc import IntegrityError, OperationalError

    def create() -> optuna.Study:
        return optuna.create_study(
            study_name=settings.study_name,
            storage=settings.storage,
            direction=settings.metric.direction,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )

    for attempt in range(1, _SCHEMA_ATTEMPTS):
        try:
            return create()
        except (IntegrityError, OperationalError):
            time.sleep(0.2 * attempt)
    return create()


def describe_study(
    study: optuna.Study, metric: Metric, ctx: DataContext, experiment_id: str, parent_run_id: str
) -> None:
    """Name the objective after the metric and link the study to its MLflow record and data.

    optuna-dashboard then shows ``roc_auc`` instead of "Objective 0", and the study's user
    attributes say which experiment and parent run hold its trials and which dataset they saw.
    """
    from tools.tracking.runs import client

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([metric.name])
    experiment = client().get_experiment(experiment_id)
    attrs = {
        "mlflow_experiment": experiment.name,
        "mlflow_experiment_id": experiment_id,
        "mlflow_parent_run_id": parent_run_id,
        "dataset": ctx.entry.ref,
        "dataset_digest": ctx.entry.sha256,
        "metric": metric.name,
    }
    for key, value in attrs.items():
        if study.user_attrs.get(key) != value:
            study.set_user_attr(key, value)


def finished_trials(study: optuna.Study) -> int:
    """Return the trials that count against the budget: complete or pruned."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def read_outcome(settings: StudySettings, *, stop_reason: str, seconds: float) -> StudyOutcome:
    """Return the outcome of a study other processes ran (distributed workers), from its storage.

    It is read back as :func:`run_study` reads its own: trial counts by state, the best trial
    and its run, and the duration of each finished trial.

    Args:
        settings: The study's settings.
        stop_reason: Why tuning ended, as the caller observed it.
        seconds: How long tuning took.
    """
    study = open_study(settings)
    durations = [t.duration.total_seconds() for t in study.get_trials(deepcopy=False) if t.duration]
    return study_outcome(
        study, settings, stop_reason=stop_reason, seconds=seconds, durations=durations
    )


def study_outcome(
    study: optuna.Study,
    settings: StudySettings,
    *,
    stop_reason: str,
    seconds: float,
    durations: list[float],
    best: tuple[int, TrainOutcome] | None = None,
) -> StudyOutcome:
    """Return what the study did: trial counts by state, the best trial and its run.

    Args:
        study: The study, as its storage holds it.
        settings: The study's settings.
        stop_reason: Why tuning ended.
        seconds: How long tuning took.
        durations: The seconds of each finished trial.
        best: The number and trained model of the best trial this process ran, kept in
            memory so a final run can reuse it.
    """
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        # Starting points still queued when the study stopped never ran: no run, no count.
        if t.state != optuna.trial.TrialState.WAITING:
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return StudyOutcome(
            settings.study_name,
            settings.storage,
            None,
            {},
            None,
            None,
            None,
            counts,
            stop_reason,
            seconds,
            durations,
        )
    best_trial = study.best_trial
    kept = best[1] if best is not None and best[0] == best_trial.number else None
    family = best_trial.user_attrs.get("family") or settings.families[0]
    params = {k: v for k, v in best_trial.params.items() if k != "family"}
    return StudyOutcome(
        study_name=settings.study_name,
        storage=settings.storage,
        best_family=family,
        best_params=params,
        best_value=best_trial.value,
        best_trial=best_trial.number,
        best_run_id=best_trial.user_attrs.get("mlflow_run_id"),
        counts=counts,
        stop_reason=stop_reason,
        seconds=seconds,
        trial_seconds=durations,
        best_outcome=kept,
    )
