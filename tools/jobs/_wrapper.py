"""Run one local job's command and write how it ended to a status file.

Usage: ``python -I _wrapper.py STATUS_FILE DEADLINE_S GRACE_S -- COMMAND...`` (DEADLINE_S 0: none).

The wrapper leads the job's process group. A SIGTERM sent to the group stops the command while the
wrapper lives on to record the exit status, so trialrun learns it even when it was restarted
meanwhile and the job is no longer its child. The wrapper also enforces the deadline, so a job
stops on time while no trialrun process watches it. Standard library only: it starts in
milliseconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any


def _write_status(path: str, status: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as out:
        json.dump(status, out)
    os.replace(tmp, path)


def _stop_group(
    status_path: str, child: subprocess.Popen[bytes], deadline: float, grace: float
) -> None:
    _write_status(status_path, {"exit_code": None, "reason": "deadline"})
    print(f"trialrun: deadline of {deadline:g} s reached; stopping the job", flush=True)
    os.killpg(0, signal.SIGTERM)
    try:
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    # Also ends this wrapper, once the status is on disk, and any grandchild that outlived TERM.
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    """Run the command in ``argv`` (after ``--``) and return its exit status."""
    status_path, deadline, grace = argv[0], float(argv[1]), float(argv[2])
    command = argv[argv.index("--") + 1 :]
    # A handler, not SIG_IGN: an ignored signal stays ignored across exec, a handled one does not.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        reason = f"cannot start {command[0]!r}: {exc.strerror}"
        print(f"trialrun: {reason}", flush=True)
        _write_status(status_path, {"exit_code": 127, "reason": reason})
        return 127
    try:
        code = child.wait(timeout=deadline or None)
    except subprocess.TimeoutExpired:
        _stop_group(status_path, child, deadline, grace)
        return 137
    _write_status(status_path, {"exit_code": code})
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
