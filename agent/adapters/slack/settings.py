"""What the Slack app reads from its environment (and the flags of ``trialrun slack serve``).

========================================  ===================================================
``SLACK_SIGNING_SECRET``                  verifies every request (required)
``SLACK_BOT_TOKEN``                       the bot's ``xoxb-`` token (required)
``SLACK_APP_TOKEN``                       the ``xapp-`` token, for ``--socket-mode`` only
``SLACK_API_URL``                         Web API base URL (an Enterprise Grid proxy)
``TRIALRUN_SLACK_MAX_PER_WORKSPACE``      experiments running at once per workspace (4)
``TRIALRUN_SLACK_MAX_PER_USER``           experiments running at once per person (2)
``TRIALRUN_SLACK_APPROVERS``              user IDs, comma-separated, who may approve any plan
``TRIALRUN_SLACK_PROGRESS_SECONDS``       least seconds between two progress edits (3)
``TRIALRUN_MLFLOW_UI``                    MLflow UI address for run links (else an http
                                          tracking URI)
========================================  ===================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from tools.errors import ConfigError
from tools.settings import env_int, env_number

DEFAULT_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class SlackSettings:
    """The Slack app's configuration; the tokens never appear in its repr.

    Attributes:
        signing_secret: Verifies that a request comes from Slack.
        bot_token: The bot token the Web API calls use.
        app_token: The app-level token Socket Mode connects with.
        api_url: Web API base URL, ending in ``/``.
        max_per_workspace: Experiments running at once in one workspace; the rest queue.
        max_per_user: Experiments running at once for one person; the rest queue.
        approvers: Users who may approve any plan, besides the person who asked for it.
        mlflow_ui: MLflow UI base URL for run links, when there is one.
        progress_seconds: Least seconds between two edits of a progress message on trial events.
        workers: Turns running at once (experiments waiting for a slot count too).
        model: Chat model (langchain provider string); None for the configured one.
    """

    signing_secret: str = field(repr=False)
    bot_token: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    max_per_workspace: int = 4
    max_per_user: int = 2
    approvers: frozenset[str] = frozenset()
    mlflow_ui: str | None = None
    progress_seconds: float = 3.0
    workers: int = 32
    model: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> SlackSettings:
        """Read the settings from the environment; ``overrides`` that are not None win.

        Raises:
            ConfigError: A required variable is unset, or a number is not valid.
        """
        env = os.environ
        found = cls(
            signing_secret=_required("SLACK_SIGNING_SECRET"),
            bot_token=_required("SLACK_BOT_TOKEN"),
            app_token=env.get("SLACK_APP_TOKEN") or None,
            api_url=env.get("SLACK_API_URL") or DEFAULT_API_URL,
            max_per_workspace=env_int("TRIALRUN_SLACK_MAX_PER_WORKSPACE", cls.max_per_workspace),
            max_per_user=env_int("TRIALRUN_SLACK_MAX_PER_USER", cls.max_per_user),
            approvers=frozenset(
                u.strip() for u in env.get("TRIALRUN_SLACK_APPROVERS", "").split(",") if u.strip()
            ),
            mlflow_ui=mlflow_ui_from_env(),
            progress_seconds=env_number("TRIALRUN_SLACK_PROGRESS_SECONDS", cls.progress_seconds),
        )
        return found.with_overrides(**overrides)

    def with_overrides(self, **overrides: Any) -> SlackSettings:
        """Return a copy with the given values (None leaves a value as it is), checked."""
        changed = replace(self, **{k: v for k, v in overrides.items() if v is not None})
        for name in ("max_per_workspace", "max_per_user", "workers"):
            value = getattr(changed, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"{name} must be a whole number of at least 1, got {value!r}; give 1 or more."
                )
        if not changed.api_url.endswith("/"):
            changed = replace(changed, api_url=changed.api_url + "/")
        return changed


def mlflow_ui_from_env() -> str | None:
    """Return ``TRIALRUN_MLFLOW_UI``, else the tracking URI when it is an http(s) server."""
    explicit = os.environ.get("TRIALRUN_MLFLOW_UI")
    if explicit:
        return explicit.rstrip("/")
    from tools import settings

    uri = settings.tracking_uri()
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else None


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(
            f"{name} is not set. Set it to the value on your Slack app's configuration page "
            "(Basic Information for the signing secret, OAuth & Permissions for the bot token)."
        )
    return value
