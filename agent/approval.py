"""When a plan needs a person's yes, and the parallel-job cap every caller is held to.

A plan over a threshold (trials, seconds, parallel jobs, GPUs; ``TRIALRUN_APPROVE_*``) waits for
approval: ``approve: true`` in a prompt file, or a person's yes in the chat, which the agent records
on the request. A budget that states one limit takes the other's threshold as its default, so a
default never makes a plan need approval. The parallel-job cap (``TRIALRUN_MAX_PARALLEL``, default
4) is also checked by the pipeline itself, so it holds for every caller.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tools.errors import ConfigError, PolicyError
from tools.settings import env_int, env_number

MAX_PARALLEL_ENV = "TRIALRUN_MAX_PARALLEL"
DEFAULT_MAX_PARALLEL = 4


def max_parallel() -> int:
    """Return the parallel-job cap: ``TRIALRUN_MAX_PARALLEL``, else 4.

    Raises:
        ConfigError: The variable is not a positive whole number.
    """
    raw = os.environ.get(MAX_PARALLEL_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_MAX_PARALLEL
    try:
        cap = int(raw)
    except ValueError:
        cap = 0
    if cap < 1:
        raise ConfigError(
            f"{MAX_PARALLEL_ENV}={raw!r} is not a positive whole number; set it to the most "
            f"parallel jobs a request may use without approval (default {DEFAULT_MAX_PARALLEL})."
        )
    return cap


def check_parallel(wanted: int, *, approved: bool) -> None:
    """Refuse ``wanted`` parallel jobs over the cap unless approved.

    Args:
        wanted: The request's ``budget.parallel``.
        approved: The request's ``approve``.

    Raises:
        PolicyError: Over the cap and not approved; the message says how to approve it or what
            to lower.
    """
    cap = max_parallel()
    if wanted <= cap or approved:
        return
    raise PolicyError(
        f"budget.parallel {wanted!r} is over the parallel-job cap of {cap} ({MAX_PARALLEL_ENV}). "
        f"To run {wanted} jobs at once, approve it: add `approve: true` to the prompt file's "
        f"front matter (or say yes when the chat asks); otherwise set budget.parallel to {cap} "
        "or less."
    )


@dataclass(frozen=True)
class BudgetDefaults:
    """The limit a budget takes when it states only the other one.

    Attributes:
        trials: Trials when only a time is given (time still stops tuning first if it runs out).
        seconds: Seconds when only trials are given (tuning also ends at the trial count).
    """

    trials: int
    seconds: float


@dataclass(frozen=True)
class ApprovalPolicy:
    """When a plan needs a person's approval before it runs.

    Attributes:
        max_trials: More trials than this needs approval.
        max_seconds: A longer time budget than this needs approval.
        max_parallel: More parallel jobs than this (the cap) needs approval.
        max_gpus: More GPUs than this needs approval.
    """

    max_trials: int = 200
    max_seconds: float = 3600.0
    max_parallel: int = 4
    max_gpus: int = 1

    @classmethod
    def from_env(cls) -> ApprovalPolicy:
        """Read the thresholds from ``TRIALRUN_APPROVE_*`` and ``TRIALRUN_MAX_PARALLEL``.

        Raises:
            ConfigError: A variable that is not a number in range; the message names it.
        """
        return cls(
            max_trials=env_int("TRIALRUN_APPROVE_TRIALS", cls.max_trials, minimum=0),
            max_seconds=env_number("TRIALRUN_APPROVE_SECONDS", cls.max_seconds),
            max_parallel=max_parallel(),
            max_gpus=env_int("TRIALRUN_APPROVE_GPUS", cls.max_gpus, minimum=0),
        )

    def budget_defaults(self) -> BudgetDefaults:
        """Return the limit a budget takes when it states only the other one.

        Each is the approval threshold, so a default never makes a plan need approval: a time
        alone tunes for up to ``max_trials`` trials, trials alone may run ``max_seconds``.
        """
        return BudgetDefaults(trials=max(1, self.max_trials), seconds=max(1.0, self.max_seconds))

    def reasons(self, budget: dict[str, Any]) -> list[str]:
        """Return why a budget needs approval (empty when it does not)."""
        checks = (
            ("trials", self.max_trials, "trials"),
            ("seconds", self.max_seconds, "seconds"),
            ("parallel", self.max_parallel, "parallel jobs (the cap)"),
            ("gpus", self.max_gpus, "GPUs"),
        )
        return [
            f"{budget[key]:g} {label} is over {limit:g}"
            for key, limit, label in checks
            if budget.get(key) is not None and float(budget[key]) > limit
        ]
