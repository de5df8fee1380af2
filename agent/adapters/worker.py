"""``trialrun worker`` and ``trialrun stage``: what the jobs of an experiment run (hidden).

``trialrun worker`` is one distributed tuning worker; ``trialrun stage`` trains the baselines or
the final models of an experiment on a Kubernetes runtime (its task in ``TRIALRUN_STAGE_TASK``,
see :mod:`tools.experiment.stage`). ``trialrun run`` starts both.

The task comes as JSON in ``--task`` or in ``TRIALRUN_WORKER_TASK`` (the way jobs pass it); the
job id in ``TRIALRUN_JOB_ID`` is recorded on every trial; ``TRIALRUN_WORKER_INDEX``, when an
Indexed Job sets it, is the worker's index (otherwise one is claimed from the study). SIGTERM
(a job cancel, or the job's deadline) and Ctrl-C set the cancel flag: the running trial stops
within one boosting round, is marked FAIL and its run KILLED, and the worker exits with code 6.

Exit codes: 0 when it stopped on its own (trial budget, time budget, failure budget), 2 for a bad
task or dataset, 4 when the storage or the tracking server cannot be used, 5 when the dataset's
file changed after it was catalogued (its digest differs), 6 when cancelled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from agent.adapters.background import recover_at_start
from agent.adapters.exit_codes import ExitCode, err, exit_code_for

T = TypeVar("T")


def run_worker_command(task_json: str | None = None) -> int:
    """Run one worker to the end and return its exit code."""
    from tools.errors import InputError
    from tools.experiment.worker import TASK_ENV, WorkerTask, run_worker
    from tools.jobs.kubernetes_manifest import INDEX_ENV

    raw = task_json or os.environ.get(TASK_ENV)
    if not raw:
        err(f"error: no task: pass --task JSON or set {TASK_ENV} (trialrun run starts workers).")
        return int(ExitCode.USAGE)
    try:
        task = WorkerTask.parse(raw)
    except InputError as exc:
        err(f"error: {exc}")
        return int(exit_code_for(exc))
    recover_at_start()
    cancel = threading.Event()
    job_id = os.environ.get("TRIALRUN_JOB_ID") or None
    given = os.environ.get(INDEX_ENV, "")
    index = int(given) if given.isdigit() else None
    progress = os.environ.get("TRIALRUN_JOB_PROGRESS")

    def on_trial(trial: Any) -> None:
        print(
            f"trialrun worker: trial {trial.number} {trial.state.name} value={trial.value}",
            flush=True,
        )
        if progress:
            with contextlib.suppress(OSError):  # the job's directory is gone: nobody watches
                Path(progress).touch()

    holder = f"{job_id or 'no job'} on {socket.gethostname()} (pid {os.getpid()})"
    code, outcome = _until_done(
        "trialrun worker",
        cancel,
        lambda: run_worker(
            task, job_id=job_id, index=index, holder=holder, cancel=cancel, on_trial=on_trial
        ),
    )
    if outcome is None:
        return code
    study = outcome.study
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(study.counts.items()))
    print(
        f"trialrun worker {outcome.index} (sampler seed {outcome.sampler_seed}): "
        f"{study.stop_reason}; study {study.study_name!r}: {counts or 'no trials'}",
        flush=True,
    )
    return int(ExitCode.CANCELLED if study.stop_reason == "cancelled" else ExitCode.OK)


def run_stage_command() -> int:
    """Train one stage (baselines or finals) to the end and return the exit code.

    Exit codes as for a worker: 0 done, 2 a bad task or dataset, 4 a failure, 5 the dataset
    changed after it was catalogued, 6 cancelled, 7 a store that does not answer.
    """
    from tools.errors import InputError
    from tools.experiment.stage import STAGE_TASK_ENV, StageTask, run_stage

    raw = os.environ.get(STAGE_TASK_ENV)
    if not raw:
        err(f"error: no task: set {STAGE_TASK_ENV} (trialrun run starts stage jobs).")
        return int(ExitCode.USAGE)
    try:
        task = StageTask.parse(raw)
    except InputError as exc:
        err(f"error: {exc}")
        return int(exit_code_for(exc))
    cancel = threading.Event()
    code, outcomes = _until_done(
        f"trialrun stage {task.kind}", cancel, lambda: run_stage(task, cancel=cancel)
    )
    for outcome in outcomes or []:
        print(
            f"trialrun stage {task.kind}: {outcome.family} seed {outcome.seed} in run "
            f"{outcome.output.mlflow_run_id}: {outcome.output.validation_metrics}",
            flush=True,
        )
    return code


def _until_done(who: str, cancel: threading.Event, work: Callable[[], T]) -> tuple[int, T | None]:
    """Run ``work`` with SIGTERM and Ctrl-C setting ``cancel``; map its end to an exit code."""
    from tools.errors import TrialrunError

    try:
        with _cancel_on_signals(cancel):
            return int(ExitCode.OK), work()
    except TrialrunError as exc:
        code = exit_code_for(exc)
        if code == ExitCode.CANCELLED:
            err(f"{who}: cancelled")
        elif code == ExitCode.REFUSED:
            err(f"error: refused: {exc}")
        else:
            err(f"error: {exc}")
        return int(code), None


@contextmanager
def _cancel_on_signals(cancel: threading.Event) -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        cancel.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)
