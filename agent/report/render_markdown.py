"""The report as Markdown, and the wording the rich and Slack renderers share with it.

Markdown is the reference rendering: the terminal and Slack say the same things in their own
layout, so the sentences, the number formats and the redaction live here once. Every free-text
string passes through :func:`clean` (redaction) before it is shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent.report.model import Change, Check, Plan, Report, Summary
from tools.redact import redact, redact_value
from tools.training.metrics import METRICS

SECTIONS = ("Plan", "Changes", "Verification", "Rollback", "Summary")
NOTHING = {
    "Plan": "Nothing was planned.",
    "Changes": "Nothing was created.",
    "Verification": "No checks were run.",
    "Rollback": "Nothing to roll back.",
    "Summary": "No results: no model was scored.",
}
PASS, FAIL, WARN = "✓", "✗", "!"
SIGNIFICANT = 5
RUN_KINDS = frozenset({"parent_run", "baseline_run", "final_run"})
_TRIAL_STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")

RunRef = Callable[[str], str]
"""Formats a run ID for one medium (a code span, a Slack link, plain text)."""

Facts = list[tuple[str, str]]


def clean(text: object) -> str:
    """Return ``text`` as a string with every secret and PII pattern redacted."""
    return redact(str(text))


def status_label(status: str) -> str:
    """Return the status as words, e.g. ``needs input``."""
    return status.replace("_", " ")


def fmt_metric(value: float | None) -> str:
    """Return a metric value with five significant digits (six when rounding carries over).

    Trailing zeros are kept so a column of values lines up; exponents appear only for values
    below 1e-4 or from 1e6 on.

    Example:
        >>> [fmt_metric(v) for v in (0.9234567, 0.9, 1234.5678, 0.00012345, 0.0)]
        ['0.92346', '0.90000', '1234.6', '0.00012345', '0.0000']
    """
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return f"{0:.{SIGNIFICANT - 1}f}"
    magnitude = math.floor(math.log10(abs(value)))
    if not -4 <= magnitude < 6:
        return f"{value:.{SIGNIFICANT - 1}e}"
    return f"{value:.{max(SIGNIFICANT - 1 - magnitude, 0)}f}"


def fmt_signed(value: float) -> str:
    """Return :func:`fmt_metric` of ``value`` with an explicit sign."""
    text = fmt_metric(value)
    return text if text.startswith("-") else f"+{text}"


def fmt_value(value: Any) -> str:
    """Return a plan input, budget or hyperparameter value as short redacted text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping):
        return fmt_pairs(value)
    if isinstance(value, list | tuple):
        return ", ".join(fmt_value(v) for v in value)
    if value is None:
        return "none"
    return clean(value)


def fmt_pairs(values: Mapping[str, Any], *, metric: bool = False) -> str:
    """Return ``k=v, ...``; a value under a secret-sounding key is hidden whole."""

    def one(value: Any) -> str:
        if metric and isinstance(value, int | float) and not isinstance(value, bool):
            return fmt_metric(float(value))
        text = fmt_value(value)
        return f"({text})" if isinstance(value, Mapping) else text

    pairs = [f"{clean(k)}={redact_value(str(k), one(v))}" for k, v in values.items()]
    return ", ".join(pairs) or "none"


def direction_of(summary: Summary) -> str | None:
    """Return ``maximize`` or ``minimize`` for the summary's metric, or None when unknown."""
    if summary.direction in ("maximize", "minimize"):
        return summary.direction
    metric = METRICS.get(summary.metric)
    return metric.direction if metric else None


def delta_text(summary: Summary) -> str | None:
    """Return the signed best-minus-baseline delta, judged better or worse by the direction.

    With a test share the comparison is on it (validation chose the best run, so its delta is
    optimistic); the validation delta follows in brackets.
    """
    if summary.delta is None:
        return None
    signed = fmt_signed(summary.delta)
    delta = summary.delta
    if summary.test_delta is not None:
        signed = f"{fmt_signed(summary.test_delta)} on the test share ({signed} on validation)"
        delta = summary.test_delta
    direction = direction_of(summary)
    if direction is None:
        return signed
    if delta == 0:
        verdict = "no change"
    else:
        verdict = "better" if (delta > 0) == (direction == "maximize") else "worse"
    return f"{signed}, {verdict} ({summary.metric or 'the metric'} is {direction}d)"


def held_out_text(summary: Summary) -> str:
    """Return what the test share was: its size, or that there was none."""
    if not summary.test_fraction:
        return (
            "none (test_fraction 0): every score above is on the validation split, which chose "
            "the best run"
        )
    return (
        f"{summary.test_fraction:.0%} of the rows, held out before training; no trial, early "
        "stopping or model choice saw them"
    )


def failure_heading(report: Report) -> str | None:
    """Return e.g. ``Failed in tune`` when the report has a failure."""
    if report.failure is None:
        return None
    verb = "Cancelled" if report.status == "cancelled" else "Failed"
    return f"{verb} in {clean(report.failure.node)}"


def failure_message(report: Report) -> str:
    """Return ``ErrorType: message`` of the report's failure, redacted."""
    failure = report.failure
    return f"{clean(failure.error_type)}: {clean(failure.message)}" if failure else ""


def missing_inputs(report: Report) -> list[str]:
    """Return the missing inputs to list (only a report that needs input lists them)."""
    if report.status != "needs_input":
        return []
    return [clean(m) for m in report.plan.missing] or ["(the request is incomplete)"]


def plural(n: int, word: str) -> str:
    """Return ``1 check`` or ``3 checks``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def plan_is_empty(plan: Plan) -> bool:
    """Return True when the plan has nothing to show besides refusals and missing inputs."""
    return not (
        plan.inputs or plan.steps or plan.defaults_used or plan.stopping_rule or plan.budget
    ) and (plan.trials is None)


def plan_facts(plan: Plan) -> Facts:
    """Return the plan's labelled lines (everything but the inputs table and the steps)."""
    facts: Facts = []
    if plan.defaults_used:
        facts.append(("Defaults used", ", ".join(clean(d) for d in plan.defaults_used)))
    if plan.trials is not None:
        facts.append(("Trials", f"up to {plan.trials}" if plan.trials else "none (no tuning)"))
    # The budget input already shows the same budget with its source; say it once.
    shown = any(i.name == "budget" and i.value == plan.budget for i in plan.inputs)
    if plan.budget and not shown:
        facts.append(("Budget", fmt_pairs(plan.budget)))
    if plan.stopping_rule:
        facts.append(("Stopping rule", clean(plan.stopping_rule)))
    if plan.best:
        facts.append(("Best", clean(plan.best)))
    if plan.rerun:
        facts.append(("Re-run", clean(plan.rerun)))
    return facts


def input_rows(plan: Plan) -> list[tuple[str, str, str]]:
    """Return (input, value, source) rows of the plan."""
    return [(clean(i.name), fmt_value(i.value), i.source) for i in plan.inputs]


def change_row(change: Change) -> tuple[str, str, str, str]:
    """Return (kind, id, name, detail) of one change, redacted; the id is left for the medium."""
    return (
        change.kind.replace("_", " "),
        clean(change.id),
        clean(change.name),
        clean(change.detail),
    )


def checks_headline(checks: list[Check]) -> str:
    """Return ``All 12 checks passed.``, ``2 of 12 checks failed.``, and the warnings."""
    failed = sum(not c.passed for c in checks)
    warned = sum(c.passed and c.warning for c in checks)
    if not checks:
        return NOTHING["Verification"]
    warnings = f" {plural(warned, 'warning')}." if warned else ""
    if failed:
        return f"{failed} of {plural(len(checks), 'check')} failed.{warnings}"
    if warned:
        return f"{len(checks) - warned} of {plural(len(checks), 'check')} passed.{warnings}"
    return f"All {plural(len(checks), 'check')} passed."


def check_row(check: Check, run: RunRef) -> tuple[str, str, str, str]:
    """Return (mark, name, run, detail) of one check, redacted."""
    mark = FAIL if not check.passed else WARN if check.warning else PASS
    return (mark, clean(check.name), run(check.run_id) if check.run_id else "", clean(check.detail))


def rollback_cancelled(report: Report) -> list[str]:
    """Return what the cancellation stopped, with its time."""
    rollback = report.rollback
    at = rollback.cancelled_at
    when = f" at {at.isoformat(sep=' ', timespec='seconds')}" if at else ""
    lines = [clean(c) for c in rollback.cancelled]
    if when:
        lines = [f"{line}{when}" for line in lines] or [f"cancelled{when}"]
    return lines


def has_results(summary: Summary) -> bool:
    """Return True when the summary holds a scored run, seeds, trials or a trained model."""
    return bool(
        summary.best_value is not None
        or summary.baseline_value is not None
        or summary.seeds
        or summary.trials
        or summary.output
    )


def summary_facts(report: Report, run: RunRef) -> Facts:
    """Return the summary's labelled lines: best vs baseline, delta, seeds, trials, stop reason."""
    s = report.summary
    names = {c.id: clean(c.name) for c in report.changes.items if c.name}

    def where(run_id: str) -> str:
        name = f" ({names[run_id]})" if run_id in names else ""
        return f"in {run(run_id)}{name}"

    def scored(run_id: str | None, value: float | None, test: float | None) -> str:
        text = fmt_metric(value)
        if test is not None:
            text = f"{text} validation, {fmt_metric(test)} test"
        return f"{text} {where(run_id)}" if run_id else text

    facts: Facts = []
    if s.metric:
        direction = direction_of(s)
        facts.append(
            ("Metric", f"{clean(s.metric)} ({direction})" if direction else clean(s.metric))
        )
    if s.best_value is not None:
        if len(s.seeds) > 1 and s.best_run_id:
            text = scored(None, s.best_value, s.best_test_value)
            seeds = plural(len(s.seeds), "seed")
            facts.append(
                ("Best", f"{text}, mean of {seeds}; first seed's model {where(s.best_run_id)}")
            )
        else:
            facts.append(("Best", scored(s.best_run_id, s.best_value, s.best_test_value)))
    else:
        facts.append(("Best", "none: no final run was scored"))
    if s.baseline_value is not None:
        facts.append(
            ("Baseline", scored(s.baseline_run_id, s.baseline_value, s.baseline_test_value))
        )
    delta = delta_text(s)
    if delta:
        facts.append(("Delta", delta))
    if s.test_fraction is not None:
        facts.append(("Test share", held_out_text(s)))
    if s.mean is not None:
        spread = f" ± {fmt_metric(s.std)}" if s.std is not None else ""
        facts.append(
            ("Over seeds", f"{fmt_metric(s.mean)}{spread} ({plural(len(s.seeds), 'seed')})")
        )
    if s.trials:
        facts.append(("Trials", _trials_text(report)))
    return facts + _closing_facts(report)


def _closing_facts(report: Report) -> Facts:
    """Return why tuning stopped, how reproducible it is and how long each phase took."""
    s = report.summary
    facts: Facts = []
    if s.stop_reason:
        facts.append(("Stopped", clean(s.stop_reason)))
    if s.reproducibility:
        facts.append(("Reproducibility", clean(s.reproducibility)))
    if report.timings:
        facts.append(("Time", timings_text(report.timings)))
    return facts


def _trials_text(report: Report) -> str:
    trials = report.summary.trials
    order = {state: i for i, state in enumerate(_TRIAL_STATES)}
    counts = sorted(trials.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    parts = ", ".join(f"{n} {clean(state).lower()}" for state, n in counts)
    planned = f" of {report.plan.trials} planned" if report.plan.trials else ""
    return f"{sum(trials.values())}{planned} ({parts})"


def timings_text(timings: Mapping[str, float]) -> str:
    """Return each phase's wall time and their sum, e.g. ``validate 0.4 s · tune 171.2 s``.

    Example:
        >>> timings_text({"validate": 0.412, "tune": 171.25})
        'validate 0.4 s · tune 171.2 s (171.7 s in all)'
    """
    parts = " · ".join(f"{clean(phase)} {seconds:.1f} s" for phase, seconds in timings.items())
    return f"{parts} ({sum(timings.values()):.1f} s in all)"


def seed_rows(summary: Summary, run: RunRef) -> list[tuple[str, str, str]]:
    """Return (seed, run, value) rows of the per-seed results."""
    return [
        (
            str(r.seed),
            run(r.run_id),
            fmt_metric(r.value)
            + (f" · test {fmt_metric(r.test_value)}" if r.test_value is not None else ""),
        )
        for r in summary.seeds
    ]


def output_rows(summary: Summary, run: RunRef) -> Facts:
    """Return the ModelTrainerOutput fields of the best run, under their own names."""
    out = summary.output
    if out is None:
        return []
    return [
        ("model_artifact_path", clean(out.model_artifact_path or "not logged")),
        ("mlflow_run_id", run(out.mlflow_run_id)),
        ("training_time_seconds", f"{out.training_time_seconds:.1f}"),
        ("training_metrics", fmt_pairs(out.training_metrics, metric=True)),
        ("validation_metrics", fmt_pairs(out.validation_metrics, metric=True)),
        *([("test_metrics", fmt_pairs(out.test_metrics, metric=True))] if out.test_metrics else []),
        ("best_hyperparameters", fmt_pairs(out.best_hyperparameters)),
    ]


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
    heading = failure_heading(report)
    if heading:
        blocks.append(f"> **{heading}:** {failure_message(report)}")
    if report.plan.refusals:
        refused = "\n".join(f"> - {clean(r)}" for r in report.plan.refusals)
        blocks.append(f"> **Refused:**\n>\n{refused}")
    missing = missing_inputs(report)
    if missing:
        listed = "\n".join(f"> - {m}" for m in missing)
        blocks.append(f"> **Needs input.** Give these and run again:\n>\n{listed}")
    return blocks


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
