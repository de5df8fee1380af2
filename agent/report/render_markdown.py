"""The report as Markdown, the reference rendering: a status title, alerts, then five sections.

The wording is :mod:`agent.report.wording`'s; this module lays it out as Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.report import wording
from agent.report.model import Report
from agent.report.values import clean, status_label


def render_markdown(report: Report) -> str:
    """Return the report as Markdown: a status title, then the five sections in order.

    Example:
        >>> from agent.report.model import Report
        >>> print(render_markdown(Report(title="demo", status="needs_input")).splitlines()[0])
        # demo — needs input
    """
    parts = [f"# {clean(report.title)} — {status_label(report.status)}", *_attention(report)]
    bodies = (_plan(report), _changes(report), _verification(report), _rollback(report))
    for title, body in zip(wording.SECTIONS, (*bodies, _summary(report)), strict=True):
        parts += [f"## {title}", body or wording.NOTHING[title]]
    return "\n\n".join(parts) + "\n"


def _code(run_id: str) -> str:
    return f"`{clean(run_id)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _facts(facts: wording.Facts) -> str:
    return "\n".join(f"- **{label}:** {value}" for label, value in facts)


def _attention(report: Report) -> list[str]:
    blocks = []
    for alert in wording.alerts(report):
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
    if wording.plan_is_empty(plan):
        return ""
    parts = []
    if plan.inputs:
        parts.append(_table(("Input", "Value", "Source"), wording.input_rows(plan)))
    if plan.steps:
        parts.append("\n".join(f"{n}. {clean(s)}" for n, s in enumerate(plan.steps, 1)))
    if facts := wording.plan_facts(plan):
        parts.append(_facts(facts))
    return "\n\n".join(parts)


def _changes(report: Report) -> str:
    changes = report.changes
    if not changes.items:
        return ""
    rows = []
    for change in changes.items:
        kind, id_, name, detail = wording.change_row(change)
        shown = f"[`{id_}`]({clean(change.link)})" if change.link else f"`{id_}`"
        rows.append((kind, shown, name, detail))
    table = _table(("Kind", "ID", "Name", "Detail"), rows)
    uri = f"Tracking: `{clean(changes.tracking_uri)}`\n\n" if changes.tracking_uri else ""
    return uri + table


def _verification(report: Report) -> str:
    checks = report.verification.checks
    if not checks:
        return ""
    rows = [wording.check_row(c, _code) for c in checks]
    return (
        wording.checks_headline(checks)
        + "\n\n"
        + _table(("Passed", "Check", "Run", "Detail"), rows)
    )


def _rollback(report: Report) -> str:
    lines = [f"- **Cancelled:** {c}" for c in wording.rollback_cancelled(report)]
    lines += [f"- {clean(step)}" for step in report.rollback.steps]
    return "\n".join(lines)


def _summary(report: Report) -> str:
    summary = report.summary
    parts = []
    if wording.has_results(summary):
        parts.append(_facts(wording.summary_facts(report, _code)))
        if summary.seeds:
            header = ("Seed", "Run", clean(summary.metric) or "Value")
            parts.append(_table(header, wording.seed_rows(summary, _code)))
        if rows := wording.output_rows(summary, _code):
            parts.append("Best model:\n\n" + _table(("Field", "Value"), rows))
    else:
        parts.append(wording.NOTHING["Summary"])
    if report.notes:
        parts.append("Notes:\n\n" + "\n".join(f"- {clean(n)}" for n in report.notes))
    return "\n\n".join(parts)
