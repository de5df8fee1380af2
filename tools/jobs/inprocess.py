"""An experiment that runs inside a trialrun process, recorded as a job like a detached one.

A foreground ``trialrun run``, a chat and the Slack app run experiments in their own process, not
as a process group the local backend started. Each such experiment is still a job on record: it
shows in ``trialrun jobs list``, ``trialrun jobs cancel`` stops it from another shell, and a
process killed outright (``kill -9``) leaves a record that the next trialrun command settles.

The record's handle names the process (pid, start time, boot id) and says ``in_process``. The
process itself stops cooperatively: a thread reads the record every ``poll_seconds`` and sets the
experiment's cancel event once someone asks to cancel it (the record's ``cancel_requested_at``),
so the run stops within a boosting round and its report says cancelled. The process records how
the experiment ended; a refresh that finds the process gone and the record still running marks it
FAILED, and its trials and runs are settled (:mod:`tools.jobs.reconcile`).
"""

from __future__ import annotations

import os
import socket
import threading
from types import TracebackType

from tools.jobs import process
from tools.jobs.model import Job, JobSpec, JobState
from tools.jobs.store import JobStore, StaleJobError

IN_PROCESS = "in_process"
"""The handle key marking a job whose process is the trialrun process that recorded it."""
POLL_SECONDS = 0.5
"""How often a running experiment reads its record for a cancel request."""
_SAVE_ATTEMPTS = 20


def this_process_handle() -> dict[str, object]:
    """Return the handle naming this process: a later process can tell whether it still runs."""
    stat = process.read_stat(os.getpid())
    return {
        IN_PROCESS: True,
        "pid": os.getpid(),
        "start_time": stat.start_time if stat else 0,
        "host": socket.gethostname(),
        "boot_id": process.boot_id(),
    }


def is_in_process(job: Job) -> bool:
    """Return True for a job that runs inside the trialrun process that recorded it."""
    return bool(job.handle.get(IN_PROCESS))


def process_alive(job: Job) -> bool:
    """Return True while the process of an in-process job runs (on this machine and boot)."""
    handle = job.handle
    if handle.get("host") not in (None, socket.gethostname()):
        return True  # another machine's process: not ours to judge
    if handle.get("boot_id") and handle["boot_id"] != process.boot_id():
        return False
    return process.is_alive(int(handle["pid"]), int(handle["start_time"]))


def record_end(
    job_id: str,
    state: JobState,
    *,
    reason: str | None = None,
    store: JobStore | None = None,
) -> Job:
    """Record how the experiment ended, unless its record has ended already; return the record.

    A cancel in progress does not stop this: the process knows best how it ended, and the
    canceller adds what it settled to the record.
    """
    store = store or JobStore()
    for _ in range(_SAVE_ATTEMPTS):
        job = store.get(job_id)
        if job.state.finished:
            return job
        changes = {"reason": reason} if reason else {}
        try:
            return store.save(job.transition(state, **changes))
        except StaleJobError:
            continue
    raise StaleJobError(f"Job {job_id!r} kept changing during {_SAVE_ATTEMPTS} attempts to end it.")


class InProcessJob:
    """The job record of one experiment running in this process; a context manager.

    Entering records the job RUNNING and starts watching it for a cancel request; leaving stops
    watching. Call :meth:`end` with the outcome before leaving; an exception that escapes ends it
    FAILED with the exception as the reason.

    Args:
        spec: What the job shows: its name, command and labels (the study and runs come later,
            through :func:`tools.jobs.lifecycle.add_labels`).
        cancel: Set when someone cancels the job.
        store: The job store; the default one when None.
        poll_seconds: How often the record is read for a cancel request.

    Example:
        >>> with InProcessJob(spec, cancel=event) as job:  # doctest: +SKIP
        ...     report = run(...)
        ...     job.end(JobState.SUCCEEDED)
    """

    def __init__(
        self,
        spec: JobSpec,
        *,
        cancel: threading.Event,
        store: JobStore | None = None,
        poll_seconds: float = POLL_SECONDS,
    ):
        self.store = store or JobStore()
        self.spec = spec
        self.cancel = cancel
        self.poll_seconds = poll_seconds
        self.job_id = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> InProcessJob:
        queued = self.store.create(
            Job(
                id=self.store.new_id(),
                backend="local",
                spec=self.spec,
                handle=this_process_handle(),
            )
        )
        self.job_id = queued.id
        self.store.save(queued.transition(JobState.RUNNING))
        self._thread = threading.Thread(
            target=self._watch, name=f"trialrun-job-{self.job_id}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if exc is not None:
            cancelled = isinstance(exc, KeyboardInterrupt) or self.cancel.is_set()
            state = JobState.CANCELLED if cancelled else JobState.FAILED
            self.end(state, reason=f"{type(exc).__name__}: {exc}"[:500])

    def end(self, state: JobState, *, reason: str | None = None) -> Job:
        """Record how the experiment ended (see :func:`record_end`)."""
        return record_end(self.job_id, state, reason=reason, store=self.store)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                job = self.store.get(self.job_id)
            except Exception:  # a store briefly locked or gone: look again next time
                continue
            if job.cancel_requested_at is not None and not self.cancel.is_set():
                self.cancel.set()
                return
