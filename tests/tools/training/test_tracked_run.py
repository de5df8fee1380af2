"""A tracked training run, read back from a real MLflow store the way a person would look at it."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.metrics import roc_auc_score

from tools.errors import Cancelled
from tools.tracking.runs import ensure_experiment
from tools.training import get_trainer
from tools.training.device import choose_device
from tools.training.metrics import get_metric
from tools.training.run import DataContext, TrainOptions, TrainOutcome, train_tracked

FAMILIES = ("xgboost", "lightgbm")


def train(
    ctx: DataContext, family: str, *, params: dict[str, Any] | None = None, **options: Any
) -> TrainOutcome:
    return train_tracked(
        ctx,
        family=family,
        params=params if params is not None else {"learning_rate": 0.1},
        metric=get_metric("roc_auc", ctx.data.task),
        seed=7,
        experiment_id=ensure_experiment("tracked"),
        run_name=f"{family}-run",
        role="baseline",
        options=TrainOptions(**{"max_rounds": 40, "early_stopping_rounds": 1000, **options}),
    )


def artifact_text(client: MlflowClient, run_id: str, path: str, tmp_path: Path) -> str:
    return Path(client.download_artifacts(run_id, path, str(tmp_path))).read_text()


@pytest.fixture
def cancer(example_contexts: dict[str, DataContext]) -> DataContext:
    return example_contexts["breast_cancer"]


@pytest.fixture
def log_batch_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every MlflowClient.log_batch call, by run id: how many writes a run costs."""
    calls: list[str] = []
    original = MlflowClient.log_batch

    def counted(self: MlflowClient, run_id: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(run_id)
        return original(self, run_id, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", counted)
    return calls


@pytest.mark.parametrize("family", FAMILIES)
def test_a_tracked_run_records_params_metrics_and_one_curve_point_per_round(
    family: str, cancer: DataContext, tracking_store: str, log_batch_calls: list[str]
) -> None:
    outcome = train(cancer, family, max_rounds=300)

    client = MlflowClient(tracking_store)
    run = client.get_run(outcome.output.mlflow_run_id)
    fit = outcome.fit
    assert run.info.status == "FINISHED"
    assert fit.rounds == 300
    assert run.data.params["learning_rate"] == "0.1"
    assert run.data.params["family"] == family
    assert run.data.params["seed"] == "7"
    assert run.data.params["metric"] == "roc_auc"
    assert run.data.metrics["valid_roc_auc"] == pytest.approx(fit.valid_score)
    assert run.data.metrics["train_roc_auc"] == pytest.approx(fit.train_score)
    assert run.data.metrics["best_iteration"] == fit.best_iteration
    for split in ("train", "valid"):
        history = client.get_metric_history(run.info.run_id, f"round_{split}_{fit.curve_metric}")
        points = sorted((m.step, m.value) for m in history)
        assert [step for step, _ in points] == list(range(300))
        assert [value for _, value in points] == pytest.approx(fit.curves[split])
    # 600 curve points and every param, metric and tag: written in a handful of calls, not per round.
    assert log_batch_calls.count(run.info.run_id) <= 3


def test_a_tracked_run_records_the_dataset_seed_versions_host_and_device(
    cancer: DataContext, tracking_store: str
) -> None:
    outcome = train(cancer, "lightgbm")

    run = MlflowClient(tracking_store).get_run(outcome.output.mlflow_run_id)
    tags = run.data.tags
    entry = cancer.entry
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "breast_cancer@v1"
    assert entry.sha256.startswith(dataset_input.dataset.digest)
    assert tags["dataset.digest"] == entry.sha256
    assert (tags["dataset.name"], tags["dataset.version"]) == ("breast_cancer", "v1")
    assert tags["trialrun.seed"] == "7"
    assert tags["trialrun.split_seed"] == str(cancer.split_seed)
    for library in ("mlflow", "optuna", "xgboost", "lightgbm", "scikit-learn", "pandas"):
        assert tags[f"trialrun.version.{library}"] == metadata.version(library)
    assert tags["trialrun.host"] == socket.gethostname()
    assert (tags["trialrun.device"], tags["trialrun.device_note"]) == choose_device("lightgbm", 0)


def test_a_run_asked_for_a_gpu_records_the_device_it_really_used(
    cancer: DataContext, tracking_store: str
) -> None:
    outcome = train(cancer, "xgboost", gpus=1)

    tags = MlflowClient(tracking_store).get_run(outcome.output.mlflow_run_id).data.tags
    device, note = choose_device("xgboost", 1)
    assert (tags["trialrun.device"], tags["trialrun.device_note"]) == (device, note)
    assert outcome.fit.device == device


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_a_tracked_run_records_the_git_commit_and_whether_the_tree_was_dirty(
    cancer: DataContext, tracking_store: str, tmp_path: Path
) -> None:
    from tools.tracking.context import forget_git_state

    _git("init", "-q")
    Path("train.cfg").write_text("rounds = 40\n")
    _git("add", "train.cfg")
    _git("commit", "-q", "-m", "config")
    client = MlflowClient(tracking_store)

    clean = client.get_run(train(cancer, "lightgbm").output.mlflow_run_id)
    Path("train.cfg").write_text("rounds = 41\n")
    forget_git_state()
    dirty = client.get_run(train(cancer, "lightgbm").output.mlflow_run_id)

    sha = _git("rev-parse", "HEAD")
    assert clean.data.tags["mlflow.source.git.commit"] == sha
    assert clean.data.tags["trialrun.git.dirty"] == "false"
    assert dirty.data.tags["mlflow.source.git.commit"] == sha
    assert dirty.data.tags["trialrun.git.dirty"] == "true"
    patch = artifact_text(client, dirty.info.run_id, "git/diff.patch", tmp_path / "dl")
    assert "+rounds = 41" in patch


@pytest.mark.parametrize("family", FAMILIES)
def test_the_logged_model_loads_with_pyfunc_and_predicts_like_the_trained_one(
    family: str, cancer: DataContext, tracking_store: str
) -> None:
    outcome = train(cancer, family)

    output = outcome.output
    assert output.model_artifact_path is not None
    model = mlflow.pyfunc.load_model(output.model_artifact_path)
    rows = cancer.data.raw.loc[cancer.split.X_valid.index]
    expected = get_trainer(family).predict(outcome.fit.model, cancer.split.X_valid)
    proba = model.predict(rows, params={"predict_method": "predict_proba"})
    np.testing.assert_allclose(proba[1].to_numpy(), expected)
    assert model.predict(rows).tolist() == (expected > 0.5).astype(int).tolist()


@pytest.mark.parametrize("role", ["baseline", "final", "trial"])
def test_only_the_models_handed_over_are_scored_on_the_test_share(
    cancer: DataContext, tracking_store: str, role: str
) -> None:
    outcome = train_tracked(
        cancer,
        family="lightgbm",
        params={"learning_rate": 0.2},
        metric=get_metric("roc_auc", "binary"),
        seed=7,
        experiment_id=ensure_experiment("tracked"),
        run_name=f"{role}-run",
        role=role,
        options=TrainOptions(max_rounds=20, log_model=False),
    )

    run = MlflowClient(tracking_store).get_run(outcome.output.mlflow_run_id)
    assert {k: run.data.params[k] for k in ("split_seed", "valid_fraction", "test_fraction")} == {
        "split_seed": "0",
        "valid_fraction": "0.2",
        "test_fraction": "0.15",
    }
    if role == "trial":
        assert outcome.output.test_metrics == {}
        assert "test_roc_auc" not in run.data.metrics
    else:
        assert run.data.metrics["test_roc_auc"] == outcome.output.test_metrics["test_roc_auc"]


def test_the_trainer_output_contract_has_every_field(
    cancer: DataContext, tracking_store: str
) -> None:
    outcome = train(cancer, "xgboost", params={"learning_rate": 0.2, "max_depth": 3})

    output = outcome.output.model_dump()
    assert set(output) == {
        "model_artifact_path",
        "training_metrics",
        "validation_metrics",
        "test_metrics",
        "best_hyperparameters",
        "mlflow_run_id",
        "training_time_seconds",
    }
    assert output["model_artifact_path"].startswith("models:/")
    assert output["training_metrics"] == {"train_roc_auc": outcome.fit.train_score}
    assert output["validation_metrics"] == {"valid_roc_auc": outcome.fit.valid_score}
    held_out = get_trainer("xgboost").predict(outcome.fit.model, cancer.split.X_test)
    assert output["test_metrics"] == {
        "test_roc_auc": pytest.approx(roc_auc_score(cancer.split.y_test, held_out), abs=1e-12)
    }
    assert output["best_hyperparameters"] == {
        "learning_rate": 0.2,
        "max_depth": 3,
        "n_estimators": outcome.fit.best_iteration + 1,
    }
    assert MlflowClient(tracking_store).get_run(output["mlflow_run_id"]).info.status == "FINISHED"
    assert output["training_time_seconds"] > 0


@pytest.mark.parametrize(
    ("family", "params", "error"),
    [
        ("xgboost", {"max_depth": -1}, "XGBoostError"),
        ("lightgbm", {"num_leaves": 1}, "LightGBMError"),
    ],
)
def test_a_run_the_library_refuses_ends_failed_with_its_traceback(
    family: str,
    params: dict[str, Any],
    error: str,
    cancer: DataContext,
    tracking_store: str,
    tmp_path: Path,
) -> None:
    with pytest.raises(Exception, match=r"max_depth|num_leaves") as raised:
        train(cancer, family, params=params)

    assert type(raised.value).__name__ == error
    client = MlflowClient(tracking_store)
    (run,) = client.search_runs([ensure_experiment("tracked")])
    assert run.info.status == "FAILED"
    assert run.data.tags["trialrun.error"].startswith(f"{error}: ")
    assert run.data.params["family"] == family
    traceback = artifact_text(client, run.info.run_id, "error/traceback.txt", tmp_path / "dl")
    assert "Traceback (most recent call last)" in traceback and error in traceback


def test_a_cancelled_run_ends_killed(cancer: DataContext, tracking_store: str) -> None:
    cancel = threading.Event()
    cancel.set()

    with pytest.raises(Cancelled):
        train(cancer, "lightgbm", cancel=cancel)

    (run,) = MlflowClient(tracking_store).search_runs([ensure_experiment("tracked")])
    assert run.info.status == "KILLED"
    assert run.data.tags["trialrun.error"] == "Cancelled: training cancelled after round 1"


def test_artifacts_land_in_the_documented_folder_and_the_environment_is_left_alone(
    cancer: DataContext, tracking_store: str
) -> None:
    outcome = train(cancer, "lightgbm")

    assert "MLFLOW_TRACKING_URI" not in os.environ
    run_id = outcome.output.mlflow_run_id
    assert list(Path("mlartifacts").rglob(f"{run_id}/artifacts/feature_importances.json"))
    assert not Path("mlruns").exists()
