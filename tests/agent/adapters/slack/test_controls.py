"""``status`` and ``cancel`` said in a thread act on that thread's experiment while it runs."""

import mlflow

LONG = "tune xgboost on breast_cancer v1 for roc_auc, 150 trials, 600 seconds, seeds 1"


def test_cancel_in_the_thread_stops_its_running_experiment(
    slack, fake_slack, examples_catalog, tracking_store
):
    slack.start()
    thread = slack.mention(LONG, user="U0ADA", ts="1700000000.000100")
    # Slack had its answer (200) long before the experiment could end: the work runs behind it
    assert not [p for p in fake_slack.posts(thread) if p.params.get("blocks")]
    other = slack.mention("tune xgboost on breast_cancer v1", user="U0BOB", ts="1700000000.000900")
    fake_slack.post_in(other, "seeds")  # another conversation, waiting for an answer

    started = fake_slack.post_in(thread, "Starting experiment")
    progress = started.answer["ts"]
    fake_slack.wait("tuning", lambda: any("· tune (" in e for e in fake_slack.edits(progress)))
    slack.reply("status", user="U0ADA", thread_ts=thread, ts="1700000000.000200")
    status = fake_slack.post_in(thread, "Experiments in this thread")
    assert "running" in status.text and "trials" in status.text

    slack.reply("cancel", user="U0ADA", thread_ts=thread, ts="1700000000.000300")

    assert "stops within one boosting round" in fake_slack.post_in(thread, "Cancelling").text
    report = fake_slack.report(thread)
    assert "*cancelled*" in report.text
    assert "Cancelled" in fake_slack.edits(progress)[-1]
    client = mlflow.MlflowClient(tracking_store)
    (parent,) = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.`trialrun.role` = 'parent'"
    )
    assert parent.info.status == "KILLED"
    # the other thread was not touched: its question still waits, and "cancel" there says so
    slack.reply("status", user="U0BOB", thread_ts=other, ts="1700000000.000901")
    assert "No experiment has started" in fake_slack.post_in(other, "No experiment").text
    assert not [p for p in fake_slack.posts(other) if "Cancelling" in p.text]
