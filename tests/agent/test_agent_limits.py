"""Every loop has a cap: a model that keeps calling tools is stopped, and the turn ends cleanly.

Small models repeat the same call after a tool result; the caps must end the turn with an answer
rather than a crash, however many graph steps each model call takes through the middleware.
"""

from langchain_core.messages import AIMessage

from agent.context import AgentContext
from agent.conversation import Conversation
from agent.guards import MAX_EXPERIMENTS_PER_TURN, MAX_MODEL_CALLS
from agent.outcome import Finished, Planned

REQUEST = "Plan lightgbm on wine v1 for log_loss, 2 trials, 10 seconds, seed 1."
RUN = {
    "dataset": "wine",
    "version": "v1",
    "metric": "log_loss",
    "trials": 2,
    "seconds": 10,
    "seeds": [1],
}


def test_a_model_that_never_stops_calling_tools_is_stopped_at_the_model_call_cap(
    scripted, person, tool_call, examples_catalog
):
    model = scripted(*[tool_call("list_datasets")] * MAX_MODEL_CALLS)
    conversation = Conversation(model, context=AgentContext())

    turn = conversation.send("list datasets", person())

    assert len(model.calls) == MAX_MODEL_CALLS
    assert conversation.context.usage.model_calls == MAX_MODEL_CALLS
    assert "limit" in turn.answer


def test_experiments_called_at_once_are_held_to_the_per_turn_cap(
    scripted, person, examples_catalog
):
    calls = [
        {"name": "run_experiment", "args": RUN, "id": f"call_run_{i}"}
        for i in range(MAX_EXPERIMENTS_PER_TURN + 1)
    ]
    model = scripted(AIMessage("", tool_calls=calls), "Planned.")

    turn = Conversation(model, context=AgentContext(dry_run=True)).send(REQUEST, person())

    assert len(turn.plans) == MAX_EXPERIMENTS_PER_TURN
    assert "limit" in " ".join(str(m.content) for m in model.calls[-1][-3:]).lower()
    assert turn.answer == "Planned."


def test_the_call_after_an_experiment_is_the_last_and_cannot_run_it_again(
    scripted, person, tool_call, examples_catalog
):
    # The 1.5B model's habit: the same call again once the plan is back.
    model = scripted(tool_call("run_experiment", **RUN), tool_call("run_experiment", **RUN))
    conversation = Conversation(model, context=AgentContext(dry_run=True))

    turn = conversation.send(REQUEST, person())

    assert isinstance(turn.outcome, Planned)
    assert len(turn.plans) == 1
    assert conversation.context.usage.model_calls == 2
    assert turn.answer == "Here is the plan; nothing was run."


def test_a_finished_experiment_keeps_its_report_when_the_model_would_go_on(
    scripted, person, tool_call, examples_catalog, tracking_store, tracked
):
    baseline = {**RUN, "trials": 1, "optimize": False}
    model = scripted(
        tool_call("run_experiment", **baseline), tool_call("show_run", run_id="latest")
    )
    conversation = Conversation(model, context=AgentContext())

    turn = conversation.send(
        "Baseline only: lightgbm on wine v1 for log_loss, 1 trial, 10 seconds, seed 1.", person()
    )

    assert isinstance(turn.outcome, Finished)
    [report] = turn.outcome.reports
    assert report.status == "succeeded"
    assert conversation.context.usage.model_calls == 2
    assert turn.answer.startswith("Done. Best log_loss")
    assert report.summary.best_run_id in turn.answer
    assert len([r for r in tracked() if r.data.tags.get("trialrun.role") == "parent"]) == 1


def test_the_offline_planner_plans_a_complete_request_in_two_model_calls(person, examples_catalog):
    conversation = Conversation(context=AgentContext(dry_run=True))

    turn = conversation.send(REQUEST, person())

    assert isinstance(turn.outcome, Planned)
    assert conversation.context.usage.model_calls == 2
