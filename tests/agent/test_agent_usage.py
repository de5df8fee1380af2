"""A fully specified request costs few model calls, and what the model cost is on the parent run.

Both the scripted model and the offline planner run a real tiny experiment (breast_cancer, two
trials, 15 seconds): counting the scripted model's calls shows the agent adds none of its own
(no retries, no extra planning call); the offline planner is what ``trialrun`` runs by default.
"""

from langchain_core.messages import AIMessage

from agent.context import AgentContext
from agent.conversation import Conversation

REQUEST = "Tune xgboost on breast_cancer v1 for roc_auc, 2 trials, 15 seconds, seed 1."
ARGS = {
    "dataset": "breast_cancer",
    "version": "v1",
    "metric": "roc_auc",
    "trials": 2,
    "seconds": 15,
    "seeds": [1],
    "model": "xgboost",
}


def spent(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


def parent_of(tracked) -> object:
    [parent] = [r for r in tracked() if r.data.tags.get("trialrun.role") == "parent"]
    return parent


def test_a_scripted_model_needs_two_calls_and_its_usage_is_on_the_parent_run(
    scripted, person, examples_catalog, tracking_store, tracked
):
    model = scripted(
        AIMessage("Hello. What should I run?", usage_metadata=spent(900, 9)),
        AIMessage(
            "",
            tool_calls=[{"name": "run_experiment", "args": ARGS, "id": "call_run"}],
            usage_metadata=spent(1000, 40),
        ),
        AIMessage("Done: see the report.", usage_metadata=spent(1300, 12)),
    )
    conversation = Conversation(model, context=AgentContext())
    conversation.send("Hello", person())
    calls_before = len(model.calls)

    turn = conversation.send(REQUEST, person())

    assert len(model.calls) - calls_before == 2
    [report] = turn.reports
    assert report.status == "succeeded"
    parent = parent_of(tracked)
    assert parent.info.run_id == next(c.id for c in report.changes.items if c.kind == "parent_run")
    assert parent.data.metrics["agent/model_calls"] == 2
    # Only this turn's tokens: the greeting before it ran no experiment.
    assert parent.data.metrics["agent/input_tokens"] == 2300
    assert parent.data.metrics["agent/output_tokens"] == 52
    assert parent.data.tags["trialrun.agent.model"] == "ScriptedModel"


def test_the_offline_planner_needs_at_most_three_calls_and_they_are_on_the_parent_run(
    person, examples_catalog, tracking_store, tracked
):
    conversation = Conversation(context=AgentContext())

    turn = conversation.send(REQUEST, person())

    [report] = turn.reports
    assert report.status == "succeeded"
    assert conversation.context.usage.model_calls <= 3
    parent = parent_of(tracked)
    assert parent.data.metrics["agent/model_calls"] == conversation.context.usage.model_calls
    assert parent.data.tags["trialrun.agent.model"] == "offline"
    assert parent.data.tags["trialrun.agent.refusals"] == "[]"
