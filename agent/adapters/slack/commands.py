"""``cancel``, ``status`` and ``show the best run`` said in a thread act on that thread's experiments.

They are recognised with the offline planner's parser whatever chat model is configured, so they
answer at once, even while the thread's experiment runs. Requests that name something else
(``cancel job 7``, ``best run of experiment churn``, ``status of job 3``) go to the agent.
"""

from __future__ import annotations

import re
from typing import Literal

from agent.adapters.slack.store import Experiment
from agent.adapters.slack.tables import table_message
from agent.answers import AnswerTable, fmt_score
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
    from agent.planner.reading.message import read_message

    if _CANCEL.fullmatch(text):
        return "cancel"
    intent = read_message(text, known={})
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
    """Describe a thread's experiments, newest last, as a table, and what the thread waits for."""
    if not experiments:
        lines = ["No experiment has started in this thread yet."]
    else:
        shown = experiments[-10:]
        table = AnswerTable(
            title=f"Experiments in this thread ({len(experiments)})",
            columns=("ID", "State", "Experiment", "Metric", "Best", "Run ID / progress"),
            rows=[_status_row(e) for e in shown],
            notes=[f"{len(experiments) - len(shown)} older ones left out"]
            if len(experiments) > len(shown)
            else [],
        )
        lines = [table_message(table)]
    if waiting:
        lines.append(f"Waiting for {waiting}.")
    return "\n".join(lines)


def best_text(experiments: list[Experiment], *, mlflow_ui: str | None) -> str:
    """Show the best final run of the thread's experiments, per metric, linked when it can be.

    Best is the report's: the chosen configuration's mean over its seeds.
    """
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
    rows, links = [], []
    for metric, experiment in best.items():
        result = experiment.result
        rows.append(
            (
                str(result["best_run_id"]),
                _experiment_name(result),
                metric,
                fmt_score(float(str(result["best_value"]))),
                str(result.get("direction") or "-"),
                experiment.id,
            )
        )
        links.append(f"{metric}: {_run_link(result, mlflow_ui)}, asked by <@{experiment.user}>")
    table = AnswerTable(
        title="Best run in this thread",
        columns=("Run ID", "Experiment", "Metric", "Best (mean over seeds)", "Direction", "ID"),
        rows=rows,
    )
    return table_message(table, links=links)


def _status_row(experiment: Experiment) -> tuple[str, ...]:
    result = experiment.result
    value = result.get("best_value")
    if experiment.state.finished and value is not None:
        detail = str(result.get("best_run_id") or "-")
    elif experiment.state.finished:
        detail = experiment.reason or str(result.get("status") or experiment.state.value)
    else:
        detail = _plain(experiment.detail) or experiment.state.value
    return (
        experiment.id,
        experiment.state.value,
        _experiment_name(result),
        str(result.get("metric") or "-"),
        "-" if value is None else fmt_score(float(str(value))),
        detail,
    )


def _experiment_name(result: dict[str, object]) -> str:
    # Records written before the name was kept have only the MLflow experiment's id.
    return str(result.get("experiment") or result.get("experiment_id") or "-")


def _better(result: dict[str, object], than: dict[str, object]) -> bool:
    value, other = float(str(result["best_value"])), float(str(than["best_value"]))
    return value < other if result.get("direction") == "minimize" else value > other


def _run_link(result: dict[str, object], mlflow_ui: str | None) -> str:
    run_id, experiment_id = str(result["best_run_id"]), result.get("experiment_id")
    if mlflow_ui and experiment_id:
        from tools.tracking.links import ui_link

        return f"<{ui_link(mlflow_ui, str(experiment_id), run_id)}|{run_id[:8]}>"
    return f"`{run_id}`"


def _plain(detail: str) -> str:
    # The detail is the progress message: drop its emoji and bold, keep the words.
    return re.sub(r"^:[a-z_]+:\s*|\*", "", detail)
