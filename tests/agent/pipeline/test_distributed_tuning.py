"""Distributed tuning for real: worker processes on PostgreSQL, logging to a real mlflow server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import optuna
import pytest

from agent.pipeline import run_pipeline
from agent.pipeline.state import PipelineContext
from agent.request import ExperimentRequest
from tools.jobs.inprocess import is_in_process
from tools.jobs.model import JobState
from tools.jobs.reconcile import TRIAL_JOB_ATTR
from tools.jobs.store import JobStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def shared_stores(
    mlflow_server: str, postgres_optuna: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Point trialrun at the tracking server and PostgreSQL; drop this test's studies after."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("TRIALRUN_OPTUNA_STORAGE", postgres_optuna)
    experiment = f"dist-{uuid.uuid4().hex[:8]}"
    yield experiment
    for summary in optuna.get_all_study_summaries(postgres_optuna):
        if summary.study_name.startswith(experiment):
            optuna.delete_study(study_name=summary.study_name, storage=postgres_optuna)


def test_two_worker_processes_finish_the_budget_exactly_and_every_trial_is_tracked(
    shared_stores: str, examples_catalog, postgres_optuna: str, mlflow_server: str
):
    request = ExperimentRequest.model_validate(
        {
            "dataset": "breast_cancer",
            "version": "v1",
            "metric": "roc_auc",
            "model": "lightgbm",
            "budget": {"trials": 8, "seconds": 120, "cpus": 2, "parallel": 2},
            "seeds": [3],
            "experiment": shared_stores,
        }
    )

    report = run_pipeline(request, PipelineContext())

    assert report.status == "succeeded", report.failure
    assert report.verification.passed, [c for c in report.verification.checks if not c.passed]
    listed = [JobStore().get(c.id) for c in report.changes.items if c.kind == "job"]
    jobs = [job.id for job in listed if not is_in_process(job)]  # the experiment's own is not
    assert len(jobs) == 2 and len(listed) == 3
    assert all(JobStore().get(job).state == JobState.SUCCEEDED for job in jobs)
    study_name = next(c.id for c in report.changes.items if c.kind == "study")
    trials = optuna.load_study(study_name=study_name, storage=postgres_optuna).get_trials()
    # Exactly the budget, although each worker decides on its own when to start a trial.
    assert len(trials) == 8
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    assert {t.user_attrs[TRIAL_JOB_ATTR] for t in trials} == set(jobs)  # both contributed
    assert report.summary.trials == {
        state: sum(t.state.name == state for t in trials) for state in report.summary.trials
    }

    client = mlflow.MlflowClient(mlflow_server)
    parent = next(c.id for c in report.changes.items if c.kind == "parent_run")
    experiment_id = client.get_run(parent).info.experiment_id
    runs = client.search_runs([experiment_id], max_results=1000)
    trial_runs = [r for r in runs if r.data.tags.get("trialrun.role") == "trial"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent for r in trial_runs)
    by_number = {int(r.data.tags["optuna.trial"]): r for r in trial_runs}
    assert sorted(by_number) == sorted(t.number for t in trials) and len(trial_runs) == 8
    for trial in trials:
        run = by_number[trial.number]
        assert run.info.run_id == trial.user_attrs["mlflow_run_id"]
        assert run.data.tags["trialrun.trial_state"] == trial.state.name
    assert all(r.info.status != "RUNNING" for r in runs)
    logs = {a.path for a in client.list_artifacts(parent, "jobs")}
    assert logs == {f"jobs/{job}.log" for job in jobs}
    log = Path(client.download_artifacts(parent, f"jobs/{jobs[0]}.log")).read_text()
    assert "trial budget reached" in log and "sampler seed" in log
    assert report.summary.stop_reason == "trial budget reached"
    assert "2 workers sharing one study" in report.summary.reproducibility
    assert any(f"trialrun jobs cancel {jobs[0]}" in step for step in report.rollback.steps)


def test_cancelling_one_worker_job_stops_only_its_trials_and_the_experiment_goes_on(
    shared_stores: str, examples_catalog, postgres_optuna: str, mlflow_server: str, wait_for
):
    import threading

    from tools.jobs.cancel import cancel

    request = ExperimentRequest.model_validate(
        {
            "dataset": "breast_cancer",
            "version": "v1",
            "metric": "roc_auc",
            "model": "lightgbm",
            "budget": {"trials": 12, "seconds": 180, "cpus": 2, "parallel": 2},
            "seeds": [3],
            "experiment": shared_stores,
        }
    )
    context = PipelineContext()
    reports = []
    thread = threading.Thread(target=lambda: reports.append(run_pipeline(request, context)))
    thread.start()
    try:
        wait_for(lambda: len(context.jobs) == 2, timeout=120)
        study_name = wait_for(lambda: JobStore().get(context.jobs[0]).spec.labels.get("study"))
        study = optuna.load_study(study_name=study_name, storage=postgres_optuna)

        def both_working() -> bool:
            owners = {t.user_attrs.get(TRIAL_JOB_ATTR) for t in study.get_trials()}
            return set(context.jobs) <= owners

        wait_for(both_working, timeout=120, interval=0.1)
        mine, theirs = context.jobs
        cancelled = cancel(mine, reason="one worker stopped by hand")
    finally:
        thread.join(timeout=300)

    report = reports[0]
    assert cancelled.job.state == JobState.CANCELLED
    assert report.status == "succeeded", report.failure
    other = JobStore().get(theirs)
    assert other.state == JobState.SUCCEEDED, (other.reason, other.exit_code)
    trials = study.get_trials()
    owned = {
        job: [t for t in trials if t.user_attrs.get(TRIAL_JOB_ATTR) == job]
        for job in (mine, theirs)
    }
    assert all(t.state.name != "FAIL" for t in owned[theirs])  # the other worker's trials stand
    assert (
        sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials) == 12
    )  # it finished the budget
    client = mlflow.MlflowClient(mlflow_server)
    parent = next(c.id for c in report.changes.items if c.kind == "parent_run")
    assert client.get_run(parent).info.status == "FINISHED"
    experiment_id = client.get_run(parent).info.experiment_id
    runs = client.search_runs([experiment_id], "tags.`trialrun.role` = 'trial'", max_results=1000)
    # A pruned trial's run is KILLED too, in either worker; the cancel's are the others.
    stopped = [
        r
        for r in runs
        if r.info.status == "KILLED" and r.data.tags.get("trialrun.trial_state") != "PRUNED"
    ]
    assert {r.data.tags.get("trialrun.job_id") for r in stopped} <= {mine}
    failed = [t for t in owned[mine] if t.state.name == "FAIL"]
    assert len(stopped) == len(failed)
