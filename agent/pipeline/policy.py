"""Rules the pipeline enforces itself, before any compute, whichever way the request came in.

The parallel-job cap: a request may run at most ``TRIALRUN_MAX_PARALLEL`` (default 4) workers at
once unless it is approved (``approve: true`` in a prompt file, or a person's yes in the chat,
which the agent records on the request). The chat and CI adapters ask for approval before they
call the pipeline; this check makes the cap hold for every other caller too.
"""

from __future__ import annotations

import os

from tools.errors import ConfigError, PolicyError

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
