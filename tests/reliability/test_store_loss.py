"""A store that stops mid-study: the run fails in one line, names what it could not write, and
nothing is marked a success, then or after the store comes back.

Each test starts a real ``trialrun run`` process, lets tuning begin, and takes a store away: the
MLflow tracking server is stopped; the Optuna storage on PostgreSQL loses its connections when
the proxy in front of it is killed (the shared PostgreSQL server itself is never touched). Then
the store comes back and ``trialrun jobs list`` settles what the run could not close.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
from faults import STAGES, start, write_prompt
from mlflow import MlflowClient
from mlflow_server import MlflowServer
from stores import Proxy

from agent.adapters.cli import main

TRIALS = 40  # far more than can finish before the store goes


def run_until_the_store_goes(directory: Path, take_away) -> tuple[int, str, dict]:
    """Run the prompt file, call ``take_away`` once two trials finished; return how it ended."""
    run = start(directory, "run", "p.md", "--report-json", "report.json", until=STAGES["trial"])
    assert run.seen.wait(240), run.text()[-3000:]
    take_away()
    code = run.process.wait(timeout=300)
    run.seen.clear()
    return code, run.text(), json.loads((directory / "report.json").read_text())


def check_the_failure(code: int, output: str, report: dict, store: str) -> str:
    """The run failed (exit 7, the report says failed) with one line naming the store."""
    assert code == 7, output[-3000:]  # README: a store that stops answering during the run
    assert "Traceback" not in output, output[-3000:]
    assert report["status"] == "failed"
    assert report["failure"]["error_type"] == "Unreachable"
    message = report["failure"]["message"]
    assert "\n" not in message and len(message) < 600, message
    assert f"{store}' stopped answering" in message, message
    shown = re.sub(r"[\s│]", "", output)  # the report's panels wrap it
    assert re.sub(r"\s", "", message) in shown, output[:3000]
    return message


@pytest.mark.slow
def test_a_tracking_server_stopped_mid_study_fails_the_run_and_names_the_runs_left_open(
    examples_catalog, tmp_path, monkeypatch, capsys
):
    server = MlflowServer(tmp_path / "server")
    server.start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    write_prompt(tmp_path, TRIALS)
    try:
        code, output, report = run_until_the_store_goes(tmp_path, server.stop)
        message = check_the_failure(code, output, report, server.url)
        assert "could not be closed" in message, message
        left_open = re.findall(r"\b[0-9a-f]{32}\b", message)

        server.start()
        client = MlflowClient(server.url)
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        # The runs it named are exactly the ones the store still shows RUNNING.
        assert sorted(left_open) == sorted(
            r.info.run_id for r in runs if r.info.status == "RUNNING"
        )
        parent = next(r for r in runs if r.data.tags.get("trialrun.role") == "parent")
        assert parent.info.run_id in left_open

        assert main(["jobs", "list"]) == 0  # the store answers again: what was left is settled
        capsys.readouterr()
        runs = {r.info.run_id: r for r in client.search_runs([parent.info.experiment_id])}
        assert [r for r in runs.values() if r.info.status == "RUNNING"] == []
        # Nothing that did not finish is marked finished, the parent least of all.
        assert {runs[i].info.status for i in left_open} <= {"KILLED", "FAILED"}
        assert runs[parent.info.run_id].info.status != "FINISHED"
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.postgres
def test_optuna_storage_on_postgresql_lost_mid_study_fails_the_run_and_marks_no_success(
    examples_catalog, tracking_store, tmp_path, monkeypatch, postgres_optuna, capsys
):
    from sqlalchemy.engine import make_url

    database = make_url(postgres_optuna)
    proxy = Proxy((database.host or "127.0.0.1", database.port or 5432))
    proxy.start()
    storage = database.set(port=proxy.port).render_as_string(hide_password=False)
    monkeypatch.setenv("TRIALRUN_OPTUNA_STORAGE", storage)
    write_prompt(tmp_path, TRIALS)
    client = MlflowClient(tracking_store)
    study = None
    try:
        code, output, report = run_until_the_store_goes(tmp_path, proxy.kill)
        check_the_failure(code, output, report, storage)
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        parent = next(r for r in runs if r.data.tags.get("trialrun.role") == "parent")
        study = parent.data.tags["optuna.study"]
        assert parent.info.status == "FAILED"  # MLflow still answered: closed at once
        assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []

        proxy.start()
        assert main(["jobs", "list"]) == 0
        capsys.readouterr()
        trials = optuna.load_study(study_name=study, storage=postgres_optuna).get_trials()
        assert "RUNNING" not in {t.state.name for t in trials}
        finished_runs = {
            int(r.data.tags["optuna.trial"])
            for r in client.search_runs([parent.info.experiment_id])
            if r.data.tags.get("trialrun.role") == "trial" and r.info.status == "FINISHED"
        }
        # A trial run is FINISHED only when Optuna holds the trial as finished.
        complete = {t.number for t in trials if t.state.name in ("COMPLETE", "PRUNED")}
        assert finished_runs <= complete
    finally:
        proxy.kill()
        if study is not None:
            optuna.delete_study(study_name=study, storage=postgres_optuna)
