"""Drive the Slack app as Slack does: signed HTTP requests in, a stand-in Web API out.

The stand-in is an HTTP server on loopback that the app's ``WebClient(base_url=...)`` calls. It
answers like Slack (``ok: true``, a fresh ``ts`` per message) and records every call. Its limits:
it checks no scopes, tokens or rate limits, and keeps no channel history beyond what it recorded.
Requests to the app are signed with the signing secret exactly as Slack signs them.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest

from agent.adapters.slack.app import SlackService
from agent.adapters.slack.settings import SlackSettings

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM, BOT_USER, BOT_ID = "T0TEAM", "UBOT", "BBOT"
MLFLOW_UI = "http://mlflow.example:5000"
T = TypeVar("T")


@dataclass
class Call:
    """One Web API call the app made."""

    method: str
    params: dict[str, Any]
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The call's text and every text in its blocks."""
        texts = [str(self.params.get("text", ""))]

        def walk(value: Any) -> None:
            if isinstance(value, list):
                for item in value:
                    walk(item)
            elif isinstance(value, dict):
                for key, item in value.items():
                    if key == "text" and isinstance(item, str):
                        texts.append(item)
                    else:
                        walk(item)

        walk(self.params.get("blocks") or [])
        return "\n".join(texts)


@dataclass
class FakeSlack:
    """The Web API stand-in: records calls, answers like Slack."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def record(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.cond:
            answer: dict[str, Any] = {"ok": True}
            if method == "auth.test":
                answer |= {
                    "user_id": BOT_USER,
                    "bot_id": BOT_ID,
                    "team_id": TEAM,
                    "user": "trialrun",
                }
            elif method == "chat.postMessage":
                ts = f"1800000000.{next(self._ts):06d}"
                answer |= {"channel": params.get("channel"), "ts": ts, "message": dict(params)}
            elif method == "chat.update":
                answer |= {"channel": params.get("channel"), "ts": params.get("ts")}
            elif method == "chat.postEphemeral":
                answer |= {"message_ts": f"1800000000.{next(self._ts):06d}"}
            self.calls.append(Call(method, params, answer))
            self.cond.notify_all()
        return answer

    def of(self, method: str, **where: Any) -> list[Call]:
        """The calls to ``method`` whose parameters have the given values."""
        with self.cond:
            return [
                c
                for c in self.calls
                if c.method == method and all(c.params.get(k) == v for k, v in where.items())
            ]

    def posts(self, thread_ts: str) -> list[Call]:
        """Messages posted in a thread, in order."""
        return self.of("chat.postMessage", thread_ts=thread_ts)

    def wait(self, what: str, found: Callable[[], T | None], timeout: float = 90.0) -> T:
        """Wait until ``found()`` returns something truthy, as the recorder changes; fail at the deadline."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = found()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    calls = "\n".join(f"{c.method}: {c.text[:160]!r}" for c in self.calls[-25:])
                    pytest.fail(f"timed out waiting for {what}; last calls:\n{calls}")
                self.cond.wait(min(left, 1.0))

    def post_in(self, thread_ts: str, containing: str, timeout: float = 90.0) -> Call:
        """Wait for a message in the thread whose text contains ``containing``."""
        return self.wait(
            f"a post containing {containing!r} in thread {thread_ts}",
            lambda: next((c for c in self.posts(thread_ts) if containing in c.text), None),
            timeout,
        )

    def report(self, thread_ts: str, timeout: float = 90.0) -> Call:
        """Wait for the report (Block Kit with a header) in a thread."""
        return self.wait(
            f"a report in thread {thread_ts}",
            lambda: next(
                (
                    c
                    for c in self.posts(thread_ts)
                    if any(b.get("type") == "header" for b in c.params.get("blocks") or [])
                ),
                None,
            ),
            timeout,
        )

    def edits(self, ts: str) -> list[str]:
        """The texts a message was edited to, in order."""
        return [c.text for c in self.of("chat.update", ts=ts)]


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server spelling
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if "json" in (self.headers.get("Content-Type") or ""):
                params = json.loads(body or "{}")
            else:
                params = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
            if isinstance(params.get("blocks"), str):
                params["blocks"] = json.loads(params["blocks"])
            answer = json.dumps(fake.record(self.path.rsplit("/", 1)[-1], params)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def sign(body: bytes, timestamp: int, secret: str = SECRET) -> str:
    """Slack's v0 request signature."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class SlackHarness:
    """Starts and stops the app against the stand-in and sends it what Slack would."""

    fake: FakeSlack
    overrides: dict[str, Any] = field(default_factory=dict)
    service: SlackService | None = None
    url: str = ""
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def start(self, **overrides: Any) -> SlackService:
        self.overrides |= overrides
        settings = SlackSettings(
            signing_secret=SECRET,
            bot_token="xoxb-0000000000-fake",
            app_token="xapp-1-fake",
            api_url=self.fake.url,
            mlflow_ui=MLFLOW_UI,
            progress_seconds=0.2,
        ).with_overrides(**self.overrides)
        self.service = SlackService(settings)
        port = self.service.start(port=0, host="127.0.0.1")
        self.url = f"http://127.0.0.1:{port}/slack/events"
        return self.service

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def send(
        self,
        body: bytes,
        content_type: str,
        *,
        retry: int | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, str]:
        timestamp = int(time.time()) if timestamp is None else timestamp
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(timestamp)}
        headers["X-Slack-Signature"] = sign(body, timestamp) if signature is None else signature
        if not headers["X-Slack-Signature"]:
            del headers["X-Slack-Signature"]
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def event_body(self, event: dict[str, Any], *, event_id: str | None = None) -> bytes:
        envelope = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0APP",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
        return json.dumps(envelope).encode()

    def event(self, event: dict[str, Any], **options: Any) -> tuple[int, str]:
        return self.send(self.event_body(event), "application/json", **options)

    def mention(self, text: str, *, user: str, ts: str, channel: str = "C0CHAN") -> str:
        """Mention the app at the top of a channel; return the thread's ts."""
        status, _ = self.event(
            {
                "type": "app_mention",
                "user": user,
                "text": f"<@{BOT_USER}> {text}",
                "ts": ts,
                "channel": channel,
                "event_ts": ts,
            }
        )
        assert status == 200
        return ts

    def reply(
        self, text: str, *, user: str, thread_ts: str, ts: str, channel: str = "C0CHAN"
    ) -> None:
        """Write in a thread without mentioning the app, as Slack delivers it."""
        status, _ = self.event(
            {
                "type": "message",
                "channel_type": "channel",
                "user": user,
                "text": text,
                "ts": ts,
                "thread_ts": thread_ts,
                "channel": channel,
                "event_ts": ts,
            }
        )
        assert status == 200

    def click(self, action_id: str, *, user: str, message: Call, channel: str = "C0CHAN") -> int:
        """Click a button of a posted message."""
        button = next(
            e
            for b in message.params["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action_id
        )
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "example"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0APP",
            "token": "legacy",
            "container": {
                "type": "message",
                "message_ts": message.answer["ts"],
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": "1.2.3",
            "channel": {"id": channel, "name": "experiments"},
            "message": {"ts": message.answer["ts"], "text": message.params["text"]},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "trialrun_approval",
                    "value": button["value"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        status, _ = self.send(body, "application/x-www-form-urlencoded")
        return status


@pytest.fixture
def slack(fake_slack: FakeSlack) -> Iterator[SlackHarness]:
    """The app on a free loopback port, talking to the stand-in; stopped after the test."""
    harness = SlackHarness(fake_slack)
    yield harness
    harness.stop()


@pytest.fixture
def held_experiments(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldExperiments]:
    """Hold every experiment in its baseline step until released; count how many are held."""
    from agent.pipeline import nodes
    from tools.errors import Cancelled

    held = HeldExperiments()

    def baseline(state: Any, runtime: Any) -> dict[str, Any]:
        with held.cond:
            held.now += 1
            held.most = max(held.most, held.now)
            held.cond.notify_all()
        try:
            while not (held.released.is_set() or runtime.context.cancel.is_set()):
                held.released.wait(0.5)
        finally:
            with held.cond:
                held.now -= 1
                held.cond.notify_all()
        raise Cancelled("released by the test before training")

    monkeypatch.setattr(nodes, "baseline", nodes.guarded("baseline")(baseline))
    yield held
    held.released.set()


@dataclass
class HeldExperiments:
    """How many experiments are held now, and the most held at once."""

    now: int = 0
    most: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    cond: threading.Condition = field(default_factory=threading.Condition)
