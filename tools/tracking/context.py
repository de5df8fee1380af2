"""What every run records about where it ran: git state, library versions, host."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

NOT_A_CHECKOUT = "none"
"""The SHA recorded when the code directory is not in a git checkout."""
TRACKED_LIBRARIES = (
    "trialrun",
    "mlflow",
    "optuna",
    "xgboost",
    "lightgbm",
    "scikit-learn",
    "pandas",
    "numpy",
)


@dataclass(frozen=True)
class GitState:
    """The git state of the working directory: SHA, dirty flag and the diff when dirty."""

    sha: str
    dirty: bool
    diff: str


_code_directory: Path | None = None


@contextlib.contextmanager
def code_directory(path: Path) -> Iterator[None]:
    """Record the git state of ``path``'s repository on the runs created inside the block.

    A prompt file's experiment is code of the repository the file lives in, wherever trialrun
    is started from; without a block, the working directory's repository is recorded.
    """
    global _code_directory
    previous, _code_directory = _code_directory, path.resolve()
    try:
        yield
    finally:
        _code_directory = previous


def git_state() -> GitState:
    """Return the git state of the code directory (``sha="none"`` outside a checkout)."""
    return _git_state(_code_directory or Path.cwd())


@functools.cache
def _git_state(directory: Path) -> GitState:
    try:
        sha = _git(directory, "rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return GitState(sha=NOT_A_CHECKOUT, dirty=False, diff="")
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    diff = _git(directory, "diff", "HEAD") if status else ""
    return GitState(sha=sha, dirty=bool(status), diff=diff)


def forget_git_state() -> None:
    """Read the git state again on next use (the working tree changed)."""
    _git_state.cache_clear()


def _git(directory: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(directory), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    )
    return done.stdout.strip()


@functools.cache
def library_versions() -> dict[str, str]:
    """Return the installed versions of the libraries that shape a result."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment_tags() -> dict[str, str]:
    """Return the tags that describe this run's environment (git, versions, host, job)."""
    git = git_state()
    tags = {
        "mlflow.source.git.commit": git.sha,
        "trialrun.git.dirty": str(git.dirty).lower(),
        "trialrun.host": socket.gethostname(),
        "trialrun.platform": f"{platform.system()}-{platform.machine()}",
        "mlflow.source.name": "trialrun",
        "mlflow.source.type": "LOCAL",
        "trialrun.argv": " ".join(sys.argv[:1]),
    }
    tags.update({f"trialrun.version.{k}": v for k, v in library_versions().items()})
    job_id = os.environ.get("TRIALRUN_JOB_ID")
    if job_id:  # the job this process runs in (a cancel of that job settles the run)
        tags["trialrun.job_id"] = job_id
    return tags
