"""The pipeline's typed state and its run-scoped context."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict

from agent.pipeline.events import ProgressEvent, ProgressFn
from agent.report.model import Check, Failure, Report, Source, Status
from agent.request import ExperimentRequest
from tools.experiment.parent import ParentRun
from tools.experiment.request import TuneRequest
from tools.jobs.base import Backend
from tools.training.run import DataContext, TrainOutcome
from tools.tuning.storage import StudyOutcome


def _progress_file_from_env() -> Path | None:
    path = os.environ.get("TRIALRUN_JOB_PROGRESS")
    return Path(path) if path else None


def _merge(earlier: dict[str, float], later: dict[str, float]) -> dict[str, float]:
    return {**earlier, **later}


class PipelineState(TypedDict, total=False):
    """What flows between the nodes; each node returns the keys it sets."""

    request: ExperimentRequest
    tune_request: TuneRequest
    data: DataContext
    parent: ParentRun
    baselines: list[TrainOutcome]
    study: StudyOutcome | None
    family: str
    params: dict[str, Any]
    notes: list[str]
    finals: list[TrainOutcome]
    checks: list[Check]
    readback: dict[str, dict[str, Any]]
    failure: Failure | None
    status: Status
    report: Report
    timings: Annotated[dict[str, float], _merge]
    """Wall seconds per phase that ran (:data:`agent.report.model.PHASES`), each node adding its own."""


@dataclass
class PipelineContext:
    """Run-scoped objects that are not state: the clock, the cancel flag, the progress sink.

    Attributes:
        sources: Where each input came from (front matter, text, default).
        started: ``time.monotonic()`` instant the experiment started.
        deadline: ``time.monotonic()`` instant by which baseline, tuning and finals must end.
        cancel: Set to stop the experiment within one boosting round.
        progress: Receives every progress event (:mod:`agent.pipeline.events`) for live
            displays.
        refusals: Parts of the request refused by policy (recorded in the report).
        job_id: The job this pipeline runs in, when it runs as one (``trialrun run --detach``);
            ``TRIALRUN_JOB_ID``, which the local job backend sets, by default.
        progress_file: Touched on every progress event, so a watchdog sees the job is alive;
            ``TRIALRUN_JOB_PROGRESS``, which the local job backend sets, by default.
        jobs: The jobs the pipeline started (distributed tuning workers), by id.
        backends: Configured job backends by name (a non-default kubeconfig); default ones when
            None.
    """

    sources: dict[str, Source] = field(default_factory=dict)
    started: float = 0.0
    deadline: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: ProgressFn | None = None
    refusals: list[str] = field(default_factory=list)
    job_id: str | None = field(default_factory=lambda: os.environ.get("TRIALRUN_JOB_ID") or None)
    progress_file: Path | None = field(default_factory=_progress_file_from_env)
    jobs: list[str] = field(default_factory=list)
    backends: Mapping[str, Backend] | None = None

    def emit(self, event: ProgressEvent) -> None:
        """Send a progress event, if anyone listens, and touch the job's progress file."""
        if self.progress_file is not None:
            try:
                self.progress_file.touch()
            except OSError:
                pass  # the job's directory is gone: nobody watches it any more
        if self.progress is not None:
            self.progress(event)
