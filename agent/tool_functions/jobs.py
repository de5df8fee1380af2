"""The job tools: list, show and cancel jobs (local processes and Kubernetes Jobs)."""

from __future__ import annotations

from typing import Any

from agent.tool_functions.results import bounded


def list_jobs() -> str:
    """List recent jobs (local processes and Kubernetes Jobs), newest first."""
    from tools.jobs import api

    return api.list_jobs()


def show_job(job_id: str) -> str:
    """Show one job: state, resources, labels, timings.

    Args:
        job_id: The job's id, e.g. "j-3f9a2c".
    """
    from tools.jobs import api

    return api.show_job(job_id)


def cancel_job(job_id: str) -> str:
    """Cancel a job: stop it, fail its running trials, kill its running runs.

    Args:
        job_id: The job's id, e.g. "j-3f9a2c".
    """
    from tools.jobs import api

    return api.cancel_job(job_id)


def cancel_all_jobs() -> str:
    """Cancel every queued or running job; the person first confirms the list of them."""
    from tools.jobs.cancel import cancel

    jobs = unfinished_jobs()
    if not jobs:
        return "No job is queued or running: nothing to cancel."
    return bounded("\n".join(cancel(job.id).message for job in jobs))


def unfinished_jobs() -> list[Any]:
    """Return the jobs that are queued or running, newest first."""
    from tools.jobs.model import JobState
    from tools.jobs.store import JobStore

    return JobStore().list(states=[JobState.QUEUED, JobState.RUNNING])
