"""What every rendering of the report says: its alerts, labelled facts, rows and sentences.

Markdown, the terminal (rich panels and plain lines) and Slack say the same things in their own
layout: the wording is made here once and each renderer only lays it out. Values are written by
:mod:`agent.report.values`, every free-text one redacted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agent.report.model import Change, Check, Plan, Report, Summary
from agent.report.values import (
    clean,
    fmt_metric,
    fmt_pairs,
    fmt_signed,
    fmt_value,
    plural,
    timings_text,
)
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
RUN_KINDS = frozenset({"parent_run", "baseline_run", "final_run"})
_TRIAL_STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")

RunRef = Callable[[str], str]
"""Formats a run ID for one medium (a code span, a Slack link, plain text)."""

Facts = list[tuple[str, str]]


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


AlertKind = Literal["failed", "cancelled", "refused", "needs_input"]


@dataclass(frozen=True)
class Alert:
    """What the reader must see before the sections: the failure, the refusals, what is missing.

    Attributes:
        kind: Which of the three it is (a failure is ``failed`` or ``cancelled``).
        title: e.g. ``Failed in tune``, ``Refused``, ``Needs input``.
        message: The failure as ``ErrorType: message``, or what to do with the items.
        items: The refusals or the missing inputs.
    """

    kind: AlertKind
    title: str
    message: str = ""
    items: tuple[str, ...] = ()


def alerts(report: Report) -> list[Alert]:
    """Return the report's alerts in the order they are shown, every text redacted.

    Only a report that needs input lists missing inputs.
    """
    found = []
    failure = report.failure
    if failure is not None:
        cancelled = report.status == "cancelled"
        found.append(
            Alert(
                kind="cancelled" if cancelled else "failed",
                title=f"{'Cancelled' if cancelled else 'Failed'} in {clean(failure.node)}",
                message=f"{clean(failure.error_type)}: {clean(failure.message)}",
            )
        )
    if report.plan.refusals:
        refused = tuple(clean(r) for r in report.plan.refusals)
        found.append(Alert(kind="refused", title="Refused", items=refused))
    if report.status == "needs_input":
        missing = tuple(clean(m) for m in report.plan.missing) or ("(the request is incomplete)",)
        found.append(
            Alert(
                kind="needs_input",
                title="Needs input",
                message="Give these and run again",
                items=missing,
            )
        )
    return found


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
