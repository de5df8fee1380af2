"""A tuning worker: everything it needs comes in its task and its environment."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest

from tools import settings
from tools.data.catalog import Catalog, DigestMismatch
from tools.data.load import load_curated
from tools.experiment.request import TuneRequest
from tools.experiment.worker import WorkerTask, run_worker, worker_seed
from tools.tracking.runs import RunWriter, ensure_experiment


def _task(examples_catalog: Catalog) -> WorkerTask:
    experiment_id = ensure_experiment("worker")
    optuna.create_study(study_name="wine-one", storage=settings.optuna_storage())
    entry, _ = load_curated("wine", "v1", catalog=examples_catalog)  # its location resolved
    return WorkerTask.for_request(
        TuneRequest(dataset="wine", version="v1", metric="log_loss", trials=1),
        study_name="wine-one",
        experiment_id=experiment_id,
        parent_run_id=RunWriter(experiment_id, "parent").run_id,
        group="g",
        workers=4,
        deadline=time.time() + 120,
        dataset=entry,
    )


def test_a_worker_reads_its_dataset_from_the_task_and_takes_the_index_it_is_given(
    examples_catalog: Catalog, tracking_store: str, tmp_path: Path, monkeypatch
):
    task = _task(examples_catalog)
    elsewhere = tmp_path / "pod"
    elsewhere.mkdir()
    monkeypatch.setenv("TRIALRUN_CATALOG", str(elsewhere / "datasets.yaml"))  # no catalog there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_store)
    monkeypatch.setenv("TRIALRUN_OPTUNA_STORAGE", settings.optuna_storage())
    monkeypatch.chdir(elsewhere)

    outcome = run_worker(task, index=3)

    assert (outcome.index, outcome.sampler_seed) == (3, worker_seed(0, 3))
    assert outcome.study.counts == {"COMPLETE": 1}
    study = optuna.load_study(study_name="wine-one", storage=settings.optuna_storage())
    assert not any(key.startswith("trialrun.worker.") for key in study.user_attrs)  # no claim


def test_a_worker_whose_dataset_changed_refuses_before_any_trial(
    examples_catalog: Catalog, tracking_store: str, tmp_path: Path
):
    task = _task(examples_catalog)
    assert task.dataset is not None
    with Path(task.dataset.location).open("ab") as data:
        data.write(b"\0")

    with pytest.raises(DigestMismatch, match="changed after it was catalogued"):
        run_worker(task)

    study = optuna.load_study(study_name="wine-one", storage=settings.optuna_storage())
    assert study.get_trials() == []
