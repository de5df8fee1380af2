"""Live progress of an experiment: a rich display on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from agent.answers import fmt_score
from agent.pipeline.events import (
    BudgetStarted,
    ProgressEvent,
    StageStarted,
    StepFailed,
    TrialFinished,
)
from tools.redact import redact


class ProgressPrinter:
    """Receives pipeline events and shows trials done, the best value so far and the time left.

    The budget arrives with the pipeline's :class:`~agent.pipeline.events.BudgetStarted`.

    Args:
        stream: Where to write; a TTY gets the rich display.
    """

    def __init__(self, *, stream: IO[str] | None = None):
        self.stream = stream or sys.stderr
        self.trials = 0
        self.seconds = 0.0
        self.direction = "maximize"
        self.best: float | None = None
        self.done = 0
        self.started = time.monotonic()
        self.live = self.stream.isatty()
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> ProgressPrinter:
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("best {task.fields[best]}"),
                TextColumn("{task.fields[left]} left"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "starting", total=self.trials, best="-", left=f"{self.seconds:.0f}s"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        """Handle one pipeline event."""
        match event:
            case BudgetStarted(trials=trials, seconds=seconds, direction=direction):
                self.trials, self.seconds = trials, seconds
                self.direction, self.started = direction, time.monotonic()
                if self._progress is not None:
                    self._progress.update(self._task, total=self.trials)
            case TrialFinished(value=value):
                self.done += 1
                if value is not None and (
                    self.best is None
                    or (value > self.best if self.direction == "maximize" else value < self.best)
                ):
                    self.best = value
        left = max(0.0, self.seconds - (time.monotonic() - self.started))
        best = fmt_score(self.best) if self.best is not None else "-"
        if self._progress is not None:
            description = event.name if isinstance(event, StageStarted) else "tune"
            self._progress.update(
                self._task,
                description=description,
                completed=self.done,
                best=best,
                left=f"{left:.0f}s",
            )
            return
        match event:
            case StageStarted(name=name, detail=detail):
                line = f"[trialrun] {name}: {detail}"
            case TrialFinished(number=number, state=state, value=value):
                line = (
                    f"[trialrun] trial {number} {state} "
                    f"value={fmt_score(value) if isinstance(value, int | float) else '-'} "
                    f"({self.done}/{self.trials}, best {best}, {left:.0f}s left)"
                )
            case BudgetStarted(metric=metric):
                line = (
                    f"[trialrun] start: up to {self.trials} trials in {self.seconds:g} s, "
                    f"{self.direction} {metric or 'the metric'}"
                )
            case StepFailed(node=node, error=error):
                line = f"[trialrun] failed in {node}: {error}"
        print(redact(line), file=self.stream, flush=True)
