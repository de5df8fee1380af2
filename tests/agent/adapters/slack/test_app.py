"""Starting the app: its settings, the command line, Socket Mode, and redaction on the way out."""

import socket

import pytest
from slack_sdk import WebClient

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from agent.adapters.slack.poster import Poster
from agent.adapters.slack.settings import SlackSettings
from tools.errors import ConfigError


def test_serve_without_the_signing_secret_says_what_to_set(monkeypatch, capsys):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000000000-fake")

    assert main(["slack", "serve", "--port", "0"]) == ExitCode.USAGE

    assert "SLACK_SIGNING_SECRET is not set" in capsys.readouterr().err


def test_socket_mode_without_an_app_token_says_what_to_set(monkeypatch, capsys):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000000000-fake")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")

    assert main(["slack", "serve", "--socket-mode"]) == ExitCode.USAGE

    assert "needs SLACK_APP_TOKEN" in capsys.readouterr().err


def test_serve_with_an_unreachable_web_api_says_what_to_check(monkeypatch, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # nothing listens there once the socket is closed
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000000000-fake")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SLACK_API_URL", f"http://127.0.0.1:{closed}/api/")

    assert main(["slack", "serve", "--port", "0", "--host", "127.0.0.1"]) == ExitCode.USAGE

    err = capsys.readouterr().err
    assert f"Slack's Web API at http://127.0.0.1:{closed}/api/ did not accept" in err
    assert "xoxb-0000000000-fake" not in err


def test_settings_come_from_the_environment_and_flags_win(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000000000-fake")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SLACK_API_URL", "https://slack-proxy.example.com/api")
    monkeypatch.setenv("TRIALRUN_SLACK_MAX_PER_WORKSPACE", "7")
    monkeypatch.setenv("TRIALRUN_SLACK_APPROVERS", "U0LEAD, U0OPS")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")

    settings = SlackSettings.from_env(max_per_user=1)

    assert settings.api_url == "https://slack-proxy.example.com/api/"
    assert (settings.max_per_workspace, settings.max_per_user) == (7, 1)
    assert settings.approvers == {"U0LEAD", "U0OPS"}
    assert settings.mlflow_ui == "http://mlflow.internal:5000"
    assert "xoxb" not in repr(settings) and "secret" not in repr(settings)


@pytest.mark.parametrize("raw", ["0", "many"])
def test_a_cap_that_is_not_a_positive_count_is_refused(monkeypatch, raw):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000000000-fake")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("TRIALRUN_SLACK_MAX_PER_USER", raw)

    refusal = f"TRIALRUN_SLACK_MAX_PER_USER={raw!r} is not a whole number of at least 1"
    with pytest.raises(ConfigError, match=refusal):
        SlackSettings.from_env()


def test_socket_mode_is_built_on_the_same_app_and_web_api(slack, fake_slack):
    # Only construction can be checked here: connecting needs Slack's WebSocket endpoint.
    service = slack.start()
    handler = service.socket_mode_handler()
    try:
        assert handler.app is service.app
        assert handler.client.app_token == "xapp-1-fake"
        assert handler.client.web_client.base_url == fake_slack.url
    finally:
        handler.close()


def test_secrets_and_contact_details_never_reach_the_channel(fake_slack):
    poster = Poster(WebClient(token="xoxb-0000000000-fake", base_url=fake_slack.url))
    leaky = "use key sk-abcdefghijklmnopqrstuvwx, ask ada@example.com or +44 20 7946 0958"

    poster.post(
        "C0CHAN",
        "1.0",
        leaky,
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": leaky}}],
    )
    poster.ephemeral("C0CHAN", "U0ADA", f"token=xoxb-1234567890-abcdef {leaky}", thread_ts="1.0")

    sent = "\n".join(c.text for c in fake_slack.calls)
    for secret in ("sk-abcdef", "ada@example.com", "7946", "xoxb-1234567890"):
        assert secret not in sent
    assert sent.count("[REDACTED]") >= 7
