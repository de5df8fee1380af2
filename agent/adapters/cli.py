"""The ``trialrun`` command line.

Heavy libraries (mlflow, xgboost, langchain) are imported inside the commands that need them, so
``trialrun --help`` answers at once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from agent.adapters import cli_datasets, cli_jobs
from agent.adapters.exit_codes import ExitCode, exit_code_for, exit_on_errors
from agent.adapters.slack import cli as slack_cli

app = typer.Typer(
    name="trialrun",
    help="Run tracked ML experiments: curated data, XGBoost/LightGBM, Optuna tuning, MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_datasets.app, name="datasets")
app.add_typer(cli_jobs.app, name="jobs")


ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Chat model as a langchain provider string (e.g. openai:gpt-4.1-mini); default "
        "$TRIALRUN_MODEL, else the built-in offline planner.",
    ),
]
FilesArgument = Annotated[
    list[Path], typer.Argument(help="Prompt files (Markdown with YAML front matter).")
]
ReportMd = Annotated[Path | None, typer.Option(help="Write the report as Markdown here.")]
ReportJson = Annotated[Path | None, typer.Option(help="Write the report as JSON here.")]


@app.command("run")
def run(
    files: FilesArgument,
    report_md: ReportMd = None,
    report_json: ReportJson = None,
    dry_run: Annotated[bool, typer.Option(help="Stop at the plan: nothing is run.")] = False,
    model: ModelOption = None,
    detach: Annotated[
        bool,
        typer.Option(help="Run in the background as a job; print its id and return at once."),
    ] = False,
) -> int:
    """Run experiments from prompt files and print their reports (the CI mode)."""
    from agent.adapters.background import detach_files
    from agent.adapters.batch import run_files

    if detach and not dry_run:
        raise typer.Exit(
            detach_files(files, report_md=report_md, report_json=report_json, model=model)
        )
    code = run_files(
        files, report_md=report_md, report_json=report_json, dry_run=dry_run, model=model
    )
    raise typer.Exit(code)


@app.command("worker", hidden=True)
def worker(
    task: Annotated[
        str | None, typer.Option(help="The task as JSON; default $TRIALRUN_WORKER_TASK.")
    ] = None,
) -> int:
    """Join a study as one distributed tuning worker (trialrun run starts these)."""
    from agent.adapters.worker import run_worker_command

    raise typer.Exit(run_worker_command(task))


@app.command("stage", hidden=True)
def stage() -> int:
    """Train an experiment's baselines or final models as a job (trialrun run starts these)."""
    from agent.adapters.worker import run_stage_command

    raise typer.Exit(run_stage_command())


@app.command("plan")
def plan(files: FilesArgument, report_json: ReportJson = None, model: ModelOption = None) -> int:
    """Show what run would do: every input and where it came from, what is missing or refused."""
    from agent.adapters.batch import run_files

    raise typer.Exit(run_files(files, report_json=report_json, dry_run=True, model=model))


@app.command("chat")
def chat(model: ModelOption = None) -> int:
    """Talk to the agent: ask for experiments, answer its questions, approve plans, see reports."""
    from agent.adapters.terminal import run_chat

    raise typer.Exit(run_chat(model=model))


@app.command("rollback")
def rollback(
    run_id: Annotated[str, typer.Argument(help="The experiment's parent run ID.")],
    dry_run: Annotated[
        bool, typer.Option(help="List what would be deleted; delete nothing.")
    ] = False,
    storage: Annotated[
        str | None,
        typer.Option(help="Optuna storage URL (default: $TRIALRUN_OPTUNA_STORAGE, as for run)."),
    ] = None,
) -> int:
    """Undo an experiment: its parent run, every child run, their logged models, its study."""
    from tools.tuning.rollback import apply_rollback, plan_rollback

    with exit_on_errors():
        plan = plan_rollback(run_id, storage=storage)
    study = f", study {plan.study!r}" if plan.study else ""
    typer.echo(
        f"Experiment {plan.experiment_id}: {len(plan.runs)} runs (parent {plan.parent_run_id} and "
        f"{len(plan.runs) - 1} children), {len(plan.models)} logged models{study}."
    )
    if dry_run:
        for item in (*plan.models, *plan.runs):
            typer.echo(f"  would delete {item}")
        raise typer.Exit(int(ExitCode.OK))
    result = apply_rollback(plan)
    typer.echo(
        f"Deleted {len(result.runs)} runs and {len(result.models)} logged models"
        + (f", and study {result.study!r}." if result.study else ".")
    )
    for note in result.notes:
        typer.echo(f"Note: {note}")
    typer.echo("Runs and models are in MLflow's deleted stage; `mlflow gc` removes them for good.")
    raise typer.Exit(int(ExitCode.OK))


@app.command("reproduce")
def reproduce(
    run_id: Annotated[str, typer.Argument(help="A baseline, trial or final run ID.")],
) -> int:
    """Train a run again from its record as a new linked run; say whether it is identical."""
    from tools.experiment.reproduce import reproduce as replay

    with exit_on_errors():
        result = replay(run_id)
    typer.echo(result.describe())
    raise typer.Exit(int(ExitCode.OK if result.identical else ExitCode.FAILED))


app.add_typer(slack_cli.app, name="slack")


SETTLES_ITSELF = {"worker", "stage"}
"""Commands that recover at their own start (a worker, once it knows its task)."""

MAX_MESSAGE_CHARS = 2000
"""The longest error message printed: enough for any one problem, never a whole file."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code instead of exiting.

    Every variable is checked first (a bad one is a one-line error and exit code 2). An error
    trialrun raises on purpose ends as its message on stderr and its documented exit code, never
    as a traceback.

    Example:
        >>> main(["--help"])  # doctest: +SKIP
        0
    """
    from tools.errors import TrialrunError

    args = sys.argv[1:] if argv is None else argv
    if args and not {"--help", "-h"} & set(args):
        from agent.adapters.environment import environment_problems

        problems = environment_problems()
        for problem in problems:
            error(problem)
        if problems:
            return int(ExitCode.USAGE)
    if args and args[0] not in SETTLES_ITSELF and not {"--help", "-h"} & set(args):
        from agent.adapters.background import recover_at_start

        # Whatever the command, first settle what a killed trialrun process left RUNNING.
        recover_at_start()
    try:
        with redacted_output():
            result = app(args=args, prog_name="trialrun", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:
        return int(exc.code or 0)
    except typer.Abort:
        return int(ExitCode.CANCELLED)
    except TrialrunError as exc:
        error(str(exc))
        return int(exit_code_for(exc))
    except Exception as exc:
        # Usage errors (typer's bundled click) arrive here in non-standalone mode.
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()
            return int(ExitCode.USAGE)
        raise
    return int(result or 0)


@contextmanager
def redacted_output() -> Iterator[None]:
    """Redact every line printed to a stream that is not a terminal: a CI log, a job's log file.

    trialrun's own messages are redacted where they are made; this also covers what libraries
    print (warnings, a failing model server's message quoting the request).
    """
    from tools.redact import RedactingStream

    saved = sys.stdout, sys.stderr
    wrapped = [RedactingStream(stream) if not _is_terminal(stream) else stream for stream in saved]
    sys.stdout, sys.stderr = wrapped
    try:
        yield
    finally:
        for stream in wrapped:
            stream.flush()
        sys.stdout, sys.stderr = saved


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def error(message: str) -> None:
    """Print ``error: message`` on stderr, redacted and cut to :data:`MAX_MESSAGE_CHARS`."""
    from tools.redact import redact

    text = redact(message)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + f"… [{len(text) - MAX_MESSAGE_CHARS} more characters]"
    print(f"error: {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
