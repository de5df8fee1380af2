"""The report as Slack Block Kit blocks, kept within Slack's limits.

Slack rejects a message over its limits (50 blocks, 3000 characters per text, 10 fields of 2000
characters per section, 150 characters per header), so long content is cut at a line with a note
saying how much was left out. Free text is escaped (``&``, ``<``, ``>``) so an error message can
never ping a channel or forge a link. Run IDs show their first eight characters, linked to the
MLflow UI when the report or the caller knows where it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agent.report import wording
from agent.report.model import Report
from agent.report.values import clean, status_label

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_CONTEXT_ELEMENTS = 10

STATUS_EMOJI = {
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "refused": ":no_entry:",
    "cancelled": ":double_vertical_bar:",
    "needs_input": ":question:",
    "planned": ":clipboard:",
}

Block = dict[str, Any]

# Run IDs are marked in the shared wording, then turned into links after escaping, so the
# escaping of free text cannot break the link markup.
_MARK = "\x00"
_MARKED = re.compile(f"{_MARK}([^{_MARK}]*){_MARK}")


def render_slack(report: Report, *, mlflow_ui: str | None = None) -> list[Block]:
    """Return the report as Block Kit blocks: header, status, alerts, then the five sections.

    Args:
        report: The report.
        mlflow_ui: Base URL of the MLflow UI, e.g. ``https://mlflow.example.com``; when None,
            run links are derived from the experiment link in the report's Changes, if any.

    Returns:
        At most 50 blocks, every text within Slack's limits.

    Example:
        >>> from agent.report.model import Report
        >>> render_slack(Report(title="demo", status="refused"))[0]["text"]["text"]
        'demo'
    """
    base, link = _links(report, mlflow_ui)

    def slack(text: str) -> str:
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return _MARKED.sub(lambda m: link(m[1]), escaped)

    emoji = STATUS_EMOJI.get(report.status, "")
    blocks: list[Block] = [
        {"type": "header", "text": _plain(clean(report.title), MAX_HEADER)},
        _text(f"{emoji} *{status_label(report.status)}*"),
        *(_text(t) for t in _attention(report, slack)),
    ]
    sections = (
        ("Plan", _plan(report, slack)),
        ("Changes", _changes(report, slack, base)),
        ("Verification", _verification(report, slack)),
        ("Rollback", _rollback(report, slack)),
        ("Summary", _summary(report, slack)),
    )
    for name, body in sections:
        blocks.append({"type": "divider"})
        blocks += body or [_text(f"*{name}*\n{wording.NOTHING[name]}")]
    return _cap(blocks)


def _mark(run_id: str) -> str:
    return f"{_MARK}{run_id}{_MARK}"


def _links(report: Report, mlflow_ui: str | None) -> tuple[str | None, Callable[[str], str]]:
    """Return the experiment's UI URL and a function that turns a run ID into a link."""
    from tools.tracking.links import ui_link

    items = report.changes.items
    experiment = next((c for c in items if c.kind == "experiment"), None)
    known = {c.id: c.link for c in items if c.kind in wording.RUN_KINDS and c.link}
    base = experiment.link if experiment else None
    if mlflow_ui and experiment:
        base = ui_link(mlflow_ui, experiment.id)
        known = {
            c.id: ui_link(mlflow_ui, experiment.id, c.id)
            for c in items
            if c.kind in wording.RUN_KINDS
        }

    def link(run_id: str) -> str:
        shown = clean(run_id)[:8]
        url = known.get(run_id)
        if not url and mlflow_ui and experiment:
            url = ui_link(mlflow_ui, experiment.id, run_id)
        if not url:
            return f"`{shown}`"
        return f"<{_url(url)}|{shown}>"

    return base, link


def _url(url: str) -> str:
    # "|" and ">" end a Slack link; "<" and "&" would be read as markup.
    quoted = {"|": "%7C", ">": "%3E", "<": "%3C", "&": "&amp;"}
    return "".join(quoted.get(ch, ch) for ch in clean(url))


def _plain(text: str, limit: int) -> dict[str, Any]:
    clipped = text if len(text) <= limit else text[: limit - 1] + "…"
    return {"type": "plain_text", "text": clipped, "emoji": True}


def _fit(text: str, limit: int) -> str:
    """Return ``text`` cut so that it and a note on what was left out fit ``limit``.

    Whole lines are kept while they fit; the first line that does not is cut short (when enough
    of it fits to be worth reading), so a single long error message still shows its start.
    """
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    room = limit - 80
    kept: list[str] = []
    size = 0
    for line in lines:
        space = room - size
        if len(line) < space:
            kept.append(line)
            size += len(line) + 1
            continue
        if space > 40:
            kept.append(line[: space - 1] + "…")
        break
    left = len(lines) - len(kept)
    if left:
        return "\n".join([*kept, f"_…{left} more line(s) left out to fit Slack's limit._"])
    return "\n".join([*kept, "_(cut to fit Slack's limit; the full report has the rest)_"])


def _text(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text, MAX_TEXT)}}


def _fields(facts: wording.Facts, slack: Callable[[str], str]) -> list[Block]:
    fields = [
        {"type": "mrkdwn", "text": _fit(f"*{slack(label)}*\n{slack(value)}", MAX_FIELD)}
        for label, value in facts
    ]
    return [
        {"type": "section", "fields": fields[i : i + MAX_FIELDS]}
        for i in range(0, len(fields), MAX_FIELDS)
    ]


def _cap(blocks: list[Block]) -> list[Block]:
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    left = len(blocks) - MAX_BLOCKS + 1
    note = f"_…{left} more block(s) left out to fit Slack's limit; the full report has them._"
    return [*blocks[: MAX_BLOCKS - 1], {"type": "context", "elements": [_mrkdwn(note)]}]


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _fit(text, MAX_TEXT)}


def _attention(report: Report, slack: Callable[[str], str]) -> list[str]:
    texts = []
    for alert in wording.alerts(report):
        listed = "\n".join(f"• {slack(item)}" for item in alert.items)
        match alert.kind:
            case "failed" | "cancelled":
                texts.append(f":rotating_light: *{slack(alert.title)}*\n{slack(alert.message)}")
            case "refused":
                texts.append(f":no_entry: *{alert.title}*\n{listed}")
            case "needs_input":
                texts.append(f":question: *{alert.title}.* {alert.message}:\n{listed}")
    return texts


def _plan(report: Report, slack: Callable[[str], str]) -> list[Block]:
    plan = report.plan
    if wording.plan_is_empty(plan):
        return []
    lines = ["*Plan*"]
    lines += [f"{n}. {slack(clean(s))}" for n, s in enumerate(plan.steps, 1)]
    lines += [f"*{label}:* {slack(value)}" for label, value in wording.plan_facts(plan)]
    inputs = [(name, f"{value} _({source})_") for name, value, source in wording.input_rows(plan)]
    return [_text("\n".join(lines)), *_fields(inputs, slack)]


def _changes(report: Report, slack: Callable[[str], str], base: str | None) -> list[Block]:
    changes = report.changes
    if not changes.items:
        return []
    lines = ["*Changes*"]
    if changes.tracking_uri:
        lines.append(f"Tracking: `{slack(clean(changes.tracking_uri))}`")
    for change in changes.items:
        kind, id_, name, detail = wording.change_row(change)
        link = base if change.kind == "experiment" and base else change.link
        if change.kind in wording.RUN_KINDS:
            shown = slack(_mark(change.id))
        elif link:
            shown = f"<{_url(link)}|{slack(id_)}>"
        else:
            shown = f"`{slack(id_)}`"
        extra = " · ".join(slack(t) for t in (name, detail) if t)
        lines.append(f"• {kind} {shown}" + (f" · {extra}" if extra else ""))
    return [_text("\n".join(lines))]


def _verification(report: Report, slack: Callable[[str], str]) -> list[Block]:
    checks = report.verification.checks
    if not checks:
        return []
    lines = ["*Verification*", slack(wording.checks_headline(checks))]
    for check in checks:
        if not check.passed or check.warning:
            mark, name, run, detail = wording.check_row(check, _mark)
            lines.append(slack(" · ".join(t for t in (f"{mark} {name}", run, detail) if t)))
    return [_text("\n".join(lines))]


def _rollback(report: Report, slack: Callable[[str], str]) -> list[Block]:
    lines = [f"*Cancelled:* {slack(c)}" for c in wording.rollback_cancelled(report)]
    lines += [f"• {slack(clean(step))}" for step in report.rollback.steps]
    return [_text("\n".join(["*Rollback*", *lines]))] if lines else []


def _summary(report: Report, slack: Callable[[str], str]) -> list[Block]:
    summary = report.summary
    if not wording.has_results(summary):
        blocks = [_text(f"*Summary*\n{wording.NOTHING['Summary']}")]
    else:
        facts = wording.summary_facts(report, _mark)
        blocks = [_text("*Summary*"), *_fields(facts, slack)]
        seeds = [f"seed {s} · {run} · {v}" for s, run, v in wording.seed_rows(summary, _mark)]
        if seeds:
            title = f"*Per seed ({clean(summary.metric) or 'value'})*"
            blocks.append(_text(slack("\n".join([title, *seeds]))))
        if rows := wording.output_rows(summary, _mark):
            blocks += [_text("*Best model*"), *_fields(rows, slack)]
    if report.notes:
        notes = [slack(clean(n)) for n in report.notes]
        if len(notes) > MAX_CONTEXT_ELEMENTS:
            left = len(notes) - MAX_CONTEXT_ELEMENTS + 1
            notes = [*notes[: MAX_CONTEXT_ELEMENTS - 1], f"_…{left} more note(s) left out._"]
        blocks.append({"type": "context", "elements": [_mrkdwn(n) for n in notes]})
    return blocks
