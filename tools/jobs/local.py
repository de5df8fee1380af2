"""Local jobs: a process group of their own on this machine.

Each job runs under a tiny wrapper (``_wrapper.py``) that leads a new session, so the job and
everything it starts share one process group that a cancel can stop at once. Files live in
``home()/jobs/<id>/``: ``job.log`` (stdout and stderr), ``progress`` (the job touches or appends to
it; the watchdog reads it) and ``exit_status.json`` (written by the wrapper). The record keeps the
wrapper's pid *and* start time, so a later trialrun process can still tell whether the job runs,
and a reused pid is never mistaken for it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools import settings
from tools.errors import InputError, TrialrunError
from tools.jobs import inprocess, process
from tools.jobs.model import Job, JobSpec, JobState

_WRAPPER = Path(__file__).with_name("_wrapper.py")
_TAIL_BYTES = 1 << 20
# The wrapper enforces deadlines and says so in the log; refresh() steps in only when it has not,
# a little later (the wrapper was killed on its own, or its clock started late).
_DEADLINE_SLACK_SECONDS = 2.0

PROCESS_GONE = (
    "its trialrun process ended without recording how (killed, e.g. kill -9, "
    "or the machine restarted)"
)

# Wrappers this process started, by pid, so that any backend instance can reap them: an exited
# child that nobody waits for stays a zombie until this process exits.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _reap() -> None:
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            _CHILDREN.pop(pid, None)  # a watchdog thread may reap at the same time


def read_tail(path: Path, lines: int, *, max_bytes: int = _TAIL_BYTES) -> str:
    """Return up to ``lines`` last lines of a text file, reading at most ``max_bytes``."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


class LocalBackend:
    """Runs jobs as local process groups.

    Args:
        root: Where job directories go; defaults to ``home()/jobs``.
        grace_seconds: How long a cancelled or overdue job has between SIGTERM and SIGKILL.

    Example:
        >>> backend = LocalBackend(grace_seconds=2)  # doctest: +SKIP
        >>> spec = JobSpec(name="hello", command=["echo", "hi"])
        >>> job = backend.submit(spec, job_id="j-1a2b3c")  # doctest: +SKIP
        >>> backend.refresh(job).state  # doctest: +SKIP
        <JobState.SUCCEEDED: 'succeeded'>
    """

    name = "local"

    def __init__(self, root: str | Path | None = None, *, grace_seconds: float = 10.0):
        self.root = Path(root) if root is not None else settings.home() / "jobs"
        self.grace_seconds = grace_seconds

    def job_dir(self, job_id: str) -> Path:
        """Return the directory holding the job's log, progress and status files."""
        return self.root / job_id

    def submit(self, spec: JobSpec, *, job_id: str) -> Job:
        """Start ``spec.command`` in a new process group and return the RUNNING record.

        Raises:
            InputError: The command is not found, or the working directory does not exist.
        """
        env = {**os.environ, **spec.env}
        _check_runnable(spec, env)
        directory = self.job_dir(job_id)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {
            "log_path": directory / "job.log",
            "progress_path": directory / "progress",
            "status_path": directory / "exit_status.json",
        }
        paths["progress_path"].touch()
        env["TRIALRUN_JOB_ID"] = job_id
        env["TRIALRUN_JOB_PROGRESS"] = str(paths["progress_path"])
        argv = [
            sys.executable,
            "-I",
            str(_WRAPPER),
            str(paths["status_path"]),
            str(spec.deadline_seconds or 0),
            str(self.grace_seconds),
            "--",
            *spec.command,
        ]
        with paths["log_path"].open("ab") as log:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=spec.workdir,
                env=env,
                start_new_session=True,
            )
        _CHILDREN[child.pid] = child
        # Not reaped yet, so /proc/<pid> exists even if the wrapper has already exited.
        stat = process.read_stat(child.pid)
        handle: dict[str, Any] = {
            "pid": child.pid,
            "pgid": child.pid,
            "start_time": stat.start_time if stat else 0,
            "host": socket.gethostname(),
            "boot_id": process.boot_id(),
            **{key: str(path) for key, path in paths.items()},
        }
        job = Job(id=job_id, backend="local", spec=spec, handle=handle)
        return job.transition(JobState.RUNNING)

    def refresh(self, job: Job) -> Job:
        """Return the record as the process is now: still running, or how it ended.

        A job well past its deadline is stopped here too; its wrapper normally does it first.
        """
        if job.state.finished or not self._observable(job):
            return job
        if inprocess.is_in_process(job):
            if inprocess.process_alive(job):
                return job  # it records its own end
            return job.transition(JobState.FAILED, reason=PROCESS_GONE)
        if "pid" not in job.handle:
            return job.transition(JobState.FAILED, reason="never started (no process recorded)")
        # Liveness first, then the status: the wrapper writes the status before it exits, so a
        # wrapper seen dead has left its status, if it ever will. The command may also outlive
        # its wrapper (killed on its own), hence the group members.
        alive = self._wrapper_alive(job) or bool(self._members(job))
        status = _read_status(job)
        if alive and not status:
            if not _past_deadline(job):
                return job
            self._stop(job)
            return job.transition(JobState.FAILED, reason="deadline")
        # The command ended; like a container, the job ends with it, leftovers included.
        self._stop(job)
        return self._ended(job, status)

    def cancel(self, job: Job) -> Job:
        """Stop the whole process group (SIGTERM, then SIGKILL after the grace period).

        Raises:
            TrialrunError: Some process of the group survived SIGKILL (stuck in the kernel).
        """
        if job.state.finished:
            return job
        if inprocess.is_in_process(job):
            # Stopping it is its own business (it watches its record); see tools.jobs.cancel.
            return job.transition(JobState.CANCELLED)
        if "pid" in job.handle and self._observable(job):
            self._stop(job)
        status = _read_status(job)
        return job.transition(JobState.CANCELLED, exit_code=status.get("exit_code"))

    def logs(self, job: Job, *, tail: int = 200) -> str:
        """Return up to ``tail`` last lines of the job's stdout and stderr."""
        path = job.handle.get("log_path")
        if not path:
            if inprocess.is_in_process(job):
                return (
                    f"(job {job.id} runs in the foreground of trialrun process "
                    f"{job.handle.get('pid')}: its output is where that process prints)"
                )
            return ""
        return read_tail(Path(path), tail)

    def _observable(self, job: Job) -> bool:
        # A record written on another machine (shared home) describes processes we cannot see.
        host = job.handle.get("host")
        return host is None or host == socket.gethostname()

    def _wrapper_alive(self, job: Job) -> bool:
        _reap()
        return self._same_boot(job) and process.is_alive(
            job.handle["pid"], job.handle["start_time"]
        )

    def _members(self, job: Job) -> list[int]:
        if not self._same_boot(job):
            return []
        return process.group_members(job.handle["pgid"], job.handle["start_time"])

    def _same_boot(self, job: Job) -> bool:
        # After a reboot, pids and start times from the record mean nothing.
        recorded = job.handle.get("boot_id")
        return not recorded or recorded == process.boot_id()

    def _stop(self, job: Job) -> None:
        pgid = job.handle["pgid"]

        def gone() -> bool:
            return not self._members(job)

        if gone():
            return
        process.signal_group(pgid, signal.SIGTERM)
        if process.wait_until(gone, self.grace_seconds, tick=_reap):
            return
        process.signal_group(pgid, signal.SIGKILL)
        if not process.wait_until(gone, 10.0, tick=_reap):
            raise TrialrunError(f"Job {job.id!r}: processes {self._members(job)} survived SIGKILL.")

    def _ended(self, job: Job, status: dict[str, Any]) -> Job:
        code = status.get("exit_code")
        if status.get("reason") == "deadline":
            return job.transition(JobState.FAILED, reason="deadline")
        if code == 0:
            return job.transition(JobState.SUCCEEDED, exit_code=0)
        if code is not None:
            reason = status.get("reason") or (
                f"killed by {_signal_name(code)}" if code < 0 else f"exit code {code}"
            )
            return job.transition(JobState.FAILED, exit_code=code, reason=reason)
        return job.transition(
            JobState.FAILED,
            reason="process gone without an exit status (killed with its supervisor, "
            "or the machine restarted)",
        )


def _check_runnable(spec: JobSpec, env: dict[str, str]) -> None:
    if spec.workdir is not None and not Path(spec.workdir).is_dir():
        raise InputError(
            f"Working directory {spec.workdir!r} does not exist.",
            field="workdir",
            hint="Give an existing directory, or leave it unset to run in the current one.",
        )
    program = spec.command[0]
    if os.sep in program:
        found = Path(spec.workdir or ".", program).exists()
    else:
        found = shutil.which(program, path=env.get("PATH")) is not None
    if not found:
        raise InputError(
            f"Command {program!r} was not found.",
            field="command",
            hint="Give a program on PATH or a path to an executable.",
        )


def _read_status(job: Job) -> dict[str, Any]:
    path = job.handle.get("status_path")
    if not path:
        return {}
    try:
        return dict(json.loads(Path(path).read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _past_deadline(job: Job) -> bool:
    deadline = job.spec.deadline_seconds
    if deadline is None or job.started_at is None:
        return False
    elapsed = (datetime.now(UTC) - job.started_at).total_seconds()
    return elapsed > deadline + _DEADLINE_SLACK_SECONDS
