"""What Linux says about a process group, read from ``/proc``.

A pid alone does not identify a process across a trialrun restart: the number is reused once the
process is gone. A process is identified here by its pid *and* its start time (clock ticks since
boot, field 22 of ``/proc/<pid>/stat``), plus the boot id, so a recycled number never passes for
a job that ended. Zombies count as gone: the process has exited, and in a container whose init
does not reap orphans it may stay a zombie for ever.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` that tell who a process is and whether it runs."""

    pid: int
    state: str
    pgrp: int
    start_time: int

    @property
    def running(self) -> bool:
        """Return True unless the process is a zombie or dead."""
        return self.state not in ("Z", "X")


def boot_id() -> str:
    """Return this boot's id: start times only compare within one boot."""
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def read_stat(pid: int) -> ProcStat | None:
    """Return the stat of ``pid``, or None when no such process exists."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ")".
    fields = raw[raw.rindex(")") + 2 :].split()
    return ProcStat(pid=pid, state=fields[0], pgrp=int(fields[2]), start_time=int(fields[19]))


def is_alive(pid: int, start_time: int) -> bool:
    """Return True when the process that started at ``start_time`` with ``pid`` still runs."""
    stat = read_stat(pid)
    return stat is not None and stat.start_time == start_time and stat.running


def group_members(pgid: int, leader_start_time: int) -> list[int]:
    """Return the running processes of the group led by ``pgid`` when it started.

    A group id is a number too. While any member lives the kernel keeps it, so a group is only
    confused with another when its leader's number was recycled: then the leader's start time
    differs, and no member is reported.
    """
    leader = read_stat(pgid)
    if leader is not None and leader.start_time != leader_start_time:
        return []
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name))
        if stat is not None and stat.pgrp == pgid and stat.running:
            members.append(stat.pid)
    return sorted(members)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to every process of the group; a group already gone is not an error."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def wait_until(
    done: Callable[[], bool], timeout: float, *, interval: float = 0.02, tick: Callable[[], None]
) -> bool:
    """Poll ``done`` until it holds or ``timeout`` seconds pass; return whether it held.

    Args:
        done: The condition.
        timeout: The most seconds to wait.
        interval: Seconds between polls.
        tick: Called before each poll (reaps this process's own exited children).
    """
    end = time.monotonic() + timeout
    while True:
        tick()
        if done():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)
