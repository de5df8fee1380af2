"""The report as plain lines, for output that is not a terminal (a CI log, a job's log file).

No line is wrapped or cut, whatever its length: one line per input, change, check and seed, with
full run IDs, so ``grep`` finds a run and a log viewer shows each item on one line. The wording
is :mod:`agent.report.wording`'s.
"""

from __future__ import annotations

from agent.report import wording
from agent.report.model import Report
from agent.report.values import clean, status_label

INDENT = "  "
SEPARATOR = "  "


def render_text(report: Report) -> str:
    """Return the report as plain text: a status title, alerts, then the five sections.

    Example:
        >>> from agent.report.model import Report
        >>> print(render_text(Report(title="demo", status="refused")).splitlines()[0])
        demo — refused
    """
    lines = [f"{clean(report.title)} — {status_label(report.status)}", *_attention(report)]
    bodies = (_plan(report), _changes(report), _verification(report), _rollback(report))
    for title, body in zip(wording.SECTIONS, (*bodies, _summary(report)), strict=True):
        lines.append(f"{title}:")
        lines += [_one_line(INDENT + line) for line in body or [wording.NOTHING[title]]]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split("\n"))


def _row(*cells: str) -> str:
    return SEPARATOR.join(cell for cell in cells if cell)


def _facts(facts: wording.Facts) -> list[str]:
    return [f"{label}: {value}" for label, value in facts]


def _plain(run_id: str) -> str:
    return clean(run_id)


def _attention(report: Report) -> list[str]:
    lines = []
    for alert in wording.alerts(report):
        match alert.kind:
            case "failed" | "cancelled":
                lines.append(f"{alert.title}: {alert.message}")
            case "refused":
                lines += [f"{alert.title}: {item}" for item in alert.items]
            case "needs_input":
                lines.append(f"{alert.title} ({alert.message.lower()}): {', '.join(alert.items)}")
    return [_one_line(line) for line in lines]


def _plan(report: Report) -> list[str]:
    plan = report.plan
    if wording.plan_is_empty(plan):
        return []
    lines = [
        f"input {name} = {value} ({source})" for name, value, source in wording.input_rows(plan)
    ]
    lines += [f"step {n}: {clean(step)}" for n, step in enumerate(plan.steps, 1)]
    return lines + _facts(wording.plan_facts(plan))


def _changes(report: Report) -> list[str]:
    changes = report.changes
    if not changes.items:
        return []
    lines = [f"tracking: {clean(changes.tracking_uri)}"] if changes.tracking_uri else []
    for change in changes.items:
        kind, id_, name, detail = wording.change_row(change)
        lines.append(_row(kind, id_, name, detail, clean(change.link) if change.link else ""))
    return lines


def _verification(report: Report) -> list[str]:
    checks = report.verification.checks
    if not checks:
        return []
    rows = [wording.check_row(c, _plain) for c in checks]
    return [wording.checks_headline(checks)] + [
        _row(mark, name, f"run {run}" if run else "", detail) for mark, name, run, detail in rows
    ]


def _rollback(report: Report) -> list[str]:
    lines = [f"Cancelled: {c}" for c in wording.rollback_cancelled(report)]
    return lines + [f"- {clean(step)}" for step in report.rollback.steps]


def _summary(report: Report) -> list[str]:
    summary = report.summary
    lines = []
    if wording.has_results(summary):
        lines += _facts(wording.summary_facts(report, _plain))
        metric = clean(summary.metric) or "value"
        lines += [
            f"seed {seed}  run {run}  {metric} {value}"
            for seed, run, value in wording.seed_rows(summary, _plain)
        ]
        lines += [
            f"best model {label}: {value}" for label, value in wording.output_rows(summary, _plain)
        ]
    else:
        lines.append(wording.NOTHING["Summary"])
    lines += [f"note: {clean(n)}" for n in report.notes]
    return lines
