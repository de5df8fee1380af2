"""Fixtures for the job layer: real stores and real processes.

PostgreSQL, the Kubernetes control plane and the fake kubelet come from the shared plugin
``tests/support/cluster.py`` (registered in ``tests/conftest.py``).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tools.jobs.local import LocalBackend
from tools.jobs.store import JobStore


@pytest.fixture(autouse=True)
def trialrun_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TRIALRUN_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("TRIALRUN_OPTUNA_STORAGE", raising=False)
    return home


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.db")


@pytest.fixture
def local_backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "jobs", grace_seconds=1.0)


# --- MLflow and Optuna: real stores ---------------------------------------------------------


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite tracking store for the session: creating one takes seconds (migrations)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).search_experiments()
    return uri


@pytest.fixture
def experiment(mlflow_uri: str, tmp_path: Path) -> str:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_uri).create_experiment(
        f"exp-{uuid.uuid4().hex[:8]}", artifact_location=(tmp_path / "artifacts").as_uri()
    )


@pytest.fixture
def sqlite_optuna(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'optuna.db'}"
