"""The tuning loop's stop rules, on a real Optuna storage and a real MLflow store."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from tools import settings
from tools.tracking.runs import RunWriter, ensure_experiment
from tools.training.metrics import get_metric
from tools.training.run import DataContext
from tools.tuning.space import starting_points
from tools.tuning.storage import StudySettings
from tools.tuning.study import run_study


def study_settings(ctx: DataContext, **fields: object) -> StudySettings:
    values: dict[str, object] = {
        "study_name": "wine-study",
        "storage": settings.optuna_storage(),
        "families": ("xgboost",),
        "metric": get_metric("log_loss", ctx.data.task),
        "trials": 10,
        "seed": 0,
        "max_rounds": 20,
        "early_stopping_rounds": 5,
    }
    return StudySettings(**{**values, **fields})  # type: ignore[arg-type]


@pytest.fixture
def parent(tracking_store: str) -> tuple[str, str]:
    experiment_id = ensure_experiment("study")
    return experiment_id, RunWriter(experiment_id, "parent").run_id


@pytest.mark.parametrize(
    ("family", "error"), [("xgboost", "XGBoostError"), ("lightgbm", "LightGBMError")]
)
def test_failing_trials_stop_the_study_at_the_failure_budget_and_end_as_failed_runs(
    family: str,
    error: str,
    example_contexts: dict[str, DataContext],
    parent: tuple[str, str],
    tmp_path: Path,
) -> None:
    wine = example_contexts["wine"]
    # Three classes declared as two: every trial's library refuses the labels.
    broken = dataclasses.replace(wine, data=dataclasses.replace(wine.data, n_classes=2))
    experiment_id, parent_run_id = parent

    outcome = run_study(
        broken,
        study_settings(wine, families=(family,), max_failures=2),
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        deadline=time.monotonic() + 60,
    )

    assert outcome.counts == {"FAIL": 3}
    assert outcome.stop_reason.startswith(
        f"stopped after 3 failed trials (failure budget 2); last error: {error}: "
    )
    assert outcome.best_params == {} and outcome.best_value is None
    client = MlflowClient(settings.tracking_uri())
    trials = client.search_runs([experiment_id], "tags.`trialrun.role` = 'trial'")
    assert len(trials) == 3
    for run in trials:
        assert run.info.status == "FAILED"
        assert run.data.tags["mlflow.parentRunId"] == parent_run_id
        assert run.data.tags["trialrun.trial_state"] == "FAIL"
        assert run.data.tags["trialrun.error"].startswith(error)
        traceback = client.download_artifacts(run.info.run_id, "error/traceback.txt", str(tmp_path))
        assert error in Path(traceback).read_text()


def test_no_trial_starts_when_the_deadline_has_passed(
    example_contexts: dict[str, DataContext], parent: tuple[str, str]
) -> None:
    wine = example_contexts["wine"]
    experiment_id, parent_run_id = parent

    outcome = run_study(
        wine,
        study_settings(wine),
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        deadline=time.monotonic() - 1,
    )

    assert outcome.stop_reason == "time budget reached"
    assert outcome.counts == {}
    runs = MlflowClient(settings.tracking_uri()).search_runs([experiment_id])
    assert [r.info.run_id for r in runs] == [parent_run_id]


def test_a_cancel_between_trials_starts_no_more_trials(
    example_contexts: dict[str, DataContext], parent: tuple[str, str]
) -> None:
    wine = example_contexts["wine"]
    experiment_id, parent_run_id = parent
    cancel = threading.Event()

    def cancel_after_two(trial: optuna.trial.FrozenTrial) -> None:
        if trial.number == 1:
            cancel.set()

    outcome = run_study(
        wine,
        study_settings(wine, trials=10),
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        deadline=time.monotonic() + 60,
        cancel=cancel,
        on_trial=cancel_after_two,
    )

    assert outcome.stop_reason == "cancelled"
    assert outcome.counts == {"COMPLETE": 2}
    client = MlflowClient(settings.tracking_uri())
    trials = client.search_runs([experiment_id], "tags.`trialrun.role` = 'trial'")
    assert sorted(r.info.status for r in trials) == ["FINISHED", "FINISHED"]


def test_a_cancel_during_a_trial_ends_its_run_killed_and_the_study_stops(
    example_contexts: dict[str, DataContext], parent: tuple[str, str]
) -> None:
    wine = example_contexts["wine"]
    experiment_id, parent_run_id = parent
    client = MlflowClient(settings.tracking_uri())
    cancel = threading.Event()

    def cancel_once_a_trial_runs() -> None:
        running = "tags.`trialrun.role` = 'trial' and attributes.status = 'RUNNING'"
        while not cancel.is_set():
            if client.search_runs([experiment_id], running):
                cancel.set()
            time.sleep(0.02)

    watcher = threading.Thread(target=cancel_once_a_trial_runs)
    watcher.start()
    try:
        outcome = run_study(
            wine,
            # Long enough trials that the cancel lands mid-training.
            study_settings(wine, max_rounds=100_000, early_stopping_rounds=100_000),
            experiment_id=experiment_id,
            parent_run_id=parent_run_id,
            deadline=time.monotonic() + 60,
            cancel=cancel,
        )
    finally:
        cancel.set()
        watcher.join()

    assert outcome.stop_reason == "cancelled"
    # Optuna records the interrupted trial as failed, so a resumed study runs it again; the
    # starting points not yet tried stay queued (WAITING) in the storage for the resumed study,
    # but they never ran, so they are not counted.
    assert outcome.counts == {"FAIL": 1}
    stored = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
    waiting = stored.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == len(starting_points(("xgboost",))) - 1
    (trial,) = client.search_runs([experiment_id], "tags.`trialrun.role` = 'trial'")
    assert trial.info.status == "KILLED"
    assert trial.data.tags["trialrun.error"].startswith("Cancelled: training cancelled after round")


def test_a_study_resumed_with_its_budget_spent_runs_no_more_trials(
    example_contexts: dict[str, DataContext], parent: tuple[str, str]
) -> None:
    wine = example_contexts["wine"]
    experiment_id, parent_run_id = parent
    kwargs = {
        "experiment_id": experiment_id,
        "parent_run_id": parent_run_id,
        "deadline": time.monotonic() + 60,
    }

    first = run_study(wine, study_settings(wine, trials=3), **kwargs)  # type: ignore[arg-type]
    again = run_study(wine, study_settings(wine, trials=3), **kwargs)  # type: ignore[arg-type]

    assert first.counts == again.counts
    assert sum(again.counts.values()) == 3
    assert again.stop_reason == "trial budget reached"
    assert again.best_run_id == first.best_run_id
