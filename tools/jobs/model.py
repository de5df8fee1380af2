"""Jobs: explicit states, legal transitions, and immutable records.

A job is one experiment (or one group of tuning workers) running somewhere a backend controls:
a local process group or a Kubernetes ``batch/v1`` Job. Records are frozen; a change of state makes
a new record through :meth:`Job.transition`, which refuses an illegal move.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.errors import InputError


class JobState(enum.StrEnum):
    """The states of a job."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Return True for a state no job leaves."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


LEGAL_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.FAILED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class Resources(BaseModel):
    """What one worker may use; taken from the experiment's budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpus: int = Field(default=1, ge=1)
    memory_mib: int = Field(default=2048, ge=64)
    gpus: int = Field(default=0, ge=0)


class SecretKey(BaseModel):
    """One key of a Kubernetes Secret, delivered to a container as one environment variable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: str = Field(min_length=1, description="The Secret's name.")
    key: str = Field(min_length=1, description="The key within the Secret.")


class ClaimMount(BaseModel):
    """A PersistentVolumeClaim mounted read-only into every pod of a job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    claim: str = Field(min_length=1, description="The PersistentVolumeClaim's name.")
    mount: str = Field(pattern=r"^/", description="Where the pods see it (an absolute path).")


class JobSpec(BaseModel):
    """What to run: the same spec runs on every backend.

    Attributes:
        name: A short human name (also the base of the Kubernetes Job name).
        command: The argv to run (locally, or as the container's command).
        env: Extra environment variables (never secrets: they are recorded with the job).
        resources: Requests and limits for each worker.
        deadline_seconds: The wall-clock budget; the backend stops the job after it.
        parallelism: How many workers run at once (distributed tuning).
        labels: Ties the job to its experiment: ``experiment``, ``mlflow_run_id``, ``study``.
        namespace: Kubernetes namespace (Kubernetes backend only).
        image: Container image (Kubernetes backend only).
        backoff_limit: Pod retries before the Job fails (Kubernetes backend only).
        workdir: Working directory of a local job.
        secret_env: Environment variables read from Secrets by the cluster, never carried in
            the spec's values (Kubernetes backend only; a local job inherits its environment).
        secret_env_from: Secrets whose every key becomes an environment variable (Kubernetes).
        claims: PersistentVolumeClaims mounted read-only into the pods (Kubernetes).
        service_account: The pods' service account, e.g. one with an IAM role (Kubernetes).
        ttl_seconds: How long a finished Job and its pods stay for inspection (Kubernetes).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=40)
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    deadline_seconds: int | None = Field(default=None, ge=1)
    parallelism: int = Field(default=1, ge=1)
    labels: dict[str, str] = Field(default_factory=dict)
    namespace: str | None = None
    image: str | None = None
    backoff_limit: int = Field(default=0, ge=0)
    workdir: str | None = None
    secret_env: dict[str, SecretKey] = Field(default_factory=dict)
    secret_env_from: list[str] = Field(default_factory=list)
    claims: list[ClaimMount] = Field(default_factory=list)
    service_account: str | None = None
    ttl_seconds: int | None = Field(default=None, ge=0)


def _now() -> datetime:
    return datetime.now(UTC)


class Job(BaseModel):
    """An immutable record of a job as last observed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    backend: Literal["local", "kubernetes"]
    spec: JobSpec
    state: JobState = JobState.QUEUED
    created_at: datetime = Field(default_factory=_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    cancel_requested_at: datetime | None = None
    """Set while a cancel is in progress, so a concurrent refresh leaves the ending to it."""
    cancelled_at: datetime | None = None
    cancelled_what: list[str] = Field(default_factory=list)
    settled_at: datetime | None = None
    """When the trials and runs a stopped job left RUNNING were settled (FAIL, KILLED)."""
    settled_what: list[str] = Field(default_factory=list)
    """What settling changed, one line each; kept while settling could not finish."""
    handle: dict[str, Any] = Field(default_factory=dict)
    """Backend-specific: ``pid``, ``pgid``, ``log_path`` locally; ``job_name`` on Kubernetes."""
    revision: int = 0
    """How many times the store has saved this record; a save from an older revision is refused."""

    def transition(self, state: JobState, **changes: Any) -> Job:
        """Return a copy in ``state``; raises ``InputError`` for an illegal move."""
        if state != self.state and state not in LEGAL_TRANSITIONS[self.state]:
            raise InputError(
                f"Job {self.id!r} cannot go from {self.state.value!r} to {state.value!r}.",
                field="state",
            )
        stamp: dict[str, Any] = {}
        if state == JobState.RUNNING and self.started_at is None:
            stamp["started_at"] = _now()
        if state.finished and self.finished_at is None:
            stamp["finished_at"] = _now()
        return self.model_copy(update={"state": state, **stamp, **changes})


TTL_SECONDS = 3600
"""Finished Jobs stay at least this long (or the time budget, if longer) for people to inspect."""


@dataclass(frozen=True)
class PodSettings:
    """Everything a Job's pods are given besides their command and task."""

    image: str
    env: dict[str, str]
    secret_env: dict[str, SecretKey] = field(default_factory=dict)
    secret_env_from: list[str] = field(default_factory=list)
    claims: list[ClaimMount] = field(default_factory=list)
    service_account: str | None = None
    memory_mib: int = 2048
    ttl_seconds: int = TTL_SECONDS

    def job_fields(self) -> dict[str, Any]:
        """Return the :class:`~tools.jobs.model.JobSpec` fields these settings fill."""
        return {
            "image": self.image,
            "secret_env": self.secret_env,
            "secret_env_from": self.secret_env_from,
            "claims": self.claims,
            "service_account": self.service_account,
            "ttl_seconds": self.ttl_seconds,
        }
