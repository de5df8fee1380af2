"""The report for the terminal: a rich Group of panels and tables, saying what the Markdown says.

Every string becomes a ``Text`` object, never markup, so a message holding ``[REDACTED]`` or
square brackets is shown as written instead of being read as a style.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.text import Text

from agent.report import wording
from agent.report.model import Report
from agent.report.values import clean, status_label

STATUS_STYLE = {
    "succeeded": "bold green",
    "failed": "bold red",
    "refused": "bold magenta",
    "cancelled": "bold yellow",
    "needs_input": "bold cyan",
    "planned": "bold blue",
}
ALERT_BORDER = {"failed": "red", "cancelled": "yellow", "refused": "magenta", "needs_input": "cyan"}


def render_rich(report: Report) -> RenderableType:
    """Return the report as a rich renderable: a status title, alerts, then five panels.

    Example:
        >>> from agent.report.model import Report
        >>> group = render_rich(Report(title="demo", status="refused"))
        >>> len(group.renderables)
        6
    """
    title = Text.assemble(
        (clean(report.title), "bold"),
        " — ",
        (status_label(report.status), STATUS_STYLE.get(report.status, "bold")),
    )
    checks = report.verification.checks
    verify_style = "red" if any(not c.passed for c in checks) else "green" if checks else "blue"
    panels = (
        ("Plan", _plan(report), "blue"),
        ("Changes", _changes(report), "blue"),
        ("Verification", _verification(report), verify_style),
        ("Rollback", _rollback(report), "blue"),
        ("Summary", _summary(report), "blue"),
    )
    items: list[RenderableType] = [title, *_attention(report)]
    for name, body, border in panels:
        content = body or Text(wording.NOTHING[name], style="dim")
        items.append(Panel(content, title=name, title_align="left", border_style=border))
    return Group(*items)


def print_report(report: Report, console: Console | None = None) -> None:
    """Print the report to ``console`` (a new stdout console when None).

    A terminal gets the panels; anything else (a CI log, a file) the plain lines of
    :func:`agent.report.render_text.render_text`, which never wrap and keep full run IDs.
    """
    from agent.report.render_text import render_text

    console = console or Console()
    if console.is_terminal:
        console.print(render_rich(report))
    else:
        text = render_text(report)
        console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True, end="")


def _facts(facts: wording.Facts, colon: str = ":") -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in facts:
        grid.add_row(Text(f"{label}{colon}"), Text(value))
    return grid


def _table(
    header: tuple[str, ...], rows: Sequence[tuple[str | Text, ...]], *, keep: int | None = None
) -> Table:
    """Return a table; column ``keep`` (IDs people copy) is never cut or wrapped."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for i, name in enumerate(header):
        table.add_column(name, no_wrap=i == keep, overflow="fold")
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in row))
    return table


def _bullets(lines: list[str], *, style: str = "") -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(style=style)
    for line in lines:
        grid.add_row("•", Text(line))
    return grid


def _stack(parts: list[RenderableType]) -> Group:
    """Return ``parts`` one under another with a blank line between them."""
    spaced: list[RenderableType] = []
    for part in parts:
        spaced += [Text(""), part] if spaced else [part]
    return Group(*spaced)


def _attention(report: Report) -> list[RenderableType]:
    panels: list[RenderableType] = []
    for alert in wording.alerts(report):
        body: RenderableType
        match alert.kind:
            case "failed" | "cancelled":
                body = Text(alert.message)
            case "refused":
                body = _bullets(list(alert.items))
            case "needs_input":
                body = Group(Text(f"{alert.message}:"), _bullets(list(alert.items), style="bold"))
        panels.append(_alert(body, alert.title, ALERT_BORDER[alert.kind]))
    return panels


def _plan(report: Report) -> RenderableType | None:
    plan = report.plan
    if wording.plan_is_empty(plan):
        return None
    parts: list[RenderableType] = []
    if plan.inputs:
        parts.append(_table(("Input", "Value", "Source"), wording.input_rows(plan)))
    if plan.steps:
        parts.append(_facts([(f"{n}.", clean(s)) for n, s in enumerate(plan.steps, 1)], ""))
    if facts := wording.plan_facts(plan):
        parts.append(_facts(facts))
    return _stack(parts)


def _changes(report: Report) -> RenderableType | None:
    changes = report.changes
    if not changes.items:
        return None
    rows = []
    for change in changes.items:
        kind, id_, name, detail = wording.change_row(change)
        # A link style makes the ID clickable in terminals that support hyperlinks.
        link = Style(link=clean(change.link)) if change.link else ""
        rows.append((kind, Text(id_, style=link), name, detail))
    table = _table(("Kind", "ID", "Name", "Detail"), rows, keep=1)
    if not changes.tracking_uri:
        return table
    return _stack([Text(f"Tracking: {clean(changes.tracking_uri)}"), table])


def _verification(report: Report) -> RenderableType | None:
    checks = report.verification.checks
    if not checks:
        return None
    failed = any(not c.passed for c in checks)
    rows = []
    for check in checks:
        mark, name, run, detail = wording.check_row(check, clean)
        colour = {wording.PASS: "green", wording.WARN: "yellow"}.get(mark, "red")
        rows.append((Text(mark, style=f"bold {colour}"), name, run, detail))
    table = _table(("", "Check", "Run", "Detail"), rows, keep=2)
    headline = Text(wording.checks_headline(checks), style="bold red" if failed else "bold green")
    return _stack([headline, table])


def _rollback(report: Report) -> RenderableType | None:
    cancelled = [
        Text(f"Cancelled: {c}", style="yellow") for c in wording.rollback_cancelled(report)
    ]
    steps = [clean(step) for step in report.rollback.steps]
    if not cancelled and not steps:
        return None
    return _stack([*cancelled, *([_bullets(steps)] if steps else [])])


def _summary(report: Report) -> RenderableType:
    summary = report.summary
    parts: list[RenderableType] = []
    if wording.has_results(summary):
        parts.append(_facts(wording.summary_facts(report, clean)))
        if summary.seeds:
            header = ("Seed", "Run", clean(summary.metric) or "Value")
            parts.append(_table(header, wording.seed_rows(summary, clean), keep=1))
        if rows := wording.output_rows(summary, clean):
            parts.append(Group(Text("Best model:", style="bold"), _facts(rows)))
    else:
        parts.append(Text(wording.NOTHING["Summary"], style="dim"))
    if report.notes:
        notes = _bullets([clean(n) for n in report.notes])
        parts.append(Group(Text("Notes:", style="bold"), notes))
    return _stack(parts)


def _alert(body: RenderableType, title: str, border: str) -> Panel:
    return Panel(body, title=title, title_align="left", border_style=border)
