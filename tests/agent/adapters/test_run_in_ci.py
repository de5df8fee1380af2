"""``trialrun run`` as CI runs it: a subprocess whose output goes to files, read afterwards.

Once to its end against the local store (the log a CI user reads: no wrapped tables, full run
IDs, no third-party bars or banners; the JSON report's versions and timings), and once against a
real ``mlflow server`` stopped while the experiment tunes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from agent.adapters.exit_codes import ExitCode
from agent.report.model import PHASES, SCHEMA_VERSION

from ..conftest import start_mlflow_server

TRIALRUN = str(Path(sys.executable).with_name("trialrun"))
PROMPT = """---
dataset: breast_cancer
version: v1
model: lightgbm
metric: roc_auc
budget: {{trials: {trials}, seconds: {seconds}, cpus: 1}}
seeds: [1, 2]
experiment: ci-{name}
---
Tune LightGBM on breast cancer.
"""
RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")
ANSI = re.compile(r"\x1b\[")
BOX = re.compile(r"[╭╮╰╯│─━┃]")


def run_in_ci(prompt: Path, *, env: dict[str, str], timeout: float = 300) -> tuple[int, str, str]:
    """Run ``trialrun run prompt > out.log 2> err.log`` and return its code, stdout and stderr."""
    with Path("out.log").open("w") as out, Path("err.log").open("w") as err:
        code = subprocess.run(
            [TRIALRUN, "run", str(prompt), "--report-json", "report.json"],
            stdout=out,
            stderr=err,
            env={**os.environ, "CI": "true", "COLUMNS": "80", **env},
            timeout=timeout,
        ).returncode
    return code, Path("out.log").read_text(), Path("err.log").read_text()


@pytest.mark.usefixtures("examples_catalog")
def test_a_ci_log_has_one_line_per_item_with_full_run_ids_and_nothing_else(tracking_store):
    Path("ci.md").write_text(PROMPT.format(trials=4, seconds=30, name="log"))

    code, out, err = run_in_ci(Path("ci.md"), env={})

    assert code == ExitCode.OK, out + err
    log = out + err
    assert not ANSI.search(log) and not BOX.search(log), log  # no terminal styling, no panels
    for noise in ("View run", "View experiment", "Downloading artifacts", "it/s]", "%|", " INFO "):
        assert noise not in log, log
    client = mlflow.MlflowClient(tracking_store)
    (experiment,) = [e for e in client.search_experiments() if e.name == "ci-log"]
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    lines = out.splitlines()
    by_kind = {
        kind: [line for line in lines if line.startswith(f"  {kind}  ")]
        for kind in ("parent run", "baseline run", "final run")
    }
    # every run the report names is on a line of its own, with its full ID
    for run in runs:
        role = run.data.tags["trialrun.role"]
        if role in ("parent", "baseline", "final"):
            (line,) = [x for x in by_kind[f"{role} run"] if run.info.run_id in x]
            assert RUN_ID.findall(line) == [run.info.run_id]
    # the verification lists one check per line, each naming its full run ID
    checks = [line for line in lines if line.startswith(("  ✓  ", "  ✗  ", "  !  "))]
    assert checks and all(RUN_ID.search(c) or "trials" in c for c in checks)
    report = json.loads(Path("report.json").read_text())
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["trialrun_version"] == _installed_version()
    assert list(report["timings"]) == list(PHASES)
    assert all(seconds > 0 for seconds in report["timings"].values())
    assert "new experiment" in report["plan"]["rerun"]
    assert len(lines) < 120, out  # the whole report, once, on about a hundred lines


def test_a_tracking_server_lost_mid_run_is_one_line_and_exit_7_and_no_success(tmp_path_factory):
    from tools.data.catalog import Catalog
    from tools.data.examples import write_examples

    write_examples(Path("data"), Catalog.load("datasets.yaml"))
    server = start_mlflow_server(tmp_path_factory.mktemp("lost-server"))
    Path("lost.md").write_text(PROMPT.format(trials=200, seconds=240, name="lost"))
    with Path("out.log").open("w") as out, Path("err.log").open("w") as err:
        process = subprocess.Popen(
            [TRIALRUN, "run", "lost.md", "--report-json", "report.json"],
            stdout=out,
            stderr=err,
            env={**os.environ, "CI": "true", "MLFLOW_TRACKING_URI": server.url},
        )
        try:
            client = mlflow.MlflowClient(server.url)
            deadline = time.monotonic() + 180
            while not _trial_runs(client):
                assert process.poll() is None, Path("err.log").read_text()
                assert time.monotonic() < deadline, "no trial run appeared"
                time.sleep(0.5)
            server.stop()  # the tracking server goes away while the study runs
            code = process.wait(timeout=240)
        finally:
            if process.poll() is None:
                process.kill()
            server.stop()
    out, err = Path("out.log").read_text(), Path("err.log").read_text()

    assert code == ExitCode.UNAVAILABLE, out + err
    assert "Traceback" not in out + err
    assert len(err.splitlines()) < 20, err  # progress and the error, no third-party dumps
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and server.url in errors[0], err
    assert "tracking server" in errors[0] and "stopped answering" in errors[0]
    report = json.loads(Path("report.json").read_text())
    assert report["status"] == "failed"
    assert report["failure"]["error_type"] == "Unreachable"
    assert "succeeded" not in out.splitlines()[0]
    # nothing says success in MLflow either: back up, the parent run is not FINISHED
    again = start_mlflow_server(server.root)
    try:
        client = mlflow.MlflowClient(again.url)
        (experiment,) = [e for e in client.search_experiments() if e.name == "ci-lost"]
        (parent,) = client.search_runs(
            [experiment.experiment_id], "tags.`trialrun.role` = 'parent'"
        )
        assert parent.info.status != "FINISHED"
    finally:
        again.stop()


def _trial_runs(client: mlflow.MlflowClient) -> list[object]:
    experiment = client.get_experiment_by_name("ci-lost")
    if experiment is None:
        return []
    return list(client.search_runs([experiment.experiment_id], "tags.`trialrun.role` = 'trial'"))


def _installed_version() -> str:
    from importlib import metadata

    return metadata.version("trialrun")
