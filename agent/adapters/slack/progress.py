"""One experiment's life in its thread: admission under the caps, then one message edited in place.

The agent decides inside a turn whether an experiment runs, so the pipeline's first progress event
is where the Slack adapter learns that one starts, before it has loaded data or created a run.
There the experiment is recorded, its progress message posted, and it waits for a slot under the
workspace and per-person caps (saying why while it waits). Later events edit that same message
(``chat.update``), trial events at most every ``interval`` seconds, so a long tuning run neither
floods the thread nor hits Slack's rate limits.

A turn runs at most the agent's cap of experiments one after another; they share one record,
one slot and one progress message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from agent.adapters.slack.limits import Limits, Slot
from agent.adapters.slack.poster import Poster
from agent.adapters.slack.store import Experiment, SlackStore, Thread
from agent.pipeline.events import (
    BudgetStarted,
    ProgressEvent,
    StageStarted,
    StepFailed,
    TrialFinished,
)
from agent.report.model import Report
from tools.errors import Cancelled, InputError
from tools.jobs.model import JobState

ENDED = {
    "succeeded": (JobState.SUCCEEDED, ":white_check_mark:"),
    "cancelled": (JobState.CANCELLED, ":double_vertical_bar:"),
}
"""Report status -> the experiment's final state and emoji; anything else ended it as failed."""


class ExperimentProgress:
    """The progress sink of one turn (``AgentContext.progress``).

    Args:
        thread: The thread the turn belongs to.
        user: Who sent the message the turn answers.
        store: Where the experiment is recorded.
        poster: Posts and edits the progress message.
        limits: The caps the experiment waits under.
        cancel: The turn's cancel flag (a wait for a slot ends when it is set).
        interval: Least seconds between two edits on trial events.
        clock: Monotonic clock (seconds).
    """

    def __init__(
        self,
        *,
        thread: Thread,
        user: str,
        store: SlackStore,
        poster: Poster,
        limits: Limits,
        cancel: threading.Event,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.thread, self.user = thread, user
        self.store, self.poster, self.limits = store, poster, limits
        self.cancel, self.interval, self.clock = cancel, interval, clock
        self.experiment: Experiment | None = None
        self._slot: Slot | None = None
        self._lock = threading.Lock()
        self._shown_at = float("-inf")
        self._stage = "starting"
        self._detail = ""
        self._trials = 0
        self._done = 0
        self._seconds = 0.0
        self._started = clock()
        self._direction = "maximize"
        self._best: float | None = None

    def __call__(self, event: ProgressEvent) -> None:
        """Handle one pipeline event; the first one waits for a slot.

        Raises:
            Cancelled: The turn was cancelled while its experiment waited for a slot.
        """
        experiment = self.experiment
        if experiment is None:
            if isinstance(event, StepFailed):
                return  # refused before it started: it never needed a slot
            experiment = self._admit()
        self._track(event)
        if not isinstance(event, TrialFinished) or self.clock() - self._shown_at >= self.interval:
            self._show(self._running_text(experiment.id))

    def finish(self, report: Report | None, *, error: str = "") -> Experiment | None:
        """Record how the turn's experiment ended, give its slot back and edit its message."""
        if self._slot is not None:
            self._slot.release()
        if self.experiment is None:
            return None
        state, emoji = ENDED.get(report.status if report else "", (JobState.FAILED, ":x:"))
        changes: dict[str, Any] = {"state": state, "result": result_of(report) if report else {}}
        if error:
            changes["reason"] = error
        try:
            self.experiment = self.store.update(self.experiment.id, **changes)
        except InputError:
            pass  # it already ended (cancelled while queued): that record stands
        label = self.experiment.state.value
        took = self.clock() - self._started
        self._show(
            f"{emoji} *{label.capitalize()}* `{self.experiment.id}` after {took:.0f}s"
            + (f": {error}" if error else " · the report follows.")
        )
        return self.experiment

    def _admit(self) -> Experiment:
        thread = self.thread
        experiment = self.store.add_experiment(thread.key, self.user)
        ts = self.poster.post(
            thread.channel,
            thread.thread_ts,
            f":hourglass_flowing_sand: Starting experiment `{experiment.id}` for <@{self.user}>…",
        )
        self.experiment = self.store.update(experiment.id, progress_ts=ts)

        def queued(why: str) -> None:
            self._show(
                f":double_vertical_bar: *Queued* `{experiment.id}`: {why}. It starts when one "
                "ends; say `cancel` to drop it."
            )

        try:
            self._slot = self.limits.acquire(
                thread.team, self.user, cancel=self.cancel, queued=queued
            )
        except Cancelled:
            self.experiment = self.store.update(
                experiment.id, state=JobState.CANCELLED, reason="cancelled while queued"
            )
            raise
        self._started = self.clock()
        self.experiment = self.store.update(experiment.id, state=JobState.RUNNING)
        return self.experiment

    def _track(self, event: ProgressEvent) -> None:
        match event:
            case BudgetStarted(trials=trials, seconds=seconds, direction=direction):
                self._trials, self._seconds = trials, seconds
                self._direction, self._done, self._best = direction, 0, None
                self._started = self.clock()
            case StageStarted(name=name, detail=detail):
                self._stage, self._detail = name, detail
            case StepFailed(node=node):
                self._stage, self._detail = f"failed in {node}", ""
            case TrialFinished(value=value):
                self._done += 1
                if isinstance(value, int | float) and (
                    self._best is None
                    or (value > self._best if self._direction == "maximize" else value < self._best)
                ):
                    self._best = float(value)

    def _running_text(self, experiment_id: str) -> str:
        parts = [f":hourglass_flowing_sand: *Running* `{experiment_id}` · {self._stage}"]
        if self._detail:
            parts[0] += f" ({self._detail})"
        if self._trials:
            parts.append(f"trials {self._done}/{self._trials}")
        if self._best is not None:
            parts.append(f"best {self._best:.5g}")
        if self._seconds:
            left = max(0.0, self._seconds - (self.clock() - self._started))
            parts.append(f"{left:.0f}s left")
        return " · ".join(parts)

    def _show(self, text: str) -> None:
        experiment = self.experiment
        if experiment is None or experiment.progress_ts is None:
            return
        with self._lock:
            self._shown_at = self.clock()
            self.experiment = self.store.update(experiment.id, detail=text)
            self.poster.update(self.thread.channel, experiment.progress_ts, text)


def result_of(report: Report) -> dict[str, Any]:
    """Return what ``status`` and ``show the best run`` need from a report (all from the report)."""
    summary = report.summary
    experiment = next((c for c in report.changes.items if c.kind == "experiment"), None)
    return {
        "status": report.status,
        "title": report.title,
        "metric": summary.metric,
        "direction": summary.direction,
        "best_run_id": summary.best_run_id,
        "best_value": summary.best_value,
        "experiment_id": experiment.id if experiment else None,
        "experiment": experiment.name if experiment else None,
    }
