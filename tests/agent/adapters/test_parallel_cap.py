"""The parallel-job cap through ``trialrun run``: refused with how to approve, or run approved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from tools.jobs.inprocess import is_in_process
from tools.jobs.model import JobState
from tools.jobs.store import JobStore

PROMPT = """---
dataset: breast_cancer
version: v1
model: lightgbm
metric: roc_auc
budget: {{trials: 4, seconds: 90, cpus: 2, parallel: 2}}
seeds: [5]
experiment: capped
{approve}---
"""


@pytest.fixture(autouse=True)
def cap_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALRUN_MAX_PARALLEL", "1")


def test_over_the_cap_is_refused_before_anything_runs_and_says_how_to_approve(
    examples_catalog, tracking_store, capsys
):
    Path("p.md").write_text(PROMPT.format(approve=""))

    codes = [main(["run", "p.md"]), main(["run", "p.md", "--detach"])]

    out = capsys.readouterr()
    assert codes == [ExitCode.REFUSED, ExitCode.REFUSED] == [5, 5]
    assert "approve: true" in out.out + out.err
    assert "budget.parallel 2 is over the parallel-job cap of 1" in out.err  # --detach
    assert JobStore().list() == []  # nothing was submitted


def test_approved_it_runs_as_parallel_worker_jobs(examples_catalog, tracking_store, capsys):
    Path("p.md").write_text(PROMPT.format(approve="approve: true\n"))

    code = main(["run", "p.md", "--report-json", "report.json"])

    assert code == ExitCode.OK, capsys.readouterr()
    report = json.loads(Path("report.json").read_text())
    jobs = [JobStore().get(c["id"]) for c in report["changes"]["items"] if c["kind"] == "job"]
    # The experiment is a job of its own; its two tuning workers are the others.
    assert sorted(is_in_process(job) for job in jobs) == [False, False, True]
    assert all(JobStore().get(job.id).state == JobState.SUCCEEDED for job in jobs)
    assert sum(report["summary"]["trials"].values()) == 4
    assert all(check["passed"] for check in report["verification"]["checks"])
