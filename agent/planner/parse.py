"""The offline planner's language understanding: a deterministic parser from a message to an intent.

:func:`parse` reads one plain-English message and returns an :class:`Intent`: what the person asks
for (the action) and the values they wrote. It never fills in a default and never guesses from an
unknown word; defaults are applied when a :class:`~agent.request.RequestDraft` is completed.

Reading order matters, because every value consumes the text it came from: deployment phrases and
names (experiment, namespace, target, dataset) go first so their words cannot pose as anything
else; then the words that choose the action are read; then numbers with units, seeds, metric and
model family.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.planner.parse_budget import take_budget, take_seeds
from agent.planner.parse_dataset import take_dataset, take_target
from agent.planner.parse_deploy import take_deploy
from agent.planner.parse_fields import (
    take_approve,
    take_experiment,
    take_model,
    take_optimize,
    take_runtime,
)
from agent.planner.parse_metric import take_direction, take_metric
from agent.planner.parse_rejected import take_rejected
from agent.planner.parse_runs import (
    find_order,
    take_job_id,
    take_metric_key,
    take_run_ids,
    take_since,
)
from agent.planner.parse_scan import Scan

Action = Literal[
    "run_experiment",
    "answer",
    "query_runs",
    "show_run",
    "compare_runs",
    "metric_history",
    "reproduce_run",
    "list_datasets",
    "cancel_job",
    "cancel_all_jobs",
    "job_status",
    "list_jobs",
    "help",
    "confirm",
    "decline",
    "unknown",
]
RUN_QUERIES: frozenset[str] = frozenset(
    {"query_runs", "show_run", "compare_runs", "metric_history", "reproduce_run"}
)
"""Actions about past runs: for them an experiment name filters runs instead of naming a new one."""
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


class Intent(BaseModel):
    """What one message asks for, and only the values it states.

    Attributes:
        action: What the person wants done.
        fields: ``RequestDraft`` field values the message states (``dataset``, ``version``,
            ``target``, ``model``, ``metric``, ``direction``, ``optimize``, ``experiment``,
            ``runtime``, ``approve``, ``seeds``), plus ``budget``: a partial dict with any of
            ``trials``, ``seconds``, ``cpus``, ``gpus``, ``parallel``.
        run_ids: MLflow run IDs or run names, for ``show_run``, ``compare_runs``,
            ``metric_history`` and ``reproduce_run``.
        job_id: The job of ``cancel_job`` or ``job_status``.
        metric_key: The MLflow metric key of ``metric_history``, as written.
        experiment: The experiment a run query is about.
        since: The start of a run query's time window.
        order: How ``query_runs`` ranks: the best or the latest runs.
        order_by: An MLflow ordering for ``query_runs`` by a metric's extreme ("which run had
            the lowest rmse": ``metrics.valid_rmse ASC``).
        deploy_requested: The phrases that ask to deploy, register, promote, stage or serve a
            model; trialrun does none of these, so a non-empty list must be refused out loud.
        rejected: For each field the message asks for what trialrun cannot do as asked (an
            unsupported metric, model family or task, a count that is no count), why, with the
            supported choices; such a value is never mapped to a neighbour.
        spans: For each value returned, the exact text it came from (budget parts as
            ``budget.trials`` and so on).

    Example:
        >>> intent = parse("tune xgboost on churn v3, 20 trials, seeds 1 2 3")
        >>> intent.action, intent.fields["budget"], intent.spans["version"]
        ('run_experiment', {'trials': 20}, 'churn v3')
    """

    model_config = ConfigDict(extra="forbid")

    action: Action
    fields: dict[str, Any]
    run_ids: list[str] = Field(default_factory=list)
    job_id: str | None = None
    metric_key: str | None = None
    experiment: str | None = None
    since: datetime | None = None
    order: Literal["best", "latest"] | None = None
    order_by: str | None = None
    deploy_requested: list[str] = Field(default_factory=list)
    rejected: dict[str, str] = Field(default_factory=dict)
    spans: dict[str, str] = Field(default_factory=dict)


def _reply(*phrases: str) -> re.Pattern[str]:
    """Match a whole message made of ``phrases`` and fillers, with at least one phrase."""
    spelled = "|".join(p.replace(" ", r"\s+") for p in phrases)
    word = rf"(?:{spelled})(?![\w'])[\W_]*"
    filler = r"(?:please|thanks|thank\s+you|then|just|and)(?![\w'])[\W_]*"
    return re.compile(rf"^[\W_]*(?:{filler})*{word}(?:{word}|{filler})*$")


_CONFIRM = _reply(
    "yes", "y", "yep", "yeah", "yup", "sure", "ok", "okay", "k", "go", "go ahead", "go for it",
    "do it", "proceed", "confirm", "confirmed", "sounds good", "looks good", "lgtm", "please do",
    "run it", "start it", "let's go", "lets go", "affirmative", "correct", "fine", "great",
    "perfect", "absolutely", "of course",
)  # fmt: skip
_DECLINE = _reply(
    "no", "n", "nope", "nah", "cancel", "cancel that", "cancel it", "don't", "dont", "do not",
    "stop", "abort", "never mind", "nevermind", "not now", "not yet", "no thanks", "forget it",
    "don't run it", "hold off", "wait", "negative",
)  # fmt: skip
_HELP_ONLY = re.compile(
    r"^\W*(?:help(?:\s+me)?|usage|commands|\?+|what\s+can\s+you\s+do|what\s+do\s+you\s+do|"
    r"how\s+does\s+(?:this|it)\s+work|how\s+do\s+i\s+use\s+(?:this|you|it|trialrun)|"
    r"what\s+can\s+i\s+(?:ask|say|do))\W*$"
)


@dataclass(frozen=True)
class _Signals:
    """The words that choose the action, read once names and deployment phrases are consumed."""

    strong: bool
    weak: bool
    cancel_all: bool
    cancel: bool
    history: bool
    compare: bool
    reproduce: bool
    query: bool
    runs: bool
    jobs: bool
    status: bool
    datasets: bool
    help: bool

    @classmethod
    def read(cls, scan: Scan) -> _Signals:
        return cls(**{name: scan.has(pattern) for name, pattern in _SIGNALS.items()})


_SIGNALS: dict[str, re.Pattern[str]] = {
    "strong": re.compile(
        r"(?<![\w-])(?:train|retrain|re-train|tune|re-tune|retune|fine-tune|fit|benchmark|sweep)"
        r"(?![\w-])"
    ),
    "weak": re.compile(
        r"\b(?:run|rerun|re-run|compare|try|build|launch|start|kick\s+off|experiment\s+with|"
        r"training|trained|tuning|tuned|optimi[sz]e|predict)\b(?!\s+(?:it|that|this)\b)"
    ),
    "cancel_all": re.compile(
        r"\b(?:cancel|stop|kill|abort|terminate|halt|shut\s+down)\s+(?:everything|all\b"
        r"(?:\s+(?:the|my|our|of\s+the|of\s+my|of\s+them|that'?s?|which|running|active|current|"
        r"queued|jobs?|experiments?|runs|training|tuning|things|work|is|are))*)"
        r"|\b(?:cancel|stop|kill|abort|terminate|halt)\s+(?:every|each)\s+(?:running\s+)?"
        r"(?:job|experiment|run)\b"
    ),
    "cancel": re.compile(
        r"\b(?:cancel|stop|kill|abort|terminate|halt)\b(?:\s+(?:the|my|that|this|running|current|"
        r"active|tuning|training|experiment)){0,3}\s+(?:job\b|#?\d|experiment\b|training\b|"
        r"tuning\b)(?!.*\b(?:after|when|once|if)\b)"
    ),
    "history": re.compile(
        r"\b(?:history|curve|trajectory|over\s+time|per\s+step|by\s+step|plot|chart|graph|"
        r"evolved?|evolution)\b"
    ),
    "compare": re.compile(r"\b(?:compare|comparison|diff|vs\.?|versus|against)\b"),
    "reproduce": re.compile(r"\b(?:reproduce|reproducible|replay|re-play)\b"),
    "query": re.compile(
        r"\b(?:best|top|winning|latest|last|most\s+recent|newest|recent|previous|worst)\s+"
        r"(?:\w+\s+)?(?:runs?|models?|results?|scores?)\b"
        r"|\b(?:list|show|find|get|search|which|what|all|my|any)\b(?:\s+\w+){0,3}?\s+runs\b"
        r"|\bruns\s+(?:of|in|from|under|since)\b|^\W*runs\W*$|\bhow\s+many\s+runs\b"
        r"|\b(?:which|what)\s+(?:\w+\s+)?(?:runs?|experiments?|models?|trials?)\s+(?:had|has|have|"
        r"got|gave|scored|reached|achieved|with)\b"
    ),
    "runs": re.compile(r"\bruns?\b"),
    "jobs": re.compile(
        r"\b(?:list|show|which|what|running|active|queued|all|my|current|any)\b(?:\s+\w+){0,3}?"
        r"\s+jobs\b|^\W*jobs\W*$|\bwhat(?:'s|\s+is)\s+running\b"
    ),
    "status": re.compile(
        r"\bstatus\b|\bprogress\b|\bhow(?:'s|\s+is|\s+are)\s+(?:the\s+|my\s+|our\s+|that\s+|"
        r"this\s+)?(?:jobs?|it|things|training|tuning|experiments?|runs?|sweep|study)\b"
        r"|\bis\s+(?:the\s+|my\s+)?job\b|\bhow\s+far\s+along\b"
        r"|\b(?:is|are)\s+(?:it|they|the\s+\w+|my\s+\w+)\s+(?:done|finished|still\s+running)\b"
    ),
    "datasets": re.compile(
        r"\b(?:list|show|which|what|available|all|any|our)\b(?:\s+\w+){0,3}?\s+(?:datasets|"
        r"data\s+sets)\b|^\W*datasets\W*$|\bwhat\s+data\s+(?:do|is|have|are)\b|\bcatalog(?:ue)?\b"
    ),
    "help": re.compile(r"\bhelp\b|\bwhat\s+can\s+you\s+do\b"),
}


_EXTREME = re.compile(
    r"\b(?:(?P<low>lowest|smallest|minimum|min|least|lower)|highest|largest|maximum|max|greatest"
    r"|biggest|higher)\b"
)
"""A metric's extreme in a run query: "the lowest rmse", "the highest AUC"."""


def parse(
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
        >>> parse("what was the best run last week", now=datetime(2025, 3, 12)).since
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
    if _HELP_ONLY.match(scan.remaining()) and not (found.fields or run_ids):
        return found.intent("help")
    signals = _Signals.read(scan)
    job = take_job_id(scan)
    for name, (message, span) in take_rejected(scan).items():
        found.rejected[name], found.spans[f"rejected.{name}"] = message, span
    metric_key = take_metric_key(scan) if signals.history else None
    _take_values(scan, found)
    action = _choose(signals, found.fields or found.rejected, run_ids, job, metric_key, since)
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
    if _CONFIRM.match(rest) or (not rest.strip() and found.fields.get("approve") is True):
        return found.intent("confirm")
    if _DECLINE.match(rest) or (not rest.strip() and found.fields.get("approve") is False):
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


def _choose(
    signals: _Signals,
    fields: Mapping[str, Any],
    run_ids: list[str],
    job: tuple[str, str] | None,
    metric_key: tuple[str, str] | None,
    since: tuple[datetime, str] | None,
) -> Action:
    """Pick the action; the earlier a rule, the more specific the request it recognises."""
    if signals.cancel_all:
        return "cancel_all_jobs"
    if signals.cancel:
        return "cancel_job"
    if signals.reproduce and run_ids:
        return "reproduce_run"
    if signals.status and not fields and not run_ids:  # "how far along is the sweep?"
        return "job_status"
    if signals.strong:
        return "run_experiment"
    if run_ids or (signals.history and metric_key):
        if signals.history:
            return "metric_history"
        return "compare_runs" if signals.compare else "show_run"
    if signals.query or (since and signals.runs):
        return "query_runs"
    # "baseline only: xgboost on churn v2" asks for a run as much as "run xgboost on churn v2".
    if (signals.weak or "optimize" in fields) and fields.keys() & {"dataset", "model"}:
        return "run_experiment"
    return _choose_other(signals, fields, job)


def _choose_other(
    signals: _Signals, fields: Mapping[str, Any], job: tuple[str, str] | None
) -> Action:
    if job or (signals.status and not signals.jobs):
        return "job_status"
    if signals.jobs:
        return "list_jobs"
    if signals.datasets:
        return "list_datasets"
    if fields:
        return "answer"
    return "help" if signals.help else "unknown"


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
