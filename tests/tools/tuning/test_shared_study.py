"""A study shared by many workers at once stops at its trial budget exactly, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import optuna
import pytest

from tools.experiment.worker import WorkerTask, worker_seed
from tools.tuning.distributed import has_password
from tools.tuning.shared import SharedStudy, TrialBudgetSpent, claim_worker_index


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'optuna.db'}"
    return str(request.getfixturevalue("postgres_optuna"))


@pytest.fixture
def study_name(storage: str) -> Iterator[str]:
    name = f"shared-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=storage)
    yield name
    optuna.delete_study(study_name=name, storage=storage)


def test_workers_racing_for_the_last_trials_never_overshoot_the_budget(
    storage: str, study_name: str
):
    budget, workers = 12, 6
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def worker() -> None:
        study = SharedStudy(study_name, storage, trials=budget)
        start.wait()
        try:
            # Each worker alone would run up to the whole budget: only the shared count stops it.
            study.optimize(lambda trial: time.sleep(0.01) or trial.suggest_float("x", 0, 1))
        except TrialBudgetSpent:
            return
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    trials = optuna.load_study(study_name=study_name, storage=storage).get_trials()
    assert len(trials) == budget
    assert {t.state.name for t in trials} == {"COMPLETE"}


def test_a_failed_trial_gives_its_place_back(storage: str, study_name: str):
    study = SharedStudy(study_name, storage, trials=2)
    failed = study.ask()
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    study.tell(study.ask(), 0.5)
    study.tell(study.ask(), 0.7)

    with pytest.raises(TrialBudgetSpent, match="has 2 of 2 trials finished or running"):
        study.ask()


def test_queued_trials_start_within_the_budget_instead_of_new_ones(storage: str, study_name: str):
    study = SharedStudy(study_name, storage, trials=2)
    for x in (0.25, 0.75):
        study.enqueue_trial({"x": x})

    for _ in range(2):
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0, 1))

    with pytest.raises(TrialBudgetSpent):
        study.ask()
    assert sorted(t.params["x"] for t in study.get_trials()) == [0.25, 0.75]


def test_workers_of_one_launch_claim_distinct_indices_and_so_distinct_sampler_seeds(
    storage: str, study_name: str
):
    study = SharedStudy(study_name, storage, trials=1)
    first = [claim_worker_index(study, group="g1", holder=f"pod-{i}") for i in range(3)]
    other_launch = claim_worker_index(study, group="g2", holder="pod-x")

    assert first == [0, 1, 2] and other_launch == 0
    assert study.user_attrs["trialrun.worker.g1.1"] == "pod-1"
    assert len({worker_seed(7, index) for index in first}) == 3
    assert worker_seed(7, 1) == worker_seed(7, 1)  # the same request gets the same seeds


def test_a_storage_password_never_travels_in_the_worker_task():
    from tools.experiment.request import TuneRequest

    secret = "postgresql+psycopg2://optuna:s3cret@db:5432/optuna"
    task = WorkerTask.for_request(
        TuneRequest(dataset="wine", version="v1", metric="log_loss", storage=secret),
        study_name="s",
        experiment_id="1",
        parent_run_id="r",
        group="g",
        workers=2,
        deadline=0.0,
    )

    assert has_password(secret) and not has_password("http://mlflow:5000")
    assert "s3cret" not in task.to_json()
    assert task.tune_request().storage is None  # the worker reads it from its environment
    assert WorkerTask.parse(task.to_json()) == task
