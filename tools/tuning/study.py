"""The tuning loop: a seeded TPE study whose every trial is a tracked child run.

The budget is held by trialrun, not by Optuna's own ``timeout`` (which is only checked between
trials and overruns): each trial carries the tuning deadline into its boosting loop, which stops
within one round, and no new trial starts once the time left would not cover one.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna

from tools.errors import Cancelled, ConfigError, Unreachable
from tools.jobs.reconcile import TRIAL_JOB_ATTR
from tools.stores import tracking_lost
from tools.tracking.runs import DeferredWrites
from tools.tracking.settle import RUN_JOB_TAG
from tools.training import get_trainer
from tools.training.base import FitSpec
from tools.training.metrics import Metric
from tools.training.run import DataContext, TrainOptions, TrainOutcome, train_tracked
from tools.tuning.pruning import PruningGuard
from tools.tuning.shared import SharedStudy, TrialBudgetSpent
from tools.tuning.space import starting_points, suggest

optuna.logging.set_verbosity(optuna.logging.WARNING)


class _NoTracebacks(logging.Filter):
    """Keep Optuna's one-line "Trial N failed" warnings, without the trial's traceback.

    The error is already the trial's record (its run's failure tags, the report's counts); a
    traceback per failed trial buried a CI log in hundreds of lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


# A logger's filters see only its own records: this is the logger that reports failed trials.
optuna.logging.get_logger("optuna.study._optimize").addFilter(_NoTracebacks())


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


def run_study(
    ctx: DataContext,
    settings: StudySettings,
    *,
    experiment_id: str,
    parent_run_id: str,
    deadline: float,
    reserve: Callable[[list[float]], float] = lambda _: 0.0,
    cancel: threading.Event | None = None,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> StudyOutcome:
    """Run trials until the trial budget, the deadline, a cancel or the failure budget ends it.

    Args:
        ctx: The prepared dataset and split.
        settings: The study's settings.
        experiment_id: MLflow experiment of the trial runs.
        parent_run_id: The experiment's parent run; every trial is its child.
        deadline: ``time.monotonic()`` instant at which tuning must have ended.
        reserve: Seconds to keep free after tuning, given the trial durations so far (the final
            training that follows must fit in the same budget).
        cancel: Stops the running trials within one round and starts no more.
        on_trial: Called after each trial (progress displays).
    """
    started = time.monotonic()
    study = open_study(settings)
    describe_study(study, settings.metric, ctx, experiment_id, parent_run_id)
    state = _LoopState()
    remaining = settings.trials - finished_trials(study)

    def objective(trial: optuna.Trial) -> float:
        return _one_trial(
            # A trial stops early enough to leave the time the final models need.
            trial,
            ctx,
            settings,
            experiment_id,
            parent_run_id,
            deadline - reserve(state.durations),
            cancel,
            state,
        )

    def stop_when_done(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == optuna.trial.TrialState.FAIL:
            state.failures += 1
        if trial.duration is not None:
            state.durations.append(trial.duration.total_seconds())
        if state.lost is not None:
            study.stop()
            return
        if on_trial is not None:
            on_trial(trial)
        reason = _stop_reason(study, settings, state, deadline, reserve, cancel)
        if reason:
            state.stop_reason = reason
            study.stop()

    # The same checks as after each trial, so no first trial starts when the budget is already spent.
    early_stop = _stop_reason(study, settings, state, deadline, reserve, cancel)
    if early_stop:
        state.stop_reason = early_stop
    else:
        if not study.get_trials(deepcopy=False) and not settings.shared:
            for point in starting_points(settings.families):
                study.enqueue_trial(point)
        try:
            study.optimize(
                objective,
                n_trials=remaining,
                n_jobs=settings.parallel,
                callbacks=[stop_when_done],
                catch=(Exception,),
                gc_after_trial=False,
            )
        except TrialBudgetSpent:
            # Other workers' running trials fill the budget: they finish it.
            state.stop_reason = "trial budget reached"
        finally:
            state.deferred.close()  # every trial's run is written before anyone reads it back
    if state.lost is not None:
        raise state.lost
    if cancel is not None and cancel.is_set():
        state.stop_reason = "cancelled"
    return _outcome(study, settings, state, time.monotonic() - started)


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
    return _outcome(
        study, settings, _LoopState(durations=durations, stop_reason=stop_reason), seconds
    )


@dataclass
class _LoopState:
    failures: int = 0
    durations: list[float] = field(default_factory=list)
    stop_reason: str = "trial budget reached"
    last_error: str = ""
    deferred: DeferredWrites = field(default_factory=DeferredWrites)
    best: tuple[int, TrainOutcome] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    lost: Unreachable | None = None
    """Set when the tracking server stopped answering: no further trial can be recorded."""

    def keep_if_best(self, number: int, outcome: TrainOutcome, metric: Metric) -> None:
        """Keep the best trial's trained model in memory, so a final run can reuse it."""
        with self.lock:
            if self.best is None or metric.better(
                outcome.fit.valid_score, self.best[1].fit.valid_score
            ):
                self.best = (number, outcome)


def _one_trial(
    trial: optuna.Trial,
    ctx: DataContext,
    settings: StudySettings,
    experiment_id: str,
    parent_run_id: str,
    deadline: float,
    cancel: threading.Event | None,
    state: _LoopState,
) -> float:
    if settings.job_id:
        trial.set_user_attr(TRIAL_JOB_ATTR, settings.job_id)
    families = settings.families
    family = families[0] if len(families) == 1 else trial.suggest_categorical("family", families)
    params = suggest(trial, family)
    trainer = get_trainer(family)
    probe = FitSpec(ctx.data.task, ctx.data.n_classes, settings.metric, params, settings.seed)
    guard = PruningGuard(
        trial, family, trainer.stopping_metric(probe)[0], learning_rate=params["learning_rate"]
    )
    try:
        outcome = train_tracked(
            ctx,
            family=family,
            params=params,
            metric=settings.metric,
            seed=settings.seed,
            experiment_id=experiment_id,
            run_name=f"trial-{trial.number:03d}",
            role="trial",
            parent_run_id=parent_run_id,
            options=TrainOptions(
                threads=settings.threads,
                max_rounds=settings.max_rounds,
                early_stopping_rounds=settings.early_stopping_rounds,
                deadline=deadline,
                cancel=cancel,
                log_model=False,
                deferred=state.deferred,
            ),
            callbacks=[guard.callback],
            tags={
                "optuna.study": settings.study_name,
                "optuna.trial": trial.number,
                **({RUN_JOB_TAG: settings.job_id} if settings.job_id else {}),
            },
            outcome_tags=lambda fit: _trial_state_tags(guard),
            outcome_status=lambda fit: "KILLED" if guard.pruned else "FINISHED",
            failure_tags={"trialrun.trial_state": "FAIL"},
        )
    except Cancelled:
        raise
    except Exception as exc:
        state.last_error = f"{type(exc).__name__}: {exc}"
        state.lost = state.lost or tracking_lost(exc)
        raise
    trial.set_user_attr("mlflow_run_id", outcome.output.mlflow_run_id)
    trial.set_user_attr("family", family)
    trial.set_user_attr("best_iteration", outcome.fit.best_iteration)
    if guard.pruned:
        trial.set_user_attr("pruned_by", "median pruner")
        for key, value in guard.explain().items():
            trial.set_user_attr(key, value)
        raise optuna.TrialPruned(f"pruned at round {guard.round}")
    # A trial the deadline stopped still trained a model, scored on the validation split: it
    # counts (its run says trialrun.stopped=deadline), rather than throwing the compute away.
    state.keep_if_best(trial.number, outcome, settings.metric)
    return outcome.fit.valid_score


def _trial_state_tags(guard: PruningGuard) -> dict[str, Any]:
    """Say a trial's state; a pruned one also when, at which value, against which median."""
    if guard.pruned:
        why = {f"trialrun.{k}": v for k, v in guard.explain().items()}
        return {"trialrun.trial_state": "PRUNED", "trialrun.pruned_by": "median pruner", **why}
    return {"trialrun.trial_state": "COMPLETE"}


def _stop_reason(
    study: optuna.Study,
    settings: StudySettings,
    state: _LoopState,
    deadline: float,
    reserve: Callable[[list[float]], float],
    cancel: threading.Event | None,
) -> str | None:
    if cancel is not None and cancel.is_set():
        return "cancelled"
    if state.failures > settings.max_failures:
        return (
            f"stopped after {state.failures} failed trials (failure budget "
            f"{settings.max_failures}); last error: {state.last_error}"
        )
    if finished_trials(study) >= settings.trials:
        return "trial budget reached"
    # A trial cut by the deadline still counts, so one starts while a quarter of a typical
    # trial's time is left.
    typical = sorted(state.durations)[len(state.durations) // 2] if state.durations else 0.0
    if time.monotonic() + reserve(state.durations) + 0.25 * typical >= deadline:
        return "time budget reached"
    return None


def _outcome(
    study: optuna.Study, settings: StudySettings, state: _LoopState, seconds: float
) -> StudyOutcome:
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
            state.stop_reason,
            seconds,
            state.durations,
        )
    best = study.best_trial
    kept = state.best[1] if state.best is not None and state.best[0] == best.number else None
    family = best.user_attrs.get("family") or settings.families[0]
    params = {k: v for k, v in best.params.items() if k != "family"}
    return StudyOutcome(
        study_name=settings.study_name,
        storage=settings.storage,
        best_family=family,
        best_params=params,
        best_value=best.value,
        best_trial=best.number,
        best_run_id=best.user_attrs.get("mlflow_run_id"),
        counts=counts,
        stop_reason=state.stop_reason,
        seconds=seconds,
        trial_seconds=state.durations,
        best_outcome=kept,
    )
