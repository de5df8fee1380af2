"""One tracked training run: train, then record everything about it in MLflow.

Every run carries its parameters, final metrics, per-round curves (one batched write), feature
importances, the dataset (``mlflow.data``), the seed, git state, library versions, host and device.
A failing run is closed FAILED with its traceback as an artifact; a cancelled one KILLED.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from tools.data.catalog import DatasetEntry
from tools.data.split import Split
from tools.data.validate import PreparedData
from tools.tracking.dataset import MLFLOW_DIGEST_LENGTH, dataset_tags, log_dataset
from tools.tracking.models import Member, log_model
from tools.tracking.runs import DeferredWrites, RunStatus, RunWriter, tracked
from tools.training import get_trainer
from tools.training.base import FitResult, FitSpec
from tools.training.checkpoints import CheckpointStore
from tools.training.device import choose_device
from tools.training.metrics import Metric, score

Role = Literal["baseline", "trial", "final", "reproduction"]


class ModelTrainerOutput(BaseModel):
    """The result contract of a training run, exposed as-is by the pipeline and the agent."""

    model_artifact_path: str | None
    training_metrics: dict[str, float]
    validation_metrics: dict[str, float]
    test_metrics: dict[str, float] = {}
    """The primary metric on the test share (``test_<metric>``); empty for trials or no share."""
    best_hyperparameters: dict[str, Any]
    mlflow_run_id: str
    training_time_seconds: float


@dataclass(frozen=True)
class DataContext:
    """A validated dataset and its split, prepared once per experiment."""

    entry: DatasetEntry
    data: PreparedData
    split: Split
    split_seed: int
    valid_fraction: float = 0.2
    test_fraction: float = 0.0


@dataclass(frozen=True)
class TrainOptions:
    """Limits and switches of one training run."""

    threads: int = 1
    gpus: int = 0
    max_rounds: int = 1000
    early_stopping_rounds: int = 50
    deadline: float | None = None
    cancel: threading.Event | None = None
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 25
    checkpoint_keep: int = 2
    log_model: bool = True
    deferred: DeferredWrites | None = None


@dataclass
class TrainOutcome:
    """A finished tracked run: the contract fields and the raw fit result."""

    output: ModelTrainerOutput
    fit: FitResult
    device_note: str
    family: str
    seed: int
    reuse_key: str = ""
    """Identifies what was trained: same key, same model (training is deterministic)."""


def train_tracked(
    ctx: DataContext,
    *,
    family: str,
    params: dict[str, Any],
    metric: Metric,
    seed: int,
    experiment_id: str,
    run_name: str,
    role: Role,
    parent_run_id: str | None = None,
    options: TrainOptions = TrainOptions(),
    callbacks: Sequence[Any] = (),
    tags: dict[str, Any] | None = None,
    outcome_tags: Callable[[FitResult], dict[str, Any]] | None = None,
    outcome_status: Callable[[FitResult], RunStatus] | None = None,
    failure_tags: dict[str, Any] | None = None,
    reuse: Sequence[TrainOutcome] = (),
) -> TrainOutcome:
    """Train one model and track it as an MLflow run (a child of ``parent_run_id`` when given).

    Args:
        ctx: The prepared dataset and split.
        family: ``xgboost`` or ``lightgbm``.
        params: Hyperparameters in the family's names.
        metric: The primary metric.
        seed: The training seed.
        experiment_id: The MLflow experiment.
        run_name: The run's name.
        role: baseline, trial, final or reproduction (a tag).
        parent_run_id: The experiment's parent run.
        options: Limits and switches.
        callbacks: Extra library callbacks (pruning).
        tags: Extra tags set when the run is created.
        outcome_tags: Tags computed from the fit, written with the final metrics.
        outcome_status: The status the run closes with, from the fit (default FINISHED).
        failure_tags: Tags written when the run fails or is cancelled.
        reuse: Models trained earlier in this process; one trained the very same way (same data,
            family, parameters, seed, rounds, patience, threads and device) is recorded in this
            run instead of being trained again — training is deterministic, so it is the model
            this run would train.

    Returns:
        The contract fields and the fit result. On failure the run is closed FAILED (KILLED when
        cancelled) with its traceback, and the exception propagates.
    """
    trainer = get_trainer(family)
    device, device_note = choose_device(family, options.gpus)
    entry = ctx.entry
    key = _fingerprint(entry, family, params, seed, options, device, ctx, metric)
    earlier = next((o for o in reuse if o.reuse_key == key), None)
    if earlier is not None:
        tags = {**(tags or {}), "trialrun.trained_in_run": earlier.output.mlflow_run_id}
    writer = RunWriter(
        experiment_id,
        run_name,
        parent_run_id=parent_run_id,
        tags={
            "trialrun.role": role,
            "trialrun.family": family,
            "trialrun.seed": seed,
            "trialrun.split_seed": ctx.split_seed,
            "trialrun.device": device,
            "trialrun.device_note": device_note,
            **dataset_tags(entry),
            **(tags or {}),
        },
        deferred=options.deferred,
    )
    with tracked(writer, failure_tags=failure_tags):
        writer.run_later(log_dataset, entry, ctx.data, run_id=writer.run_id)
        spec = FitSpec(
            task=ctx.data.task,
            n_classes=ctx.data.n_classes,
            metric=metric,
            params=params,
            seed=seed,
            max_rounds=options.max_rounds,
            early_stopping_rounds=options.early_stopping_rounds,
            threads=options.threads,
            device=device,
            deadline=options.deadline,
            cancel=options.cancel,
        )
        store = None
        if options.checkpoint_dir is not None and earlier is None:
            store = CheckpointStore(
                options.checkpoint_dir,
                fingerprint=key,
                every=options.checkpoint_every,
                keep=options.checkpoint_keep,
            )
        run_params = _run_params(family, params, spec, metric, ctx)
        try:
            fit = (
                earlier.fit
                if earlier is not None
                else trainer.fit(ctx.split, spec, checkpoints=store, callbacks=callbacks)
            )
        except BaseException:
            writer.log(params=run_params)
            raise
        extra = outcome_tags(fit) if outcome_tags else {}
        if outcome_status is not None:
            writer.closing_status = outcome_status(fit)
        # Only the models a person is handed are scored on the test share, once each: no trial
        # ever sees it, so no choice the search makes can depend on it.
        test = score_test_share(trainer, fit, ctx, metric) if role != "trial" else {}
        output = _record(writer, ctx, fit, metric, params, run_params, options, extra, test, role)
        if role == "final":
            log_evaluation_plots(writer, trainer, fit, ctx)
        if store is not None:
            store.clear()
    return TrainOutcome(
        output=output, fit=fit, device_note=device_note, family=family, seed=seed, reuse_key=key
    )


def model_name(family: str, role: Role, seed: int) -> str:
    """Return a logged model's name: its family and role, and the seed unless a baseline's.

    Example:
        >>> model_name("lightgbm", "final", 2)
        'lightgbm-final-seed2'
    """
    return f"{family}-baseline" if role == "baseline" else f"{family}-{role}-seed{seed}"


def log_evaluation_plots(writer: RunWriter, trainer: Any, fit: FitResult, ctx: DataContext) -> None:
    """Log the model's evaluation plots on its run, drawn on the test share (else validation)."""
    from tools.tracking.evaluation import evaluation_figures, log_evaluation

    split = ctx.split
    share, X, y = ("test", split.X_test, split.y_test)
    if not len(y):
        share, X, y = ("validation", split.X_valid, split.y_valid)
    figures = evaluation_figures(
        y=y,
        predicted=trainer.predict(fit.model, X),
        n_classes=ctx.data.n_classes,
        class_labels=ctx.data.class_labels,
        importances=fit.importances,
        share=share,
    )
    log_evaluation(writer.client, writer.run_id, figures)


def score_test_share(
    trainer: Any, fit: FitResult, ctx: DataContext, metric: Metric
) -> dict[str, float]:
    """Return ``{"test_<metric>": value}`` of a trained model, or nothing without a test share."""
    split = ctx.split
    if not len(split.y_test):
        return {}
    predicted = trainer.predict(fit.model, split.X_test)
    return {f"test_{metric.name}": score(metric, split.y_test, predicted, ctx.data.n_classes)}


def _run_params(
    family: str, params: dict[str, Any], spec: FitSpec, metric: Metric, ctx: DataContext
) -> dict[str, Any]:
    return {
        **params,
        "family": family,
        "seed": spec.seed,
        "max_rounds": spec.max_rounds,
        "early_stopping_rounds": spec.early_stopping_rounds,
        "threads": spec.threads,
        "metric": metric.name,
        "task": spec.task,
        "target": ctx.entry.target,
        "split_seed": ctx.split_seed,
        "valid_fraction": ctx.valid_fraction,
        "test_fraction": ctx.test_fraction,
    }


def _record(
    writer: RunWriter,
    ctx: DataContext,
    fit: FitResult,
    metric: Metric,
    params: dict[str, Any],
    run_params: dict[str, Any],
    options: TrainOptions,
    extra_tags: dict[str, Any],
    test: dict[str, float],
    role: Role,
) -> ModelTrainerOutput:
    training = {f"train_{metric.name}": fit.train_score}
    validation = {f"valid_{metric.name}": fit.valid_score}
    writer.log(
        params=run_params,
        metrics={
            **training,
            **validation,
            **test,
            "best_iteration": fit.best_iteration,
            "rounds": fit.rounds,
            "training_time_seconds": fit.seconds,
        },
        curves={
            f"round_train_{fit.curve_metric}": fit.curves["train"],
            f"round_valid_{fit.curve_metric}": fit.curves["valid"],
        },
        tags={
            "trialrun.stopped": fit.stopped,
            "trialrun.resumed_from_round": fit.resumed_from,
            **extra_tags,
        },
    )
    writer.log_text(json.dumps(fit.importances, indent=1), "feature_importances.json")
    model_uri = None
    if options.log_model:
        model_uri = log_model(
            [Member(run_params["family"], fit.model)],
            encoding=ctx.data.encoding,
            run_id=writer.run_id,
            name=model_name(run_params["family"], role, run_params["seed"]),
            metrics={**training, **validation, **test},
            dataset=(ctx.entry.ref, ctx.entry.sha256[:MLFLOW_DIGEST_LENGTH]),
        )
    return ModelTrainerOutput(
        model_artifact_path=model_uri,
        training_metrics=training,
        validation_metrics=validation,
        test_metrics=test,
        best_hyperparameters={**params, "n_estimators": fit.best_iteration + 1},
        mlflow_run_id=writer.run_id,
        training_time_seconds=fit.seconds,
    )


def _fingerprint(
    entry: DatasetEntry,
    family: str,
    params: dict[str, Any],
    seed: int,
    options: TrainOptions,
    device: str,
    ctx: DataContext,
    metric: Metric,
) -> str:
    """Identify a training run's inputs: checkpoints and reuse match on it."""
    import hashlib

    blob = json.dumps(
        [
            entry.sha256,
            family,
            params,
            seed,
            options.max_rounds,
            options.early_stopping_rounds,
            options.threads,
            device,
            metric.name,
            ctx.split_seed,
            ctx.valid_fraction,
            ctx.test_fraction,
        ],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
