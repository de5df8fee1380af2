"""``trialrun worker``, the hidden command distributed tuning starts: its task, and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import optuna
from mlflow import MlflowClient

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from tools import settings
from tools.experiment.request import TuneRequest
from tools.experiment.worker import TASK_ENV, WorkerTask
from tools.jobs.reconcile import TRIAL_JOB_ATTR
from tools.tracking.runs import RunWriter, ensure_experiment


def test_a_worker_without_a_valid_task_is_a_usage_error(capsys):
    assert main(["worker"]) == ExitCode.USAGE
    assert main(["worker", "--task", '{"study_name": "s"}']) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "no task: pass --task JSON or set TRIALRUN_WORKER_TASK" in err
    assert "The worker task is not valid" in err


def test_a_stage_job_without_a_valid_task_is_a_usage_error(capsys, monkeypatch):
    assert main(["stage"]) == ExitCode.USAGE
    monkeypatch.setenv("TRIALRUN_STAGE_TASK", '{"kind": "final"}')
    assert main(["stage"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "no task: set TRIALRUN_STAGE_TASK" in err
    assert "The stage task is not valid" in err


def test_sigterm_stops_a_worker_mid_trial_its_trial_fail_and_its_run_killed(
    examples_catalog, tracking_store, wait_for: Any
):
    experiment_id = ensure_experiment("worker")
    parent = RunWriter(experiment_id, "parent").run_id
    optuna.create_study(study_name="wine-workers", storage=settings.optuna_storage())
    # Rounds without end: the trial is still training when the signal comes.
    request = TuneRequest(
        dataset="wine",
        version="v1",
        metric="log_loss",
        trials=3,
        max_rounds=1_000_000,
        early_stopping_rounds=1_000_000,
    )
    task = WorkerTask.for_request(
        request,
        study_name="wine-workers",
        experiment_id=experiment_id,
        parent_run_id=parent,
        group="g",
        workers=1,
        deadline=time.time() + 120,
    )
    env = {**os.environ, TASK_ENV: task.to_json(), "TRIALRUN_JOB_ID": "j-c0ffee"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "agent.adapters.cli", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = MlflowClient(settings.tracking_uri())
    running = "tags.`trialrun.role` = 'trial' and attributes.status = 'RUNNING'"
    wait_for(lambda: client.search_runs([experiment_id], running), timeout=90, interval=0.1)

    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=30)

    assert worker.returncode == ExitCode.CANCELLED, output
    (trial,) = optuna.load_study(
        study_name="wine-workers", storage=settings.optuna_storage()
    ).get_trials()
    assert trial.state.name == "FAIL"
    assert trial.user_attrs[TRIAL_JOB_ATTR] == "j-c0ffee"
    (run,) = client.search_runs([experiment_id], "tags.`trialrun.role` = 'trial'")
    assert run.info.status == "KILLED"
    assert "cancelled" in output
