"""The agent: langchain's ``create_agent`` with trialrun's tools, guardrails and system prompt."""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from agent.context import AgentContext
from agent.guards import (
    DeployGuard,
    HistoryLimit,
    UsageCounter,
    approval_middleware,
    limit_middleware,
    pii_middleware,
)
from agent.proposal import catalog_names
from agent.toolset import build_tools
from agent.tracing import TraceRecorder
from prompts import render


def system_prompt(context: AgentContext) -> str:
    """Render the system prompt with the catalog and the approval policy."""
    known = catalog_names()
    datasets = ", ".join(f"{n} ({', '.join(v)})" for n, v in sorted(known.items())) or "none yet"
    return render("system", datasets=datasets, max_trials=context.policy.max_trials)


def build_agent(
    model: BaseChatModel,
    context: AgentContext,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> Any:
    """Compile the agent graph.

    Args:
        model: The chat model (the offline planner or a real LLM).
        context: The conversation's context (its policy shapes the system prompt).
        checkpointer: Conversation memory; interrupts (questions, approvals) need one.
    """
    return create_agent(
        model,
        build_tools(),
        system_prompt=system_prompt(context),
        middleware=[
            UsageCounter(),
            TraceRecorder(),
            DeployGuard(),
            HistoryLimit(),
            *pii_middleware(),
            *limit_middleware(),
            approval_middleware(),
        ],
        context_schema=AgentContext,
        checkpointer=checkpointer or InMemorySaver(),
    )
