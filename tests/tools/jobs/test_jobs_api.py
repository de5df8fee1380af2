"""The plain-text job functions, on the default store under TRIALRUN_HOME."""

from __future__ import annotations

import pytest

from tools.errors import InputError
from tools.jobs import api, lifecycle
from tools.jobs.model import JobSpec


def test_list_show_logs_and_cancel_describe_the_job_as_it_is_now() -> None:
    done = lifecycle.submit(JobSpec(name="quick", command=["sh", "-c", "echo rmse=0.42; exit 3"]))
    hung = lifecycle.submit(
        JobSpec(
            name="slow",
            command=["sleep", "60"],
            deadline_seconds=300,
            labels={"experiment": "churn"},
        )
    )
    lifecycle.wait(done.id, timeout=10)

    listing = api.list_jobs().splitlines()
    shown = api.show_job(hung.id)
    logs = api.job_logs(done.id)
    cancelled = api.cancel_job(hung.id)
    again = api.cancel_job(hung.id)

    assert listing[0].split()[:4] == ["ID", "STATE", "BACKEND", "CREATED"]
    assert listing[1].split()[:3] == [hung.id, "running", "local"]
    assert listing[2].split()[:2] == [done.id, "failed"]
    assert listing[2].endswith("quick — exit code 3")
    assert f"job {hung.id}: running" in shown
    assert "command: sleep 60" in shown and "deadline: 300 s" in shown
    assert "labels: experiment=churn" in shown
    assert logs == "rmse=0.42"
    assert cancelled.startswith(f"Cancelled job {hung.id}:\n  - local job {hung.id}")
    assert "nothing to do" in again
    assert f"job {hung.id}: cancelled (cancelled on request)" in api.show_job(hung.id)
    assert api.list_jobs(state="cancelled").split("\n")[1].startswith(hung.id)
    assert api.list_jobs(state="queued") == "No queued jobs."


def test_output_is_bounded_whatever_the_job_wrote() -> None:
    script = "i=0; while [ $i -lt 3000 ]; do echo line-$i-padding-padding; i=$((i+1)); done"
    job = lifecycle.submit(JobSpec(name="chatty", command=["sh", "-c", script]))
    lifecycle.wait(job.id, timeout=20)

    text = api.job_logs(job.id, tail=2000)

    assert len(text) <= api.MAX_OUTPUT_CHARS
    assert text.startswith("… (") and text.endswith("line-2999-padding-padding")


def test_bad_arguments_name_the_argument_and_the_fix() -> None:
    with pytest.raises(InputError, match="limit must be between 1 and 100, got 0"):
        api.list_jobs(limit=0)
    with pytest.raises(InputError, match="Unknown job state 'done'"):
        api.list_jobs(state="done")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="No job with id 'j-000000'"):
        api.show_job("j-000000")
