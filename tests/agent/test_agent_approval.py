"""A plan over the approval policy waits for a yes: declined, nothing runs; approved, it runs.

In chat the person is asked; in CI nobody is, so a prompt file over the policy is refused with
exit code 5 unless it says ``approve: true``.
"""

from pathlib import Path

import pytest

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from agent.context import AgentContext
from agent.conversation import Conversation

OVER_POLICY = (
    "Baseline only: xgboost on breast_cancer v1 for roc_auc, 3 trials, 10 seconds, seed 1."
)
PROMPT_FILE = """---
dataset: breast_cancer
version: v1
model: xgboost
metric: roc_auc
budget: {{trials: 3, seconds: 10, cpus: 1}}
seeds: [1]
optimize: false
{approve}---
"""


@pytest.fixture(autouse=True)
def small_policy(monkeypatch):
    monkeypatch.setenv("TRIALRUN_APPROVE_TRIALS", "2")


def test_a_declined_plan_runs_nothing_and_the_model_is_told(
    scripted, person, tool_call, examples_catalog, tracking_store, tracked
):
    model = scripted(
        tool_call(
            "run_experiment",
            dataset="breast_cancer",
            version="v1",
            metric="roc_auc",
            trials=3,
            seconds=10,
            seeds=[1],
            optimize=False,
        ),
        "Understood, nothing ran.",
    )
    someone = person(approvals=[False])

    turn = Conversation(model, context=AgentContext()).send(OVER_POLICY, someone)

    [description] = someone.described
    assert "dataset=breast_cancer" in description and "trials=3" in description
    assert "3 trials is over 2" in description
    assert turn.rejected == description
    assert turn.reports == []
    assert tracked() == []
    assert "did not approve" in str(model.calls[-1][-1].content)


def test_an_approved_plan_runs(person, examples_catalog, tracking_store, tracked):
    someone = person(approvals=[True])

    turn = Conversation(context=AgentContext()).send(OVER_POLICY, someone)

    [description] = someone.described
    assert "3 trials is over 2" in description
    assert turn.rejected == ""
    [report] = turn.reports
    assert report.status == "succeeded"
    assert any(r.data.tags.get("trialrun.role") == "parent" for r in tracked())


def test_a_plan_within_the_policy_is_not_put_to_the_person(person, examples_catalog):
    turn = Conversation(context=AgentContext(dry_run=True)).send(
        OVER_POLICY.replace("3 trials", "2 trials"), person()
    )

    [plan] = turn.plans
    assert not any("needs approval" in step for step in plan["steps"])


def test_a_prompt_file_over_the_policy_exits_five_without_approve(
    examples_catalog, tracking_store, tracked, capsys
):
    Path("costly.md").write_text(PROMPT_FILE.format(approve=""))

    code = main(["run", "costly.md"])

    assert code == ExitCode.REFUSED == 5
    err = capsys.readouterr().err
    assert "needs approval" in err and "approve: true" in err and "3 trials is over 2" in err
    assert tracked() == []


def test_a_prompt_file_over_the_policy_runs_with_approve_true(
    examples_catalog, tracking_store, tracked
):
    Path("costly.md").write_text(PROMPT_FILE.format(approve="approve: true\n"))

    assert main(["run", "costly.md"]) == ExitCode.OK
    assert any(r.data.tags.get("trialrun.role") == "parent" for r in tracked())
