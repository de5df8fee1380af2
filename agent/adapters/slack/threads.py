"""Turns of each thread's conversation, run in worker threads, one at a time per thread.

Slack wants an answer within three seconds, so a listener only records the message and hands it
here. A turn sends the message to the agent (or, when the conversation waits for an answer,
resumes it with the message) with a responder that cannot wait: asked a question, it posts the
question in the thread and the turn ends; asked for approval, it posts the buttons. The next
message, or the click, resumes the conversation from its checkpoint, even after a restart.
``cancel``, ``status`` and ``show the best run`` are answered at once, beside any running turn.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage

from agent.adapters.slack.commands import best_text, status_text, thread_command
from agent.adapters.slack.limits import Limits
from agent.adapters.slack.poster import Poster
from agent.adapters.slack.progress import ExperimentProgress
from agent.adapters.slack.settings import SlackSettings
from agent.adapters.slack.store import SlackStore, Thread
from agent.adapters.slack.tables import table_message
from agent.answers import is_json
from agent.outcome import NeedsApproval, NeedsInput
from tools.jobs.model import JobState

log = logging.getLogger("trialrun.slack")

APPROVE, REJECT = "trialrun_approve", "trialrun_reject"
"""The action ids of the approval buttons."""

INTERRUPTED = (
    "Interrupted: trialrun stopped while this ran, so it did not finish. Nothing runs now."
)
"""The tool result recorded for a tool call a stopped app left without one."""

Work = Callable[[Any, "ThreadResponder"], Any]


class ThreadResponder:
    """Answers the agent's interrupts in a thread, where the answer arrives later.

    Args:
        thread: The conversation's thread.
        user: Who sent the message this turn answers (mentioned in a question).
        poster: Posts the question or the approval buttons.
        store: Records which message holds the buttons.
        approvers: Users who may approve besides the requester (named on the buttons).

    Attributes:
        answer: The answer to the pending question, set when this turn resumes one.
        decision: The decision on the pending plan, set when this turn resumes one.
    """

    def __init__(
        self,
        thread: Thread,
        user: str,
        poster: Poster,
        store: SlackStore,
        *,
        approvers: frozenset[str] = frozenset(),
    ):
        self.thread, self.user, self.poster, self.store = thread, user, poster, store
        self.approvers = approvers
        self.answer: str | None = None
        self.decision: bool | None = None

    def ask(self, question: str, missing: list[str]) -> str | None:
        """Give the answer this turn brought once; otherwise post the question and end the turn."""
        if self.answer is not None:
            answer, self.answer = self.answer, None
            return answer
        self.poster.post(
            self.thread.channel,
            self.thread.thread_ts,
            f":question: <@{self.user}> {question}\n_Answer in this thread._",
        )
        return None

    def approve(self, description: str) -> bool | None:
        """Give the decision this turn brought once; otherwise post the buttons and end the turn."""
        if self.decision is not None:
            decision, self.decision = self.decision, None
            return decision
        thread = self.thread
        approval = self.store.await_approval(thread.key)
        ts = self.poster.post(
            thread.channel,
            thread.thread_ts,
            f"This plan needs approval: {description}",
            blocks=approval_blocks(description, thread, approval, self.approvers),
        )
        if ts is not None:
            self.store.approval_posted(thread.key, approval, ts)
        return None


def approval_blocks(
    description: str, thread: Thread, approval: str, approvers: frozenset[str]
) -> list[Any]:
    """Return the approval request: the plan, who may decide, and Approve/Reject buttons.

    Each button's value is ``<thread key>#<approval id>``.
    """
    who = f"<@{thread.requester}>" + (" or an approver" if approvers else "")
    escaped = description.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return [
        _section(f":raised_hand: *This plan needs approval.*\n{escaped[:2800]}"),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Only {who} can decide."}]},
        {
            "type": "actions",
            "block_id": "trialrun_approval",
            "elements": [
                _button("Approve", APPROVE, f"{thread.key}#{approval}", "primary"),
                _button("Reject", REJECT, f"{thread.key}#{approval}", "danger"),
            ],
        },
    ]


def _button(label: str, action_id: str, value: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "style": style,
        "value": value,
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


class ThreadRunner:
    """Runs turns in a pool of worker threads, one turn at a time in each Slack thread.

    Args:
        settings: The app's settings (caps, approvers, model, MLflow UI).
        store: The app's records.
        poster: Posts to Slack.
        checkpointer: Where conversations are kept (a SQLite file, so a restart loses nothing).
    """

    def __init__(
        self, settings: SlackSettings, *, store: SlackStore, poster: Poster, checkpointer: Any
    ):
        self.settings, self.store, self.poster = settings, store, poster
        self.checkpointer = checkpointer
        self.limits = Limits(
            per_workspace=settings.max_per_workspace, per_user=settings.max_per_user
        )
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="trialrun-slack")
        self._lock = threading.Lock()
        self._thread_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._in_flight: dict[str, set[threading.Event]] = defaultdict(set)

    def message(self, thread: Thread, user: str, text: str) -> Future[None] | None:
        """Handle a message of a thread: a thread command now, anything else as a turn."""
        command = thread_command(text)
        if command == "status":
            waiting = "approval of its plan (the buttons above)" if thread.approval else ""
            self._say(thread, status_text(self.store.experiments(thread.key), waiting=waiting))
            return None
        if command == "best":
            experiments = self.store.experiments(thread.key)
            self._say(thread, best_text(experiments, mlflow_ui=self.settings.mlflow_ui))
            return None
        if command == "cancel" and (self.cancel(thread) or self._drop_plan(thread, user)):
            return None
        return self._submit(thread, user, lambda c, r: self._converse(c, r, thread, text))

    def approval(self, value: str, user: str, *, approved: bool, message_ts: str | None) -> None:
        """Handle a click on approval buttons (``value`` is theirs) on message ``message_ts``."""
        thread_key, _, approval = value.rpartition("#")
        thread = self.store.thread(thread_key)
        if thread is None:
            return
        if user != thread.requester and user not in self.settings.approvers:
            others = " or an approver" if self.settings.approvers else ""
            self.poster.ephemeral(
                thread.channel,
                user,
                f"Only <@{thread.requester}>{others} can approve or reject this plan.",
                thread_ts=thread.thread_ts,
            )
            return
        if not self.store.take_approval(thread.key, approval):
            self.poster.ephemeral(
                thread.channel, user, "This plan was already decided.", thread_ts=thread.thread_ts
            )
            return
        verdict = "Approved" if approved else "Rejected"
        if message_ts is not None:
            self.poster.update(
                thread.channel,
                message_ts,
                f"{verdict} by <@{user}>.",
                blocks=[_section(f":ballot_box_with_check: *{verdict}* by <@{user}>.")],
            )

        def decide(conversation: Any, responder: ThreadResponder) -> Any:
            responder.decision = approved
            return conversation.resume(responder)

        self._submit(thread, user, decide)

    def cancel(self, thread: Thread) -> bool:
        """Cancel what the thread is doing; False when nothing was in flight."""
        with self._lock:
            events = list(self._in_flight.get(thread.key, ()))
        if not events:
            return False
        for event in events:
            event.set()
        self.limits.wake()
        active = [e.id for e in self.store.experiments(thread.key) if not e.state.finished]
        what = (
            f"experiment(s) {', '.join(f'`{i}`' for i in active)}: a running one stops within "
            "one boosting round and its report says what was kept"
            if active
            else "this thread's request"
        )
        self._say(thread, f":octagonal_sign: Cancelling {what}.")
        return True

    def _drop_plan(self, thread: Thread, user: str) -> bool:
        """Reject the plan waiting for approval, as its Reject button would; False when none."""
        if thread.approval is None:
            return False
        value = f"{thread.key}#{thread.approval}"
        self.approval(value, user, approved=False, message_ts=thread.approval_ts)
        return True

    def recover(self) -> None:
        """Settle the experiments a stopped app left queued or running, and tell their threads."""
        for experiment in self.store.unfinished():
            was = experiment.state.value
            self.store.update(
                experiment.id, state=JobState.FAILED, reason=f"trialrun stopped while it was {was}"
            )
            thread = self.store.thread(experiment.thread_key)
            if thread is not None and experiment.progress_ts:
                self.poster.update(
                    thread.channel,
                    experiment.progress_ts,
                    f":warning: *Interrupted* `{experiment.id}`: trialrun stopped while it was "
                    f"{was}. Nothing runs now; ask again to run it.",
                )

    def close(self) -> None:
        """Cancel every turn in flight and wait for the workers to end."""
        with self._lock:
            events = [e for found in self._in_flight.values() for e in found]
        for event in events:
            event.set()
        self.limits.wake()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, thread: Thread, user: str, work: Work) -> Future[None]:
        cancel = threading.Event()
        with self._lock:
            self._in_flight[thread.key].add(cancel)
        return self._pool.submit(self._turn, thread, user, cancel, work)

    def _turn(self, thread: Thread, user: str, cancel: threading.Event, work: Work) -> None:
        with self._lock:
            lock = self._thread_locks[thread.key]
        try:
            with lock:
                if cancel.is_set():
                    self._say(thread, f"Dropped <@{user}>'s message: cancelled before it started.")
                    return
                self._run(thread, user, cancel, work)
        finally:
            with self._lock:
                flights = self._in_flight[thread.key]
                flights.discard(cancel)
                if not flights:  # nothing holds or waits for the thread's lock any more
                    del self._in_flight[thread.key]
                    del self._thread_locks[thread.key]

    def _run(self, thread: Thread, user: str, cancel: threading.Event, work: Work) -> None:
        from agent.context import AgentContext
        from agent.conversation import Conversation
        from agent.models import load_model, model_name

        progress = ExperimentProgress(
            thread=thread,
            user=user,
            store=self.store,
            poster=self.poster,
            limits=self.limits,
            cancel=cancel,
            interval=self.settings.progress_seconds,
        )
        model = self.settings.model
        try:
            conversation = Conversation(
                load_model(model),
                context=AgentContext(mode="slack", progress=progress, cancel=cancel),
                checkpointer=self.checkpointer,
                thread_id=thread.key,
                model_label=model_name(model),
            )
            settle_interrupted(conversation)
            responder = ThreadResponder(
                thread, user, self.poster, self.store, approvers=self.settings.approvers
            )
            turn = work(conversation, responder)
        except Exception as exc:
            log.exception("a turn failed in thread %s", thread.key)
            error = f"{type(exc).__name__}: {exc}"
            progress.finish(None, error=error)
            self._say(thread, f":x: Something went wrong: {error}")
            return
        progress.finish(turn.reports[-1] if turn.reports else None)
        self._reply(thread, turn)

    def _converse(
        self, conversation: Any, responder: ThreadResponder, thread: Thread, text: str
    ) -> Any:
        from agent.conversation import TurnResult

        pending = conversation.pending()
        if not pending:
            return conversation.send(text, responder)
        if any(not _is_question(item.value) for item in pending):
            self._say(
                thread,
                f"This plan is waiting for approval: <@{thread.requester}> can use the buttons "
                "above. Say `cancel` to drop it.",
            )
            return TurnResult()
        responder.answer = text
        return conversation.resume(responder)

    def _reply(self, thread: Thread, turn: Any) -> None:
        from agent.report.render_slack import render_slack

        for report in turn.reports:
            self.poster.post(
                thread.channel,
                thread.thread_ts,
                f"{report.title}: {report.status}",
                blocks=render_slack(report, mlflow_ui=self.settings.mlflow_ui),
            )
        # The responder posted the question or the plan for approval; reports speak for a run.
        if turn.reports or isinstance(turn.outcome, NeedsInput | NeedsApproval):
            return
        for table in turn.tables:
            self._say(thread, table_message(table))
        # A model that repeats a query's JSON is not posted: the table says it all.
        if turn.answer and not (turn.tables and is_json(turn.answer)):
            self._say(thread, _as_message(turn.answer))

    def _say(self, thread: Thread, text: str) -> None:
        self.poster.post(thread.channel, thread.thread_ts, text)


def settle_interrupted(conversation: Any) -> None:
    """Give a tool call a stopped app (or a failed turn) left unanswered its result.

    Without one the conversation's history is invalid for chat models (a tool call must be
    followed by its result), and the tool must not run again by itself: it may have been an
    experiment.
    """
    state = conversation.agent.get_state(conversation.config)
    if state.interrupts or not state.next:
        return
    messages = state.values.get("messages", [])
    last = messages[-1] if messages else None
    if not isinstance(last, AIMessage) or not last.tool_calls:
        return
    results = [
        ToolMessage(INTERRUPTED, tool_call_id=call["id"], name=call["name"])
        for call in last.tool_calls
    ]
    conversation.agent.update_state(conversation.config, {"messages": results}, as_node="tools")


def _is_question(value: Any) -> bool:
    return isinstance(value, dict) and value.get("kind") == "ask"


def _as_message(answer: str) -> str:
    # The offline planner answers some requests with the tool's JSON: show it as a code block.
    try:
        json.loads(answer)
    except ValueError:
        return answer
    return f"```{answer[:2900]}```"
