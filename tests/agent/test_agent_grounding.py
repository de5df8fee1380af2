"""Values a model invents are never used: they are asked for, all in one question, before compute.

Small models fill gaps with plausible values (asked "Train a model on breast_cancer." one answered
with dataset ``churn_dataset``, version ``v1.0`` and seed 42). The run-experiment tool keeps only
what the person wrote or the catalog holds, reports the rest as missing, and nothing runs until
the person has answered.
"""

import json

from agent.context import AgentContext
from agent.conversation import Conversation

ALL_MISSING = ["version", "metric", "budget", "seeds"]
INVENTED = {"dataset": "churn_dataset", "version": "v1.0", "seeds": [42]}


def tool_result(model, call_index: int) -> dict:
    """The tool result the model read at its ``call_index``-th call."""
    return json.loads(str(model.calls[call_index][-1].content))


def test_invented_values_are_asked_for_in_one_question_and_nothing_runs_until_answered(
    scripted, person, tool_call, examples_catalog, tracking_store, tracked
):
    model = scripted(
        tool_call("run_experiment", **INVENTED),
        # The model forgets most of the list: the question must still ask for all of it.
        tool_call("ask_user", missing=["version"]),
        tool_call(
            "run_experiment",
            dataset="breast_cancer",
            version="v1",
            metric="roc_auc",
            trials=1,
            seconds=10,
            seeds=[7],
            optimize=False,
        ),
        "Done.",
    )
    runs_when_asked: list[int] = []
    answer = "v1, roc_auc, 1 trial, 10 seconds, seed 7, baseline only"
    someone = person(answers=[answer], on_ask=lambda: runs_when_asked.append(len(tracked())))

    turn = Conversation(model, context=AgentContext()).send(
        "Train a model on breast_cancer.", someone
    )

    first = tool_result(model, 1)
    assert first["status"] == "needs_input"
    assert first["missing"] == ALL_MISSING
    problems = " ".join(first["problems"])
    assert "'churn_dataset' was not stated" in problems
    assert "'v1.0' was not stated" in problems
    assert "[42] was not stated" in problems
    assert runs_when_asked == [0]  # nothing was computed before the answer
    [(question, missing)] = someone.asked
    assert missing == ALL_MISSING
    for wanted in ("version", "primary metric", "trials, a time limit or both", "seeds"):
        assert wanted in question

    [report] = turn.reports
    assert report.status == "succeeded"
    [parent] = [r for r in tracked() if r.data.tags.get("trialrun.role") == "parent"]
    assert parent.data.params["dataset"] == "breast_cancer@v1"
    assert parent.data.params["metric"] == "roc_auc"
    assert parent.data.params["budget_trials"] == "1"
    assert parent.data.params["budget_seconds"] == "10.0"
    assert parent.data.params["seeds"] == "7"
    assert parent.data.params["optimize"] == "False"
    assert {r.data.tags.get("trialrun.seed") for r in tracked()} == {"7", None}


def test_a_value_invented_again_after_the_answer_gives_way_to_the_stated_one(
    scripted, person, tool_call, examples_catalog, tracked
):
    model = scripted(
        tool_call("run_experiment", **INVENTED),
        tool_call("ask_user", missing=ALL_MISSING),
        tool_call(
            "run_experiment",
            dataset="churn_dataset",
            version="v1",
            metric="roc_auc",
            trials=20,
            seconds=10,
            seeds=[42],
        ),
        "Planned.",
    )
    context = AgentContext(dry_run=True)

    turn = Conversation(model, context=context).send(
        "Train a model on breast_cancer.",
        person(answers=["v1, roc_auc, 1 trial, 10 seconds, seed 7"]),
    )

    [plan] = turn.plans
    inputs = {i["name"]: (i["value"], i["source"]) for i in plan["inputs"]}
    assert inputs["dataset"] == ("breast_cancer", "conversation")
    assert inputs["seeds"] == ([7], "conversation")
    assert inputs["budget"][0]["trials"] == 1
    assert tracked() == []


def test_a_dataset_outside_the_catalog_is_answered_with_the_catalogued_ones(
    scripted, person, tool_call, examples_catalog
):
    model = scripted(
        tool_call(
            "run_experiment",
            dataset="churn",
            version="v3",
            metric="roc_auc",
            trials=2,
            seconds=10,
            seeds=[1],
        ),
        tool_call("ask_user", missing=["dataset"]),
    )
    someone = person(answers=[None])

    turn = Conversation(model, context=AgentContext()).send(
        "Tune on churn v3 for roc_auc, 2 trials, 10 seconds, seed 1.", someone
    )

    result = tool_result(model, 1)
    assert result["missing"] == ["dataset"]
    catalogued = "breast_cancer (v1), diabetes (v1), wine (v1)"
    assert f"dataset 'churn' is not in the catalog; catalogued: {catalogued}" in result["problems"]
    [(question, _)] = someone.asked
    assert catalogued in question
    assert turn.unanswered == ["dataset"] and turn.reports == []


def test_a_version_outside_the_catalog_is_answered_with_the_catalogued_ones(
    person, examples_catalog
):
    someone = person(answers=[None])

    turn = Conversation(context=AgentContext()).send(
        "Tune xgboost on breast_cancer v9 for roc_auc, 2 trials, 10 seconds, seed 1.", someone
    )

    [(question, missing)] = someone.asked
    assert missing == ["version"]
    assert "the version (catalogued: breast_cancer (v1), diabetes (v1), wine (v1))" in question
    assert turn.unanswered == ["version"] and turn.reports == []
