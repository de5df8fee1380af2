"""What one conversation with the agent carries besides its messages.

The same object is passed on every invocation of a conversation (and on every resume), so tools
can append the reports they produce, the refusals they record and the usage they count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.answers import AnswerTable
from agent.approval import ApprovalPolicy
from agent.pipeline.events import ProgressFn
from agent.report.model import Report

Mode = Literal["chat", "batch", "slack"]


@dataclass
class Usage:
    """Model calls and tokens spent in a conversation."""

    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def since(self, earlier: Usage) -> Usage:
        """Return what was spent after ``earlier``, a copy of this usage taken then."""
        return Usage(
            self.model_calls - earlier.model_calls,
            self.input_tokens - earlier.input_tokens,
            self.output_tokens - earlier.output_tokens,
        )


@dataclass
class AgentContext:
    """The run-scoped context of one conversation.

    Attributes:
        mode: Where the conversation happens (chat, batch/CI, Slack).
        front_matter: Fields a prompt file stated; they win over what the model passes.
        stated_text: Text the person wrote outside the messages (a prompt file's body).
        dry_run: Plan only: the run-experiment tool stops at the plan.
        pre_approved: A prompt file's ``approve: true``.
        policy: When plans need approval.
        progress: Live progress sink for running experiments.
        cancel: Cancels the running experiment.
        reports: Reports produced in this conversation, newest last.
        refusals: What was refused (deploy requests, hidden instructions), newest last.
        usage: Model calls and tokens.
        pending_missing: Inputs the last run-experiment call found missing.
        pending_problems: Why values it was given count as missing (not in the catalog).
        plans: Plans the run-experiment tool made in dry-run mode, newest last.
        errors: Input errors the run-experiment tool returned (a value nobody stated fits), newest
            last: where nobody can fix them (CI), they end the turn as a usage error.
        deploy_seen: The ids of the messages the deploy guard has read.
        trace: The model and tool calls of the conversation (:class:`tools.tracking.traces.Step`), written
            to MLflow as each turn's trace.
        tables: What the run-query tools found, as tables for the person, newest last.
        proposals: Each run-experiment call grounded once (:class:`agent.proposal.Proposal`), by
            tool call id: the approval check and the tool read the same one.
    """

    mode: Mode = "chat"
    front_matter: dict[str, Any] = field(default_factory=dict)
    stated_text: str = ""
    dry_run: bool = False
    pre_approved: bool = False
    policy: ApprovalPolicy = field(default_factory=ApprovalPolicy.from_env)
    progress: ProgressFn | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    reports: list[Report] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    pending_missing: list[str] = field(default_factory=list)
    pending_problems: list[str] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    deploy_seen: set[str] = field(default_factory=set)
    proposals: dict[str, Any] = field(default_factory=dict)
    trace: list[Any] = field(default_factory=list)
    tables: list[AnswerTable] = field(default_factory=list)

    def refuse(self, reason: str) -> None:
        """Record a refusal once."""
        if reason not in self.refusals:
            self.refusals.append(reason)
