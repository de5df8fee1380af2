"""``trialrun jobs`` (agent/adapters/cli_jobs.py), run in-process through typer's runner."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.adapters import cli_jobs
from agent.adapters.exit_codes import ExitCode
from tools.errors import ConfigError, TrialrunError, Unreachable
from tools.jobs import api, lifecycle
from tools.jobs.model import JobSpec

runner = CliRunner()


def test_list_show_logs_and_cancel_print_plain_text(wait_for: Any) -> None:
    job = lifecycle.submit(JobSpec(name="cli", command=["sh", "-c", "echo hi; sleep 60"]))
    wait_for(lambda: api.job_logs(job.id) == "hi")

    listed = runner.invoke(cli_jobs.app, ["list", "--state", "running"])
    shown = runner.invoke(cli_jobs.app, ["show", job.id])
    first = runner.invoke(cli_jobs.app, ["cancel", job.id])
    second = runner.invoke(cli_jobs.app, ["cancel", job.id])
    logs = runner.invoke(cli_jobs.app, ["logs", job.id, "--tail", "5"])

    assert [r.exit_code for r in (listed, shown, first, second, logs)] == [0] * 5
    assert job.id in listed.output and "running" in listed.output
    assert shown.output.startswith(f"job {job.id}: running")
    assert first.output.startswith(f"Cancelled job {job.id}:")
    assert "was already cancelled" in second.output
    assert logs.output == "hi\n"


def test_an_unknown_job_or_state_exits_with_the_usage_code() -> None:
    missing = runner.invoke(cli_jobs.app, ["show", "j-ffffff"])
    bad_state = runner.invoke(cli_jobs.app, ["list", "--state", "done"])

    assert missing.exit_code == ExitCode.USAGE
    assert "No job with id 'j-ffffff'" in missing.output
    assert bad_state.exit_code == ExitCode.USAGE


def test_the_cli_offers_the_same_states_as_the_api() -> None:
    assert typing.get_args(cli_jobs.StateName) == typing.get_args(api.StateName)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("no kubeconfig"), ExitCode.USAGE),
        (Unreachable("the job store does not answer"), ExitCode.UNAVAILABLE),
        (TrialrunError("the job could not be read"), ExitCode.FAILED),
    ],
)
def test_an_error_exits_with_the_code_the_readme_gives_it(
    monkeypatch: pytest.MonkeyPatch, error: TrialrunError, code: ExitCode
) -> None:
    def fail(**kwargs: Any) -> str:
        raise error

    monkeypatch.setattr(api, "list_jobs", fail)
    listed = runner.invoke(cli_jobs.app, ["list"])

    assert listed.exit_code == code
    assert f"error: {error}" in listed.output
