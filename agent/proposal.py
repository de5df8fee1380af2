"""One request shape from a run-experiment tool call to the experiment request.

The model (or the offline planner) proposes a request as the run-experiment tool's flat arguments
(:mod:`agent.tool_args`), and :func:`propose` grounds one call once: the approval check before the
tool runs and the tool itself read the same :class:`Proposal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import HumanMessage, ToolMessage

from agent.context import AgentContext
from agent.grounding import flat, ground, unflatten
from agent.report.model import Source
from agent.request import RequestDraft, draft_from_fields
from agent.tool_args import fields_from_args
from tools import settings


@dataclass
class Proposal:
    """A run-experiment call grounded in what the person said.

    Attributes:
        draft: The request draft; None when a value is invalid (see ``error``).
        missing: Required inputs nobody stated (``budget`` when neither limit was).
        problems: Why values the call passed count as missing (not stated, not in the catalog,
            not supported).
        sources: Where each field came from.
        error: A value that fails validation, described for the person.
        fields: The grounded fields as stated, valid or not.
    """

    draft: RequestDraft | None = None
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)
    error: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def budget(self, context: AgentContext) -> dict[str, Any]:
        """Return the budget as it would run, unstated limits at their defaults.

        An invalid budget comes back as stated: a plan far over the policy needs approval before
        its values are checked, as CI's exit code says.
        """
        if self.draft is None or self.draft.budget is None or not self.draft.budget.given:
            return dict(self.fields.get("budget") or {})
        return self.draft.budget.filled(context.policy.budget_defaults()).model_dump()

    def approval_reasons(self, context: AgentContext) -> list[str]:
        """Return why this request needs approval (empty when it does not or cannot run yet)."""
        if self.missing:
            return []
        return context.policy.reasons(self.budget(context))


def catalog_names() -> dict[str, list[str]]:
    """Return the catalog as dataset name -> versions."""
    from tools.data.catalog import Catalog

    return Catalog.load(settings.catalog_path()).names()


def person_texts(context: AgentContext, state: Mapping[str, Any]) -> list[str]:
    """Return everything the person wrote: messages, answers to questions, the prompt file body."""
    texts = [context.stated_text] if context.stated_text else []
    for message in state.get("messages", []):
        if isinstance(message, HumanMessage):
            texts.append(str(message.content))
        elif isinstance(message, ToolMessage) and message.name == "ask_user":
            texts.append(str(message.content))
    return texts


def propose(
    args: Mapping[str, Any], context: AgentContext, state: Mapping[str, Any], call_id: str | None
) -> Proposal:
    """Ground a run-experiment call once; a second look at the same call reuses the result."""
    if call_id is not None and call_id in context.proposals:
        return context.proposals[call_id]
    grounded = ground(
        flat(fields_from_args(args)),
        texts=person_texts(context, state),
        front_matter=context.front_matter,
        known=catalog_names(),
    )
    proposal = Proposal(
        missing=list(grounded.missing), problems=list(grounded.problems), sources={}
    )
    proposal.sources = dict(grounded.sources)
    proposal.fields = unflatten(grounded.fields)
    if grounded.rejected:
        # Never a neighbour instead: what cannot run as asked is named back, with the choices.
        proposal.error = "; ".join(grounded.rejected.values())
    try:
        proposal.draft, missing = draft_from_fields(proposal.fields)
    except Exception as exc:  # pydantic's ValidationError: a value the model can correct
        from pydantic import ValidationError

        if not isinstance(exc, ValidationError):
            raise
        from agent.promptfile import describe_validation_error

        proposal.error = describe_validation_error(exc)
    else:
        proposal.missing = list(dict.fromkeys([*proposal.missing, *missing]))
    if proposal.error is not None:
        proposal.draft = None
    if call_id is not None:
        context.proposals[call_id] = proposal
    return proposal
