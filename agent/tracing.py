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
from dataclasses import dataclass
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse, ToolCallRequest
from langchain_core.messages import AIMessage, BaseMessage

from agent.context import AgentContext
from agent.report.model import Report

MAX_TEXT_CHARS = 4000
"""The most characters of one message kept in a span."""


@dataclass(frozen=True)
class Step:
    """One model call or tool call of a turn, already redacted."""

    kind: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    start_ns: int
    end_ns: int


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
    parents = [
        (run.id, experiment.id)
        for report in reports
        for run in report.changes.items
        if run.kind == "parent_run"
        for experiment in report.changes.items
        if experiment.kind == "experiment"
    ]
    if not steps or not parents:
        return []
    import mlflow

    from tools.tracking.runs import client

    mlflow_client = client()  # also points MLflow's tracing at trialrun's store
    ids = []
    with mlflow.tracing.configure(span_processors=[_redact_span]):
        for _, experiment_id in parents:
            root = mlflow.start_span_no_context(
                "trialrun turn",
                span_type="AGENT",
                inputs={"message": _redacted(message)},
                experiment_id=experiment_id,
                start_time_ns=steps[0].start_ns,
            )
            for step in steps:
                span = mlflow.start_span_no_context(
                    step.name,
                    span_type=step.kind,
                    parent_span=root,
                    inputs=step.inputs,
                    start_time_ns=step.start_ns,
                )
                span.end(outputs=step.outputs, end_time_ns=step.end_ns)
            root.end(outputs={"answer": _redacted(answer)}, end_time_ns=steps[-1].end_ns)
            ids.append(root.trace_id)
        mlflow.flush_trace_async_logging()
    for trace_id, (run_id, _) in zip(ids, parents, strict=True):
        mlflow_client.link_traces_to_run([trace_id], run_id)
    return ids


def _redact_span(span: Any) -> None:
    """Redact every input and output MLflow is about to export (the last line of defence)."""
    if span.inputs is not None:
        span.set_inputs(_redact_value(span.inputs))
    if span.outputs is not None:
        span.set_outputs(_redact_value(span.outputs))


def _redact_value(value: Any) -> Any:
    from tools.tracking.redact import redact

    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def _reply(message: AIMessage) -> dict[str, Any]:
    calls = [{"name": c["name"], "args": c["args"]} for c in message.tool_calls]
    return {"text": _text(message), "tool_calls": _redacted(json.dumps(calls, default=str))}


def _text(message: BaseMessage) -> str:
    return _redacted(str(message.content))


def _redacted(text: str) -> str:
    from agent.guards import redact_message

    return redact_message(text[:MAX_TEXT_CHARS])
