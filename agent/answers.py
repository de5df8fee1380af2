"""Answers to run queries as tables: data that each adapter renders (terminal, plain lines, Slack).

A query tool gives the model its result as JSON and the person a table built from the same
result: every run with its full ID, experiment and metric, scores rounded to
:data:`SIGNIFICANT` significant digits. The person never reads the model's copy of the numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.tracking.query import RunComparison, RunList, RunSummary

SIGNIFICANT = 4
"""Significant digits of a score in an answer: a validation score's noise is in the fourth."""


@dataclass(frozen=True)
class AnswerTable:
    """One table of an answer.

    Attributes:
        title: What the table shows, naming the experiment(s) and the metric.
        columns: Column headings.
        rows: One row per item, every cell text.
        notes: What was left out or how the rows are ordered.
    """

    title: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Return the table as plain lines: the title, then one line per row, never wrapped.

        Example:
            >>> AnswerTable("Runs", ("Run ID", "Status"), [("abc", "FINISHED")]).lines()
            ['Runs', '  Run ID: abc  Status: FINISHED']
        """
        body = [
            "  " + "  ".join(f"{c}: {v}" for c, v in zip(self.columns, row, strict=True) if v)
            for row in self.rows
        ]
        return [self.title, *body, *(f"  ({note})" for note in self.notes)]


def fmt_score(value: float | None, digits: int = SIGNIFICANT) -> str:
    """Return ``value`` rounded to ``digits`` significant digits, or ``-`` when there is none.

    Example:
        >>> [fmt_score(v) for v in (0.04173211659097751, 0.99123, 1234.567, 0.0, None)]
        ['0.04173', '0.9912', '1235', '0', '-']
    """
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.{digits}g}"
    # A large value keeps its whole digits (12346, not 1.235e+04); a tiny one its exponent.
    return f"{value:.0f}" if "e" in text and abs(value) >= 1 else text


def is_json(text: str) -> bool:
    """Return True when ``text`` is a JSON object or list, or the start of one cut to size.

    That is a tool's result repeated, not an answer to show a person.

    Example:
        >>> is_json('{"runs": []}'), is_json('{"runs": [{"run_id": ... [cut'), is_json("2 runs.")
        (True, True, False)
    """
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        return True
    try:
        return isinstance(json.loads(stripped), dict | list)
    except ValueError:
        return False


def metric_of(run: RunSummary) -> str:
    """Return the primary metric a trialrun run was scored on (its ``metric`` parameter)."""
    return run.params.get("metric", "")


def runs_table(found: RunList, *, names: dict[str, str], best: bool = False) -> AnswerTable:
    """Return the runs a search found, one row each, with experiment, metric and scores.

    Args:
        found: The search result.
        names: Experiment id -> name.
        best: The rows are final runs ranked best first by each one's metric.
    """
    metrics = sorted({m for m in map(metric_of, found.runs) if m})
    experiments = sorted({names.get(r.experiment_id, r.experiment_id) for r in found.runs})
    where = ", ".join(experiments) if experiments else ", ".join(found.experiments) or "-"
    what = "Best final runs" if best else "Runs"
    title = f"{what} in experiment {where}" + (f" · metric {', '.join(metrics)}" if metrics else "")
    rows = []
    for run in found.runs:
        metric = metric_of(run)
        rows.append(
            (
                run.run_id,
                run.name or "-",
                run.role or "-",
                run.status,
                names.get(run.experiment_id, run.experiment_id),
                metric or "-",
                fmt_score(_score(run, "valid")),
                fmt_score(_score(run, "test")),
                (run.start_time or "-").replace("T", " ").removesuffix("+00:00"),
            )
        )
    notes = list(found.cut)
    if found.order_by:
        notes.append(f"ordered by {', '.join(found.order_by)}")
    if found.more:
        notes.append("more runs match: ask for a higher limit or a narrower filter")
    if not rows:
        notes.append("no run matches")
    return AnswerTable(
        title=title,
        columns=(
            "Run ID",
            "Name",
            "Role",
            "Status",
            "Experiment",
            "Metric",
            "Valid",
            "Test",
            "Started (UTC)",
        ),
        rows=rows,
        notes=notes,
    )


def run_table(run: RunSummary, *, experiment: str) -> AnswerTable:
    """Return one run: identity, then each metric and parameter on a row of its own."""
    metric = metric_of(run)
    title = f"Run {run.run_id} ({run.name or 'unnamed'}) in experiment {experiment}" + (
        f" · metric {metric}" if metric else ""
    )
    rows: list[tuple[str, str]] = [
        ("status", run.status),
        ("role", run.role or "-"),
        ("parent run", run.parent_run_id or "-"),
        ("started (UTC)", (run.start_time or "-").replace("T", " ").removesuffix("+00:00")),
    ]
    rows += [(f"metric {k}", fmt_score(v)) for k, v in run.metrics.items()]
    rows += [(f"param {k}", v) for k, v in run.params.items()]
    rows += [("dataset", d) for d in run.datasets]
    return AnswerTable(title=title, columns=("Field", "Value"), rows=rows, notes=list(run.cut))


def comparison_table(found: RunComparison, *, experiment: str) -> AnswerTable:
    """Return runs side by side: one row per metric, then per parameter that differs."""
    header = tuple(f"{found.names.get(r) or '-'} ({r})" for r in found.run_ids)
    rows = [
        (f"metric {k}", *(fmt_score(values.get(r)) for r in found.run_ids))
        for k, values in found.metrics.items()
    ]
    rows += [
        (f"param {k}", *(found.params[k].get(r) or "-" for r in found.run_ids))
        for k in found.differing_params
    ]
    notes = [*found.cut, "parameters that are the same in every run are left out"]
    return AnswerTable(
        title=f"Runs compared in experiment {experiment}",
        columns=("", *header),
        rows=rows,
        notes=notes,
    )


def _score(run: RunSummary, split: str) -> float | None:
    metric = metric_of(run)
    if not metric:
        return None
    for key in (f"best_{split}_{metric}", f"{split}_{metric}"):
        if key in run.metrics:
            return run.metrics[key]
    return None
