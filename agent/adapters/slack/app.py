"""The Slack app: Bolt listeners over the Events API, its HTTP server, and Socket Mode.

Bolt verifies every request's signature and timestamp before any listener runs (a missing, stale
or wrong signature gets a 401) and acknowledges events at once; listeners only record what
arrived and hand the work to :class:`~agent.adapters.slack.threads.ThreadRunner`, so Slack's
three-second window always holds. A mention, or a direct message, starts a conversation in its
thread; later messages in that thread continue it. Slack redelivers an event whose
acknowledgement it did not see (``X-Slack-Retry-Num``); each event id and each message is
handled once, even across restarts.
"""

from __future__ import annotations

import html
import logging
import re
import sqlite3
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from agent.adapters.slack.poster import Poster
from agent.adapters.slack.settings import SlackSettings
from agent.adapters.slack.store import SlackStore, Thread
from agent.adapters.slack.threads import APPROVE, REJECT, ThreadRunner
from tools.errors import ConfigError

log = logging.getLogger("trialrun.slack")

EVENTS_PATH = "/slack/events"
"""Where Slack sends events and interactions (Bolt's default)."""

PERSON_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
"""Message subtypes a person writes (a reply also sent to the channel, a message with a file)."""


class SlackService:
    """The app with its state: Bolt, the turn runner, the store and the conversations.

    Args:
        settings: The app's settings.
        state_dir: Where the store and the conversations' checkpoints live;
            ``<TRIALRUN_HOME>/slack`` by default.

    Example:
        >>> service = SlackService(SlackSettings.from_env())  # doctest: +SKIP
        >>> service.start(port=3000)  # doctest: +SKIP
    """

    def __init__(self, settings: SlackSettings, *, state_dir: Path | None = None):
        from langgraph.checkpoint.sqlite import SqliteSaver
        from slack_bolt import App
        from slack_sdk import WebClient

        from tools import settings as paths

        self.settings = settings
        self.client = WebClient(token=settings.bot_token, base_url=settings.api_url)
        # Bolt calls auth.test here: a wrong token or API URL fails now, before any state opens.
        self.app = App(
            signing_secret=settings.signing_secret,
            client=self.client,
            process_before_response=False,
        )
        self.state_dir = state_dir or paths.home() / "slack"
        self.store = SlackStore(self.state_dir / "slack.db")
        self._checkpoints = sqlite3.connect(
            self.state_dir / "conversations.db", check_same_thread=False
        )
        self.poster = Poster(self.client)
        self.runner = ThreadRunner(
            settings,
            store=self.store,
            poster=self.poster,
            checkpointer=SqliteSaver(self._checkpoints),
        )
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.action(APPROVE)(self._on_approve)
        self.app.action(REJECT)(self._on_reject)
        self._server: WSGIServer | None = None
        self._serving: threading.Thread | None = None
        self.runner.recover()

    def start(self, *, port: int, host: str = "0.0.0.0") -> int:
        """Serve ``/slack/events`` over HTTP in a background thread; return the bound port."""
        server = self._bind(port, host)
        self._serving = threading.Thread(
            target=server.serve_forever, name="trialrun-slack-http", daemon=True
        )
        self._serving.start()
        return int(server.server_address[1])

    def serve_forever(self, *, port: int, host: str = "0.0.0.0") -> None:
        """Serve over HTTP in this thread until interrupted (Ctrl-C), then stop cleanly."""
        server = self._bind(port, host)
        log.warning("trialrun answers Slack at http://%s:%d%s", host, port, EVENTS_PATH)
        try:
            server.serve_forever()
        finally:
            self.stop()

    def _bind(self, port: int, host: str) -> WSGIServer:
        from slack_bolt.adapter.wsgi import SlackRequestHandler

        self._server = make_server(
            host,
            port,
            SlackRequestHandler(self.app, path=EVENTS_PATH),
            server_class=_ThreadingServer,
            handler_class=_QuietHandler,
        )
        return self._server

    def socket_mode_handler(self) -> Any:
        """Return Bolt's Socket Mode handler for this app (``.start()`` connects and blocks).

        Raises:
            ConfigError: ``SLACK_APP_TOKEN`` is not set.
        """
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        if not self.settings.app_token:
            raise ConfigError(
                "Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write); "
                "set it, or serve over HTTP without --socket-mode."
            )
        return SocketModeHandler(self.app, self.settings.app_token)

    def stop(self) -> None:
        """Stop serving, cancel the turns in flight, wait for them, and close the state."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.runner.close()
        self.store.close()
        self._checkpoints.close()

    def _on_mention(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        self._handle(body, event, context, mentioned=True)

    def _on_message(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        self._handle(body, event, context, mentioned=False)

    def _handle(
        self, body: dict[str, Any], event: dict[str, Any], context: Any, *, mentioned: bool
    ) -> None:
        if (
            event.get("subtype") not in PERSON_SUBTYPES
            or event.get("bot_id")
            or "user" not in event
        ):
            return  # edits, joins, other bots and the app's own messages
        channel, ts, user = event["channel"], event["ts"], event["user"]
        team = body.get("team_id") or event.get("team") or context.get("team_id") or ""
        thread_ts = event.get("thread_ts") or ts
        known = self.store.thread(Thread(team, channel, thread_ts, user).key)
        direct = event.get("channel_type") == "im"
        if not (mentioned or direct or known):
            return  # talk in a channel that is not addressed to the app
        if not self.store.claim(f"event:{body.get('event_id')}"):
            return  # a redelivery of an event already handled
        if not self.store.claim(f"message:{channel}:{ts}"):
            return  # the same message, delivered as both a mention and a message
        thread = known or self.store.add_thread(Thread(team, channel, thread_ts, user))
        self.poster.react(channel, ts, "eyes")
        self.runner.message(
            thread, user, clean_text(event.get("text", ""), context.get("bot_user_id"))
        )

    def _on_approve(self, ack: Any, body: dict[str, Any]) -> None:
        ack()
        self._decide(body, approved=True)

    def _on_reject(self, ack: Any, body: dict[str, Any]) -> None:
        ack()
        self._decide(body, approved=False)

    def _decide(self, body: dict[str, Any], *, approved: bool) -> None:
        action = body["actions"][0]
        self.runner.approval(
            action["value"],
            body["user"]["id"],
            approved=approved,
            message_ts=body["container"]["message_ts"],
        )


def clean_text(text: str, bot_user_id: str | None) -> str:
    """Return a message's words: the app's mention removed, Slack's escapes and links undone.

    Example:
        >>> clean_text("<@UBOT> tune on <https://x.io|x.io> &amp; go", "UBOT")
        'tune on x.io & go'
    """
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", " ")
    text = re.sub(r"<(?:https?|mailto):[^|>]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<((?:https?|mailto):[^>]*)>", r"\1", text)
    return " ".join(html.unescape(text).split())


def serve(settings: SlackSettings, *, port: int, host: str, socket_mode: bool) -> None:
    """Run the app until interrupted: over HTTP on ``host:port``, or over Socket Mode."""
    service = SlackService(settings)
    if not socket_mode:
        service.serve_forever(port=port, host=host)
        return
    try:
        service.socket_mode_handler().start()
    finally:
        service.stop()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when a burst of events (twenty
    # threads mentioning the app at once) arrives faster than the accept loop takes them.
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
