from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tools.errors import InputError
from tools.jobs.model import Job, JobSpec, JobState
from tools.jobs.store import JobStore, StaleJobError

SPEC = JobSpec(name="train", command=["python", "-m", "train"], labels={"experiment": "churn"})

# Each writer appends its name 25 times to the same record, re-reading on every lost race.
WRITER = """
import sys
from tools.jobs.store import JobStore, StaleJobError
store, job_id, name = JobStore(sys.argv[1]), sys.argv[2], sys.argv[3]
for i in range(25):
    while True:
        job = store.get(job_id)
        try:
            store.save(job.model_copy(update={"cancelled_what": [*job.cancelled_what, name]}))
            break
        except StaleJobError:
            pass
"""


def _job(store: JobStore) -> Job:
    return store.create(Job(id=store.new_id(), backend="local", spec=SPEC))


def test_records_survive_a_new_store_object_and_keep_every_field(store: JobStore) -> None:
    job = _job(store)
    running = store.save(job.transition(JobState.RUNNING, handle={"pid": 42}))

    again = JobStore(store.path).get(job.id)

    assert again == running
    assert again.revision == 2
    assert re.fullmatch(r"j-[0-9a-f]{6}", again.id)


def test_list_filters_by_state_newest_first(store: JobStore) -> None:
    first, second, third = (_job(store) for _ in range(3))
    store.save(second.transition(JobState.RUNNING))

    assert [j.id for j in store.list()] == [third.id, second.id, first.id]
    assert [j.id for j in store.list(states=[JobState.RUNNING])] == [second.id]
    assert [j.id for j in store.list(states=[JobState.QUEUED], limit=1)] == [third.id]


def test_a_save_over_a_newer_revision_is_refused(store: JobStore) -> None:
    job = _job(store)
    store.save(job.transition(JobState.RUNNING))

    with pytest.raises(StaleJobError, match=f"Job '{job.id}' changed since it was read"):
        store.save(job.transition(JobState.CANCELLED))
    assert store.get(job.id).state == JobState.RUNNING


def test_unknown_ids_and_taken_ids_are_explained(store: JobStore) -> None:
    job = _job(store)

    with pytest.raises(InputError, match=r"No job with id 'j-nope00'. Run `trialrun jobs list`"):
        store.get("j-nope00")
    with pytest.raises(InputError, match=f"Job id '{job.id}' is already taken"):
        store.create(job)


def test_the_database_is_in_wal_mode(store: JobStore) -> None:
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_concurrent_writers_in_separate_processes_lose_no_update(
    store: JobStore, tmp_path: Path
) -> None:
    job = _job(store)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(store.path), job.id, name])
        for name in ("a", "b")
    ]

    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    final = store.get(job.id)
    assert sorted(final.cancelled_what) == ["a"] * 25 + ["b"] * 25
    assert final.revision == 51
