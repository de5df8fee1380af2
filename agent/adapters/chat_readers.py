"""Where the chat's lines come from: prompt_toolkit's prompt on a terminal, plain lines otherwise.

On a terminal the prompt has line editing and a history file under ``TRIALRUN_HOME``, each line
kept redacted; with piped input, lines are read plainly, one message, answer or command each, so a
chat can be scripted.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

from tools.redact import redact

WAKE_POLL_SECONDS = 0.05
YES = {"y", "yes"}


class PlainReader:
    """Lines from a pipe or file: no prompt, no line editing, nothing read while a turn runs.

    Both readers raise EOFError at Ctrl-D or the end of input, and KeyboardInterrupt at Ctrl-C.
    """

    interactive = False

    def __init__(self, stream: Any = None):
        self.stream = stream or sys.stdin

    def read(self, message: str, *, wake: threading.Event | None = None) -> str | None:
        """Return the next line without its newline."""
        line = self.stream.readline()
        if not line:
            raise EOFError
        return str(line).rstrip("\r\n")

    def confirm(self, message: str) -> bool:
        """Return True when the next line says yes; the end of input is a no."""
        try:
            return (self.read(message) or "").strip().lower() in YES
        except EOFError:
            return False


class PromptReader:
    """prompt_toolkit's prompt: line editing and a history kept across sessions.

    Args:
        history: The history file.
    """

    interactive = True

    def __init__(self, history: Path):
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory

        class RedactedHistory(FileHistory):
            """The history file, holding each line redacted: a key typed once is not kept."""

            def store_string(self, string: str) -> None:
                super().store_string(redact(string))

        self.session: Any = PromptSession(history=RedactedHistory(str(history)))

    def read(self, message: str, *, wake: threading.Event | None = None) -> str | None:
        """Prompt for a line; a set ``wake`` ends the prompt with None."""
        app = self.session.app

        def watch() -> None:
            app.erase_when_done = False
            if wake is not None:
                app.create_background_task(_exit_when_set(app, wake))

        result = self.session.prompt(message, pre_run=watch)
        return None if result is None else str(result)

    def confirm(self, message: str) -> bool:
        """Ask a yes/no question answered with one key."""
        from prompt_toolkit.shortcuts import confirm

        return bool(confirm(message))


async def _exit_when_set(app: Any, wake: threading.Event) -> None:
    # The worker thread cannot end the prompt itself; this task, in the prompt's own loop, can.
    while not wake.is_set():
        await asyncio.sleep(WAKE_POLL_SECONDS)
    if not app.future.done():
        app.erase_when_done = True  # a prompt the person did not answer leaves no trace
        app.exit(result=None)
