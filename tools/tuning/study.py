"""The tuning loop: a seeded TPE study whose every trial is a tracked child run.

The budget is held by trialrun, not by Optuna's own ``timeout`` (which is only checked between
trials and overruns): each trial carries the tuning deadline into its boosting loop, which stops
within one round, and no new trial starts once the time left would not cover one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna

from tools.errors import Cancelled
from tools.jobs.reconcile import TRIAL_JOB_ATTR
from tools.stores import store_failure
from tools.tracking.runs import DeferredWrites
from tools.tracking.settle import RUN_JOB_TAG
from tools.training import get_trainer
from tools.training.base import FitSpec
from tools.training.metrics import Metric
from tools.training.run import DataContext, TrainOptions, TrainOutcome, train_tracked
from tools.tuning.pruning import PruningGuard
from tools.tuning.shared import TrialBudgetSpent
from tools.tuning.space import starting_points, suggest
from tools.tuning.storage import (
    StudyOutcome,
    StudySettings,
    describe_study,
    finished_trials,
    open_study,
    study_outcome,
)


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
        if state.store_lost is not None:
            study.stop()  # no further trial can be recorded
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
        if state.store_lost is not None:
            # No trial can be recorded without the store: the study ends with its error.
            raise state.store_lost
    if cancel is not None and cancel.is_set():
        state.stop_reason = "cancelled"
    return study_outcome(
        study,
        settings,
        stop_reason=state.stop_reason,
        seconds=time.monotonic() - started,
        durations=state.durations,
        best=state.best,
    )


@dataclass
class _LoopState:
    failures: int = 0
    durations: list[float] = field(default_factory=list)
    stop_reason: str = "trial budget reached"
    last_error: str = ""
    store_lost: Exception | None = None
    deferred: DeferredWrites = field(default_factory=DeferredWrites)
    best: tuple[int, TrainOutcome] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

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
        if store_failure(exc) is not None:
            state.store_lost = exc
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
