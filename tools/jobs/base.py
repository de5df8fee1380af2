"""The one interface every job backend implements, and how to get one by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from tools.errors import InputError
from tools.jobs.model import Job, JobSpec

BACKEND_NAMES = ("local", "kubernetes")


class Backend(Protocol):
    """Runs jobs somewhere and reports on them; local processes and Kubernetes implement it."""

    name: str

    def submit(self, spec: JobSpec, *, job_id: str) -> Job:
        """Start ``spec`` and return its record (RUNNING, or QUEUED when it waits)."""
        ...

    def refresh(self, job: Job) -> Job:
        """Observe the job again and return its current record."""
        ...

    def cancel(self, job: Job) -> Job:
        """Stop the job and everything it started; return the CANCELLED record."""
        ...

    def logs(self, job: Job, *, tail: int = 200) -> str:
        """Return up to ``tail`` last lines of the job's output."""
        ...


def load_backend(name: str, backends: Mapping[str, Backend] | None = None) -> Backend:
    """Return the backend called ``name``: the one in ``backends``, else one with default settings.

    Args:
        name: ``"local"`` or ``"kubernetes"``.
        backends: Configured backends by name (tests, or a non-default kubeconfig).

    Raises:
        InputError: ``name`` is not a backend.
    """
    if backends is not None and name in backends:
        return backends[name]
    if name == "local":
        from tools.jobs.local import LocalBackend

        return LocalBackend()
    if name == "kubernetes":
        from tools.jobs.kubernetes import KubernetesBackend

        return KubernetesBackend()
    raise InputError(
        f"Unknown job backend {name!r}.", field="backend", hint=f"Use one of {BACKEND_NAMES}."
    )
