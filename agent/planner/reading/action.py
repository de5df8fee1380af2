"""Which action a message asks for: the words that choose it, and the rules that weigh them.

A bare yes or no ("go ahead", "cancel that") confirms or declines; otherwise the words left once
names and deployment phrases are consumed (:class:`Signals`) and the values found choose the
action (:func:`choose_action`), the more specific request first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.planner.reading.intent import Action
from agent.planner.reading.scan import Scan


def _reply(*phrases: str) -> re.Pattern[str]:
    """Match a whole message made of ``phrases`` and fillers, with at least one phrase."""
    spelled = "|".join(p.replace(" ", r"\s+") for p in phrases)
    word = rf"(?:{spelled})(?![\w'])[\W_]*"
    filler = r"(?:please|thanks|thank\s+you|then|just|and)(?![\w'])[\W_]*"
    return re.compile(rf"^[\W_]*(?:{filler})*{word}(?:{word}|{filler})*$")


CONFIRM = _reply(
    "yes", "y", "yep", "yeah", "yup", "sure", "ok", "okay", "k", "go", "go ahead", "go for it",
    "do it", "proceed", "confirm", "confirmed", "sounds good", "looks good", "lgtm", "please do",
    "run it", "start it", "let's go", "lets go", "affirmative", "correct", "fine", "great",
    "perfect", "absolutely", "of course",
)  # fmt: skip
DECLINE = _reply(
    "no", "n", "nope", "nah", "cancel", "cancel that", "cancel it", "don't", "dont", "do not",
    "stop", "abort", "never mind", "nevermind", "not now", "not yet", "no thanks", "forget it",
    "don't run it", "hold off", "wait", "negative",
)  # fmt: skip
HELP_ONLY = re.compile(
    r"^\W*(?:help(?:\s+me)?|usage|commands|\?+|what\s+can\s+you\s+do|what\s+do\s+you\s+do|"
    r"how\s+does\s+(?:this|it)\s+work|how\s+do\s+i\s+use\s+(?:this|you|it|trialrun)|"
    r"what\s+can\s+i\s+(?:ask|say|do))\W*$"
)


@dataclass(frozen=True)
class Signals:
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
    def read(cls, scan: Scan) -> Signals:
        """Return which of the words are in what is left of the message."""
        return cls(**{name: scan.has(pattern) for name, pattern in SIGNALS.items()})


SIGNALS: dict[str, re.Pattern[str]] = {
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


def choose_action(
    signals: Signals,
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
    signals: Signals, fields: Mapping[str, Any], job: tuple[str, str] | None
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
