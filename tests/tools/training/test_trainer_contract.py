"""One contract, every trainer: the same cases over XGBoost and LightGBM on all three tasks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tools.errors import Cancelled, InputError
from tools.training import get_trainer
from tools.training.base import FitSpec
from tools.training.checkpoints import CheckpointStore
from tools.training.metrics import DEFAULT_METRIC, METRICS, get_metric, metrics_for
from tools.training.run import DataContext

FAMILIES = ("xgboost", "lightgbm")
DATASETS = ("breast_cancer", "wine", "diabetes")
# Row and column subsampling make resume exactness non-trivial: each round's sample must be
# drawn again identically after a restart.
SAMPLED = {
    "xgboost": {"learning_rate": 0.3, "subsample": 0.7},
    "lightgbm": {"learning_rate": 0.3, "subsample": 0.7, "feature_fraction": 0.7, "max_bin": 1023},
}


def fit_spec(ctx: DataContext, metric: str | None = None, **fields: Any) -> FitSpec:
    """A FitSpec for ``ctx``'s task with the task's default metric, seed 0 and no params."""
    task = ctx.data.task
    fields.setdefault("params", {})
    fields.setdefault("seed", 0)
    return FitSpec(
        task=task,
        n_classes=ctx.data.n_classes,
        metric=get_metric(metric or DEFAULT_METRIC[task], task),
        **fields,
    )


def each_round(family: str, action: Callable[[int], None]) -> Any:
    """A library callback that calls ``action`` with the number of rounds done after each round."""
    if family == "xgboost":
        import xgboost as xgb

        class AfterRound(xgb.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                action(model.num_boosted_rounds())
                return False

        return AfterRound()

    def after_round(env: Any) -> None:
        action(env.iteration + 1)

    return after_round


def cancel_after(family: str, rounds: int, event: threading.Event) -> Any:
    """A library callback that sets ``event`` once ``rounds`` rounds are done (a person pressing stop)."""

    def maybe_cancel(done: int) -> None:
        if done >= rounds:
            event.set()

    return each_round(family, maybe_cancel)


def sklearn_score(metric: str, y: np.ndarray, pred: np.ndarray) -> float:
    """Score predictions with scikit-learn directly, independently of tools.training.metrics."""
    from sklearn import metrics as skm

    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y, pred)))
    if metric == "mae":
        return float(skm.mean_absolute_error(y, pred))
    if metric == "r2":
        return float(skm.r2_score(y, pred))
    pred = np.asarray(pred, dtype=np.float64)
    proba = np.column_stack([1 - pred, pred]) if pred.ndim == 1 else pred
    # float32 probability rows sum to 1 only to ~1e-7, which scikit-learn warns about.
    proba = proba / proba.sum(axis=1, keepdims=True)
    binary = proba.shape[1] == 2
    if metric == "roc_auc":
        return float(
            skm.roc_auc_score(y, proba[:, 1])
            if binary
            else skm.roc_auc_score(y, proba, multi_class="ovr")
        )
    if metric == "log_loss":
        return float(skm.log_loss(y, proba))
    labels = proba.argmax(axis=1)
    if metric == "accuracy":
        return float(skm.accuracy_score(y, labels))
    assert metric == "f1"
    return float(skm.f1_score(y, labels, average="binary" if binary else "macro"))


@pytest.fixture(params=FAMILIES)
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=DATASETS)
def ctx(request: pytest.FixtureRequest, example_contexts: dict[str, DataContext]) -> DataContext:
    return example_contexts[str(request.param)]


def test_predictions_have_one_row_per_sample_and_the_task_shape(
    family: str, ctx: DataContext
) -> None:
    trainer = get_trainer(family)
    fit = trainer.fit(ctx.split, fit_spec(ctx, max_rounds=20))

    pred = trainer.predict(fit.model, ctx.split.X_valid)

    n = len(ctx.split.X_valid)
    assert pred.shape == ((n, 3) if ctx.data.task == "multiclass" else (n,))
    if ctx.data.task != "regression":
        assert np.all((pred >= 0) & (pred <= 1))
    if ctx.data.task == "multiclass":
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("dataset", "metric"),
    [
        (dataset, metric)
        for dataset, task in (
            ("breast_cancer", "binary"),
            ("wine", "multiclass"),
            ("diabetes", "regression"),
        )
        for metric in metrics_for(task)
    ],
)
def test_scores_match_sklearn_for_every_metric_of_the_task(
    family: str, dataset: str, metric: str, example_contexts: dict[str, DataContext]
) -> None:
    ctx = example_contexts[dataset]
    trainer = get_trainer(family)

    fit = trainer.fit(ctx.split, fit_spec(ctx, metric, max_rounds=15))

    valid = sklearn_score(metric, ctx.split.y_valid, trainer.predict(fit.model, ctx.split.X_valid))
    train = sklearn_score(metric, ctx.split.y_train, trainer.predict(fit.model, ctx.split.X_train))
    assert fit.valid_score == pytest.approx(valid, rel=1e-6, abs=1e-9)
    assert fit.train_score == pytest.approx(train, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_metric_that_does_not_fit_the_task_is_refused_naming_those_that_do(task: str) -> None:
    fitting = metrics_for(task)
    for name in METRICS:
        if name in fitting:
            assert get_metric(name, task).name == name
            continue
        with pytest.raises(InputError) as refused:
            get_metric(name, task)
        message = str(refused.value)
        assert repr(name) in message and task in message
        assert all(other in message for other in fitting)
        assert refused.value.field == "metric"


def test_an_unknown_metric_is_refused_listing_every_metric() -> None:
    with pytest.raises(InputError, match="'auc'") as refused:
        get_metric("auc")
    assert all(name in str(refused.value) for name in METRICS)


def test_early_stopping_keeps_the_best_round_and_stops_after_the_patience(
    family: str, ctx: DataContext
) -> None:
    trainer = get_trainer(family)
    fit = trainer.fit(
        ctx.split,
        fit_spec(ctx, params=SAMPLED[family], max_rounds=500, early_stopping_rounds=3),
    )

    assert fit.stopped == "early_stopping"
    assert fit.rounds == fit.best_iteration + 1 + 3 < 500
    best = fit.curves["valid"][fit.best_iteration]
    _, higher_is_better = trainer.stopping_metric(fit_spec(ctx))
    assert best == (max if higher_is_better else min)(fit.curves["valid"])
    # The model returned is the best one, not the one after the patience ran out.
    trees = fit.model.num_boosted_rounds() if family == "xgboost" else fit.model.current_iteration()
    assert trees == fit.best_iteration + 1


def test_curves_have_one_value_per_round_and_importances_sum_to_one(
    family: str, ctx: DataContext
) -> None:
    fit = get_trainer(family).fit(
        ctx.split, fit_spec(ctx, max_rounds=25, early_stopping_rounds=100)
    )

    assert fit.stopped == "completed"
    assert fit.rounds == 25
    assert len(fit.curves["train"]) == len(fit.curves["valid"]) == 25
    assert all(np.isfinite(fit.curves["valid"]))
    assert sum(fit.importances.values()) == pytest.approx(1.0)
    assert all(v >= 0 for v in fit.importances.values())
    assert set(fit.importances) <= set(ctx.data.feature_names)


def test_a_deadline_already_passed_trains_exactly_one_round(family: str, ctx: DataContext) -> None:
    trainer = get_trainer(family)
    fit = trainer.fit(ctx.split, fit_spec(ctx, max_rounds=500, deadline=time.monotonic() - 1))

    assert (fit.rounds, fit.stopped) == (1, "deadline")
    assert len(trainer.predict(fit.model, ctx.split.X_valid)) == len(ctx.split.X_valid)


def test_a_cancel_flag_set_before_training_stops_after_one_round(
    family: str, ctx: DataContext
) -> None:
    cancel = threading.Event()
    cancel.set()

    with pytest.raises(Cancelled, match=r"after round 1$"):
        get_trainer(family).fit(ctx.split, fit_spec(ctx, max_rounds=500, cancel=cancel))


def test_a_cancel_during_training_stops_within_one_round(
    family: str, example_contexts: dict[str, DataContext]
) -> None:
    ctx = example_contexts["wine"]
    cancel = threading.Event()

    with pytest.raises(Cancelled, match=r"after round (\d+)$") as stopped:
        get_trainer(family).fit(
            ctx.split,
            fit_spec(ctx, max_rounds=500, early_stopping_rounds=500, cancel=cancel),
            callbacks=[cancel_after(family, 7, cancel)],
        )

    assert int(str(stopped.value).rsplit(" ", 1)[1]) in (7, 8)


def test_checkpoints_are_written_every_k_rounds_and_the_last_n_kept(
    family: str, ctx: DataContext, tmp_path: Path
) -> None:
    store = CheckpointStore(tmp_path / "ck", "fingerprint", every=3, keep=2)

    get_trainer(family).fit(
        ctx.split, fit_spec(ctx, max_rounds=13, early_stopping_rounds=100), checkpoints=store
    )

    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "best.bin",
        "round-000009",
        "round-000012",
    ]
    latest = store.latest()
    assert latest is not None and latest.state.rounds == 12
    assert len(latest.state.curves["valid"]) == 12


def _uninterrupted_and_resumed(
    family: str, ctx: DataContext, directory: Path, *, resume_fingerprint: str
) -> tuple[bytes, bytes, int]:
    trainer = get_trainer(family)
    spec = fit_spec(ctx, params=SAMPLED[family], max_rounds=200, early_stopping_rounds=10)
    reference = trainer.fit(ctx.split, spec)
    assert reference.rounds > 8, "early stopping came before the interruption point"

    cancel = threading.Event()
    with pytest.raises(Cancelled):
        trainer.fit(
            ctx.split,
            fit_spec(
                ctx, params=SAMPLED[family], max_rounds=200, early_stopping_rounds=10, cancel=cancel
            ),
            checkpoints=CheckpointStore(directory, "fingerprint-a", every=3, keep=2),
            callbacks=[cancel_after(family, 8, cancel)],
        )
    resumed = trainer.fit(
        ctx.split, spec, checkpoints=CheckpointStore(directory, resume_fingerprint, every=3)
    )
    assert resumed.curves == reference.curves
    assert resumed.valid_score == reference.valid_score
    return trainer.to_bytes(reference.model), trainer.to_bytes(resumed.model), resumed.resumed_from


def test_resuming_after_an_interruption_gives_the_bit_identical_model(
    family: str, ctx: DataContext, tmp_path: Path
) -> None:
    reference, resumed, resumed_from = _uninterrupted_and_resumed(
        family, ctx, tmp_path / "ck", resume_fingerprint="fingerprint-a"
    )

    # The cancel lands in round 8 or 9 (callback order differs by library); checkpoints every 3.
    assert resumed_from in (6, 9)
    assert resumed == reference


def test_a_checkpoint_with_another_fingerprint_is_not_resumed(
    family: str, ctx: DataContext, tmp_path: Path
) -> None:
    reference, restarted, resumed_from = _uninterrupted_and_resumed(
        family, ctx, tmp_path / "ck", resume_fingerprint="fingerprint-b"
    )

    assert resumed_from == 0
    assert restarted == reference


def test_row_subsampling_changes_the_model_and_each_seed_draws_its_own_rows(
    family: str, ctx: DataContext
) -> None:
    trainer = get_trainer(family)

    def predictions(subsample: float, seed: int) -> np.ndarray:
        spec = fit_spec(
            ctx, params={"subsample": subsample}, seed=seed, max_rounds=20, early_stopping_rounds=50
        )
        return trainer.predict(trainer.fit(ctx.split, spec).model, ctx.split.X_valid)

    full = predictions(1.0, 0)
    half = predictions(0.5, 0)

    assert not np.allclose(half, full)
    assert not np.allclose(predictions(0.5, 1), half)
    np.testing.assert_array_equal(predictions(0.5, 0), half)


def test_lightgbm_bins_features_as_finely_as_max_bin_asks(
    example_contexts: dict[str, DataContext],
) -> None:
    ctx = example_contexts["diabetes"]
    trainer = get_trainer("lightgbm")

    def predictions(max_bin: int) -> np.ndarray:
        spec = fit_spec(ctx, params={"max_bin": max_bin}, max_rounds=20, early_stopping_rounds=50)
        return trainer.predict(trainer.fit(ctx.split, spec).model, ctx.split.X_valid)

    coarse = predictions(7)

    assert not np.allclose(coarse, predictions(255))
    np.testing.assert_array_equal(predictions(7), coarse)
