"""Where trialrun keeps its state, following each engine's own conventions.

MLflow: ``MLFLOW_TRACKING_URI`` when set, otherwise a SQLite store ``mlflow.db`` in the working
directory (artifacts in ``mlartifacts/``). Optuna: ``TRIALRUN_OPTUNA_STORAGE`` when set, otherwise
``optuna.db`` beside the MLflow store. Checkpoints, job records and logs live under
``TRIALRUN_HOME`` (default ``.trialrun/`` in the working directory).
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Return trialrun's state directory, created on first use."""
    path = Path(os.environ.get("TRIALRUN_HOME") or ".trialrun").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def tracking_uri() -> str:
    """Return the MLflow tracking URI trialrun writes to."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{Path('mlflow.db').resolve()}"


def artifact_root() -> str | None:
    """Return the artifact root for experiments trialrun creates on a local store."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    return Path("mlartifacts").resolve().as_uri()


def optuna_storage() -> str:
    """Return the Optuna storage URL (any RDB URL Optuna accepts)."""
    url = os.environ.get("TRIALRUN_OPTUNA_STORAGE")
    if url:
        return url
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        return f"sqlite:///{Path(uri.removeprefix('sqlite:///')).parent / 'optuna.db'}"
    return f"sqlite:///{home() / 'optuna.db'}"


def catalog_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the dataset catalog path: the flag, then ``TRIALRUN_CATALOG``, then ``./datasets.yaml``."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("TRIALRUN_CATALOG") or "datasets.yaml")
