"""Every variable trialrun reads, checked when a command starts: one line per bad value.

The tools' variables (stores, catalog, home, timeouts) are checked by
:func:`tools.settings.environment_problems`; this adds the agent's and the adapters' (approval
thresholds, the parallel cap, the model, URLs, Slack's caps, the Kubernetes image). A bad value
stops the command before anything runs, with exit code 2, instead of a traceback halfway through.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from urllib.parse import urlparse

from tools import settings
from tools.errors import ConfigError

URL_VARIABLES = ("OPENAI_BASE_URL", "TRIALRUN_MLFLOW_UI", "SLACK_API_URL")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")


def _urls() -> None:
    for name in URL_VARIABLES:
        raw = os.environ.get(name)
        if not raw:
            continue
        parsed = urlparse(raw.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(
                f"{name}={raw[:80]!r} is not an http(s) URL; write it as https://HOST[:PORT]/PATH "
                "or unset it."
            )


def _image() -> None:
    raw = os.environ.get("TRIALRUN_K8S_IMAGE")
    if raw and (not raw.strip() or re.search(r"\s", raw)):
        raise ConfigError(
            f"TRIALRUN_K8S_IMAGE={raw[:80]!r} is not an image reference; write it as "
            "REGISTRY/NAME:TAG, without spaces, or unset it."
        )


def _model() -> None:
    raw = os.environ.get("TRIALRUN_MODEL")
    if raw and (not raw.strip() or re.search(r"\s", raw)):
        raise ConfigError(
            f"TRIALRUN_MODEL={raw[:80]!r} is not a model: write a langchain provider string such "
            "as openai:gpt-4.1-mini, or 'offline' for the built-in planner, or unset it."
        )


def _approvers() -> None:
    raw = os.environ.get("TRIALRUN_SLACK_APPROVERS", "")
    bad = [
        u for u in (part.strip() for part in raw.split(",")) if u and not _SLACK_USER.fullmatch(u)
    ]
    if bad:
        raise ConfigError(
            f"TRIALRUN_SLACK_APPROVERS holds {', '.join(map(repr, bad[:5]))}, which are not Slack "
            "user IDs (U0123ABCD); list user IDs separated by commas, or unset it."
        )


def _slack_numbers() -> None:
    from agent.adapters.slack.settings import SlackSettings

    settings.env_int("TRIALRUN_SLACK_MAX_PER_WORKSPACE", SlackSettings.max_per_workspace)
    settings.env_int("TRIALRUN_SLACK_MAX_PER_USER", SlackSettings.max_per_user)
    settings.env_number("TRIALRUN_SLACK_PROGRESS_SECONDS", SlackSettings.progress_seconds)


def _approval_policy() -> None:
    # The thresholds agent.approval.ApprovalPolicy reads (importing it here would cost seconds).
    settings.env_int("TRIALRUN_APPROVE_TRIALS", 200, minimum=0)
    settings.env_number("TRIALRUN_APPROVE_SECONDS", 3600.0)
    settings.env_int("TRIALRUN_APPROVE_GPUS", 1, minimum=0)
    settings.env_int("TRIALRUN_MAX_PARALLEL", 4)


CHECKS: tuple[Callable[[], None], ...] = (
    _approval_policy,
    _urls,
    _image,
    _model,
    _approvers,
    _slack_numbers,
)


def environment_problems() -> list[str]:
    """Return one line per variable with a value trialrun cannot use (empty when all are fine)."""
    problems = settings.environment_problems()
    for check in CHECKS:
        try:
            check()
        except ConfigError as exc:
            problems.append(str(exc))
    return problems
