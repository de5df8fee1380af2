from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from tools.errors import InputError
from tools.jobs import lifecycle
from tools.jobs.local import LocalBackend
from tools.jobs.model import Job, JobSpec, JobState
from tools.jobs.store import JobStore
from tools.jobs.watchdog import Watchdog

# Makes progress for about a second, then hangs without touching the progress file again.
STALLS = 'for i in 1 2 3 4 5; do echo "$i" >> "$TRIALRUN_JOB_PROGRESS"; sleep 0.2; done; sleep 60'


def test_a_stalled_job_is_cancelled_with_its_trials_and_only_after_progress_stops(
    store: JobStore, local_backend: LocalBackend, sqlite_optuna: str, wait_for: Any
) -> None:
    study = optuna.create_study(storage=sqlite_optuna, study_name="stalls")
    study.ask()
    backends = {"local": local_backend}
    spec = JobSpec(
        name="stalls",
        command=["sh", "-c", STALLS],
        labels={"study": "stalls", "optuna_storage": sqlite_optuna},
    )
    job = lifecycle.submit(spec, store=store, backends=backends)

    with Watchdog(
        job.id, stall_seconds=0.6, poll_seconds=0.05, store=store, backends=backends
    ) as dog:
        wait_for(lambda: dog.result is not None, timeout=10)

    assert dog.error is None
    final = store.get(job.id)
    assert final.state == JobState.CANCELLED
    assert final.reason == "no progress for 0.6 s"
    progress = Path(final.handle["progress_path"]).read_text()
    assert progress == "1\n2\n3\n4\n5\n"  # not cancelled while it still made progress
    assert [t.state.name for t in study.get_trials()] == ["FAIL"]


def test_a_job_that_keeps_making_progress_is_left_to_finish(
    store: JobStore, local_backend: LocalBackend
) -> None:
    script = 'for i in 1 2 3 4 5 6 7 8; do touch "$TRIALRUN_JOB_PROGRESS"; sleep 0.1; done'
    backends = {"local": local_backend}
    job = lifecycle.submit(
        JobSpec(name="steady", command=["sh", "-c", script]), store=store, backends=backends
    )

    with Watchdog(
        job.id, stall_seconds=0.5, poll_seconds=0.05, store=store, backends=backends
    ) as dog:
        final = lifecycle.wait(job.id, timeout=10, store=store, backends=backends)

    assert dog.result is None and dog.error is None
    assert final.state == JobState.SUCCEEDED


def test_a_job_without_a_progress_file_cannot_be_watched(store: JobStore) -> None:
    spec = JobSpec(name="remote", command=["train"], image="trainer:1")
    job = store.create(
        Job(id="j-abcdef", backend="kubernetes", spec=spec, handle={"job_name": "remote-j-abcdef"})
    )

    with pytest.raises(InputError, match="has no progress file to watch"):
        Watchdog(job.id, stall_seconds=10, store=store)
