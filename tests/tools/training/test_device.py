"""Where a model trains: a GPU only when the budget grants one and the machine really has one."""

from __future__ import annotations

import pytest

from tools.training.device import choose_device, cuda_available


def test_no_gpu_in_the_budget_means_the_cpu() -> None:
    assert choose_device("xgboost", 0) == ("cpu", "cpu: the budget grants no GPU")


def test_lightgbm_trains_on_the_cpu_even_with_a_gpu_granted() -> None:
    device, reason = choose_device("lightgbm", 1)

    assert device == "cpu"
    assert "lightgbm trains on the CPU" in reason


def test_a_granted_gpu_on_a_machine_without_one_answers_cpu_with_the_reason() -> None:
    if cuda_available():
        pytest.skip("this machine has a usable CUDA device")
    assert choose_device("xgboost", 1) == (
        "cpu",
        "cpu: the budget grants a GPU but this machine has no usable CUDA device",
    )


def test_a_granted_gpu_on_a_machine_with_one_trains_xgboost_there() -> None:
    if not cuda_available():
        pytest.skip("needs a CUDA device XGBoost can train on")
    assert choose_device("xgboost", 1) == ("cuda", "cuda: XGBoost on the granted GPU")
