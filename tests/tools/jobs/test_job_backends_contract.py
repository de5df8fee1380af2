"""One contract for every job backend: what a user sees is the same locally and on Kubernetes.

Locally the command itself succeeds, fails or hangs. On the test control plane nothing runs
containers, so the harness plays the kubelet (see FakeKubelet in tests/support/cluster.py) to the
same effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from tools.jobs import lifecycle, process
from tools.jobs.base import Backend
from tools.jobs.cancel import cancel
from tools.jobs.local import LocalBackend
from tools.jobs.model import Job, JobSpec, JobState
from tools.jobs.store import JobStore

Outcome = Literal["succeed", "fail", "hang"]
COMMANDS: dict[Outcome, list[str]] = {
    "succeed": ["sh", "-c", "echo hello from $TRIALRUN_JOB_ID"],
    "fail": ["sh", "-c", "echo failing >&2; exit 3"],
    "hang": ["sleep", "60"],
}


@dataclass
class Harness:
    name: Literal["local", "kubernetes"]
    backend: Backend
    kubelet: Any = None
    namespace: str | None = None

    def spec(self, outcome: Outcome, *, deadline: int | None = None) -> JobSpec:
        return JobSpec(
            name="contract",
            command=COMMANDS[outcome],
            deadline_seconds=deadline,
            image="busybox:1.36" if self.kubelet else None,
            namespace=self.namespace,
        )

    @property
    def backends(self) -> dict[str, Backend]:
        return {self.name: self.backend}

    def play(self, job: Job, outcome: Outcome) -> None:
        """On Kubernetes, report what the command would have done; locally it does it itself."""
        if self.kubelet is None:
            return
        if outcome == "hang":
            self.kubelet.run(job)
        else:
            self.kubelet.finish(job, 0 if outcome == "succeed" else 3)

    def leftovers(self, job: Job) -> list[str]:
        """What of the job still runs or waits to run: its processes, or its pods."""
        if self.kubelet is None:
            return [
                str(pid)
                for pid in process.group_members(job.handle["pgid"], job.handle["start_time"])
            ]
        return [what for what in self.kubelet.remains(job) if what.startswith("pod ")]

    def job_object_exists(self, job: Job) -> bool:
        """Whether the Kubernetes Job object is still there (always False locally)."""
        return self.kubelet is not None and f"Job {job.handle['job_name']}" in (
            self.kubelet.remains(job)
        )


@pytest.fixture(params=["local", pytest.param("kubernetes", marks=pytest.mark.k8s)])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "local":
        return Harness("local", LocalBackend(tmp_path / "jobs", grace_seconds=1.0))
    return Harness(
        "kubernetes",
        request.getfixturevalue("kube_backend"),
        kubelet=request.getfixturevalue("kubelet"),
        namespace=request.getfixturevalue("kube_namespace"),
    )


def _start(harness: Harness, store: JobStore, outcome: Outcome, **kwargs: Any) -> Job:
    job = lifecycle.submit(
        harness.spec(outcome, **kwargs),
        backend=harness.name,
        store=store,
        backends=harness.backends,
    )
    harness.play(job, outcome)
    return job


def _wait(harness: Harness, store: JobStore, job: Job, timeout: float = 15.0) -> Job:
    return lifecycle.wait(
        job.id,
        timeout=timeout,
        interval=0.05,
        store=store,
        backends=harness.backends,
    )


def test_submit_records_the_job_before_it_ends(harness: Harness, store: JobStore) -> None:
    job = _start(harness, store, "hang")

    assert job.state in (JobState.QUEUED, JobState.RUNNING)
    assert store.get(job.id) == job
    assert job.id.startswith("j-") and len(job.id) == 8
    cancel(job.id, store=store, backends=harness.backends)


def test_a_job_that_succeeds_is_recorded_succeeded(harness: Harness, store: JobStore) -> None:
    job = _start(harness, store, "succeed")

    final = _wait(harness, store, job)

    assert final.state == JobState.SUCCEEDED
    assert final.exit_code == 0
    assert final.started_at is not None and final.finished_at is not None
    assert store.get(job.id).state == JobState.SUCCEEDED


def test_a_failing_command_is_recorded_failed_with_its_exit_code(
    harness: Harness, store: JobStore
) -> None:
    job = _start(harness, store, "fail")

    final = _wait(harness, store, job)

    assert final.state == JobState.FAILED
    assert final.exit_code == 3


def test_a_job_past_its_deadline_is_stopped_and_failed(harness: Harness, store: JobStore) -> None:
    job = _start(harness, store, "hang", deadline=1)

    final = _wait(harness, store, job)

    assert final.state == JobState.FAILED
    assert final.reason == "deadline"
    assert harness.leftovers(final) == []


def test_cancel_stops_everything_and_a_second_cancel_is_a_no_op(
    harness: Harness, store: JobStore, wait_for: Any
) -> None:
    backends = harness.backends
    job = _start(harness, store, "hang")
    wait_for(
        lambda: lifecycle.refresh(job.id, store=store, backends=backends).state == JobState.RUNNING
    )

    result = cancel(job.id, store=store, backends=backends)

    assert result.changed
    assert result.job.state == JobState.CANCELLED
    assert result.job.cancelled_at is not None
    assert harness.leftovers(result.job) == []
    assert not harness.job_object_exists(result.job)
    assert lifecycle.refresh(job.id, store=store, backends=backends).state == JobState.CANCELLED
    again = cancel(job.id, store=store, backends=backends)
    assert not again.changed
    assert "already cancelled" in again.message
