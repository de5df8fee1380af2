"""What a resumed request keeps from its interrupted attempt: a baseline that finished.

A request interrupted after its baseline finished (during tuning, the final models or the
verification) reopens the same parent run and study when it is asked again. Its baseline is read
back from MLflow rather than trained again, so the parent keeps one baseline run per family and
the time budget goes to what is left. Training is deterministic for the same request, seed and
data, so the kept run is the run a retrain would produce.
"""

from __future__ import annotations

from typing import Any

from tools.tracking.runs import client
from tools.training.base import FitResult
from tools.training.metrics import Metric
from tools.training.run import ModelTrainerOutput, TrainOutcome


def finished_baseline(
    *,
    experiment_id: str,
    parent_run_id: str,
    family: str,
    params: dict[str, Any],
    seed: int,
    metric: Metric,
) -> TrainOutcome | None:
    """Return the FINISHED baseline run of ``family`` under the parent, read back; else None.

    ``params`` are the ones the baseline trains with (the library defaults).

    A run without its metrics or its model (one cut short in its last writes) is not kept.

    The outcome holds no model in memory: nothing trains from a baseline's fitted model (a final
    that would match it trains its own), and its logged model is named by ``models:/`` URI.
    """
    found = client().search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`mlflow.parentRunId` = '{parent_run_id}' and tags.`trialrun.role` = 'baseline'"
            f" and tags.`trialrun.family` = '{family}' and attributes.status = 'FINISHED'"
        ),
        max_results=5,
        order_by=["attributes.start_time DESC"],
    )
    run = next((r for r in found if r.data.tags.get("trialrun.seed") == str(seed)), None)
    if run is None:
        return None
    metrics = run.data.metrics
    train, valid = metrics.get(f"train_{metric.name}"), metrics.get(f"valid_{metric.name}")
    model_uri = _model_uri(experiment_id, run.info.run_id)
    if train is None or valid is None or model_uri is None:
        return None
    test = {k: v for k, v in metrics.items() if k == f"test_{metric.name}"}
    best_iteration = int(metrics.get("best_iteration", 0))
    seconds = float(metrics.get("training_time_seconds", 0.0))
    fit = FitResult(
        model=None,
        best_iteration=best_iteration,
        rounds=int(metrics.get("rounds", best_iteration + 1)),
        stopped=run.data.tags.get("trialrun.stopped", "completed"),
        curves={},
        curve_metric=metric.name,
        train_score=train,
        valid_score=valid,
        importances={},
        seconds=seconds,
        device=run.data.tags.get("trialrun.device", "cpu"),
    )
    output = ModelTrainerOutput(
        model_artifact_path=model_uri,
        training_metrics={f"train_{metric.name}": train},
        validation_metrics={f"valid_{metric.name}": valid},
        test_metrics=test,
        best_hyperparameters={**params, "n_estimators": best_iteration + 1},
        mlflow_run_id=run.info.run_id,
        training_time_seconds=seconds,
    )
    return TrainOutcome(
        output=output,
        fit=fit,
        device_note=run.data.tags.get("trialrun.device_note", ""),
        family=family,
        seed=seed,
    )


def _model_uri(experiment_id: str, run_id: str) -> str | None:
    models = client().search_logged_models(
        experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )
    return f"models:/{models[0].model_id}" if models else None
