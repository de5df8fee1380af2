"""What reaches the app: only signed requests, and each event once however often Slack retries."""

import time

import mlflow
import pytest

from .conftest import sign

REQUEST = (
    "train xgboost on breast_cancer v1 for roc_auc, baseline only, 1 trial, 20 seconds, seeds 3"
)


@pytest.mark.parametrize(
    ("signature", "age"),
    [("", 0), ("v0=" + "0" * 64, 0), (None, 600)],
    ids=["missing", "wrong", "stale"],
)
def test_an_unsigned_or_badly_signed_request_is_refused_before_anything_runs(
    slack, fake_slack, signature, age
):
    slack.start()
    before = list(fake_slack.calls)  # auth.test when the app started
    body = slack.event_body(
        {
            "type": "app_mention",
            "user": "U0EVE",
            "text": "<@UBOT> status",
            "ts": "1700000000.000100",
            "channel": "C0CHAN",
        }
    )
    timestamp = int(time.time()) - age
    if signature is None:  # correctly signed, but too old to be trusted
        signature = sign(body, timestamp)

    status, _ = slack.send(body, "application/json", signature=signature, timestamp=timestamp)

    assert status == 401
    # a signed request sent after it is answered, and the refused one left no trace
    slack.mention("status", user="U0EVE", ts="1700000000.000200")
    fake_slack.post_in("1700000000.000200", "No experiment has started")
    assert not fake_slack.of("reactions.add", timestamp="1700000000.000100")
    assert not fake_slack.posts("1700000000.000100")
    assert slack.service.store.thread("T0TEAM/C0CHAN/1700000000.000100") is None
    assert fake_slack.calls[: len(before)] == before


def test_a_redelivered_event_starts_its_experiment_once(
    slack, fake_slack, examples_catalog, tracking_store
):
    slack.start()
    event = {
        "type": "app_mention",
        "user": "U0ADA",
        "text": f"<@UBOT> {REQUEST}",
        "ts": "1700000000.000100",
        "channel": "C0CHAN",
    }
    body = slack.event_body(event, event_id="Ev0RETRIED")
    assert slack.send(body, "application/json")[0] == 200
    for retry in (1, 2):  # Slack saw no acknowledgement in time and sent it again
        assert slack.send(body, "application/json", retry=retry)[0] == 200
    fake_slack.wait("the thread taken up", lambda: fake_slack.of("reactions.add"))
    # the same message again, as the plain message event a channel subscription also delivers
    slack.event(event | {"type": "message", "channel_type": "channel"})

    fake_slack.report("1700000000.000100")
    slack.stop()
    slack.start()  # the seen event ids are kept on disk
    assert slack.send(body, "application/json", retry=3)[0] == 200
    slack.reply("status", user="U0ADA", thread_ts="1700000000.000100", ts="1700000000.000200")

    status = fake_slack.post_in("1700000000.000100", "Experiments in this thread")
    assert "(1)" in status.text
    posts = fake_slack.posts("1700000000.000100")
    assert len([p for p in posts if "Starting experiment" in p.text]) == 1
    assert len([p for p in posts if p.params.get("blocks")]) == 1  # one report
    assert len(fake_slack.of("reactions.add", timestamp="1700000000.000100")) == 1
    client = mlflow.MlflowClient(tracking_store)
    parents = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        "tags.`trialrun.role` = 'parent'",
    )
    assert len(parents) == 1
