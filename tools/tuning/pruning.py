"""Optuna pruning through optuna-integration's XGBoost and LightGBM callbacks.

Each report is a write to the study's storage (a transaction on an RDB), so the callbacks report
every :data:`REPORT_EVERY` rounds rather than every round.

The integration callbacks raise ``TrialPruned`` from inside the library's training loop, which would
throw away the curves recorded so far. The adapters here catch it, stop training cleanly at that
round (so the trial's run is still logged with its curves) and remember that the trial was pruned.
"""

from __future__ import annotations

from typing import Any

import optuna

REPORT_EVERY = 10


class PruningGuard:
    """Wraps an integration pruning callback; ``pruned`` tells whether it fired."""

    def __init__(self, trial: optuna.Trial, family: str, eval_metric: str):
        self.pruned = False
        if family == "xgboost":
            from optuna_integration import XGBoostPruningCallback

            self.callback: Any = _XGBoostGuard(
                self, XGBoostPruningCallback(trial, f"valid-{eval_metric}")
            )
        else:
            from optuna_integration import LightGBMPruningCallback

            self.callback = _lightgbm_guard(
                self,
                LightGBMPruningCallback(
                    trial, eval_metric, valid_name="valid", report_interval=REPORT_EVERY
                ),
            )


def _XGBoostGuard(guard: PruningGuard, inner: Any) -> Any:  # noqa: N802 - a class factory
    import xgboost as xgb

    class Guard(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if epoch % REPORT_EVERY:
                return False
            try:
                return bool(inner.after_iteration(model, epoch, evals_log))
            except optuna.TrialPruned:
                guard.pruned = True
                return True

    return Guard()


def _lightgbm_guard(guard: PruningGuard, inner: Any) -> Any:
    import lightgbm as lgb

    def callback(env: Any) -> None:
        try:
            inner(env)
        except optuna.TrialPruned as exc:
            guard.pruned = True
            raise lgb.callback.EarlyStopException(env.iteration, []) from exc

    callback.order = 200  # type: ignore[attr-defined]
    return callback
