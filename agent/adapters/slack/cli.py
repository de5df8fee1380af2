"""``trialrun slack serve``: answer Slack threads over the Events API (or Socket Mode)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from agent.adapters.exit_codes import ExitCode, exit_code_for

app = typer.Typer(
    help="Run trialrun as a Slack app: one conversation per thread.", no_args_is_help=True
)


@app.command("serve")
def serve_command(
    port: Annotated[int, typer.Option(help="HTTP port for /slack/events.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    socket_mode: Annotated[
        bool,
        typer.Option(help="Connect over Socket Mode (needs SLACK_APP_TOKEN) instead of HTTP."),
    ] = False,
    max_per_workspace: Annotated[
        int | None,
        typer.Option(
            help="Experiments running at once per workspace; default "
            "$TRIALRUN_SLACK_MAX_PER_WORKSPACE, else 4."
        ),
    ] = None,
    max_per_user: Annotated[
        int | None,
        typer.Option(
            help="Experiments running at once per person; default $TRIALRUN_SLACK_MAX_PER_USER, "
            "else 2."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Chat model as a langchain provider string; default $TRIALRUN_MODEL."),
    ] = None,
) -> None:
    """Serve Slack: SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN come from the environment."""
    from agent.adapters.slack.settings import SlackSettings
    from tools.errors import ConfigError

    try:
        settings = SlackSettings.from_env(
            max_per_workspace=max_per_workspace, max_per_user=max_per_user, model=model
        )
        if socket_mode and not settings.app_token:
            raise ConfigError(
                "--socket-mode needs SLACK_APP_TOKEN (an xapp- token with connections:write); "
                "set it, or serve over HTTP without --socket-mode."
            )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(exit_code_for(exc)) from exc
    from slack_bolt.error import BoltError

    from agent.adapters.slack.app import serve
    from tools.redact import redact

    try:
        serve(settings, port=port, host=host, socket_mode=socket_mode)
    except KeyboardInterrupt:
        pass
    except (BoltError, OSError) as exc:
        print(
            f"error: Slack's Web API at {settings.api_url} did not accept SLACK_BOT_TOKEN: "
            f"{redact(str(exc))}. Check the token, and SLACK_API_URL when you use a proxy.",
            file=sys.stderr,
        )
        raise typer.Exit(ExitCode.USAGE) from exc
