"""The report as Markdown, the reference rendering: a status title, alerts, then five sections.

The wording is :mod:`agent.report.wording`'s; this module lays it out as Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.report.model import Report
from agent.report.values import clean, status_label
from agent.report.wording import (
    NOTHING,
    SECTIONS,
    Facts,
    alerts,
    change_row,
    check_row,
    checks_headline,
    has_results,
    input_rows,
    output_rows,
    plan_facts,
    plan_is_empty,
    rollback_cancelled,
    seed_rows,
    summary_facts,
)


def render_markdown(report: Report) -> str:
    """Return the report as Markdown: a status title, then the five sections in order.

    Example:
        >>> from agent.report.model import Report
        >>> print(render_markdown(Report(title="demo", status="needs_input")).splitlines()[0])
        # demo — needs input
    """
    parts = [f"# {clean(report.title)} — {status_label(report.status)}", *_attention(report)]
    bodies = (_plan(report), _changes(report), _verification(report), _rollback(report))
    for title, body in zip(SECTIONS, (*bodies, _summary(report)), strict=True):
        parts += [f"## {title}", body or NOTHING[title]]
    return "\n\n".join(parts) + "\n"


def _code(run_id: str) -> str:
    return f"`{clean(run_id)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _facts(facts: Facts) -> str:
    return "\n".join(f"- **{label}:** {value}" for label, value in facts)


def _attention(report: Report) -> list[str]:
    blocks = []
    for alert in alerts(report):
        match alert.kind:
            case "failed" | "cancelled":
                blocks.append(f"> **{alert.title}:** {alert.message}")
            case "refused":
                blocks.append(f"> **{alert.title}:**\n>\n{_quoted_list(alert.items)}")
            case "needs_input":
                head = f"> **{alert.title}.** {alert.message}:"
                blocks.append(f"{head}\n>\n{_quoted_list(alert.items)}")
    return blocks


def _quoted_list(items: tuple[str, ...]) -> str:
    return "\n".join(f"> - {item}" for item in items)


def _plan(report: Report) -> str:
    plan = report.plan
    if plan_is_empty(plan):
        return ""
    parts = []
    if plan.inputs:
        parts.append(_table(("Input", "Value", "Source"), input_rows(plan)))
    if plan.steps:
        parts.append("\n".join(f"{n}. {clean(s)}" for n, s in enumerate(plan.steps, 1)))
    if facts := plan_facts(plan):
        parts.append(_facts(facts))
    return "\n\n".join(parts)


def _changes(report: Report) -> str:
    changes = report.changes
    if not changes.items:
        return ""
    rows = []
    for change in changes.items:
        kind, id_, name, detail = change_row(change)
        shown = f"[`{id_}`]({clean(change.link)})" if change.link else f"`{id_}`"
        rows.append((kind, shown, name, detail))
    table = _table(("Kind", "ID", "Name", "Detail"), rows)
    uri = f"Tracking: `{clean(changes.tracking_uri)}`\n\n" if changes.tracking_uri else ""
    return uri + table


def _verification(report: Report) -> str:
    checks = report.verification.checks
    if not checks:
        return ""
    rows = [check_row(c, _code) for c in checks]
    return checks_headline(checks) + "\n\n" + _table(("Passed", "Check", "Run", "Detail"), rows)


def _rollback(report: Report) -> str:
    lines = [f"- **Cancelled:** {c}" for c in rollback_cancelled(report)]
    lines += [f"- {clean(step)}" for step in report.rollback.steps]
    return "\n".join(lines)


def _summary(report: Report) -> str:
    summary = report.summary
    parts = []
    if has_results(summary):
        parts.append(_facts(summary_facts(report, _code)))
        if summary.seeds:
            header = ("Seed", "Run", clean(summary.metric) or "Value")
            parts.append(_table(header, seed_rows(summary, _code)))
        if rows := output_rows(summary, _code):
            parts.append("Best model:\n\n" + _table(("Field", "Value"), rows))
    else:
        parts.append(NOTHING["Summary"])
    if report.notes:
        parts.append("Notes:\n\n" + "\n".join(f"- {clean(n)}" for n in report.notes))
    return "\n\n".join(parts)
