"""The built-in offline planner: a deterministic chat model that speaks the tool-calling protocol.

It is the default when no language model is configured. It reads each message with
:func:`agent.planner.reading.message.read_message` and answers the way a chat model would — with
tool calls or text — so the same agent graph, middleware and tools run unchanged. It never invents
a value: the run-experiment tool fills in only what the person wrote, and asks for the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from agent.planner.reading.intent import Intent
from agent.planner.reading.message import read_message
from agent.tool_args import args_from_fields

HELP = (
    "I run tracked ML experiments on catalogued data. Try: 'tune lightgbm on churn v3 for AUC, "
    "20 trials, 10 minutes, seeds 1,2,3', 'baseline only', 'list datasets', 'what was the best run "
    "last week', 'compare run X and Y', 'history of round_valid_auc for run X', 'status', "
    "'how is my experiment doing?', 'cancel job N', 'cancel everything'. I never deploy, register, "
    "promote, stage or serve models."
)


class OfflinePlanner(BaseChatModel):
    """A chat model that plans with a deterministic parser instead of a language model."""

    known: Callable[[], dict[str, list[str]]] = dict
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def _llm_type(self) -> str:
        return "trialrun-offline-planner"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> OfflinePlanner:
        """Return itself: the planner knows trialrun's tools by name."""
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.decide(messages))])

    def decide(self, messages: Sequence[BaseMessage]) -> AIMessage:
        """Return the next step: a tool call or a text answer."""
        last = messages[-1] if messages else HumanMessage("")
        if isinstance(last, ToolMessage):
            return self._after_tool(last, messages)
        intent = read_message(str(last.content), known=self.known(), now=self.now())
        return self._for_intent(intent, messages)

    def _for_intent(self, intent: Intent, messages: Sequence[BaseMessage]) -> AIMessage:
        action = intent.action
        refusal = _refusal(intent)
        if action in ("run_experiment", "answer"):
            return _call("run_experiment", args_from_fields(intent.fields), messages)
        if refusal:
            return AIMessage(refusal)
        calls: dict[str, tuple[str, dict[str, Any]]] = {
            "list_datasets": ("list_datasets", {}),
            "list_jobs": ("list_jobs", {}),
            "cancel_all_jobs": ("cancel_all_jobs", {}),
            "cancel_job": ("cancel_job", {"job_id": intent.job_id or ""}),
            "query_runs": ("query_runs", _run_query(intent)),
            "show_run": ("show_run", {"run_id": intent.run_ids[0] if intent.run_ids else ""}),
            "compare_runs": ("compare_runs", {"run_ids": intent.run_ids}),
            "reproduce_run": (
                "reproduce_run",
                {"run_id": intent.run_ids[0] if intent.run_ids else ""},
            ),
            "metric_history": (
                "metric_history",
                {
                    "run_id": intent.run_ids[0] if intent.run_ids else "",
                    "key": intent.metric_key or "",
                },
            ),
        }
        if action == "job_status":
            return _call(
                *(("show_job", {"job_id": intent.job_id}) if intent.job_id else ("list_jobs", {})),
                messages,
            )
        if action == "cancel_job" and not intent.job_id:
            return AIMessage("Which job? Say 'cancel job <id>' ('list jobs' shows them).")
        if action in calls:
            return _call(*calls[action], messages)
        if action == "confirm":
            return AIMessage("Nothing is waiting for a yes right now. " + HELP)
        if action == "decline":
            return AIMessage("OK, nothing will run.")
        return AIMessage(HELP)

    def _after_tool(self, message: ToolMessage, messages: Sequence[BaseMessage]) -> AIMessage:
        if message.name == "ask_user":
            intent = read_message(str(message.content), known=self.known(), now=self.now())
            if intent.action == "decline":
                return AIMessage("OK, nothing will run.")
            return _call("run_experiment", args_from_fields(intent.fields), messages)
        try:
            result = json.loads(str(message.content))
        except json.JSONDecodeError:
            result = None
        if message.name == "run_experiment" and isinstance(result, dict):
            return self._after_run(result, messages)
        if message.name in QUERY_TOOLS:
            return AIMessage(_query_text(message.name, result))
        return AIMessage(str(message.content))

    def _after_run(self, result: dict[str, Any], messages: Sequence[BaseMessage]) -> AIMessage:
        status = result.get("status")
        if status == "needs_input":
            return _call("ask_user", {"missing": result.get("missing", [])}, messages)
        if status in ("invalid", "error"):
            return AIMessage(f"I could not run it: {result.get('error')}")
        return AIMessage(outcome_text(result))


def _call(name: str, args: dict[str, Any], messages: Sequence[BaseMessage]) -> AIMessage:
    # Deterministic ids: the same conversation replays to the same calls.
    return AIMessage(
        "", tool_calls=[{"name": name, "args": args, "id": f"call_{len(messages)}_{name}"}]
    )


def _run_query(intent: Intent) -> dict[str, Any]:
    args: dict[str, Any] = {"limit": 10}
    if intent.experiment:
        args["experiment"] = intent.experiment
    if intent.since is not None:
        args["filter"] = f"attributes.start_time >= {int(intent.since.timestamp() * 1000)}"
    if intent.order_by:
        args["order_by"] = intent.order_by
    elif intent.order == "best":
        args["order_by"] = "best"
    return args


QUERY_TOOLS = frozenset({"query_runs", "show_run", "compare_runs"})
"""Tools whose result the person sees as a table; the answer only says what it holds."""


def _query_text(name: str, result: Any) -> str:
    """Say what a query found; the person reads the result itself in the table shown with it."""
    if not isinstance(result, dict):  # a result cut to the model's size is no longer JSON
        return "The table above lists what was found."
    if result.get("status") == "error":
        return f"I could not look that up: {result.get('error')}"
    if name == "query_runs":
        runs = result.get("runs", [])
        more = "; more match" if result.get("more") else ""
        found = f"{len(runs)} run{'' if len(runs) == 1 else 's'} found{more}"
        return f"{found}: the table above lists what was found."
    if name == "show_run":
        return f"Run {result.get('run_id')} is {result.get('status')}: the table above lists what was found."
    return f"{len(result.get('run_ids', []))} runs compared: the table above lists what was found."


def _refusal(intent: Intent) -> str:
    if not intent.deploy_requested:
        return ""
    return (
        f"Refused: {', '.join(map(repr, intent.deploy_requested))}. trialrun never deploys, "
        "registers, promotes, stages or serves models; review the report and do that yourself."
    )


def outcome_text(result: dict[str, Any]) -> str:
    """Return the answer to an experiment's result: its plan, or its outcome in figures."""
    status = result.get("status")
    if status == "planned":
        return "Here is the plan; nothing was run."
    if status != "succeeded":
        failure = result.get("failure") or {}
        return f"The experiment {status}: {failure.get('message', '')}".strip()
    delta = result.get("delta")
    delta_text = f", delta {delta:+.6g}" if isinstance(delta, int | float) else ""
    return (
        f"Done. Best {result.get('metric')} {result.get('best_value')} (run "
        f"{result.get('best_run_id')}) vs baseline {result.get('baseline_value')} (run "
        f"{result.get('baseline_run_id')}){delta_text}."
    )
