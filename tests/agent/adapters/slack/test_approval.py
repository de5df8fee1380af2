"""A costly plan waits for buttons in its thread, and only the requester (or an approver) decides."""

REQUEST = (
    "train xgboost on breast_cancer v1 for roc_auc, baseline only, 1 trial, 20 seconds, seeds 2"
)


def test_only_the_requester_can_approve_and_then_the_plan_runs(
    slack, fake_slack, examples_catalog, tracking_store, monkeypatch
):
    monkeypatch.setenv("TRIALRUN_APPROVE_SECONDS", "5")  # 20 seconds needs approval
    slack.start()
    thread = slack.mention(REQUEST, user="U0ADA", ts="1700000000.000100")
    plan = fake_slack.post_in(thread, "needs approval")
    assert "20 seconds is over 5" in plan.text and "Only <@U0ADA> can decide" in plan.text

    assert slack.click("trialrun_approve", user="U0MAL", message=plan) == 200
    refusal = fake_slack.wait("an ephemeral refusal", lambda: fake_slack.of("chat.postEphemeral"))
    assert refusal[0].params["user"] == "U0MAL"
    assert "Only <@U0ADA> can approve" in refusal[0].text
    slack.reply("go ahead", user="U0MAL", thread_ts=thread, ts="1700000000.000200")
    fake_slack.post_in(thread, "waiting for approval")  # a yes in words does not approve either
    assert not fake_slack.edits(plan.answer["ts"])
    assert not [p for p in fake_slack.posts(thread) if "Starting experiment" in p.text]

    assert slack.click("trialrun_approve", user="U0ADA", message=plan) == 200

    report = fake_slack.report(thread)
    assert "*succeeded*" in report.text
    assert fake_slack.edits(plan.answer["ts"]) == [
        "Approved by <@U0ADA>.\n:ballot_box_with_check: *Approved* by <@U0ADA>."
    ]
    slack.click("trialrun_approve", user="U0ADA", message=plan)  # a second click changes nothing
    late = fake_slack.wait(
        "a second ephemeral", lambda: fake_slack.of("chat.postEphemeral", user="U0ADA")
    )
    assert "already decided" in late[0].text
    assert len([p for p in fake_slack.posts(thread) if "Starting experiment" in p.text]) == 1


def test_a_configured_approver_may_reject_a_plan_and_nothing_runs(
    slack, fake_slack, examples_catalog, monkeypatch
):
    monkeypatch.setenv("TRIALRUN_APPROVE_SECONDS", "5")
    slack.start(approvers=frozenset({"U0LEAD"}))
    thread = slack.mention(REQUEST, user="U0ADA", ts="1700000000.000100")
    plan = fake_slack.post_in(thread, "needs approval")
    assert "Only <@U0ADA> or an approver can decide" in plan.text

    slack.click("trialrun_reject", user="U0LEAD", message=plan)

    fake_slack.wait("the plan marked rejected", lambda: fake_slack.edits(plan.answer["ts"]))
    assert "Rejected* by <@U0LEAD>" in fake_slack.edits(plan.answer["ts"])[0]
    answer = fake_slack.post_in(thread, "not approve")
    assert "nothing was run" in answer.text.lower()
    assert not [p for p in fake_slack.posts(thread) if "Starting experiment" in p.text]
    assert not fake_slack.of("chat.postEphemeral")
