"""Tables in a Slack message: a bold title, then the rows aligned in a code block.

Slack's mrkdwn has no tables; a code block keeps the columns aligned in a monospaced font and
scrolls sideways instead of wrapping, so a full run ID stays on its row.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.answers import AnswerTable
from tools.redact import redact

MAX_ROWS = 30
MAX_CHARS = 3500
"""A message's table stays well inside one Slack message (40,000 characters) and one screen."""


def table_message(table: AnswerTable, *, links: Sequence[str] = ()) -> str:
    """Return ``table`` as a Slack message; ``links`` follow it, one line each.

    Example:
        >>> print(table_message(AnswerTable("Runs", ("Run ID", "AUC"), [("ab12", "0.9912")])))
        *Runs*
        ```
        Run ID  AUC
        ab12    0.9912
        ```
    """
    rows = [tuple(_cell(c) for c in row) for row in table.rows[:MAX_ROWS]]
    header = tuple(_cell(c) for c in table.columns)
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    body = "\n".join(lines)
    if len(body) > MAX_CHARS:
        body = body[:MAX_CHARS] + "\n…"
    notes = list(table.notes)
    if len(table.rows) > MAX_ROWS:
        notes.append(f"{len(table.rows) - MAX_ROWS} more rows left out")
    parts = [f"*{_text(table.title)}*", f"```\n{body}\n```", *(f"({_text(n)})" for n in notes)]
    return "\n".join([*parts, *links])


def _cell(text: str) -> str:
    # A backtick run would end the code block early.
    return redact(" ".join(str(text).split())).replace("```", "'''")


def _text(text: str) -> str:
    # The title is bold as a whole; a "*" inside it would end that early.
    return redact(text).replace("*", "")
