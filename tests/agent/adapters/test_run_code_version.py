"""The code version a run records is the prompt file's repository; outside one, a warning."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from tools import settings

PROMPT = """---
dataset: breast_cancer
version: v1
metric: roc_auc
budget: {trials: 2, seconds: 15, cpus: 1}
seeds: [0]
optimize: false
experiment: code-version
---
"""


def git(directory: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(directory), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def final_checks(report: dict) -> list[dict]:
    return [c for c in report["verification"]["checks"] if c["name"].endswith("git SHA")]


def test_runs_record_the_prompt_files_repository_wherever_trialrun_starts(
    examples_catalog, tracking_store, tmp_path: Path
) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.md").write_text(PROMPT)
    git(repo, "add", "train.md")
    git(repo, "commit", "-q", "-m", "prompt")
    (repo / "train.md").write_text(PROMPT + "Tune it.\n")  # an uncommitted change

    assert main(["run", str(repo / "train.md"), "--report-json", "r.json"]) == ExitCode.OK

    runs = mlflow.MlflowClient(settings.tracking_uri()).search_runs(
        [
            mlflow.MlflowClient(settings.tracking_uri())
            .get_experiment_by_name("code-version")
            .experiment_id
        ]
    )
    assert {r.data.tags["mlflow.source.git.commit"] for r in runs} == {
        git(repo, "rev-parse", "HEAD")
    }
    assert {r.data.tags["trialrun.git.dirty"] for r in runs} == {"true"}
    checks = final_checks(json.loads(Path("r.json").read_text()))
    assert checks and all(c["passed"] and not c["warning"] for c in checks)


def test_outside_a_checkout_verification_warns_instead_of_passing(
    examples_catalog, tracking_store
) -> None:
    Path("train.md").write_text(PROMPT)

    assert (
        main(["run", "train.md", "--report-json", "r.json", "--report-md", "r.md"]) == ExitCode.OK
    )

    checks = final_checks(json.loads(Path("r.json").read_text()))
    assert checks and all(c["warning"] for c in checks)
    assert {c["detail"] for c in checks} == {"not a git checkout: the code version is not recorded"}
    markdown = Path("r.md").read_text()
    assert "| ! | baseline run lightgbm git SHA |" in markdown
    assert "| ✓ | baseline run lightgbm git SHA |" not in markdown
    assert "warning" in markdown.split("## Verification")[1].split("\n\n")[1]
