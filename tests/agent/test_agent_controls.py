"""Plain-word controls: cancel everything (after a confirmation listing it), status, best-by-metric."""

import mlflow

from agent.context import AgentContext
from agent.conversation import Conversation
from agent.outcome import Answered, Refused
from tools.jobs import lifecycle
from tools.jobs.cancel import cancel
from tools.jobs.model import JobSpec, JobState
from tools.jobs.store import JobStore


def sleeping_jobs(count: int) -> list[str]:
    return [
        lifecycle.submit(JobSpec(name=f"sleeper-{i}", command=["sleep", "60"])).id
        for i in range(count)
    ]


def states(ids: list[str]) -> list[JobState]:
    store = JobStore()
    return [store.get(i).state for i in ids]


def test_kill_everything_lists_the_jobs_for_a_yes_then_cancels_them(person, wait_for):
    ids = sleeping_jobs(2)
    someone = person(approvals=[True])

    turn = Conversation(context=AgentContext()).send("kill everything that's running", someone)

    [description] = someone.described
    assert all(i in description for i in ids) and "Cancel all 2" in description
    assert wait_for(lambda: set(states(ids)) == {JobState.CANCELLED})
    assert isinstance(turn.outcome, Answered) and all(i in turn.answer for i in ids)


def test_a_no_cancels_nothing(person):
    ids = sleeping_jobs(1)
    someone = person(approvals=[False])
    try:
        turn = Conversation(context=AgentContext()).send("please stop all jobs", someone)

        assert isinstance(turn.outcome, Refused) and ids[0] in turn.outcome.rejected
        assert states(ids) == [JobState.RUNNING]
    finally:
        cancel(ids[0])


def test_nothing_running_needs_no_confirmation(person):
    turn = Conversation(context=AgentContext()).send("cancel everything", person())

    assert "nothing to cancel" in turn.answer


def test_how_is_my_experiment_doing_lists_the_jobs(person):
    [job] = sleeping_jobs(1)
    try:
        turn = Conversation(context=AgentContext()).send("how is my experiment doing?", person())
        assert job in turn.answer and "running" in turn.answer
    finally:
        cancel(job)


def test_which_run_had_the_lowest_rmse_ranks_the_runs_by_it(person, tracking_store):
    mlflow.set_tracking_uri(tracking_store)
    mlflow.set_experiment("diabetes-v1")
    scores = {"a": 61.0, "b": 52.5, "c": 70.2}
    for name, rmse in scores.items():
        with mlflow.start_run(run_name=name):
            mlflow.log_metric("valid_rmse", rmse)

    turn = Conversation(context=AgentContext()).send(
        "which run had the lowest rmse on diabetes?", person()
    )

    # the person reads a table, ordered as asked, with each run's score rounded
    (table,) = turn.tables
    assert [row[1] for row in table.rows] == ["b", "a", "c"]
    assert "ordered by metrics.valid_rmse ASC" in table.notes
    assert "3 runs found" in turn.answer and "{" not in turn.answer
