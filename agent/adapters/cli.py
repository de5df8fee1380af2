"""The ``trialrun`` command line.

Heavy libraries (mlflow, xgboost, langchain) are imported inside the commands that need them, so
``trialrun --help`` answers at once.
"""

from __future__ import annotations

import sys

import typer

from agent.adapters import cli_datasets
from agent.adapters.exit_codes import ExitCode

app = typer.Typer(
    name="trialrun",
    help="Run tracked ML experiments: curated data, XGBoost/LightGBM, Optuna tuning, MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_datasets.app, name="datasets")


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
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return int(ExitCode.USAGE)
        if isinstance(exc, click.exceptions.Abort):
            return int(ExitCode.CANCELLED)
        raise
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
