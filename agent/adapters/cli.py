"""The ``trialrun`` command line.

Heavy libraries (mlflow, xgboost, langchain) are imported inside the commands that need them, so
``trialrun --help`` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from agent.adapters import cli_datasets, cli_jobs
from agent.adapters.exit_codes import ExitCode

app = typer.Typer(
    name="trialrun",
    help="Run tracked ML experiments: curated data, XGBoost/LightGBM, Optuna tuning, MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_datasets.app, name="datasets")
app.add_typer(cli_jobs.app, name="jobs")


@app.command("run")
def run(
    files: Annotated[list[Path], typer.Argument(help="Prompt files (Markdown with YAML front matter).")],
    report_md: Annotated[Path | None, typer.Option(help="Write the report as Markdown here.")] = None,
    report_json: Annotated[Path | None, typer.Option(help="Write the report as JSON here.")] = None,
) -> int:
    """Run experiments from prompt files and print their reports (the CI mode)."""
    from agent.adapters.batch import run_files

    code = run_files(files, report_md=report_md, report_json=report_json)
    raise typer.Exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code instead of exiting.

    Example:
        >>> main(["--help"])  # doctest: +SKIP
        0
    """
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="trialrun", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:
        return int(exc.code or 0)
    except typer.Abort:
        return int(ExitCode.CANCELLED)
    except Exception as exc:
        # Usage errors (typer's bundled click) arrive here in non-standalone mode.
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()
            return int(ExitCode.USAGE)
        raise
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
