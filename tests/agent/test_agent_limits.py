"""Every loop has a cap: a model that keeps calling tools is stopped, and the turn ends cleanly.

Small models repeat the same call after a tool result; the caps must end the turn with an answer
rather than a crash, however many graph steps each model call takes through the middleware.
"""

from agent.context import AgentContext
from agent.conversation import Conversation
from agent.guards import MAX_EXPERIMENTS_PER_TURN, MAX_MODEL_CALLS


def test_a_model_that_never_stops_calling_tools_is_stopped_at_the_model_call_cap(
    scripted, person, tool_call, examples_catalog
):
    model = scripted(*[tool_call("list_datasets")] * MAX_MODEL_CALLS)
    conversation = Conversation(model, context=AgentContext())

    turn = conversation.send("list datasets", person())

    assert len(model.calls) == MAX_MODEL_CALLS
    assert conversation.context.usage.model_calls == MAX_MODEL_CALLS
    assert "limit" in turn.answer


def test_a_repeated_experiment_call_is_held_to_the_per_turn_cap(
    scripted, person, tool_call, examples_catalog
):
    run = tool_call(
        "run_experiment",
        dataset="wine",
        version="v1",
        metric="log_loss",
        trials=2,
        seconds=10,
        seeds=[1],
    )
    model = scripted(*[run] * (MAX_EXPERIMENTS_PER_TURN + 1), "Planned.")

    turn = Conversation(model, context=AgentContext(dry_run=True)).send(
        "Plan lightgbm on wine v1 for log_loss, 2 trials, 10 seconds, seed 1.", person()
    )

    assert len(turn.plans) == MAX_EXPERIMENTS_PER_TURN
    assert "limit" in str(model.calls[-1][-1].content).lower()
