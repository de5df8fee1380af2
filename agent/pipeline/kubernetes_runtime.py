"""What the pods of a Kubernetes runtime are given, checked before any of them starts.

A pod has nothing from this machine but what its Job says: the image, plain environment
variables, references to Secrets, and volumes. So before anything is submitted:

- The stores must be servers the cluster can reach (PostgreSQL for Optuna, an MLflow tracking
  server), never files on this machine.
- Every credential this process uses to reach them must reach the pods from a Secret: a storage
  or tracking URL holding a password, and ``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``/``_TOKEN``.
  Such a value is never copied into a Job; a variable a Secret provides is not set from here at
  all (a Job's own ``env`` would override the Secret's ``envFrom``).
- The dataset's file must be somewhere a pod can read it: a URL fsspec opens (``s3://``,
  ``gs://``, ``http(s)://`` ...), or a path under the mount of the PersistentVolumeClaim named in
  ``runtime.kubernetes.data``. Each pod checks the file's digest again before training.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from agent.request import ExperimentRequest, KubernetesTarget
from tools import settings as paths
from tools.data.catalog import DatasetEntry, is_url
from tools.errors import InputError
from tools.jobs.base import Backend, load_backend
from tools.jobs.model import TTL_SECONDS, PodSettings
from tools.tuning.distributed import has_password

IMAGE_ENV = "TRIALRUN_K8S_IMAGE"
"""The default container image of the pods: trialrun installed (see ``docker/Dockerfile``)."""

STORE_VARIABLES = ("MLFLOW_TRACKING_URI", "TRIALRUN_OPTUNA_STORAGE")
CREDENTIAL_VARIABLES = (
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
)
"""MLflow's own credential variables: set here, the pods need them from a Secret too."""

_LOCAL_SCHEMES = ("file", "local")


def target(request: ExperimentRequest) -> KubernetesTarget:
    """Return the request's Kubernetes runtime block (the request must have one)."""
    found = request.kubernetes
    assert found is not None, "not a Kubernetes request"
    return found


def pod_settings(
    request: ExperimentRequest, backends: Mapping[str, Backend] | None = None
) -> PodSettings:
    """Return what the pods get, or refuse what they could not work with.

    Raises:
        InputError: No image; a store on this machine; a Secret or key that does not exist; a
            credential no Secret provides. Each message names the setting and what to set
            instead.
    """
    k8s = target(request)
    image = k8s.image or os.environ.get(IMAGE_ENV)
    if not image:
        raise InputError(
            f"Running on Kubernetes needs a container image, and neither "
            f"runtime.kubernetes.image nor {IMAGE_ENV} is set.",
            field="runtime.kubernetes.image",
            hint="Build one with docker/Dockerfile (see the README's 'Run on EKS'), push it, "
            f"and name it in runtime.kubernetes.image or {IMAGE_ENV}.",
        )
    _check_stores()
    provided = _provided(k8s, backends)
    env: dict[str, str] = {}
    needed: list[str] = []
    for name, value in (
        ("MLFLOW_TRACKING_URI", paths.tracking_uri()),
        ("TRIALRUN_OPTUNA_STORAGE", paths.optuna_storage()),
    ):
        if has_password(value):
            needed.append(name)
        elif provided is None or name not in provided:
            env[name] = value
    needed += [name for name in CREDENTIAL_VARIABLES if os.environ.get(name)]
    missing = [name for name in needed if provided is not None and name not in provided]
    if missing:
        raise InputError(
            f"The pods would need {', '.join(missing)}, which hold credentials, and no Secret in "
            "runtime.kubernetes.secrets provides them; trialrun never copies credentials into a "
            "Job.",
            field="runtime.kubernetes.secrets",
            hint="Put them in a Secret (kubectl create secret generic trialrun "
            f"--namespace {k8s.namespace} --from-literal={missing[0]}=...) and list it under "
            "secrets.env_from, or map each variable under secrets.env.",
        )
    return PodSettings(
        image=image,
        env=env,
        secret_env=dict(k8s.secrets.env),
        secret_env_from=list(k8s.secrets.env_from),
        claims=[k8s.data] if k8s.data else [],
        service_account=k8s.service_account,
        memory_mib=k8s.memory_mib,
        ttl_seconds=max(TTL_SECONDS, int(request.budget.seconds)),
    )


def _check_stores() -> None:
    storage = paths.optuna_storage()
    if storage.startswith("sqlite"):
        raise InputError(
            f"The Optuna storage {_shown(storage)!r} is a SQLite file on this machine; "
            "Kubernetes pods cannot share it.",
            field="TRIALRUN_OPTUNA_STORAGE",
            hint="Set TRIALRUN_OPTUNA_STORAGE to a PostgreSQL URL the cluster can reach, e.g. "
            "'postgresql+psycopg2://optuna@db.example.com:5432/optuna'.",
        )
    tracking = paths.tracking_uri()
    if tracking.split(":", 1)[0] in ("sqlite", "file") or "://" not in tracking:
        raise InputError(
            f"The MLflow tracking URI {_shown(tracking)!r} is a store on this machine; "
            "Kubernetes pods cannot log to it.",
            field="MLFLOW_TRACKING_URI",
            hint="Set MLFLOW_TRACKING_URI to a tracking server the cluster can reach, e.g. "
            "'http://mlflow.example.com:5000'.",
        )


def _shown(url: str) -> str:
    from tools.redact import redact

    return redact(url)


def _provided(k8s: KubernetesTarget, backends: Mapping[str, Backend] | None) -> set[str] | None:
    """Check the runtime's Secrets; return the variables they provide (None: keys unreadable)."""
    provided = set(k8s.secrets.env)
    if not k8s.secrets.env_from and not k8s.secrets.env:
        return provided
    from tools.jobs.kubernetes import KubernetesBackend

    backend = load_backend("kubernetes", backends)
    if not isinstance(backend, KubernetesBackend):
        return None
    backend.check_secrets(k8s.namespace, env_from=k8s.secrets.env_from, env=k8s.secrets.env)
    for name in k8s.secrets.env_from:
        keys = backend.secret_keys(k8s.namespace, name)
        if keys is None:
            return None  # not allowed to read Secrets: the cluster checks when pods start
        provided |= keys
    return provided


def check_data(request: ExperimentRequest, entry: DatasetEntry) -> None:
    """Refuse a dataset file the pods could not read.

    Args:
        request: A Kubernetes request.
        entry: The catalog entry, its location resolved (an absolute path or a URL).

    Raises:
        InputError: The file is on this machine only; the message says where to put it.
    """
    k8s = target(request)
    location = entry.location
    if is_url(location) and urlsplit(location).scheme not in _LOCAL_SCHEMES:
        return
    path = PurePosixPath(urlsplit(location).path if is_url(location) else location)
    mount = PurePosixPath(k8s.data.mount) if k8s.data else None
    if mount is not None and path.is_relative_to(mount):
        return
    where = (
        f"under {str(mount)!r}, where the PersistentVolumeClaim {k8s.data.claim!r} is mounted"
        if k8s.data and mount
        else "on a PersistentVolumeClaim named in runtime.kubernetes.data"
    )
    raise InputError(
        f"The pods cannot read {entry.ref}: its file {location!r} is a path on this machine.",
        field="runtime.kubernetes.data",
        hint=f"Catalog the file at a URL the cluster can read (s3://, gs://, https://), or {where} "
        "(`trialrun datasets add PATH --version NEW ...` with the path the pods see).",
    )
