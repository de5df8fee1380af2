"""The error types every tool raises, split by who can fix them."""

from __future__ import annotations


class TrialrunError(Exception):
    """Base class of every error trialrun raises on purpose."""


class InputError(TrialrunError):
    """Bad input the caller (a person or a model) can fix.

    Args:
        message: What was wrong, quoting the offending value.
        field: The input field the error is about, when there is one.
        hint: What to do instead.
    """

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None):
        self.field = field
        self.hint = hint
        super().__init__(message if not hint else f"{message} {hint}")


class DataError(InputError):
    """A dataset failed validation or could not be read."""


class PolicyError(TrialrunError):
    """A request that trialrun refuses by rule (deploying, uncatalogued data, over budget)."""


class ConfigError(TrialrunError):
    """The environment is misconfigured (a bad variable, bad storage URL, no credentials)."""


class Unreachable(ConfigError):
    """A store or server trialrun needs does not answer: tracking store, Optuna storage, model.

    The message names it (credentials masked) and what to check.
    """


class Cancelled(TrialrunError):
    """Work stopped because its cancel flag was set."""
