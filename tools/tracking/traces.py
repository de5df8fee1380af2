"""Writing an agent's turn as one MLflow trace in an experiment, linked to the experiment's run.

Every text arrives already redacted; a span processor redacts again whatever else MLflow would
export, so no secret or personal data reaches the Traces tab by another route.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tools.redact import redact
from tools.tracking.runs import client


@dataclass(frozen=True)
class Step:
    """One model call or tool call of a turn, already redacted.

    Attributes:
        kind: The MLflow span type (``LLM``, ``TOOL``).
        name: The span's name: ``model`` or the tool's name.
        inputs: What the call was given.
        outputs: What it returned.
        start_ns: When it started (nanoseconds since the epoch).
        end_ns: When it ended.
    """

    kind: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    start_ns: int
    end_ns: int


def write_trace(
    targets: Sequence[tuple[str, str]], message: str, answer: str, steps: Sequence[Step]
) -> list[str]:
    """Write ``steps`` as one trace per ``(run_id, experiment_id)`` target; return the trace ids.

    Args:
        targets: The parent run to link each trace to, with its experiment.
        message: The person's message, redacted.
        answer: The turn's answer, redacted.
        steps: The turn's model and tool calls, in order.
    """
    if not steps or not targets:
        return []
    import mlflow

    mlflow_client = client()  # also points MLflow's tracing at trialrun's store
    ids = []
    with mlflow.tracing.configure(span_processors=[_redact_span]):
        for _, experiment_id in targets:
            root = mlflow.start_span_no_context(
                "trialrun turn",
                span_type="AGENT",
                inputs={"message": message},
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
            root.end(outputs={"answer": answer}, end_time_ns=steps[-1].end_ns)
            ids.append(root.trace_id)
        mlflow.flush_trace_async_logging()
    for trace_id, (run_id, _) in zip(ids, targets, strict=True):
        mlflow_client.link_traces_to_run([trace_id], run_id)
    return ids


def _redact_span(span: Any) -> None:
    """Redact every input and output MLflow is about to export (the last line of defence)."""
    if span.inputs is not None:
        span.set_inputs(_redact_value(span.inputs))
    if span.outputs is not None:
        span.set_outputs(_redact_value(span.outputs))


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value
