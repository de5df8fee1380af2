"""The tuning loop: a seeded TPE study whose every trial is a tracked child run.

The budget is held by trialrun, not by Optuna's own ``timeout`` (which is only checked between
trials and overruns): each trial carries the tuning deadline into its boosting loop, which stops
within one round, and no new trial starts once the time left would not cover one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna

from tools.errors import Cancelled, ConfigError
from tools.training import get_trainer
from tools.training.base import FitSpec
from tools.training.metrics import Metric
from tools.training.run import DataContext, TrainOptions, train_tracked
from tools.tuning.pruning import PruningGuard
from tools.tuning.space import suggest

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

    @property
    def storage_display(self) -> str:
        """Return the storage URL with any password redacted, fit to print."""
        from tools.tracking.redact import redact

        return redact(self.storage)


def open_study(settings: StudySettings) -> optuna.Study:
    """Create or load the study (seeded TPE, median pruning after a short warm-up)."""
    try:
        return optuna.create_study(
            study_name=settings.study_name,
            storage=settings.storage,
            direction=settings.metric.direction,
            sampler=optuna.samplers.TPESampler(seed=settings.seed, multivariate=True),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=20),
            load_if_exists=True,
        )
    except Exception as exc:
        raise ConfigError(f"Cannot open Optuna storage {settings.storage!r}: {exc}") from exc


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
    state = _LoopState()
    remaining = settings.trials - finished_trials(study)

    def objective(trial: optuna.Trial) -> float:
        return _one_trial(
            trial, ctx, settings, experiment_id, parent_run_id, deadline, cancel, state
        )

    def stop_when_done(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == optuna.trial.TrialState.FAIL:
            state.failures += 1
        if trial.duration is not None:
            state.durations.append(trial.duration.total_seconds())
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
        study.optimize(
            objective,
            n_trials=remaining,
            n_jobs=settings.parallel,
            callbacks=[stop_when_done],
            catch=(Exception,),
            gc_after_trial=False,
        )
    if cancel is not None and cancel.is_set():
        state.stop_reason = "cancelled"
    return _outcome(study, settings, state, time.monotonic() - started)


@dataclass
class _LoopState:
    failures: int = 0
    durations: list[float] = field(default_factory=list)
    stop_reason: str = "trial budget reached"
    last_error: str = ""


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
    families = settings.families
    family = families[0] if len(families) == 1 else trial.suggest_categorical("family", families)
    params = suggest(trial, family)
    trainer = get_trainer(family)
    probe = FitSpec(ctx.data.task, ctx.data.n_classes, settings.metric, params, settings.seed)
    guard = PruningGuard(trial, family, trainer.stopping_metric(probe)[0])
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
            ),
            callbacks=[guard.callback],
            tags={"optuna.study": settings.study_name, "optuna.trial": trial.number},
            outcome_tags=lambda fit: _trial_state_tags(guard.pruned, fit.stopped),
            failure_tags={"trialrun.trial_state": "FAIL"},
        )
    except Cancelled:
        raise
    except Exception as exc:
        state.last_error = f"{type(exc).__name__}: {exc}"
        raise
    trial.set_user_attr("mlflow_run_id", outcome.output.mlflow_run_id)
    trial.set_user_attr("family", family)
    trial.set_user_attr("best_iteration", outcome.fit.best_iteration)
    if guard.pruned or outcome.fit.stopped == "deadline":
        reason = "pruned" if guard.pruned else "deadline"
        trial.set_user_attr("pruned_by", reason)
        raise optuna.TrialPruned(f"{reason} at round {outcome.fit.rounds}")
    return outcome.fit.valid_score


def _trial_state_tags(pruned: bool, stopped: str) -> dict[str, str]:
    if pruned or stopped == "deadline":
        return {
            "trialrun.trial_state": "PRUNED",
            "trialrun.pruned_by": "pruned" if pruned else "deadline",
        }
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
    typical = sorted(state.durations)[len(state.durations) // 2] if state.durations else 0.0
    if time.monotonic() + reserve(state.durations) + 0.5 * typical >= deadline:
        return "time budget reached"
    return None


def _outcome(
    study: optuna.Study, settings: StudySettings, state: _LoopState, seconds: float
) -> StudyOutcome:
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
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
    )
