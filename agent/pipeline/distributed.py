"""Where the experiment's jobs run, and what is refused before any of them starts.

With ``budget.parallel`` above 1 on the local runtime, the study runs as that many local jobs;
on the Kubernetes runtime every model trains in pods: the tuning trials as one Job of
``parallel`` pods, the baselines and the final models as a Job each (see
:mod:`tools.experiment.jobs`; what the pods are given, and the checks before they start, are in
:mod:`agent.pipeline.kubernetes_runtime`).
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.pipeline import kubernetes_runtime
from agent.pipeline.state import PipelineContext
from agent.request import ExperimentRequest
from tools.data.catalog import DatasetEntry
from tools.errors import InputError
from tools.experiment.jobs import JobRuntime
from tools.jobs.base import Backend
from tools.jobs.model import PodSettings


def is_distributed(request: ExperimentRequest) -> bool:
    """Return True when the request's tuning runs as jobs rather than in this process."""
    return request.optimize and (request.budget.parallel > 1 or request.namespace is not None)


def check_runtime(
    request: ExperimentRequest, backends: Mapping[str, Backend] | None = None
) -> None:
    """Refuse, before any compute, jobs that their stores or runtime cannot serve.

    On a Kubernetes runtime every model trains in pods (tuning or not: see
    :mod:`tools.experiment.jobs`), so its checks apply to every such request.

    Raises:
        InputError: GPUs that do not split evenly over the workers; on Kubernetes, what
            :func:`~agent.pipeline.kubernetes_runtime.pod_settings` refuses (no image, stores on
            this machine, credentials no Secret provides). Each message says what to set instead.
    """
    workers, gpus = request.budget.parallel, request.budget.gpus
    if is_distributed(request) and gpus % workers:
        raise InputError(
            f"budget.gpus {gpus!r} cannot be split evenly over {workers} workers.",
            field="budget.gpus",
            hint=f"Give a multiple of budget.parallel ({workers}), or 0.",
        )
    if request.namespace is not None:
        kubernetes_runtime.pod_settings(request, backends)


def check_data(request: ExperimentRequest, entry: DatasetEntry) -> None:
    """Refuse a dataset the pods of a Kubernetes runtime could not read."""
    if request.namespace is not None:
        kubernetes_runtime.check_data(request, entry)


def job_runtime(request: ExperimentRequest, context: PipelineContext) -> JobRuntime:
    """Return where the request's jobs run: local process groups, or its Kubernetes runtime.

    Each job id is appended to ``context.jobs`` as soon as it is submitted.
    """

    def pods() -> PodSettings:
        return kubernetes_runtime.pod_settings(request, context.backends)

    return JobRuntime(
        experiment=request.experiment_name,
        namespace=request.namespace,
        pods=pods if request.namespace is not None else None,
        backends=context.backends,
        on_job=context.jobs.append,
    )
