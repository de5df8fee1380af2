"""A watchdog that cancels a job whose progress file stops changing.

A job gets ``TRIALRUN_JOB_PROGRESS``, a file it touches or appends to as it makes progress (a
finished trial, a boosting round). A job that hangs (a deadlock, a stuck data loader) stops
touching it; after ``stall_seconds`` without a change the watchdog cancels the job through the one
cancel, so its trials and runs are settled too, with the reason ``no progress for N s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path

from tools.errors import InputError
from tools.jobs import lifecycle
from tools.jobs.base import Backend
from tools.jobs.cancel import CancelResult, cancel
from tools.jobs.store import JobStore


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


class Watchdog:
    """A daemon thread that cancels a stalled job; use it as a context manager.

    Args:
        job_id: The job to watch; it must have a progress file (local jobs do).
        stall_seconds: Seconds without a change of the progress file before the job is cancelled.
        poll_seconds: Seconds between looks; a quarter of ``stall_seconds`` (at most 5) when None.
        store: The job store; the default one when None.
        backends: Configured backends by name; default ones when None.

    Attributes:
        result: What the watchdog's cancel did, once it fired.
        error: What stopped the watchdog early, if anything did.

    Example:
        >>> with Watchdog(job.id, stall_seconds=120) as dog:  # doctest: +SKIP
        ...     final = lifecycle.wait(job.id, timeout=3600)
        >>> dog.result.message if dog.result else "no stall"  # doctest: +SKIP
    """

    def __init__(
        self,
        job_id: str,
        *,
        stall_seconds: float,
        poll_seconds: float | None = None,
        store: JobStore | None = None,
        backends: Mapping[str, Backend] | None = None,
    ):
        if stall_seconds <= 0:
            raise InputError(
                f"stall_seconds must be positive, got {stall_seconds!r}.", field="stall_seconds"
            )
        self.store = store or JobStore()
        job = self.store.get(job_id)
        path = job.handle.get("progress_path")
        if not path:
            raise InputError(
                f"Job {job_id!r} ({job.backend}) has no progress file to watch.",
                field="job_id",
                hint="Watch a local job; bound a Kubernetes job with deadline_seconds instead.",
            )
        self.job_id = job_id
        self.stall_seconds = stall_seconds
        self.poll_seconds = poll_seconds or min(stall_seconds / 4, 5.0)
        self.progress_path = Path(path)
        self.backends = backends
        self.result: CancelResult | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watchdog-{job_id}", daemon=True)

    def start(self) -> Watchdog:
        """Start watching; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching and wait for the thread to end."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Watchdog:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            self._watch()
        except Exception as exc:  # a thread has no caller to raise to: keep it for the owner
            self.error = exc

    def _watch(self) -> None:
        seen = _signature(self.progress_path)
        changed_at = time.monotonic()
        while not self._stop.wait(self.poll_seconds):
            job = lifecycle.refresh(self.job_id, store=self.store, backends=self.backends)
            if job.state.finished:
                return
            now = _signature(self.progress_path)
            if now != seen:
                seen, changed_at = now, time.monotonic()
            elif time.monotonic() - changed_at >= self.stall_seconds:
                self.result = cancel(
                    self.job_id,
                    reason=f"no progress for {self.stall_seconds:g} s",
                    store=self.store,
                    backends=self.backends,
                )
                return
