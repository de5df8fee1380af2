"""Search spaces a practitioner would recognise, one per model family.

XGBoost's column samplers keep internal random state that a checkpoint cannot capture, so its space
samples rows (``subsample``, drawn per round by trialrun) but not columns; that keeps every trial
resumable to the exact same model.
"""

from __future__ import annotations

from typing import Any

import optuna


def suggest(trial: optuna.Trial, family: str) -> dict[str, Any]:
    """Sample one configuration of ``family`` from ``trial``."""
    if family == "xgboost":
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 10),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
            "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
            "gamma": trial.suggest_float("gamma", 1e-3, 5.0, log=True),
        }
    if family == "lightgbm":
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 256, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
            "lambda_l1": trial.suggest_float("lambda_l1", 1e-3, 10.0, log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
            "max_bin": trial.suggest_int("max_bin", 63, 1023, log=True),
        }
    raise ValueError(f"no search space for family {family!r}")


PORTFOLIO: list[tuple[str, dict[str, Any]]] = [
    # Configurations that do well across tabular problems, tried in this order before the sampler
    # takes over, so the first trials are good rather than random. They differ on purpose, fast
    # learners first: large trees on fine bins that converge in few rounds (strong on tables of
    # tens of thousands of rows; 1023 bins split continuous features, such as times and prices,
    # where LightGBM's default 255 cannot), large trees with strong L2 (which keeps multiclass
    # log loss from overconfident leaves), XGBoost at depth 8, small trees for small or noisy
    # tables, a slower regularised medium tree, XGBoost at depth 6.
    (
        "lightgbm",
        {
            "learning_rate": 0.1,
            "num_leaves": 255,
            "min_child_samples": 5,
            "subsample": 1.0,
            "feature_fraction": 0.8,
            "lambda_l1": 1e-3,
            "lambda_l2": 0.1,
            "max_bin": 1023,
        },
    ),
    (
        "lightgbm",
        {
            "learning_rate": 0.1,
            "num_leaves": 255,
            "min_child_samples": 10,
            "subsample": 1.0,
            "feature_fraction": 0.8,
            "lambda_l1": 1e-3,
            "lambda_l2": 5.0,
            "max_bin": 255,
        },
    ),
    (
        "xgboost",
        {
            "learning_rate": 0.1,
            "max_depth": 8,
            "min_child_weight": 1.0,
            "subsample": 0.8,
            "reg_lambda": 5.0,
            "reg_alpha": 1e-3,
            "gamma": 1e-3,
        },
    ),
    (
        "lightgbm",
        {
            "learning_rate": 0.1,
            "num_leaves": 15,
            "min_child_samples": 40,
            "subsample": 0.9,
            "feature_fraction": 0.8,
            "lambda_l1": 1e-3,
            "lambda_l2": 1.0,
            "max_bin": 255,
        },
    ),
    (
        "lightgbm",
        {
            "learning_rate": 0.05,
            "num_leaves": 63,
            "min_child_samples": 20,
            "subsample": 0.8,
            "feature_fraction": 0.6,
            "lambda_l1": 1e-3,
            "lambda_l2": 3.0,
            "max_bin": 255,
        },
    ),
    (
        "xgboost",
        {
            "learning_rate": 0.05,
            "max_depth": 6,
            "min_child_weight": 2.0,
            "subsample": 0.9,
            "reg_lambda": 1.0,
            "reg_alpha": 1e-3,
            "gamma": 1e-3,
        },
    ),
]


def starting_points(families: tuple[str, ...]) -> list[dict[str, Any]]:
    """Return the configurations a new study tries first, with ``family`` set when it is a choice."""
    points = []
    for family, params in PORTFOLIO:
        if family in families:
            points.append({**params, "family": family} if len(families) > 1 else dict(params))
    return points
