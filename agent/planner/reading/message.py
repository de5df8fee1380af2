"""The offline planner's language understanding: a deterministic reader from a message to an intent.

:func:`read_message` reads one plain-English message and returns an
:class:`~agent.planner.reading.intent.Intent`: what the person asks for (the action) and the values
they wrote. It never fills in a default and never guesses from an unknown word; defaults are
applied when a :class:`~agent.request.RequestDraft` is completed.

Reading order matters, because every value consumes the text it came from: deployment phrases and
names (experiment, namespace, target, dataset) go first so their words cannot pose as anything
else; then the words that choose the action are read; then numbers with units, seeds, metric and
model family.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agent.planner.reading.action import CONFIRM, DECLINE, HELP_ONLY, Signals, choose_action
from agent.planner.reading.budget import take_budget, take_seeds
from agent.planner.reading.dataset import take_dataset, take_target
from agent.planner.reading.deploy import take_deploy
from agent.planner.reading.fields import (
    take_approve,
    take_experiment,
    take_model,
    take_optimize,
    take_runtime,
)
from agent.planner.reading.intent import RUN_QUERIES, Action, Intent
from agent.planner.reading.metric import take_direction, take_metric
from agent.planner.reading.rejected import take_rejected
from agent.planner.reading.runs import (
    find_order,
    take_job_id,
    take_metric_key,
    take_run_ids,
    take_since,
)
from agent.planner.reading.scan import Scan

_NO_REQUEST = frozenset(
    {
        "cancel_job",
        "cancel_all_jobs",
        "job_status",
        "list_jobs",
        "list_datasets",
        "help",
        "reproduce_run",
    }
)
"""Actions that carry no request values: "abort the tuning job 5" asks for no tuning."""


_EXTREME = re.compile(
    r"\b(?:(?P<low>lowest|smallest|minimum|min|least|lower)|highest|largest|maximum|max|greatest"
    r"|biggest|higher)\b"
)
"""A metric's extreme in a run query: "the lowest rmse", "the highest AUC"."""


def read_message(
    text: str,
    *,
    known: Mapping[str, Sequence[str]] | None = None,
    now: datetime | None = None,
) -> Intent:
    """Read one message and return what it asks for, with only the values it states.

    Args:
        text: The message as the person wrote it.
        known: The dataset catalog, name -> versions. With it, bare names ("train on churn") and
            versions ("2024-06") are recognised and returned in the catalog's spelling.
        now: The time "last week" and "yesterday" count back from; defaults to the current UTC
            time.

    Returns:
        The intent. ``action`` is ``"unknown"`` when nothing in the message was understood.

    Example:
        >>> read_message("what was the best run last week", now=datetime(2025, 3, 12)).since
        datetime.datetime(2025, 3, 5, 0, 0)
    """
    scan = Scan(text)
    found = _Found(deploy=take_deploy(scan))
    since = take_since(scan, now or datetime.now(UTC))
    for name, taker in (
        ("experiment", take_experiment),
        ("runtime", take_runtime),
        ("target", take_target),
        ("approve", take_approve),
        ("optimize", take_optimize),
    ):
        found.put(name, taker(scan))
    values, spans = take_dataset(scan, known)
    found.fields.update(values)
    found.spans.update(spans)
    run_ids = take_run_ids(scan)
    reply = _yes_or_no(scan, found, run_ids)
    if reply is not None:
        return reply
    if HELP_ONLY.match(scan.remaining()) and not (found.fields or run_ids):
        return found.intent("help")
    signals = Signals.read(scan)
    job = take_job_id(scan)
    for name, (message, span) in take_rejected(scan).items():
        found.rejected[name], found.spans[f"rejected.{name}"] = message, span
    metric_key = take_metric_key(scan) if signals.history else None
    _take_values(scan, found)
    action = choose_action(signals, found.fields or found.rejected, run_ids, job, metric_key, since)
    return _finish(
        action, found, scan, run_ids=run_ids, job=job, metric_key=metric_key, since=since
    )


class _Found:
    """Values read so far, with the text each came from."""

    def __init__(self, deploy: list[str]):
        self.deploy = deploy
        self.rejected: dict[str, str] = {}
        self.fields: dict[str, Any] = {}
        self.spans: dict[str, str] = {}

    def put(self, name: str, value: tuple[Any, str] | None) -> None:
        if value is not None:
            self.fields[name], self.spans[name] = value

    def intent(self, action: Action, **extra: Any) -> Intent:
        return Intent(
            action=action,
            fields=self.fields,
            deploy_requested=self.deploy,
            rejected=self.rejected,
            spans=self.spans,
            **extra,
        )


def _yes_or_no(scan: Scan, found: _Found, run_ids: list[str]) -> Intent | None:
    """Return confirm/decline for a bare yes or no ("go ahead", "cancel that", "approved")."""
    if run_ids or set(found.fields) - {"approve"}:
        return None
    rest = scan.remaining()
    if CONFIRM.match(rest) or (not rest.strip() and found.fields.get("approve") is True):
        return found.intent("confirm")
    if DECLINE.match(rest) or (not rest.strip() and found.fields.get("approve") is False):
        return found.intent("decline")
    return None


def _take_values(scan: Scan, found: _Found) -> None:
    budget, budget_spans = take_budget(scan)
    if budget:
        found.fields["budget"] = budget
        found.spans.update({f"budget.{k}": v for k, v in budget_spans.items()})
    found.put("seeds", take_seeds(scan))
    found.put("metric", take_metric(scan))
    found.put("direction", take_direction(scan))
    found.put("model", take_model(scan))


def _finish(
    action: Action,
    found: _Found,
    scan: Scan,
    *,
    run_ids: list[str],
    job: tuple[str, str] | None,
    metric_key: tuple[str, str] | None,
    since: tuple[datetime, str] | None,
) -> Intent:
    """Attach the references that belong to ``action`` and drop the ones that do not."""
    extra: dict[str, Any] = {}
    if action in _NO_REQUEST:
        found.fields.clear()
        found.spans.clear()
    if action not in ("run_experiment", "answer"):
        found.rejected.clear()
        found.spans = {k: v for k, v in found.spans.items() if not k.startswith("rejected.")}
    if action in RUN_QUERIES:
        if "experiment" in found.fields:
            extra["experiment"] = found.fields.pop("experiment")
        if action != "query_runs":
            extra["run_ids"] = run_ids
    if action == "metric_history" and metric_key:
        extra["metric_key"], found.spans["metric_key"] = metric_key
    if action == "query_runs":
        if since:
            extra["since"], found.spans["since"] = since
        order = find_order(scan)
        if order:
            extra["order"], found.spans["order"] = order
        extreme = _EXTREME.search(scan.work)
        if extreme and "metric" in found.fields:
            way = "ASC" if extreme["low"] else "DESC"
            extra["order_by"] = f"metrics.valid_{found.fields['metric']} {way}"
            found.spans["order_by"] = scan.group(extreme, 0)
    if action in ("cancel_job", "job_status") and job:
        extra["job_id"], found.spans["job_id"] = job
    return found.intent(action, **extra)
