"""What every run records about where it ran: git state, library versions, host."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata

TRACKED_LIBRARIES = (
    "trialrun",
    "mlflow",
    "optuna",
    "xgboost",
    "lightgbm",
    "scikit-learn",
    "pandas",
)


@dataclass(frozen=True)
class GitState:
    """The git state of the working directory: SHA, dirty flag and the diff when dirty."""

    sha: str
    dirty: bool
    diff: str


@functools.cache
def git_state() -> GitState:
    """Return the git state of the working directory (``sha="none"`` outside a checkout)."""
    try:
        sha = _git("rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return GitState(sha="none", dirty=False, diff="")
    status = _git("status", "--porcelain", "--untracked-files=no")
    diff = _git("diff", "HEAD") if status else ""
    return GitState(sha=sha, dirty=bool(status), diff=diff)


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=20)
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
