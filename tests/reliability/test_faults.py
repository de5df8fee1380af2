"""Faults: a foreground run is a job; a run killed at any stage is settled and resumed whole.

Every run here is a real ``trialrun run`` process on a real MLflow store and Optuna storage,
stopped with a real signal (``kill -9``, SIGINT) or cancelled from another process with
``trialrun jobs cancel``. After a fault, any trialrun command settles what is left (no run or
trial RUNNING, the job ended); running the same prompt file again resumes the same parent run
and study, and the study ends with exactly its trial budget finished, none lost and none run
twice.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest
from faults import STAGES, start, stop_at, stop_detached_at, store_state, write_prompt

from agent.adapters.cli import main
from tools.jobs.model import JobState
from tools.jobs.store import JobStore

TRIALS = 5


@pytest.fixture
def workdir(examples_catalog, tracking_store, tmp_path: Path) -> Path:
    write_prompt(tmp_path, TRIALS)
    return tmp_path


def job_ids(listing: str, state: str) -> list[str]:
    return re.findall(rf"^(j-[0-9a-f]{{6}}) +{state} ", listing, flags=re.MULTILINE)


def rerun_to_the_end(capsys: pytest.CaptureFixture[str]) -> dict:
    code = main(["run", "p.md", "--report-json", "again.json"])
    out = capsys.readouterr()
    assert code == 0, out.err[-3000:]
    return json.loads(Path("again.json").read_text())


def test_a_foreground_run_is_a_job_another_process_lists_and_cancels(workdir, capsys, wait_for):
    write_prompt(workdir, 400)
    run = start(workdir, "run", "p.md", "--report-json", "report.json", until=STAGES["trial"])
    assert run.seen.wait(120), run.text()[-3000:]

    assert main(["jobs", "list", "--state", "running"]) == 0
    running = job_ids(capsys.readouterr().out, "running")
    assert len(running) == 1
    job_id = running[0]
    job = JobStore().get(job_id)
    assert job.handle["pid"] == run.process.pid
    assert {"mlflow_run_id", "study"} <= set(job.spec.labels)

    assert main(["jobs", "cancel", job_id]) == 0
    said = capsys.readouterr().out
    assert f"Cancelled job {job_id}" in said

    assert run.process.wait(timeout=60) == 6, run.text()[-3000:]  # exit code 6: cancelled
    report = json.loads(Path("report.json").read_text())
    assert report["status"] == "cancelled"
    assert JobStore().get(job_id).state == JobState.CANCELLED
    state = store_state(workdir)
    assert state.running_runs == [] and state.running_trials == []
    assert [status for _, status in state.parents] == ["KILLED"]
    assert len(state.finished_trials) < 400


@pytest.mark.parametrize("stage", list(STAGES))
def test_kill_9_in_the_foreground_at_each_stage_is_settled_and_resumed_whole(
    workdir, capsys, stage
):
    killed = stop_at(workdir, stage)
    assert killed.process.returncode == -signal.SIGKILL
    before = store_state(workdir)

    assert main(["jobs", "list"]) == 0  # any trialrun command settles what the kill left
    listing = capsys.readouterr()
    settled = store_state(workdir)
    assert settled.running_runs == [], listing.err
    assert settled.running_trials == [], listing.err
    assert len(job_ids(listing.out, "failed")) == 1, listing.out
    assert "ended without recording how" in listing.out

    report = rerun_to_the_end(capsys)
    after = store_state(workdir)
    assert report["status"] == "succeeded"
    assert after.running_runs == [] and after.running_trials == []
    assert len(after.finished_trials) == TRIALS  # none lost
    assert after.duplicated_trials == 0  # none ran twice
    assert after.finished_baselines == 1  # one finished before the kill is kept, not retrained
    # Trials that had finished before the kill stand as they were.
    assert {n: after.finished_trials[n] for n in before.finished_trials} == before.finished_trials
    if before.parents:
        assert [run_id for run_id, _ in after.parents] == [before.parents[0][0]]  # resumed
        assert after.parents[0][1] == "FINISHED"


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(STAGES))
def test_kill_9_of_a_detached_run_at_each_stage_is_settled_by_jobs_list_and_resumed_whole(
    workdir, capsys, stage
):
    job_id = stop_detached_at(workdir, stage)
    before = store_state(workdir)

    assert main(["jobs", "list"]) == 0  # the command the issue saw leave runs RUNNING
    listing = capsys.readouterr().out
    job = JobStore().get(job_id)
    assert job.state == JobState.FAILED and job.reason == "killed by SIGKILL", listing
    assert job.settled_at is not None
    settled = store_state(workdir)
    assert settled.running_runs == [] and settled.running_trials == []

    report = rerun_to_the_end(capsys)
    after = store_state(workdir)
    assert report["status"] == "succeeded"
    assert len(after.finished_trials) == TRIALS and after.duplicated_trials == 0
    assert {n: after.finished_trials[n] for n in before.finished_trials} == before.finished_trials
    if before.parents:
        assert [run_id for run_id, _ in after.parents] == [before.parents[0][0]]


def test_interrupted_again_and_again_it_still_ends_with_its_budget_exactly(workdir, capsys):
    write_prompt(workdir, 8)  # each attempt finishes two trials before its kill
    for _ in range(3):
        stop_at(workdir, "trial")
    report = rerun_to_the_end(capsys)
    after = store_state(workdir)
    assert report["status"] == "succeeded"
    assert len(after.finished_trials) == 8 and after.duplicated_trials == 0
    assert len(after.parents) == 1 and after.running_runs == []


def test_after_ctrl_c_the_same_file_resumes_instead_of_clashing_with_its_best_params(
    workdir, capsys
):
    stopped = stop_at(workdir, "trial", sig=signal.SIGINT)
    assert stopped.process.returncode == 6, stopped.text()[-3000:]
    assert json.loads(Path("report.json").read_text())["status"] == "cancelled"

    report = rerun_to_the_end(capsys)
    after = store_state(workdir)
    assert report["status"] == "succeeded"
    assert len(after.parents) == 1 and after.parents[0][1] == "FINISHED"
    assert len(after.finished_trials) == TRIALS and after.duplicated_trials == 0
