"""What the MLflow UI shows of a model a person is handed: its name, dataset, scores and plots."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from tools.experiment.request import TuneRequest
from tools.tracking.runs import ensure_experiment
from tools.training.metrics import get_metric
from tools.training.run import DataContext, TrainOptions, train_tracked


def final_run(ctx: DataContext, metric: str, experiment: str) -> str:
    outcome = train_tracked(
        ctx,
        family="lightgbm",
        params={"learning_rate": 0.1},
        metric=get_metric(metric, ctx.data.task),
        seed=3,
        experiment_id=ensure_experiment(experiment),
        run_name="final-lightgbm-seed3",
        role="final",
        options=TrainOptions(max_rounds=30),
    )
    return outcome.output.mlflow_run_id


def test_a_final_model_is_named_linked_to_its_dataset_and_scored_in_its_run_experiment(
    example_contexts: dict[str, DataContext], tracking_store: str
) -> None:
    ctx = example_contexts["wine"]
    run_id = final_run(ctx, "log_loss", "record")

    client = MlflowClient(tracking_store)
    run = client.get_run(run_id)
    (model,) = client.search_logged_models([run.info.experiment_id])
    assert model.name == "lightgbm-final-seed3"
    assert model.source_run_id == run_id
    (dataset,) = run.inputs.dataset_inputs
    # the model page's "Datasets used" is this dataset input, by name and digest
    on_data = {
        m.key: m.value
        for m in model.metrics
        if (m.dataset_name, m.dataset_digest) == (dataset.dataset.name, dataset.dataset.digest)
    }
    for key in ("train_log_loss", "valid_log_loss", "test_log_loss"):
        assert on_data[key] == run.data.metrics[key]
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert plots == {
        "plots/roc_curve.png",
        "plots/precision_recall_curve.png",
        "plots/confusion_matrix.png",
        "plots/feature_importance.png",
    }


def test_a_regression_model_gets_residual_and_predicted_vs_actual_plots(
    example_contexts: dict[str, DataContext], tracking_store: str
) -> None:
    run_id = final_run(example_contexts["diabetes"], "rmse", "record")

    plots = {a.path for a in MlflowClient(tracking_store).list_artifacts(run_id, "plots")}
    assert plots == {
        "plots/residuals.png",
        "plots/predicted_vs_actual.png",
        "plots/feature_importance.png",
    }


def test_an_experiment_is_marked_model_training_and_a_kind_someone_chose_is_kept(
    tracking_store: str,
) -> None:
    client = MlflowClient(tracking_store)
    made = client.get_experiment(ensure_experiment("new"))
    assert made.tags["mlflow.experimentKind"] == "custom_model_development"
    older = client.create_experiment("older")
    ensure_experiment("older")
    assert client.get_experiment(older).tags["mlflow.experimentKind"] == "custom_model_development"
    chosen = client.create_experiment("chosen", tags={"mlflow.experimentKind": "finetuning"})
    ensure_experiment("chosen")
    assert client.get_experiment(chosen).tags["mlflow.experimentKind"] == "finetuning"


def test_mlflow_experiment_name_is_the_default_experiment(monkeypatch: pytest.MonkeyPatch) -> None:
    request = TuneRequest(dataset="wine", version="v1", metric="log_loss")
    assert request.experiment_name == "wine-v1"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "team-models")
    assert request.experiment_name == "team-models"
    named = TuneRequest(dataset="wine", version="v1", metric="log_loss", experiment="mine")
    assert named.experiment_name == "mine"
