"""``trialrun run`` against a real ``mlflow server``: the whole topology and every report section."""

import json
from pathlib import Path

import mlflow
import pytest

from agent.adapters.cli import main

PROMPT = """---
dataset: wine
version: v1
model: both
metric: log_loss
budget: {trials: 5, seconds: 25, cpus: 1}
seeds: [4, 5]
experiment: e2e-wine
---
Which family is better on wine?
"""


def test_a_prompt_file_becomes_a_tracked_experiment_and_a_verified_report(
    mlflow_server, examples_catalog, monkeypatch, capsys
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    Path("wine.md").write_text(PROMPT)

    code = main(
        ["run", "wine.md", "--report-json", "out/report.json", "--report-md", "out/report.md"]
    )

    assert code == 0, capsys.readouterr()
    report = json.loads(Path("out/report.json").read_text())
    markdown = Path("out/report.md").read_text()
    for heading in ("## Plan", "## Changes", "## Verification", "## Rollback", "## Summary"):
        assert heading in markdown
    assert report["status"] == "succeeded"
    assert report["verification"]["checks"] and all(
        c["passed"] for c in report["verification"]["checks"]
    )

    client = mlflow.MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("e2e-wine")
    runs = {
        r.info.run_id: r for r in client.search_runs([experiment.experiment_id], max_results=1000)
    }
    parents = [r for r in runs.values() if r.data.tags.get("trialrun.role") == "parent"]
    assert len(parents) == 1
    parent = parents[0]
    children = [
        r for r in runs.values() if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    ]
    roles = [r.data.tags["trialrun.role"] for r in children]
    assert roles.count("baseline") == 2  # one per family
    assert roles.count("final") == 2  # one per seed
    assert roles.count("trial") == sum(report["summary"]["trials"].values())
    assert len(children) == len(runs) - 1
    assert all(r.info.status != "RUNNING" for r in runs.values())
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "optuna")}
    assert "optuna/trials.json" in artifacts and "optuna/optimization_history.png" in artifacts

    summary = report["summary"]
    # One Best: the chosen configuration's mean over its seeds, in the report and on the parent
    finals = [r for r in children if r.data.tags["trialrun.role"] == "final"]
    mean = sum(r.data.metrics["valid_log_loss"] for r in finals) / len(finals)
    assert summary["best_value"] == pytest.approx(mean, rel=1e-12)
    assert parent.data.metrics["best_valid_log_loss"] == pytest.approx(summary["best_value"])
    assert parent.data.metrics["best_test_log_loss"] == pytest.approx(summary["best_test_value"])
    assert parent.data.metrics["baseline_valid_log_loss"] == summary["baseline_value"]
    assert parent.data.metrics["delta_valid_log_loss"] == pytest.approx(summary["delta"])
    assert report["plan"]["best"].startswith("the chosen configuration's mean score")
    assert (
        runs[summary["baseline_run_id"]].data.metrics["valid_log_loss"] == summary["baseline_value"]
    )
    # the server has a UI: every run in Changes links to it
    links = [
        c["link"] for c in report["changes"]["items"] if c["kind"] in ("parent_run", "final_run")
    ]
    assert links and all(link.startswith(f"{mlflow_server}/#/experiments/") for link in links)
    assert report["changes"]["tracking_uri"] == mlflow_server
    assert any("trialrun rollback" in step for step in report["rollback"]["steps"])
    plan = {i["name"]: i for i in report["plan"]["inputs"]}
    assert plan["dataset"]["source"] == "front matter" and plan["runtime"]["source"] == "default"
