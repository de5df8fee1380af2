"""Live progress of an experiment: a rich display on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from agent.answers import fmt_score
from tools.redact import redact


class ProgressPrinter:
    """Receives pipeline events and shows trials done, the best value so far and the time left.

    The budget arrives with the pipeline's ``start`` event.

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

    def __call__(self, event: str, payload: dict[str, Any]) -> None:
        """Handle one pipeline event."""
        if event == "start":
            self.trials, self.seconds = int(payload["trials"]), float(payload["seconds"])
            self.direction, self.started = str(payload["direction"]), time.monotonic()
            if self._progress is not None:
                self._progress.update(self._task, total=self.trials)
        if event == "trial":
            self.done += 1
            value = payload.get("value")
            if value is not None and (
                self.best is None
                or (value > self.best if self.direction == "maximize" else value < self.best)
            ):
                self.best = value
        left = max(0.0, self.seconds - (time.monotonic() - self.started))
        best = fmt_score(self.best) if self.best is not None else "-"
        if self._progress is not None:
            description = payload.get("name", "tune") if event == "stage" else "tune"
            self._progress.update(
                self._task,
                description=description,
                completed=self.done,
                best=best,
                left=f"{left:.0f}s",
            )
            return
        if event == "stage":
            line = f"[trialrun] {payload.get('name')}: {payload.get('detail', '')}"
        elif event == "trial":
            value = payload.get("value")
            line = (
                f"[trialrun] trial {payload.get('number')} {payload.get('state')} "
                f"value={fmt_score(value) if isinstance(value, int | float) else '-'} "
                f"({self.done}/{self.trials}, best {best}, {left:.0f}s left)"
            )
        elif event == "start":
            line = (
                f"[trialrun] start: up to {self.trials} trials in {self.seconds:g} s, "
                f"{self.direction} {payload.get('metric') or 'the metric'}"
            )
        elif event == "failed":
            line = f"[trialrun] failed in {payload.get('node')}: {payload.get('error')}"
        else:
            line = f"[trialrun] {event}: {payload}"
        print(redact(line), file=self.stream, flush=True)
