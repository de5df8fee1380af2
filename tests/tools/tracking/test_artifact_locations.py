"""Stores, artifacts and models land where MLflow users look for them, never in the checkout."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.mark.after_all
def test_after_the_whole_suite_the_checkout_holds_no_store_artifact_or_model(
    files_added_to_checkout: Callable[[], list[str]],
) -> None:
    # mlruns/, mlartifacts/, mlflow.db, optuna.db, model files: whatever a test wrote
    # outside its own directory.
    assert files_added_to_checkout() == []
