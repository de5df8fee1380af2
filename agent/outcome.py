"""What one turn of a conversation ends in: the typed outcomes every adapter matches.

The conversation returns exactly one of these with each turn; the terminal chat, Slack and CI
each decide what to show, ask or exit with by matching on it, so the same request ends the same
way in every face::

    match turn.outcome:
        case NeedsInput(missing=missing):   # chat asks, Slack asks in the thread, CI exits 3
        case NeedsApproval(plan=plan):      # chat asks yes/no, Slack posts buttons
        case Planned(plan=plan):            # ``trialrun plan``: nothing ran
        case Finished(reports=reports):     # the experiment's report(s)
        case Refused(reasons=reasons):      # deploy requests, a declined or unapproved plan
        case Answered(text=text):           # anything else: a query's answer, help
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.report.model import Plan, Report


@dataclass(frozen=True)
class NeedsInput:
    """Required inputs are missing: ask for them (or, with nobody to ask, list them).

    Attributes:
        missing: The missing required fields, in a stable order (``dataset``, ``version``,
            ``metric``, ``budget``, ``seeds``).
        problems: Why values given count as missing (not in the catalog).
        question: The question that asks for all of them at once.
    """

    missing: list[str]
    problems: list[str] = field(default_factory=list)
    question: str = ""


@dataclass(frozen=True)
class NeedsApproval:
    """The plan is over the approval policy and waits for a person's yes.

    Attributes:
        plan: The plan as it would run, and why it needs approval.
    """

    plan: str


@dataclass(frozen=True)
class Planned:
    """A dry run: the plan of a complete request; nothing ran.

    Attributes:
        plan: The Plan section.
    """

    plan: Plan


@dataclass(frozen=True)
class Finished:
    """One or more experiments ran to a report (succeeded, failed or cancelled).

    Attributes:
        reports: The reports, newest last.
    """

    reports: list[Report]


@dataclass(frozen=True)
class Refused:
    """Something asked for was refused: nothing of it ran.

    Attributes:
        reasons: What was refused and why.
        rejected: The plan a person declined, when that is the refusal.
    """

    reasons: list[str]
    rejected: str = ""


@dataclass(frozen=True)
class Answered:
    """The turn ended in text: a query's answer, help, or an input error to correct.

    Attributes:
        text: The answer.
        errors: Input errors the request tool returned (a value that cannot run as asked).
    """

    text: str
    errors: list[str] = field(default_factory=list)


Outcome = NeedsInput | NeedsApproval | Planned | Finished | Refused | Answered
"""Everything a turn can end in."""
