"""The XGBoost trainer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tools.data.split import Split
from tools.training.base import (
    FitResult,
    FitSpec,
    RoundController,
    Trainer,
    row_weights,
    train_curve_rows,
)
from tools.training.checkpoints import CheckpointStore
from tools.training.metrics import score

_EVAL_METRIC = {
    ("roc_auc", "binary"): ("auc", True),
    ("roc_auc", "multiclass"): ("auc", True),
    ("log_loss", "binary"): ("logloss", False),
    ("log_loss", "multiclass"): ("mlogloss", False),
    ("accuracy", "binary"): ("error", False),
    ("accuracy", "multiclass"): ("merror", False),
}
_FALLBACK = {"binary": ("logloss", False), "multiclass": ("mlogloss", False)}
_OBJECTIVE = {
    "binary": "binary:logistic",
    "multiclass": "multi:softprob",
    "regression": "reg:squarederror",
}


class XGBoostTrainer(Trainer):
    """Gradient-boosted trees with XGBoost's ``hist`` method (on a GPU when granted one)."""

    family = "xgboost"
    eval_metrics = _EVAL_METRIC
    classification_loss = _FALLBACK
    absolute_error = "mae"

    def default_params(self) -> dict[str, Any]:
        """Return XGBoost's documented defaults for the parameters trialrun tunes."""
        return {
            "learning_rate": 0.3,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 1.0,
            "reg_lambda": 1.0,
            "reg_alpha": 0.0,
            "gamma": 0.0,
        }

    def fit(
        self,
        split: Split,
        spec: FitSpec,
        *,
        checkpoints: CheckpointStore | None = None,
        callbacks: Sequence[Any] = (),
    ) -> FitResult:
        """Train with per-round bookkeeping; see :class:`~tools.training.base.Trainer`."""
        import xgboost as xgb

        started = time.perf_counter()
        eval_metric, higher = self.stopping_metric(spec)
        params = dict(spec.params)
        subsample = float(params.pop("subsample", 1.0))
        lib_params: dict[str, Any] = {
            **params,
            "objective": _OBJECTIVE[spec.task],
            "eval_metric": eval_metric,
            "seed": spec.seed,
            "nthread": spec.threads,
            "tree_method": "hist",
            "device": spec.device,
            "max_cat_to_onehot": 1,
        }
        if spec.task == "multiclass":
            lib_params["num_class"] = spec.n_classes
        # QuantileDMatrix fixes the histogram cuts at construction, before any row weights are
        # set, so a resumed run bins the data exactly as the uninterrupted one did.
        dtrain = xgb.QuantileDMatrix(split.X_train, label=split.y_train, enable_categorical=True)
        dvalid = xgb.QuantileDMatrix(
            split.X_valid, label=split.y_valid, enable_categorical=True, ref=dtrain
        )
        rows = train_curve_rows(len(split.y_train))
        dcurve = xgb.QuantileDMatrix(
            split.X_train.iloc[rows], label=split.y_train[rows], enable_categorical=True, ref=dtrain
        )
        state, booster = self.resume(checkpoints)
        resumed_from = state.rounds
        holder: dict[str, Any] = {}
        controller = RoundController(
            spec,
            higher_is_better=higher,
            state=state,
            store=checkpoints,
            snapshot=lambda: self.to_bytes(holder["model"]),
            best_snapshot=lambda best: self.to_bytes(holder["model"][: best + 1]),
        )

        class _Rounds(xgb.callback.TrainingCallback):
            def before_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                if subsample < 1.0:
                    dtrain.set_weight(
                        row_weights(
                            spec.seed, model.num_boosted_rounds(), subsample, dtrain.num_row()
                        )
                    )
                return False

            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                holder["model"] = model
                return controller.after_round(
                    evals_log["train"][eval_metric][-1], evals_log["valid"][eval_metric][-1]
                )

        remaining = spec.max_rounds - state.rounds
        if remaining > 0 and controller.stopped == "completed":
            booster = xgb.train(
                lib_params,
                dtrain,
                num_boost_round=remaining,
                evals=[(dcurve, "train"), (dvalid, "valid")],
                callbacks=[_Rounds(), *callbacks],
                xgb_model=booster,
                verbose_eval=False,
            )
        assert booster is not None
        best = booster[: state.best_iteration + 1]
        if subsample < 1.0:
            dtrain.set_weight(np.ones(dtrain.num_row(), dtype=np.float32))
        return FitResult(
            model=best,
            best_iteration=state.best_iteration,
            rounds=state.rounds,
            stopped=controller.stopped,
            curves=state.curves,
            curve_metric=eval_metric,
            train_score=score(
                spec.metric, split.y_train[rows], best.predict(dcurve), spec.n_classes
            ),
            valid_score=score(spec.metric, split.y_valid, best.predict(dvalid), spec.n_classes),
            importances=_normalised(best.get_score(importance_type="gain")),
            seconds=time.perf_counter() - started,
            device=spec.device,
            resumed_from=resumed_from,
        )


def _normalised(scores: dict[str, float]) -> dict[str, float]:
    total = sum(scores.values()) or 1.0
    return {k: v / total for k, v in sorted(scores.items(), key=lambda kv: -kv[1])}
