"""Pruning compares a trial with the others only once it has had the rounds its learning rate needs."""

from __future__ import annotations

import optuna
import pytest

from tools.training import get_trainer
from tools.training.base import FitSpec
from tools.training.metrics import get_metric
from tools.training.run import DataContext
from tools.tuning.pruning import PruningGuard, warmup_rounds


def fit_with_guard(
    study: optuna.Study, ctx: DataContext, family: str, learning_rate: float, rounds: int
) -> tuple[PruningGuard, optuna.Trial]:
    trial = study.ask()
    trainer = get_trainer(family)
    spec = FitSpec(
        task=ctx.data.task,
        n_classes=ctx.data.n_classes,
        metric=get_metric("log_loss", ctx.data.task),
        params={"learning_rate": learning_rate},
        seed=0,
        max_rounds=rounds,
        early_stopping_rounds=rounds,
    )
    guard = PruningGuard(
        trial, family, trainer.stopping_metric(spec)[0], learning_rate=learning_rate
    )
    trainer.fit(ctx.split, spec, callbacks=[guard.callback])
    return guard, trial


@pytest.mark.parametrize("family", ["xgboost", "lightgbm"])
def test_a_slow_learner_is_compared_only_after_its_warm_up_and_a_fast_one_from_round_50(
    family: str, example_contexts: dict[str, DataContext]
) -> None:
    ctx = example_contexts["breast_cancer"]
    # A pruner that prunes anything worse than the best trial from the first report on, and a
    # finished trial with a perfect score at every round: any trial that reports is pruned.
    study = optuna.create_study(
        direction="minimize",
        pruner=optuna.pruners.PercentilePruner(0.0, n_startup_trials=1, n_warmup_steps=0),
    )
    study.add_trial(
        optuna.trial.create_trial(
            value=0.0,
            intermediate_values=dict.fromkeys(range(300), 0.0),
            params={},
            distributions={},
        )
    )

    slow, slow_trial = fit_with_guard(study, ctx, family, 0.02, 90)
    fast, fast_trial = fit_with_guard(study, ctx, family, 0.1, 90)

    assert warmup_rounds(0.02) == 250 and warmup_rounds(0.1) == 50
    assert not slow.pruned
    assert study.trials[slow_trial.number].intermediate_values == {}
    assert fast.pruned
    assert min(study.trials[fast_trial.number].intermediate_values) >= 50
