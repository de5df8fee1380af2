"""Choosing where a model trains: a GPU when the budget grants one and the machine has one."""

from __future__ import annotations

import functools
import json
import warnings

from tools.training.base import Device


@functools.cache
def cuda_available() -> bool:
    """Return True when XGBoost can train on a CUDA device here."""
    try:
        import numpy as np
        import xgboost as xgb

        if not xgb.build_info().get("USE_CUDA"):
            return False
        probe = xgb.DMatrix(np.zeros((4, 1)), label=np.zeros(4))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the "no visible GPU" warning is answered below
            booster = xgb.train({"device": "cuda", "tree_method": "hist"}, probe, num_boost_round=1)
        # With no visible GPU XGBoost does not fail: it warns and trains on the CPU. Its config
        # tells where it really trained.
        used = json.loads(booster.save_config())["learner"]["generic_param"]["device"]
    except Exception:  # no driver, no device, or a CPU-only build: all mean "train on the CPU"
        return False
    return str(used).startswith("cuda")


def choose_device(family: str, gpus: int) -> tuple[Device, str]:
    """Return the device to train ``family`` on and a sentence that says why.

    Example:
        >>> choose_device("lightgbm", 0)
        ('cpu', 'cpu: the budget grants no GPU')
    """
    if gpus <= 0:
        return "cpu", "cpu: the budget grants no GPU"
    if family != "xgboost":
        return "cpu", f"cpu: {family} trains on the CPU in trialrun; GPUs are used by xgboost"
    if not cuda_available():
        return "cpu", "cpu: the budget grants a GPU but this machine has no usable CUDA device"
    return "cuda", "cuda: XGBoost on the granted GPU"
