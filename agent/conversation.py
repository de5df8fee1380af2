"""One conversation with the agent: turns, questions, approvals — the same for every adapter.

An adapter (terminal, CI, Slack) sends the person's text and supplies a :class:`Responder` that
answers the agent's interrupts: a question for missing inputs, or an approval for a costly plan.
A responder that cannot answer (CI has no one to ask) ends the turn with what was missing or
refused. Every turn ends in one typed :mod:`agent.outcome`, which each adapter matches.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.types import Command

from agent.answers import AnswerTable
from agent.context import AgentContext, Usage
from agent.guards import redact_message
from agent.outcome import (
    Answered,
    Finished,
    NeedsApproval,
    NeedsInput,
    Outcome,
    Planned,
    Refused,
)
from agent.report.model import Plan, Report

MAX_INTERRUPTS_PER_TURN = 6
MAX_MESSAGE_CHARS = 20_000
"""The longest message read: a request or an answer, not pasted data."""


class Responder(Protocol):
    """Answers the agent's interrupts for one adapter."""

    def ask(self, question: str, missing: list[str]) -> str | None:
        """Return the person's answer, or None when nobody can answer."""
        ...

    def approve(self, description: str) -> bool | None:
        """Return True when the person approves the plan described, None when nobody can yet."""
        ...


@dataclass
class TurnResult:
    """What one turn produced; ``outcome`` is what it ended in, the rest its details."""

    answer: str = ""
    reports: list[Report] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    question: str = ""
    rejected: str = ""
    plans: list[dict[str, Any]] = field(default_factory=list)
    awaiting: str = ""
    errors: list[str] = field(default_factory=list)
    tables: list[AnswerTable] = field(default_factory=list)
    outcome: Outcome = field(default_factory=lambda: Answered(""))


class Conversation:
    """A conversation thread with the agent.

    Args:
        model: The chat model; None for the configured one (the offline planner by default).
        context: The conversation's context.
        checkpointer: Where the conversation is kept (in memory unless given).
        thread_id: The conversation's id (a Slack thread, a chat session).
    """

    def __init__(
        self,
        model: Any = None,
        *,
        context: AgentContext | None = None,
        checkpointer: Any = None,
        thread_id: str | None = None,
        model_label: str | None = None,
    ):
        from agent.agent import build_agent
        from agent.guards import RECURSION_LIMIT
        from agent.models import load_model, model_name

        self.context = context or AgentContext()
        self.model_label = model_label or (model_name() if model is None else type(model).__name__)
        self.agent = build_agent(model or load_model(), self.context, checkpointer=checkpointer)
        # A conversation kept on disk (a Slack thread) saves every step, so a restart mid-turn
        # finds the tool call it left; one kept in memory saves once a turn ends: saving every
        # step copied the whole history each time.
        self.durability: Any = "async" if checkpointer is not None else "exit"
        self.config = {
            "configurable": {"thread_id": thread_id or uuid.uuid4().hex},
            "recursion_limit": RECURSION_LIMIT,
        }

    def send(self, text: str, responder: Responder, *, request: bool = False) -> TurnResult:
        """Send the person's message and run the turn to its end.

        Args:
            text: The person's message.
            responder: Answers the turn's questions and approvals.
            request: The message is an experiment request (a prompt file): if the model neither
                runs nor plans it — it asks in prose, or does nothing — the turn still ends in
                :class:`NeedsInput` with the inputs the request lacks.

        Raises:
            InputError: The message is longer than :data:`MAX_MESSAGE_CHARS`.
        """
        if len(text) > MAX_MESSAGE_CHARS:
            from tools.errors import InputError

            raise InputError(
                f"The message is {len(text):,} characters long; trialrun reads at most "
                f"{MAX_MESSAGE_CHARS:,}.",
                hint="Send the request itself, without pasted data or logs.",
            )
        # Redacted before it enters the conversation: the checkpointer writes every message to
        # disk (a Slack thread's), and the guardrails would redact it for the model anyway.
        return self._run(
            {"messages": [HumanMessage(redact_message(text))]},
            responder,
            TurnResult(),
            request=request,
        )

    def pending(self) -> list[Any]:
        """Return the interrupts (a question, an approval) the conversation waits on, if any.

        They are read from the checkpointer, so a conversation built again after a restart, with
        the same checkpointer and thread id, finds what its previous turn left unanswered.
        """
        return list(self.agent.get_state(self.config).interrupts)

    def resume(self, responder: Responder) -> TurnResult:
        """Answer the pending interrupts through ``responder`` and run the turn to its end.

        For adapters whose answers arrive later, as another message (a Slack thread): the turn
        that asked ended unanswered, and this picks it up where it stopped. With nothing pending,
        or when the responder still cannot answer, nothing runs.
        """
        turn = TurnResult()
        interrupts = self.pending()
        resume = self._answer(interrupts, responder, turn) if interrupts else None
        if resume is None:
            return turn
        return self._run(Command(resume=resume), responder, turn)

    def _run(
        self, first: Any, responder: Responder, turn: TurnResult, *, request: bool = False
    ) -> TurnResult:
        context = self.context
        before_reports, before_refusals = len(context.reports), len(context.refusals)
        before_plans, usage_before = len(context.plans), replace(context.usage)
        before_errors, before_trace = len(context.errors), len(context.trace)
        before_tables = len(context.tables)
        state = self._invoke(first)
        for _ in range(MAX_INTERRUPTS_PER_TURN):
            interrupts = state.get("__interrupt__") or []
            if not interrupts:
                break
            resume = self._answer(interrupts, responder, turn)
            if resume is None:
                break
            state = self._invoke(Command(resume=resume))
        turn.answer = _last_text(state.get("messages", []))
        turn.reports = context.reports[before_reports:]
        turn.refusals = context.refusals[before_refusals:]
        turn.plans = context.plans[before_plans:]
        turn.errors = context.errors[before_errors:]
        turn.tables = context.tables[before_tables:]
        turn.outcome = self._outcome(turn, state, request=request)
        if turn.refusals and not turn.reports and not turn.plans:
            turn.reports.append(
                Report(title="request refused", status="refused", plan=Plan(refusals=turn.refusals))
            )
        spent = context.usage.since(usage_before)
        # With the tracking server gone, usage and the trace cannot be written: the report says so.
        recorded = [r for r in turn.reports if not tracking_gone(r)]
        with unless_the_store_is_gone():
            for report in recorded:
                record_agent_usage(report, context, self.model_label, spent)
            if recorded:
                from agent.tracing import write_trace

                messages = state.get("messages", [])
                asked = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
                write_trace(
                    recorded,
                    str(asked.content) if asked else "",
                    turn.answer,
                    context.trace[before_trace:],
                )
        return turn

    def _outcome(self, turn: TurnResult, state: Any, *, request: bool) -> Outcome:
        """Return what the turn ended in; the first that applies wins."""
        context = self.context
        if turn.unanswered:
            return NeedsInput(list(turn.unanswered), list(context.pending_problems), turn.question)
        if turn.awaiting:
            return NeedsApproval(turn.awaiting)
        if turn.reports:
            return Finished(list(turn.reports))
        if turn.rejected:
            return Refused([f"not approved: {turn.rejected}"], rejected=turn.rejected)
        if turn.plans:  # its Plan lists what was refused
            return Planned(Plan.model_validate(turn.plans[-1]))
        if turn.refusals:
            return Refused(list(turn.refusals))
        if turn.errors:
            return Answered(turn.answer, list(turn.errors))
        if request:
            from agent.proposal import catalog_names, propose
            from agent.tool_functions.experiment import question_for

            # The model asked in prose or did nothing: what the request lacks is read from the
            # person's own words, as the run-experiment tool would have.
            stated = propose({}, context, state, None)
            if stated.error:
                return Answered(turn.answer, [stated.error])
            if stated.missing:
                problems = [p for p in stated.problems if "not stated" not in p]
                return NeedsInput(
                    stated.missing, problems, question_for(stated.missing, catalog_names())
                )
        return Answered(turn.answer)

    def _invoke(self, payload: Any) -> Any:
        """Run the agent; a model server that fails becomes an error the person can act on."""
        from agent.models import model_error

        try:
            return self.agent.invoke(
                payload, self.config, context=self.context, durability=self.durability
            )
        except Exception as exc:
            failure = model_error(exc, self.model_label)
            if failure is None:
                raise
            raise failure from exc

    def _answer(self, interrupts: list[Any], responder: Responder, turn: TurnResult) -> Any:
        answers: dict[str, Any] = {}
        for item in interrupts:
            value = item.value
            if isinstance(value, dict) and value.get("kind") == "ask":
                reply = responder.ask(value["question"], list(value.get("missing", [])))
                if reply is None:
                    turn.unanswered = list(value.get("missing", []))
                    turn.question = value["question"]
                    return None
                answers[item.id] = redact_message(reply)
            else:
                requests = value.get("action_requests", []) if isinstance(value, dict) else []
                description = "; ".join(r.get("description", "") for r in requests) or str(value)
                decision = responder.approve(description)
                if decision is None:
                    turn.awaiting = description
                    return None
                if decision:
                    answers[item.id] = {"decisions": [{"type": "approve"} for _ in requests]}
                else:
                    turn.rejected = description
                    message = "The person did not approve this plan; nothing was run."
                    answers[item.id] = {
                        "decisions": [{"type": "reject", "message": message} for _ in requests]
                    }
        return answers


@contextlib.contextmanager
def unless_the_store_is_gone() -> Iterator[None]:
    """Skip the turn's bookkeeping (usage, trace) when the tracking store stopped answering.

    The experiment's report already names the store and the runs it could not write; a second
    failure on the way out would only replace that report with a traceback.
    """
    from tools.stores import store_failure

    try:
        yield
    except Exception as exc:
        if store_failure(exc) is None:
            raise


def tracking_gone(report: Report) -> bool:
    """Return True when the report's experiment lost its tracking server while it ran."""
    from agent.pipeline.nodes import LOST

    return report.failure is not None and report.failure.error_type == LOST


def record_agent_usage(report: Report, context: AgentContext, model: str, usage: Usage) -> None:
    """Record the turn's model calls and tokens on the experiment's parent run (if it has one)."""
    parent = next((c.id for c in report.changes.items if c.kind == "parent_run"), None)
    if parent is None:
        return
    from tools.tracking.runs import record_on_run

    record_on_run(
        parent,
        {
            "agent/model_calls": usage.model_calls,
            "agent/input_tokens": usage.input_tokens,
            "agent/output_tokens": usage.output_tokens,
        },
        {
            "trialrun.agent.model": model,
            "trialrun.agent.refusals": json.dumps(context.refusals)[:4000],
        },
    )


def _last_text(messages: list[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, AIMessage) and message.content and not message.tool_calls:
            return str(message.content)
    return ""
