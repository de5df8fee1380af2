"""The agent's trace in MLflow: each model call and tool call of a turn, redacted, in the experiment.

A turn's experiment exists only once its request is grounded and the pipeline opens the parent
run, so the steps are recorded while the turn runs (:class:`TraceRecorder`) and written once it
ends, as one MLflow trace in that experiment, linked to the parent run (Traces tab of the
experiment and of the run). Every text is redacted with trialrun's secret and PII checks before it
is handed to MLflow, and a span processor redacts again whatever else MLflow would export.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse, ToolCallRequest
from langchain_core.messages import AIMessage, BaseMessage

from agent.context import AgentContext
from agent.report.model import Report
from tools.tracking import traces
from tools.tracking.traces import Step

MAX_TEXT_CHARS = 4000
"""The most characters of one message kept in a span."""


class TraceRecorder(AgentMiddleware[Any, AgentContext, Any]):
    """Record every model call and tool call into the conversation's context."""

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
    ) -> ModelResponse[Any]:
        """Record the model's last input message and its reply."""
        start = time.time_ns()
        response = handler(request)
        replies = [m for m in getattr(response, "result", []) or [] if isinstance(m, AIMessage)]
        request.runtime.context.trace.append(
            Step(
                "LLM",
                "model",
                {"last_message": _text(request.messages[-1]) if request.messages else ""},
                {"reply": [_reply(m) for m in replies]},
                start,
                time.time_ns(),
            )
        )
        return response

    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[..., Any]) -> Any:
        """Record the tool call's arguments and result (a question that waits records none)."""
        start = time.time_ns()
        result = handler(request)
        context: AgentContext | None = request.runtime.context
        call = request.tool_call
        if context is None:
            return result
        context.trace.append(
            Step(
                "TOOL",
                str(call["name"]),
                {"args": _redacted(json.dumps(call.get("args", {}), default=str))},
                {"result": _text(result) if isinstance(result, BaseMessage) else str(result)},
                start,
                time.time_ns(),
            )
        )
        return result


def write_trace(reports: list[Report], message: str, answer: str, steps: list[Step]) -> list[str]:
    """Write the turn's steps as a trace in each experiment the turn ran; return the trace ids."""
    targets = [
        (run.id, experiment.id)
        for report in reports
        for run in report.changes.items
        if run.kind == "parent_run"
        for experiment in report.changes.items
        if experiment.kind == "experiment"
    ]
    return traces.write_trace(targets, _redacted(message), _redacted(answer), steps)


def _reply(message: AIMessage) -> dict[str, Any]:
    calls = [{"name": c["name"], "args": c["args"]} for c in message.tool_calls]
    return {"text": _text(message), "tool_calls": _redacted(json.dumps(calls, default=str))}


def _text(message: BaseMessage) -> str:
    return _redacted(str(message.content))


def _redacted(text: str) -> str:
    from agent.guards import redact_message

    return redact_message(text[:MAX_TEXT_CHARS])
