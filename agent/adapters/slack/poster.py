"""Every message the app sends to Slack, redacted on the way out.

Text and every ``text`` of Block Kit blocks pass :func:`tools.redact.redact`, so no key,
token, password, e-mail address or phone number is echoed into a channel, whatever produced it
(the person's own words, a model's answer, an error message). A Web API call that fails is logged
and does not stop the experiment it reports on.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from tools.redact import redact

log = logging.getLogger("trialrun.slack")

MAX_TEXT = 3000
"""Longer plain messages are cut (Slack splits or refuses far longer ones)."""


def redact_blocks(value: Any) -> Any:
    """Return Block Kit ``value`` with every ``text`` string redacted (a copy)."""
    if isinstance(value, list):
        return [redact_blocks(item) for item in value]
    if isinstance(value, dict):
        return {
            k: redact(v) if k == "text" and isinstance(v, str) else redact_blocks(v)
            for k, v in value.items()
        }
    return value


def _text(text: str) -> str:
    text = redact(text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


class Poster:
    """Posts, edits and reacts in threads through the Web API.

    Args:
        client: The Web API client (its ``base_url`` may point at a proxy).
    """

    def __init__(self, client: WebClient):
        self.client = client

    def post(
        self, channel: str, thread_ts: str, text: str, *, blocks: list[Any] | None = None
    ) -> str | None:
        """Post in a thread; return the new message's ts (None when Slack refused)."""
        kwargs: dict[str, Any] = {"channel": channel, "thread_ts": thread_ts, "text": _text(text)}
        if blocks is not None:
            kwargs["blocks"] = redact_blocks(blocks)
        response = self._call("chat_postMessage", **kwargs)
        return str(response["ts"]) if response is not None else None

    def update(self, channel: str, ts: str, text: str, *, blocks: list[Any] | None = None) -> None:
        """Replace a message's text (and blocks: an empty list removes them)."""
        kwargs: dict[str, Any] = {"channel": channel, "ts": ts, "text": _text(text)}
        if blocks is not None:
            kwargs["blocks"] = redact_blocks(blocks)
        self._call("chat_update", **kwargs)

    def react(self, channel: str, ts: str, name: str) -> None:
        """Add an emoji reaction to a message."""
        self._call("reactions_add", channel=channel, timestamp=ts, name=name)

    def ephemeral(self, channel: str, user: str, text: str, *, thread_ts: str | None) -> None:
        """Show a message to one person only."""
        kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": _text(text)}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        self._call("chat_postEphemeral", **kwargs)

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(**kwargs)
        except (SlackClientError, OSError) as exc:
            log.warning("Slack %s failed: %s", method, redact(str(exc)))
            return None
