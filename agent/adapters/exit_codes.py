"""The exit codes every ``trialrun`` command returns, documented in the README, and its errors.

:func:`exit_code_for` is the one mapping from an error to its code; every command that catches an
error trialrun raised on purpose ends with the code it returns.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum

import typer

from tools.errors import Cancelled, ConfigError, InputError, PolicyError, Unreachable


class ExitCode(IntEnum):
    """Process exit codes: stable, so CI pipelines can branch on them."""

    OK = 0
    """Success."""
    USAGE = 2
    """Bad command line, a malformed prompt file or catalog entry, or a bad variable."""
    MISSING_INPUTS = 3
    """Required inputs are missing; each missing field is listed."""
    FAILED = 4
    """The experiment ran and failed (the report says where)."""
    REFUSED = 5
    """Refused by policy: deploying, data outside the catalog, an unapproved costly plan."""
    CANCELLED = 6
    """The experiment was cancelled (Ctrl-C, a cancel command, or the watchdog)."""
    UNAVAILABLE = 7
    """A store or server does not answer (tracking store, Optuna storage, model): nothing ran."""


def err(message: str) -> None:
    """Print a message to standard error, redacted (it may quote a value someone wrote)."""
    from tools.redact import redact

    print(redact(message), file=sys.stderr, flush=True)


def exit_code_for(exc: BaseException) -> ExitCode:
    """Return the exit code of an error trialrun raised on purpose (FAILED for any other)."""
    if isinstance(exc, PolicyError):
        return ExitCode.REFUSED
    if isinstance(exc, Unreachable):
        return ExitCode.UNAVAILABLE
    if isinstance(exc, Cancelled | KeyboardInterrupt):
        return ExitCode.CANCELLED
    if isinstance(exc, InputError | ConfigError):
        return ExitCode.USAGE
    return ExitCode.FAILED


@contextmanager
def exit_on_errors() -> Iterator[None]:
    """Turn a refusal (exit 5) or bad input (exit 2) into its message on stderr and its code."""
    try:
        yield
    except PolicyError as exc:
        typer.echo(f"Refused: {exc}", err=True)
        raise typer.Exit(int(exit_code_for(exc))) from exc
    except InputError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(int(exit_code_for(exc))) from exc
