"""The ``batch/v1`` Job manifest a :class:`~tools.jobs.model.JobSpec` becomes.

The Job is an Indexed Job (``completionMode: Indexed``, Kubernetes 1.21 and later): each pod
learns its index from the annotation the Job controller sets, as ``TRIALRUN_WORKER_INDEX``. A
server older than 1.21 drops the field and sets no annotation; the variable is then empty and
a worker claims an index from the study instead (see :mod:`tools.experiment.worker`). Nothing newer
than 1.21 is used (no ``podFailurePolicy``, ``backoffLimitPerIndex`` or ``successPolicy``).

Credentials never appear in the manifest: the spec's Secret references become
``secretKeyRef``/``envFrom`` entries, resolved by the kubelet when the pod starts. A failed
container's last log lines become its termination message (``FallbackToLogsOnError``), so why
a pod failed can be read from the API server even where its logs cannot.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tools.jobs.model import JobSpec

CONTAINER = "trialrun"
"""The name of the job's one container."""

LABEL_PREFIX = "trialrun.dev/"
JOB_ID_LABEL = "trialrun.dev/job-id"
LABELS_ANNOTATION = "trialrun.dev/labels"
"""Holds the spec's labels verbatim (label values cannot hold a URL, annotations can)."""

INDEX_ENV = "TRIALRUN_WORKER_INDEX"
"""The pod's completion index, from the Indexed Job's annotation (empty before Kubernetes 1.21)."""
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"

PROGRESS_PATH = "/tmp/trialrun-progress"
"""``TRIALRUN_JOB_PROGRESS`` in the container, so a worker may touch it as it does locally."""

_INVALID = re.compile(r"[^A-Za-z0-9_.-]+")
_EDGES = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$")


def job_name(spec: JobSpec, job_id: str) -> str:
    """Return the Kubernetes Job name: the spec's name and the job id (validated by the server)."""
    return f"{spec.name}-{job_id}"


def label_value(value: str) -> str:
    """Return ``value`` made a valid label value: ``[A-Za-z0-9_.-]``, alphanumeric ends, <= 63.

    Example:
        >>> label_value("postgresql+psycopg2://db:5432/optuna")
        'postgresql-psycopg2-db-5432-optuna'
    """
    return _EDGES.sub("", _INVALID.sub("-", value)[:63])


def labels(spec: JobSpec, job_id: str) -> dict[str, str]:
    """Return the labels that tie the Job and its pods to trialrun, the job and the experiment."""
    result = {"app.kubernetes.io/name": "trialrun", JOB_ID_LABEL: job_id}
    for key, value in spec.labels.items():
        name = label_value(key)
        if name:
            result[LABEL_PREFIX + name] = label_value(value)
    return result


def _resources(spec: JobSpec) -> dict[str, dict[str, str]]:
    amounts = {"cpu": str(spec.resources.cpus), "memory": f"{spec.resources.memory_mib}Mi"}
    limits = dict(amounts)
    if spec.resources.gpus:
        # Extended resources are set as limits; the request defaults to the limit.
        limits["nvidia.com/gpu"] = str(spec.resources.gpus)
    return {"requests": amounts, "limits": limits}


def _env(spec: JobSpec, job_id: str) -> list[dict[str, Any]]:
    plain = {**spec.env, "TRIALRUN_JOB_ID": job_id, "TRIALRUN_JOB_PROGRESS": PROGRESS_PATH}
    index = {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}}
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(plain.items())]
    env.append({"name": INDEX_ENV, "valueFrom": index})
    env += [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}}
        for name, ref in sorted(spec.secret_env.items())
    ]
    return env


def _pod(spec: JobSpec, job_id: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image,
        "command": list(spec.command),
        "env": _env(spec, job_id),
        "resources": _resources(spec),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    if spec.secret_env_from:
        container["envFrom"] = [{"secretRef": {"name": name}} for name in spec.secret_env_from]
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        # The image runs as an unprivileged user; refuse to start it as root if it is changed.
        "securityContext": {"runAsNonRoot": True},
        "containers": [container],
    }
    if spec.claims:
        volumes = [f"data-{i}" for i in range(len(spec.claims))]
        pod["volumes"] = [
            {"name": name, "persistentVolumeClaim": {"claimName": c.claim, "readOnly": True}}
            for name, c in zip(volumes, spec.claims, strict=True)
        ]
        container["volumeMounts"] = [
            {"name": name, "mountPath": c.mount, "readOnly": True}
            for name, c in zip(volumes, spec.claims, strict=True)
        ]
    if spec.service_account:
        pod["serviceAccountName"] = spec.service_account
    return pod


def manifest(spec: JobSpec, job_id: str, namespace: str) -> dict[str, Any]:
    """Return the Job manifest for ``spec`` in ``namespace``.

    ``parallelism`` workers run at once, indexed 0 to ``parallelism - 1``, and the Job completes
    when every index has succeeded. ``backoffLimit`` is set explicitly (the server's default, 6,
    would retry a failing trial six times). Pods never restart in place: a retry is a new pod
    the backoff limit counts.
    """
    tags = labels(spec, job_id)
    job_spec: dict[str, Any] = {
        "backoffLimit": spec.backoff_limit,
        "parallelism": spec.parallelism,
        "completions": spec.parallelism,
        "completionMode": "Indexed",
        "template": {"metadata": {"labels": tags}, "spec": _pod(spec, job_id)},
    }
    if spec.deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.deadline_seconds
    if spec.ttl_seconds is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(spec, job_id),
            "namespace": namespace,
            "labels": tags,
            "annotations": {LABELS_ANNOTATION: json.dumps(spec.labels, sort_keys=True)},
        },
        "spec": job_spec,
    }
