"""``trialrun jobs``: list, show, read the logs of and cancel jobs, in plain text.

Each command prints what the matching function of :mod:`tools.jobs.api` returns. Exit codes are the
README's (:func:`~agent.adapters.exit_codes.exit_code_for`): 0 on success (a cancel that finds
nothing to cancel included), 2 for bad input such as an unknown job id or a configuration that
cannot be used (no kubeconfig), 7 when a store does not answer, 4 for any other failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import typer

from agent.adapters.exit_codes import exit_code_for

# The same choices as tools.jobs.api.StateName, spelled out so `--help` needs no pydantic import.
StateName = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobIdArgument = Annotated[str, typer.Argument(help="The job id, e.g. j-3f9a2c.")]

app = typer.Typer(
    help="List, inspect, read the logs of and cancel jobs (local processes or Kubernetes Jobs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _run(operation: Callable[[], str]) -> None:
    from tools.errors import TrialrunError

    try:
        text = operation()
    except TrialrunError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exit_code_for(exc))) from None
    typer.echo(text)


@app.command("list")
def list_command(
    state: Annotated[StateName | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(help="How many jobs at most (1 to 100).")] = 20,
) -> None:
    """List recent jobs, newest first."""
    from tools.jobs import api

    _run(lambda: api.list_jobs(state=state, limit=limit))


@app.command("show")
def show_command(job_id: JobIdArgument) -> None:
    """Show one job: state, command, resources, labels, and what a cancel changed."""
    from tools.jobs import api

    _run(lambda: api.show_job(job_id))


@app.command("logs")
def logs_command(
    job_id: JobIdArgument,
    tail: Annotated[int, typer.Option(help="How many last lines (1 to 2000).")] = 100,
) -> None:
    """Print the last lines a job wrote."""
    from tools.jobs import api

    _run(lambda: api.job_logs(job_id, tail=tail))


@app.command("cancel")
def cancel_command(job_id: JobIdArgument) -> None:
    """Cancel a job: stop it, fail its running trials, mark its MLflow runs KILLED."""
    from tools.jobs import api

    _run(lambda: api.cancel_job(job_id))
