"""``trialrun run --detach``: the experiment as a local job, watched, cancelled and crash-recovered."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pytest

from agent.adapters.cli import main
from tools import settings
from tools.jobs import lifecycle, process
from tools.jobs.cancel import cancel
from tools.jobs.local import LocalBackend
from tools.jobs.model import Job, JobState
from tools.jobs.store import JobStore

PROMPT = """---
dataset: breast_cancer
version: v1
model: lightgbm
metric: roc_auc
budget: {{trials: {trials}, seconds: 120, cpus: 1}}
seeds: [2]
experiment: detached
---
"""


@pytest.fixture(autouse=True)
def _no_job_outlives_its_test() -> Iterator[None]:
    yield
    for job in JobStore().list(states=[JobState.QUEUED, JobState.RUNNING]):
        cancel(job.id)


def submit(capsys: pytest.CaptureFixture[str], trials: int, *extra: str) -> str:
    Path("p.md").write_text(PROMPT.format(trials=trials))
    code = main(["run", "p.md", "--detach", *extra])
    out = capsys.readouterr().out
    assert code == 0, out
    found = re.search(r"Submitted job (j-[0-9a-f]{6})", out)
    assert found, out
    job_id = found.group(1)
    assert f"trialrun jobs show {job_id}" in out and f"trialrun jobs cancel {job_id}" in out
    return job_id


def labelled(job_id: str, wait_for: Any) -> Job:
    """Wait until the detached run has recorded its parent run and study on its job."""
    return wait_for(
        lambda: (job := JobStore().get(job_id)).spec.labels.get("study") and job, timeout=90
    )


def trials_by_state(job: Job) -> dict[str, int]:
    try:
        study = optuna.load_study(
            study_name=job.spec.labels["study"], storage=settings.optuna_storage()
        )
    except KeyError:  # named on the job before the tune step creates it
        return {}
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def runs_of(job: Job) -> list[Any]:
    client = mlflow.MlflowClient(settings.tracking_uri())
    experiment = client.get_run(job.spec.labels["mlflow_run_id"]).info.experiment_id
    return list(client.search_runs([experiment], max_results=1000))


def test_a_detached_run_is_a_job_that_runs_to_the_end_and_leaves_its_log_on_the_run(
    examples_catalog, tracking_store, capsys, wait_for
):
    job_id = submit(capsys, 3, "--report-json", "out/report.json")
    submitted = time.time()

    assert main(["jobs", "show", job_id]) == 0
    shown = capsys.readouterr().out
    assert f"job {job_id}: running" in shown and "labels: experiment=detached" in shown
    job = lifecycle.wait(job_id, timeout=120, interval=0.5)

    assert job.state == JobState.SUCCEEDED, LocalBackend().logs(job)
    report = json.loads(Path("out/report.json").read_text())
    assert report["status"] == "succeeded"
    parent = next(c["id"] for c in report["changes"]["items"] if c["kind"] == "parent_run")
    assert job.spec.labels["mlflow_run_id"] == parent
    assert [c["id"] for c in report["changes"]["items"] if c["kind"] == "job"] == [job_id]
    assert f"stop it: trialrun jobs cancel {job_id}" in report["rollback"]["steps"]
    client = mlflow.MlflowClient(settings.tracking_uri())
    assert client.get_run(parent).data.tags["trialrun.job_id"] == job_id
    log = Path(client.download_artifacts(parent, f"jobs/{job_id}.log")).read_text()
    assert "Summary" in log  # the whole output, report included
    # Its progress events kept the job's progress file fresh, for a watchdog to see.
    assert Path(job.handle["progress_path"]).stat().st_mtime > submitted


def test_cancelling_a_detached_run_stops_its_process_group_within_seconds_and_settles_it(
    examples_catalog, tracking_store, capsys, wait_for
):
    job_id = submit(capsys, 200)
    job = labelled(job_id, wait_for)
    wait_for(lambda: trials_by_state(job).get("COMPLETE", 0) >= 1, timeout=90)

    started = time.monotonic()
    result = cancel(job_id)
    took = time.monotonic() - started

    assert result.changed and result.job.state == JobState.CANCELLED
    assert took < 15
    assert process.group_members(job.handle["pgid"], job.handle["start_time"]) == []
    assert "cancelling (SIGTERM)" in LocalBackend().logs(result.job)  # it stopped itself
    states = trials_by_state(job)
    assert "RUNNING" not in states and sum(states.values()) < 200
    runs = runs_of(job)
    assert all(r.info.status != "RUNNING" for r in runs)
    parent = next(r for r in runs if r.info.run_id == job.spec.labels["mlflow_run_id"])
    assert parent.info.status == "KILLED"
    failed = [r for r in runs if r.data.tags.get("trialrun.trial_state") == "FAIL"]
    assert len(failed) == states.get("FAIL", 0)
    assert all(r.info.status == "KILLED" for r in failed)


def test_after_a_kill_9_the_next_run_recovers_and_resumes_without_repeating_trials(
    examples_catalog, tracking_store, capsys, wait_for
):
    job_id = submit(capsys, 12)
    job = labelled(job_id, wait_for)
    wait_for(lambda: trials_by_state(job).get("COMPLETE", 0) >= 2, timeout=90, interval=0.05)
    wrapper = job.handle["pid"]
    members = process.group_members(job.handle["pgid"], job.handle["start_time"])
    supervisor = next(pid for pid in members if pid != wrapper)
    os.kill(supervisor, signal.SIGKILL)
    wait_for(lambda: not process.group_members(job.handle["pgid"], job.handle["start_time"]))
    study = optuna.load_study(
        study_name=job.spec.labels["study"], storage=settings.optuna_storage()
    )
    finished_before = {
        t.number: t.value
        for t in study.get_trials(deepcopy=False)
        if t.state.name in ("COMPLETE", "PRUNED")
    }
    parent = job.spec.labels["mlflow_run_id"]

    # the next trialrun run: recovery first, then the same file
    code = main(["run", "p.md", "--report-json", "again.json"])

    err = capsys.readouterr().err
    assert code == 0, err
    assert f"recovered after a crash: job {job_id} (local) → FAILED: killed by SIGKILL" in err
    assert f"recovered after a crash: mlflow run {parent} → KILLED" in err
    assert JobStore().get(job_id).state == JobState.FAILED
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 12  # the budget, counting the trials finished before the crash
    assert {t.number: t.value for t in finished if t.number in finished_before} == (finished_before)
    assert "RUNNING" not in {t.state.name for t in trials}
    runs = runs_of(job)
    assert all(r.info.status != "RUNNING" for r in runs)
    assert [r.info.run_id for r in runs if r.data.tags.get("trialrun.role") == "parent"] == [
        parent
    ]  # resumed, not started anew
    rerun = json.loads(Path("again.json").read_text())["plan"]["rerun"]
    assert rerun.startswith("resumed: an earlier attempt of this request was interrupted")
    assert parent in rerun  # and the Plan says so, naming the parent run it went on in
    numbers = Counter(
        int(r.data.tags["optuna.trial"])
        for r in runs
        if r.data.tags.get("trialrun.role") == "trial"
    )
    # One run per trial: no finished trial ran again (a trial killed before its run was created
    # has none).
    assert max(numbers.values()) == 1 and {t.number for t in finished} <= set(numbers)
