"""The agent asks only for what is missing, and never runs something else than what was asked.

A budget is given when either of its limits is: the other takes its default, named in the Plan.
A metric, model family or task trialrun does not support, and a count that is no count, are named
back with the supported choices; nothing is mapped to a neighbour and nothing runs.
"""

import pytest

from agent.context import AgentContext
from agent.conversation import Conversation

DRY = {"dry_run": True}


def plan_of(text: str, person, **context) -> dict:
    conversation = Conversation(context=AgentContext(**{**DRY, **context}))
    turn = conversation.send(text, person(answers=[None]))
    assert turn.unanswered == [], turn.answer
    [plan] = turn.plans
    return plan


@pytest.mark.parametrize(
    ("text", "trials", "seconds", "defaulted"),
    [
        ("tune xgboost on breast_cancer v1 for roc auc, 20 trials, seed 7", 20, 3600, "seconds"),
        ("tune wine v1 for log loss, 15 min budget, seeds 1,2,3", 200, 900, "trials"),
        ("tune diabetes v1 by rmse with a 90 second budget, seed 4", 200, 90, "trials"),
        ("tune diabetes v1, rmse, 20 trials in 5 minutes, seed 4", 20, 300, None),
    ],
)
def test_one_limit_is_a_budget_and_the_other_is_a_default_named_in_the_plan(
    text, trials, seconds, defaulted, person, examples_catalog
):
    plan = plan_of(text, person)

    assert plan["budget"]["trials"] == trials and plan["budget"]["seconds"] == seconds
    named = [d for d in plan["defaults_used"] if d.startswith("budget.")]
    assert named == ([f"budget.{defaulted}"] if defaulted else [])


def test_the_defaults_are_the_approval_thresholds(person, examples_catalog, monkeypatch):
    monkeypatch.setenv("TRIALRUN_APPROVE_SECONDS", "120")
    monkeypatch.setenv("TRIALRUN_APPROVE_TRIALS", "7")

    timed = plan_of("tune wine v1 for accuracy, 5 trials, seed 1", person)
    counted = plan_of("tune wine v1 for accuracy, 1 minute, seed 1", person)

    assert timed["budget"]["seconds"] == 120
    assert counted["budget"]["trials"] == 7
    assert not any("needs approval" in step for step in timed["steps"] + counted["steps"])


def test_tuning_off_asks_for_no_trial_count(person, examples_catalog):
    plan = plan_of("baseline only: xgboost on breast_cancer v1, roc_auc, 2 minutes, seed 3", person)

    assert plan["trials"] == 0
    assert "budget.trials" not in plan["defaults_used"]
    assert not any(step.startswith("tune:") for step in plan["steps"])


def test_no_budget_at_all_is_asked_for_once_as_the_budget(person, examples_catalog):
    someone = person(answers=[None])
    turn = Conversation(context=AgentContext(**DRY)).send(
        "tune xgboost on breast_cancer v1 for roc auc, seed 7", someone
    )

    assert turn.unanswered == ["budget"]
    [(question, missing)] = someone.asked
    assert missing == ["budget"]
    assert "trials, a time limit or both" in question


@pytest.mark.parametrize(
    ("text", "quoted", "choices"),
    [
        ("tune xgboost on breast_cancer v1 for PR-AUC, 20 trials, seed 1", "PR-AUC", "roc_auc"),
        (
            "tune breast_cancer v1 by area under the precision-recall curve, 5 minutes, seed 1",
            "area under the precision-recall curve",
            "log_loss",
        ),
        ("tune wine v1 for balanced accuracy, 20 trials, seed 1", "balanced accuracy", "f1"),
        ("train a random forest on wine v1, accuracy, 20 trials, seed 1", "random forest", "both"),
        (
            "forecasting on diabetes v1 with lightgbm, rmse, 20 trials, seed 1",
            "forecasting",
            "binary",
        ),
    ],
)
def test_what_trialrun_does_not_support_is_named_back_with_the_choices(
    text, quoted, choices, person, examples_catalog, tracking_store, tracked
):
    conversation = Conversation(context=AgentContext())
    turn = conversation.send(text, person())

    assert turn.reports == [] and tracked() == []
    assert repr(quoted) in turn.answer and choices in turn.answer


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("tune wine v1 for accuracy, -5 trials, seed 1", "-5 trials"),
        ("tune wine v1 for accuracy, 0 trials, 10 minutes, seed 1", "0 trials"),
        ("tune wine v1 for accuracy, a few trials, 10 minutes, seed 1", "a few trials"),
        ("tune wine v1 for accuracy, 2.5 trials, seed 1", "2.5 trials"),
        ("tune wine v1 for accuracy, 20 trials, seed -1", "seed -1"),
    ],
)
def test_a_count_that_is_no_count_is_an_error_naming_it(
    text, quoted, person, examples_catalog, tracking_store, tracked
):
    turn = Conversation(context=AgentContext()).send(text, person())

    assert turn.reports == [] and tracked() == []
    assert repr(quoted) in turn.answer


def test_a_model_mapping_an_unsupported_metric_to_a_neighbour_is_stopped(
    scripted, person, tool_call, examples_catalog, tracking_store, tracked
):
    model = scripted(
        tool_call(
            "run_experiment",
            dataset="breast_cancer",
            version="v1",
            metric="roc_auc",
            trials=20,
            seeds=[1],
        ),
        "It is not supported.",
    )
    turn = Conversation(model, context=AgentContext()).send(
        "tune breast_cancer v1 for PR AUC (I mean the roc_auc's cousin), 20 trials, seed 1",
        person(),
    )

    assert tracked() == [] and turn.reports == []
    assert "'PR AUC' is not one trialrun supports" in str(model.calls[1][-1].content)


def test_a_correction_clears_what_was_rejected(person, examples_catalog):
    someone = person()
    conversation = Conversation(context=AgentContext(**DRY))
    first = conversation.send("tune breast_cancer v1 for pr-auc, 20 trials, seed 1", someone)
    second = conversation.send("actually use roc_auc", someone)

    assert first.plans == [] and "'pr-auc'" in first.answer
    [plan] = second.plans
    assert {i["name"]: i["value"] for i in plan["inputs"]}["metric"] == "roc_auc"
