from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tools.errors import InputError
from tools.jobs import process
from tools.jobs.local import LocalBackend
from tools.jobs.model import JobSpec, JobState


def _gone(pid: int) -> bool:
    stat = process.read_stat(pid)
    return stat is None or not stat.running


def test_cancel_kills_the_child_and_its_grandchild_within_seconds(
    local_backend: LocalBackend, tmp_path: Path, wait_for: Any
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    spec = JobSpec(name="tree", command=["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"])
    job = local_backend.submit(spec, job_id="j-000001")
    grandchild = int(wait_for(lambda: pid_file.exists() and pid_file.read_text().strip()))
    members = process.group_members(job.handle["pgid"], job.handle["start_time"])
    assert grandchild in members and len(members) >= 3  # wrapper, sh, sleep

    started = time.monotonic()
    cancelled = local_backend.cancel(job)
    elapsed = time.monotonic() - started

    assert cancelled.state == JobState.CANCELLED
    assert all(_gone(pid) for pid in members)
    assert elapsed < 3.0


def test_a_job_that_ignores_sigterm_is_killed_after_the_grace_period(
    local_backend: LocalBackend, tmp_path: Path, wait_for: Any
) -> None:
    ready = tmp_path / "ready"
    spec = JobSpec(name="stubborn", command=["sh", "-c", f"trap '' TERM; touch {ready}; sleep 60"])
    job = local_backend.submit(spec, job_id="j-000002")
    wait_for(ready.exists)

    started = time.monotonic()
    cancelled = local_backend.cancel(job)

    assert time.monotonic() - started >= local_backend.grace_seconds
    assert cancelled.state == JobState.CANCELLED
    assert process.group_members(job.handle["pgid"], job.handle["start_time"]) == []


def test_the_job_gets_its_id_progress_file_and_env_and_its_output_is_logged(
    local_backend: LocalBackend, wait_for: Any
) -> None:
    script = (
        'echo "id=$TRIALRUN_JOB_ID seed=$SEED"; echo step >> "$TRIALRUN_JOB_PROGRESS"; '
        "echo warning >&2"
    )
    spec = JobSpec(name="env", command=["sh", "-c", script], env={"SEED": "7"})
    job = local_backend.submit(spec, job_id="j-000003")

    final = wait_for(lambda: (j := local_backend.refresh(job)).state.finished and j)

    assert final.state == JobState.SUCCEEDED
    assert local_backend.logs(final).splitlines() == ["id=j-000003 seed=7", "warning"]
    assert Path(final.handle["progress_path"]).read_text() == "step\n"
    assert local_backend.logs(final, tail=1) == "warning"


def test_an_unknown_command_or_missing_workdir_is_refused_clearly(
    local_backend: LocalBackend, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="Command 'no-such-trainer' was not found"):
        local_backend.submit(JobSpec(name="x", command=["no-such-trainer"]), job_id="j-000004")
    missing = str(tmp_path / "nowhere")
    with pytest.raises(InputError, match="Working directory .*nowhere.* does not exist"):
        local_backend.submit(
            JobSpec(name="x", command=["true"], workdir=missing), job_id="j-000005"
        )


def test_a_reused_pid_is_not_taken_for_the_job(local_backend: LocalBackend) -> None:
    job = local_backend.submit(JobSpec(name="x", command=["sleep", "60"]), job_id="j-000006")
    # The same pid with another start time is what a recycled pid looks like after a restart.
    recycled = job.model_copy(
        update={"handle": {**job.handle, "start_time": job.handle["start_time"] + 1}}
    )

    seen = local_backend.refresh(recycled)

    assert seen.state == JobState.FAILED
    assert "without an exit status" in (seen.reason or "")
    assert local_backend.refresh(job).state == JobState.RUNNING  # the real one was not touched
    local_backend.cancel(job)
