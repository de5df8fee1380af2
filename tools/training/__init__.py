"""Training: one small trainer interface, an XGBoost and a LightGBM implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.training.base import Trainer


def get_trainer(family: str) -> Trainer:
    """Return the trainer for ``family`` (``xgboost`` or ``lightgbm``)."""
    from tools.errors import InputError

    if family == "xgboost":
        from tools.training.xgboost import XGBoostTrainer

        return XGBoostTrainer()
    if family == "lightgbm":
        from tools.training.lightgbm import LightGBMTrainer

        return LightGBMTrainer()
    raise InputError(
        f"Unknown model family {family!r}.", field="model", hint="Use 'xgboost' or 'lightgbm'."
    )
