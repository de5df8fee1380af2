"""``cancel``, ``status`` and ``show the best run`` said in a thread act on that thread's experiments.

They are recognised with the offline planner's parser whatever chat model is configured, so they
answer at once, even while the thread's experiment runs. Requests that name something else
(``cancel job 7``, ``best run of experiment churn``, ``status of job 3``) go to the agent.
"""

from __future__ import annotations

import re
from typing import Literal

from agent.adapters.slack.store import Experiment
from tools.jobs.model import JobState

ThreadCommand = Literal["cancel", "status", "best"]

_CANCEL = re.compile(
    r"(?i)\s*(?:please\s+)?(?:cancel|stop|abort|kill)"
    r"(?:\s+(?:it|this|that|everything|all|training|the\s+(?:run|experiments?|jobs?|training)))?"
    r"(?:\s+please)?\s*[.!]*\s*"
)


def thread_command(text: str) -> ThreadCommand | None:
    """Return the thread command ``text`` is, or None for anything else.

    Example:
        >>> thread_command("cancel"), thread_command("status?"), thread_command("show the best run")
        ('cancel', 'status', 'best')
        >>> thread_command("cancel job 7") is None
        True
    """
    from agent.planner.parse import parse

    if _CANCEL.fullmatch(text):
        return "cancel"
    intent = parse(text, known={})
    if intent.action == "cancel_job" and not intent.job_id:
        return "cancel"
    if intent.action == "job_status" and not intent.job_id:
        return "status"
    if (
        intent.action == "query_runs"
        and intent.order == "best"
        and not intent.experiment
        and intent.since is None
    ):
        return "best"
    return None


def status_text(experiments: list[Experiment], *, waiting: str = "") -> str:
    """Describe a thread's experiments, newest last, and what the conversation waits for."""
    if not experiments:
        lines = ["No experiment has started in this thread yet."]
    else:
        lines = [f"*Experiments in this thread* ({len(experiments)}):"]
        for experiment in experiments[-10:]:
            lines.append(f"• `{experiment.id}` {experiment.state.value}: {_describe(experiment)}")
    if waiting:
        lines.append(f"Waiting for {waiting}.")
    return "\n".join(lines)


def best_text(experiments: list[Experiment], *, mlflow_ui: str | None) -> str:
    """Name the best final run of the thread's experiments, per metric, linked when it can be."""
    best: dict[str, Experiment] = {}
    for experiment in experiments:
        result = experiment.result
        if experiment.state != JobState.SUCCEEDED or result.get("best_value") is None:
            continue
        metric = str(result.get("metric"))
        held = best.get(metric)
        if held is None or _better(result, held.result):
            best[metric] = experiment
    if not best:
        return "No experiment in this thread has finished with a result yet."
    lines = []
    for metric, experiment in best.items():
        result = experiment.result
        run = _run_link(result, mlflow_ui)
        lines.append(
            f"Best run in this thread: {run} · {metric} {result['best_value']:.6g} "
            f"(experiment `{experiment.id}`, asked by <@{experiment.user}>)"
        )
    return "\n".join(lines)


def _better(result: dict[str, object], than: dict[str, object]) -> bool:
    value, other = float(str(result["best_value"])), float(str(than["best_value"]))
    return value < other if result.get("direction") == "minimize" else value > other


def _run_link(result: dict[str, object], mlflow_ui: str | None) -> str:
    run_id, experiment_id = str(result["best_run_id"]), result.get("experiment_id")
    if mlflow_ui and experiment_id:
        return f"<{mlflow_ui}/#/experiments/{experiment_id}/runs/{run_id}|{run_id[:8]}>"
    return f"`{run_id}`"


def _describe(experiment: Experiment) -> str:
    result = experiment.result
    if experiment.state.finished and result.get("best_value") is not None:
        return f"best {result.get('metric')} {result['best_value']:.6g} (run `{result.get('best_run_id')}`)"
    if experiment.state.finished:
        return experiment.reason or str(result.get("status") or experiment.state.value)
    return _plain(experiment.detail) or experiment.state.value


def _plain(detail: str) -> str:
    # The detail is the progress message: drop its emoji and bold, keep the words.
    return re.sub(r"^:[a-z_]+:\s*|\*", "", detail)
