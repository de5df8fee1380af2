"""The one cancel against real stores: MLflow on SQLite, Optuna on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient

from tools.jobs import lifecycle
from tools.jobs.cancel import cancel
from tools.jobs.finalize import finalize
from tools.jobs.local import LocalBackend
from tools.jobs.model import JobSpec, JobState
from tools.jobs.reconcile import TRIAL_JOB_ATTR, WORKER_GROUP_LABEL
from tools.jobs.store import JobStore
from tools.tracking.settle import RUN_JOB_TAG


@dataclass
class Experiment:
    """A tuning run in flight: a parent run with children, a study with a running trial."""

    client: MlflowClient
    uri: str
    parent: str
    running_children: list[str]
    finished_child: str
    storage: str
    study: optuna.Study

    def labels(self) -> dict[str, str]:
        return {
            "experiment": "churn",
            "mlflow_run_id": self.parent,
            "mlflow_tracking_uri": self.uri,
            "study": self.study.study_name,
            "optuna_storage": self.storage,
        }

    def status(self, run_id: str) -> str:
        return self.client.get_run(run_id).info.status


def _experiment(uri: str, experiment_id: str, storage: str) -> Experiment:
    client = MlflowClient(tracking_uri=uri)
    parent = client.create_run(experiment_id).info.run_id
    child_tags = {"mlflow.parentRunId": parent}
    running = [client.create_run(experiment_id, tags=child_tags).info.run_id for _ in range(2)]
    grandchild = client.create_run(experiment_id, tags={"mlflow.parentRunId": running[0]})
    finished = client.create_run(experiment_id, tags=child_tags).info.run_id
    client.set_terminated(finished, "FINISHED")
    study = optuna.create_study(storage=storage, study_name=f"churn-{uuid.uuid4().hex[:8]}")
    done = study.ask()
    study.tell(done, 0.5)
    study.ask()  # left RUNNING, as a worker in the middle of a trial leaves it
    return Experiment(
        client, uri, parent, [*running, grandchild.info.run_id], finished, storage, study
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def optuna_storage(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_optuna"))


@pytest.fixture
def inflight(mlflow_uri: str, experiment: str, optuna_storage: str) -> Any:
    exp = _experiment(mlflow_uri, experiment, optuna_storage)
    yield exp
    if optuna_storage.startswith("postgresql"):
        optuna.delete_study(study_name=exp.study.study_name, storage=optuna_storage)


def _trial_states(exp: Experiment) -> list[str]:
    return [t.state.name for t in exp.study.get_trials(deepcopy=False)]


def test_cancel_fails_running_trials_kills_runs_and_records_what_it_did(
    inflight: Experiment, store: JobStore, local_backend: LocalBackend
) -> None:
    backends = {"local": local_backend}
    spec = JobSpec(name="tune", command=["sleep", "60"], labels=inflight.labels())
    job = lifecycle.submit(spec, store=store, backends=backends)

    result = cancel(job.id, store=store, backends=backends)

    study = inflight.study.study_name
    assert result.changed
    assert _trial_states(inflight) == ["COMPLETE", "FAIL"]
    assert inflight.status(inflight.parent) == "KILLED"
    assert [inflight.status(r) for r in inflight.running_children] == ["KILLED"] * 3
    assert inflight.status(inflight.finished_child) == "FINISHED"
    stored = store.get(job.id)
    assert stored.state == JobState.CANCELLED
    assert stored.cancelled_at is not None
    assert stored.cancelled_what[0].startswith(f"local job {job.id} (process group")
    assert f"optuna trial 1 of study {study!r} → FAIL" in stored.cancelled_what
    assert f"mlflow run {inflight.parent} → KILLED" in stored.cancelled_what
    assert {f"mlflow run {r} → KILLED" for r in inflight.running_children} <= set(
        stored.cancelled_what
    )
    assert len(stored.cancelled_what) == 6
    assert all(line in result.message for line in stored.cancelled_what)

    again = cancel(job.id, store=store, backends=backends)

    assert not again.changed
    assert again.message.startswith(f"Job {job.id} was already cancelled at ")
    assert store.get(job.id).cancelled_what == stored.cancelled_what


def test_cancelling_a_finished_job_changes_nothing(
    inflight: Experiment, store: JobStore, local_backend: LocalBackend, wait_for: Any
) -> None:
    backends = {"local": local_backend}
    spec = JobSpec(name="quick", command=["sh", "-c", "exit 3"], labels=inflight.labels())
    job = lifecycle.submit(spec, store=store, backends=backends)
    wait_for(Path(job.handle["status_path"]).exists)  # the wrapper wrote how it ended

    result = cancel(job.id, store=store, backends=backends)

    assert not result.changed
    assert result.message.startswith(f"Job {job.id} already failed (exit code 3) at ")
    assert _trial_states(inflight) == ["COMPLETE", "RUNNING"]
    assert inflight.status(inflight.parent) == "RUNNING"


def test_trials_another_job_claimed_are_spared(
    mlflow_uri: str,
    experiment: str,
    sqlite_optuna: str,
    store: JobStore,
    local_backend: LocalBackend,
) -> None:
    exp = _experiment(mlflow_uri, experiment, sqlite_optuna)
    theirs = exp.study.ask()
    theirs.set_user_attr(TRIAL_JOB_ATTR, "j-other1")
    backends = {"local": local_backend}
    job = lifecycle.submit(
        JobSpec(name="tune", command=["sleep", "60"], labels=exp.labels()),
        store=store,
        backends=backends,
    )

    cancel(job.id, store=store, backends=backends)

    assert _trial_states(exp) == ["COMPLETE", "FAIL", "RUNNING"]


def test_cancelling_one_worker_of_several_settles_only_its_own_trials_and_runs(
    mlflow_uri: str,
    experiment: str,
    sqlite_optuna: str,
    store: JobStore,
    local_backend: LocalBackend,
) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    parent = client.create_run(experiment).info.run_id
    study = optuna.create_study(storage=sqlite_optuna, study_name=f"s-{uuid.uuid4().hex[:6]}")
    labels = {
        "mlflow_run_id": parent,
        "mlflow_tracking_uri": mlflow_uri,
        "study": study.study_name,
        "optuna_storage": sqlite_optuna,
        WORKER_GROUP_LABEL: "g1",
    }
    backends = {"local": local_backend}
    workers = [
        lifecycle.submit(
            JobSpec(name="tune", command=["sleep", "60"], labels=labels),
            store=store,
            backends=backends,
        )
        for _ in range(2)
    ]
    trials, runs = {}, {}
    for worker in workers:  # each in the middle of a trial, as a worker leaves them
        trials[worker.id] = study.ask()
        trials[worker.id].set_user_attr(TRIAL_JOB_ATTR, worker.id)
        tags = {"mlflow.parentRunId": parent, RUN_JOB_TAG: worker.id}
        runs[worker.id] = client.create_run(experiment, tags=tags).info.run_id
    mine, theirs = (w.id for w in workers)

    result = cancel(mine, store=store, backends=backends)

    states = {t.number: t.state.name for t in study.get_trials()}
    assert states == {trials[mine].number: "FAIL", trials[theirs].number: "RUNNING"}
    status = {job: client.get_run(run).info.status for job, run in runs.items()}
    assert status == {mine: "KILLED", theirs: "RUNNING"}
    assert client.get_run(parent).info.status == "RUNNING"  # the experiment goes on
    assert result.job.cancelled_what[1:] == [
        f"optuna trial {trials[mine].number} of study {study.study_name!r} → FAIL",
        f"mlflow run {runs[mine]} → KILLED",
    ]
    assert lifecycle.refresh(theirs, store=store, backends=backends).state == JobState.RUNNING
    cancel(theirs, store=store, backends=backends)


def test_finalize_attaches_the_log_to_the_run_whatever_the_outcome(
    mlflow_uri: str, experiment: str, store: JobStore, local_backend: LocalBackend
) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    parent = client.create_run(experiment).info.run_id
    labels = {"mlflow_run_id": parent, "mlflow_tracking_uri": mlflow_uri}
    backends = {"local": local_backend}
    ok = lifecycle.submit(
        JobSpec(name="ok", command=["echo", "trained 10 rounds"], labels=labels),
        store=store,
        backends=backends,
    )
    hung = lifecycle.submit(
        JobSpec(name="hung", command=["sh", "-c", "echo started; sleep 60"], labels=labels),
        store=store,
        backends=backends,
    )
    ended = lifecycle.wait(ok.id, timeout=10, store=store, backends=backends)
    cancelled = cancel(hung.id, store=store, backends=backends).job

    paths = [finalize(ended, backends=backends), finalize(cancelled, backends=backends)]

    assert paths == [f"jobs/{ok.id}.log", f"jobs/{hung.id}.log"]
    listed = {f.path for f in client.list_artifacts(parent, "jobs")}
    assert listed == set(paths)
    local = client.download_artifacts(parent, f"jobs/{ok.id}.log")
    assert Path(local).read_text() == "trained 10 rounds\n"


def test_a_cancel_in_progress_elsewhere_is_not_repeated_nor_overtaken(
    store: JobStore, local_backend: LocalBackend
) -> None:
    backends = {"local": local_backend}
    job = lifecycle.submit(
        JobSpec(name="x", command=["sleep", "60"]), store=store, backends=backends
    )
    # Another process claimed the cancel and is stopping the job right now.
    claimed = store.save(job.model_copy(update={"cancel_requested_at": datetime.now(UTC)}))
    local_backend.cancel(claimed)

    second = cancel(job.id, store=store, backends=backends)
    refreshed = lifecycle.refresh(job.id, store=store, backends=backends)

    assert not second.changed
    assert second.message.startswith(f"Job {job.id} is already being cancelled (since ")
    assert refreshed.state == JobState.RUNNING  # left for the canceller to record as CANCELLED


def test_a_job_seen_to_end_gets_its_log_attached_and_a_tracking_error_does_not_stop_it(
    mlflow_uri: str,
    experiment: str,
    store: JobStore,
    local_backend: LocalBackend,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    parent = client.create_run(experiment).info.run_id
    backends = {"local": local_backend}

    def run(name: str, run_id: str) -> str:
        labels = {"mlflow_run_id": run_id, "mlflow_tracking_uri": mlflow_uri}
        spec = JobSpec(name=name, command=["echo", f"{name} done"], labels=labels)
        return lifecycle.submit(spec, store=store, backends=backends).id

    ok, orphan = run("ok", parent), run("orphan", "0" * 32)  # the second names no real run
    # Nobody finalizes: waiting, as `trialrun jobs show` would, sees them end.
    ended = [
        lifecycle.wait(job, timeout=10, store=store, backends=backends) for job in (ok, orphan)
    ]

    assert [job.state for job in ended] == [JobState.SUCCEEDED, JobState.SUCCEEDED]
    local = client.download_artifacts(parent, f"jobs/{ok}.log")
    assert Path(local).read_text() == "ok done\n"
    assert f"job {orphan}: log not attached to its MLflow run" in caplog.text
