"""``trialrun reproduce`` replays baseline, trial and final runs from a real store's record."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from agent.pipeline import run_pipeline
from agent.request import ExperimentRequest
from tools import settings
from tools.tracking.context import library_versions


@pytest.fixture
def experiment(examples_catalog, tracking_store) -> dict[str, str]:
    """A tuning experiment on breast_cancer; its runs by role (the retrained final's seed)."""
    report = run_pipeline(
        ExperimentRequest.model_validate(
            {
                "dataset": "breast_cancer",
                "version": "v1",
                "metric": "log_loss",
                "model": "both",
                "budget": {"trials": 3, "seconds": 30, "cpus": 1},
                "seeds": [0, 5],
                "experiment": "replay",
            }
        )
    )
    assert report.status == "succeeded", report.failure
    client = mlflow.MlflowClient(settings.tracking_uri())
    runs = client.search_runs([client.get_experiment_by_name("replay").experiment_id])
    by_role: dict[str, str] = {}
    for run in runs:
        role = run.data.tags.get("trialrun.role")
        if role == "final" and run.data.params["seed"] != "5":
            continue
        by_role.setdefault(role, run.info.run_id)
    return by_role


def record(run_id: str) -> tuple[dict, dict, dict, str]:
    run = mlflow.MlflowClient(settings.tracking_uri()).get_run(run_id)
    return run.data.params, run.data.metrics, run.data.tags, run.info.status


def test_replayed_runs_are_identical_and_tracked_as_new_linked_runs(
    experiment: dict[str, str], capsys
) -> None:
    for role in ("baseline", "trial", "final"):
        original = experiment[role]
        before = record(original)

        assert main(["reproduce", original]) == ExitCode.OK, role

        out = capsys.readouterr().out
        assert out.startswith(f"Replayed run {original} as run ")
        assert out.splitlines()[0].endswith(": identical."), out
        assert "valid_log_loss: recorded" in out and "(identical)" in out
        replay = out.split(" as run ")[1].split(":")[0]
        params, metrics, tags, status = record(replay)
        assert tags["trialrun.reproduces"] == original
        assert tags["trialrun.reproduction"] == "identical"
        assert tags["trialrun.role"] == "reproduction" and "mlflow.parentRunId" not in tags
        assert status == "FINISHED"
        assert metrics["valid_log_loss"] == before[1]["valid_log_loss"]
        assert record(original) == before  # the original is only read


def test_replays_are_refused_when_data_or_libraries_changed(
    experiment: dict[str, str], monkeypatch, capsys
) -> None:
    assert main(["reproduce", experiment["parent"]]) == ExitCode.USAGE
    assert "is a 'parent' run, not a training run" in capsys.readouterr().err

    # A fake of the one thing a test cannot change: the installed version of a library.
    with monkeypatch.context() as patch:
        installed = {**library_versions(), "numpy": "0.0.1"}
        patch.setattr("tools.experiment.reproduce.library_versions", lambda: installed)
        assert main(["reproduce", experiment["trial"]]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert f"numpy {library_versions()['numpy']} recorded, 0.0.1 installed" in err
    assert "pip install" in err

    data = Path("data/breast_cancer.parquet")
    kept = data.read_bytes()
    frame = pd.read_parquet(data)
    frame.iloc[:-1].to_parquet(data, index=False)
    assert main(["reproduce", experiment["final"]]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert "changed after it was catalogued" in err and "sha256" in err

    data.write_bytes(kept)
    frame.iloc[:-1].to_parquet("data/other.parquet", index=False)
    command = ["datasets", "add", "data/other.parquet", "--name", "breast_cancer"]
    command += ["--version", "v1", "--target", "malignant", "--replace"]
    assert main(command) == ExitCode.OK
    capsys.readouterr()
    assert main(["reproduce", experiment["baseline"]]) == ExitCode.REFUSED
    assert "the catalog now records" in capsys.readouterr().err
