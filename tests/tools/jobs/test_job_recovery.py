"""Crash recovery after a real SIGKILL of the process that started the jobs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import optuna
from mlflow import MlflowClient

from tools.jobs import process
from tools.jobs.cancel import cancel
from tools.jobs.local import LocalBackend
from tools.jobs.model import Job, JobSpec, JobState
from tools.jobs.recovery import recover
from tools.jobs.store import JobStore

SUPERVISOR = Path(__file__).with_name("job_supervisor.py")


def _tuning(client: MlflowClient, experiment: str, storage: str) -> tuple[str, optuna.Study]:
    """A parent run and a study with one trial RUNNING, as a worker mid-trial leaves them."""
    run = client.create_run(experiment).info.run_id
    study = optuna.create_study(storage=storage, study_name=f"s-{uuid.uuid4().hex[:6]}")
    study.ask()
    return run, study


def test_recover_settles_what_a_killed_supervisor_left_and_spares_live_jobs(
    tmp_path: Path,
    store: JobStore,
    local_backend: LocalBackend,
    mlflow_uri: str,
    experiment: str,
    sqlite_optuna: str,
    wait_for: Any,
) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    tunings = {name: _tuning(client, experiment, sqlite_optuna) for name in ("live", "lost")}
    finished_run = client.create_run(experiment).info.run_id

    def spec(name: str, command: list[str], run: str, study: str | None) -> dict[str, Any]:
        labels = {
            "mlflow_run_id": run,
            "mlflow_tracking_uri": mlflow_uri,
            "optuna_storage": sqlite_optuna,
        }
        if study:
            labels["study"] = study
        return JobSpec(name=name, command=command, labels=labels).model_dump(mode="json")

    specs = [
        spec("live", ["sleep", "60"], tunings["live"][0], tunings["live"][1].study_name),
        spec("ends", ["sh", "-c", "sleep 0.2; exit 3"], finished_run, None),
        spec("lost", ["sleep", "60"], tunings["lost"][0], tunings["lost"][1].study_name),
    ]
    supervisor = subprocess.Popen(
        [
            sys.executable,
            str(SUPERVISOR),
            str(store.path),
            str(local_backend.root),
            json.dumps(specs),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert supervisor.stdout is not None
    live, ends, lost = (supervisor.stdout.readline().strip() for _ in specs)
    supervisor.kill()  # SIGKILL: no cleanup runs in it
    supervisor.wait()
    # The "lost" job dies with everything in its group, wrapper included (OOM killer, reboot):
    # nothing is left to write its exit status.
    lost_job = store.get(lost)
    os.killpg(lost_job.handle["pgid"], signal.SIGKILL)
    wait_for(
        lambda: not process.group_members(lost_job.handle["pgid"], lost_job.handle["start_time"])
    )
    wait_for(Path(store.get(ends).handle["status_path"]).exists)
    assert {j.state for j in store.list()} == {JobState.RUNNING}

    lines = recover(store, backends={"local": local_backend})

    assert store.get(live).state == JobState.RUNNING
    assert tunings["live"][1].get_trials()[0].state.name == "RUNNING"
    assert client.get_run(tunings["live"][0]).info.status == "RUNNING"
    ended = store.get(ends)
    assert (ended.state, ended.exit_code) == (JobState.FAILED, 3)
    assert client.get_run(finished_run).info.status == "KILLED"
    gone = store.get(lost)
    assert gone.state == JobState.FAILED
    assert "without an exit status" in (gone.reason or "")
    lost_study = tunings["lost"][1].study_name
    assert tunings["lost"][1].get_trials()[0].state.name == "FAIL"
    assert client.get_run(tunings["lost"][0]).info.status == "KILLED"
    assert sorted(lines) == sorted(
        [
            f"job {ends} (local) → FAILED: exit code 3",
            f"mlflow run {finished_run} → KILLED",
            f"job {lost} (local) → FAILED: {gone.reason}",
            f"optuna trial 0 of study {lost_study!r} → FAIL",
            f"mlflow run {tunings['lost'][0]} → KILLED",
        ]
    )
    assert recover(store, backends={"local": local_backend}) == []
    cancel(live, store=store, backends={"local": local_backend})


def test_a_job_that_never_started_is_failed_by_recovery(
    store: JobStore, local_backend: LocalBackend
) -> None:
    # What a crash between recording a job and starting it leaves behind.
    queued = store.create(
        Job(id=store.new_id(), backend="local", spec=JobSpec(name="x", command=["true"]))
    )

    lines = recover(store, backends={"local": local_backend})

    assert store.get(queued.id).state == JobState.FAILED
    assert lines == [f"job {queued.id} (local) → FAILED: never started (no process recorded)"]


def test_a_job_another_process_is_still_submitting_is_left_to_it(
    store: JobStore, local_backend: LocalBackend
) -> None:
    # Another trialrun process recorded the job and has not heard back from the backend yet.
    submitter = subprocess.Popen(["sleep", "30"])
    stat = process.read_stat(submitter.pid)
    assert stat is not None
    handle = {
        "submitter": {
            "pid": submitter.pid,
            "start_time": stat.start_time,
            "host": socket.gethostname(),
            "boot_id": process.boot_id(),
        }
    }
    spec = JobSpec(name="x", command=["true"])
    queued = store.create(Job(id=store.new_id(), backend="local", spec=spec, handle=handle))

    assert recover(store, backends={"local": local_backend}) == []
    assert store.get(queued.id).state == JobState.QUEUED

    submitter.kill()  # it died before starting the job
    submitter.wait()

    assert recover(store, backends={"local": local_backend}) == [
        f"job {queued.id} (local) → FAILED: never started (no process recorded)"
    ]
