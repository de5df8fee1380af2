"""The ``batch/v1`` Job manifest a :class:`~tools.jobs.model.JobSpec` becomes.

Only fields stable since long before Kubernetes 1.20 are used (no ``podFailurePolicy``, Indexed
Jobs or ``successPolicy``), so the same manifest runs on every cluster still in service.
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


def manifest(spec: JobSpec, job_id: str, namespace: str) -> dict[str, Any]:
    """Return the Job manifest for ``spec`` in ``namespace``.

    ``parallelism`` workers run at once and the Job completes when as many have succeeded.
    ``backoffLimit`` is set explicitly (the server's default, 6, would retry a failing trial
    six times). Pods never restart in place: a retry is a new pod the backoff limit counts.
    """
    tags = labels(spec, job_id)
    env = {**spec.env, "TRIALRUN_JOB_ID": job_id, "TRIALRUN_JOB_PROGRESS": PROGRESS_PATH}
    job_spec: dict[str, Any] = {
        "backoffLimit": spec.backoff_limit,
        "parallelism": spec.parallelism,
        "completions": spec.parallelism,
        "template": {
            "metadata": {"labels": tags},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": CONTAINER,
                        "image": spec.image,
                        "command": list(spec.command),
                        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
                        "resources": _resources(spec),
                    }
                ],
            },
        },
    }
    if spec.deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.deadline_seconds
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
