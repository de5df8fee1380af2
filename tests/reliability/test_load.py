"""Load: eight ``trialrun run`` processes at once on one store, SQLite and PostgreSQL.

Each process runs its own experiment with a tiny budget on the same MLflow store and Optuna
storage. Every one must end: finished with its whole budget and no more (the cap held), or failed
with an error line saying why, never a traceback; none lost (every one has its job, ended, and
its report); nothing left RUNNING.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import optuna
import pytest
from faults import start
from mlflow import MlflowClient

from agent.adapters.cli import main
from tools import settings
from tools.jobs.model import JobState
from tools.jobs.store import JobStore

PROCESSES = 8
TRIALS = 3
PROMPT = """---
dataset: breast_cancer
version: v1
model: lightgbm
metric: roc_auc
budget: {{trials: {trials}, seconds: 240, cpus: 1}}
seeds: [1]
experiment: load-{index}
---
"""


def run_together(directory: Path, count: int) -> list[tuple[int, str]]:
    """Start ``count`` runs at once; return each one's exit code and output."""
    runs = []
    for index in range(count):
        (directory / f"p{index}.md").write_text(PROMPT.format(trials=TRIALS, index=index))
        runs.append(start(directory, "run", f"p{index}.md", "--report-json", f"r{index}.json"))
    ended = []
    deadline = time.monotonic() + 600
    for run in runs:
        code = run.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        time.sleep(0.1)
        ended.append((code, run.text()))
    return ended


def check_all_accounted_for(directory: Path, ended: list[tuple[int, str]]) -> dict[str, int]:
    storage = settings.optuna_storage()
    client = MlflowClient(settings.tracking_uri())
    outcomes = {"succeeded": 0, "failed": 0}
    for index, (code, text) in enumerate(ended):
        assert "Traceback" not in text, text[-3000:]
        if code != 0:
            assert "error" in text.lower() or "failed" in text.lower(), text[-3000:]
            outcomes["failed"] += 1
            continue
        outcomes["succeeded"] += 1
        report = json.loads((directory / f"r{index}.json").read_text())
        assert report["status"] == "succeeded"
        experiment = client.get_experiment_by_name(f"load-{index}")
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id])
        assert [r for r in runs if r.info.status == "RUNNING"] == []
        study = runs[0].data.tags.get("optuna.study") or next(
            r.data.tags["optuna.study"] for r in runs if "optuna.study" in r.data.tags
        )
        trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
        finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
        assert len(finished) == TRIALS  # the whole budget, and not one trial more
        assert "RUNNING" not in {t.state.name for t in trials}
    jobs = JobStore().list(limit=100)
    assert len(jobs) == len(ended)  # every run was a job, none lost
    assert all(job.state.finished for job in jobs)
    assert sum(job.state == JobState.SUCCEEDED for job in jobs) == outcomes["succeeded"]
    assert main(["jobs", "list"]) == 0
    return outcomes


@pytest.mark.slow
def test_eight_runs_at_once_on_one_new_sqlite_store_all_end_accounted_for(
    examples_catalog, tmp_path
):
    # No store yet: the eight processes open (and so create) mlflow.db at the same moment.
    ended = run_together(tmp_path, PROCESSES)
    outcomes = check_all_accounted_for(tmp_path, ended)
    assert outcomes["succeeded"] == PROCESSES, outcomes


@pytest.mark.slow
@pytest.mark.postgres
def test_eight_runs_at_once_on_postgresql_all_end_accounted_for(
    examples_catalog, tracking_store, tmp_path, postgres_optuna, monkeypatch
):
    monkeypatch.setenv("TRIALRUN_OPTUNA_STORAGE", postgres_optuna)
    names = {s.study_name for s in optuna.get_all_study_summaries(postgres_optuna)}
    try:
        ended = run_together(tmp_path, PROCESSES)
        outcomes = check_all_accounted_for(tmp_path, ended)
        assert outcomes["succeeded"] == PROCESSES, outcomes
    finally:
        for summary in optuna.get_all_study_summaries(postgres_optuna):
            if summary.study_name not in names and summary.study_name.startswith("load-"):
                optuna.delete_study(study_name=summary.study_name, storage=postgres_optuna)
