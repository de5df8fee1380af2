"""A whole conversation in a thread: a question, an app restart, the answer, the experiment."""

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
from langchain_core.messages import ToolMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from agent.adapters.slack.store import SlackStore
from agent.adapters.slack.threads import INTERRUPTED
from agent.context import AgentContext
from agent.conversation import Conversation
from agent.pipeline.events import ProgressEvent
from tools.jobs.model import JobState

from .conftest import MLFLOW_UI

REQUEST = "train xgboost on breast_cancer v1 for roc_auc, baseline only, 1 trial, 20 seconds"


def test_a_thread_asks_for_a_missing_input_and_resumes_after_a_restart(
    slack, fake_slack, examples_catalog, tracking_store
):
    slack.start()
    thread = slack.mention(REQUEST, user="U0ADA", ts="1700000000.000100")

    question = fake_slack.post_in(thread, "seeds")
    assert "<@U0ADA>" in question.text and "Answer in this thread" in question.text
    assert fake_slack.of("reactions.add", timestamp=thread, name="eyes")
    assert not fake_slack.of("chat.update")  # nothing started: only the question was posted

    slack.stop()  # the conversation waits on disk, not in this process
    slack.start()
    slack.reply("seeds 7", user="U0ADA", thread_ts=thread, ts="1700000000.000200")

    report = fake_slack.report(thread)
    assert ":white_check_mark: *succeeded*" in report.text
    posts = fake_slack.posts(thread)
    started = [p for p in posts if "Starting experiment" in p.text]
    assert len(started) == 1  # one progress message, edited in place
    edits = fake_slack.edits(started[0].answer["ts"])
    assert any("Running" in e for e in edits) and "Succeeded" in edits[-1]
    assert posts.index(started[0]) < posts.index(report)

    client = mlflow.MlflowClient(tracking_store)
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    finals = client.search_runs(
        [experiment.experiment_id], "tags.`trialrun.role` = 'final'", max_results=10
    )
    assert [r.data.params.get("seed") for r in finals] == ["7"]
    best = finals[0].info.run_id
    assert f"{MLFLOW_UI}/#/experiments/{experiment.experiment_id}/runs/{best}" in report.text

    slack.reply("status", user="U0BOB", thread_ts=thread, ts="1700000000.000300")
    status = fake_slack.post_in(thread, "Experiments in this thread")
    assert "succeeded" in status.text and best in status.text

    # answers are tables: full run ID, experiment, metric, the score to 4 significant digits
    slack.reply("show the best run", user="U0BOB", thread_ts=thread, ts="1700000000.000400")
    answer = fake_slack.post_in(thread, "Best run in this thread")
    value = finals[0].data.metrics["valid_roc_auc"]
    (row,) = [line for line in answer.text.splitlines() if line.startswith(best)]
    assert row.split()[1:4] == [experiment.name, "roc_auc", f"{value:.4g}"], answer.text
    assert f"/runs/{best}?workflowType=machine_learning|{best[:8]}>" in answer.text

    slack.reply(
        f"list the runs in experiment {experiment.name}",
        user="U0BOB",
        thread_ts=thread,
        ts="1700000000.000500",
    )
    listed = fake_slack.post_in(thread, f"Runs in experiment {experiment.name}")
    assert "metric roc_auc" in listed.text and "```" in listed.text
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    for run in runs:
        (row,) = [line for line in listed.text.splitlines() if line.startswith(run.info.run_id)]
        assert experiment.name in row and "roc_auc" in row
    final_row = next(line for line in listed.text.splitlines() if line.startswith(best))
    assert f" {value:.4g} " in final_row and repr(value) not in listed.text
    fake_slack.post_in(thread, "table above lists what was found")
    assert not [p for p in fake_slack.posts(thread) if p.text.lstrip().startswith("{")]


def test_a_direct_message_starts_a_conversation_and_channel_chatter_is_ignored(
    slack, fake_slack, examples_catalog
):
    slack.start()
    chatter = {"type": "message", "channel_type": "channel", "channel": "C0CHAN", "user": "U0BOB"}
    slack.event(chatter | {"text": "lunch anyone? list datasets", "ts": "1700000000.000050"})
    dm = {"type": "message", "channel_type": "im", "channel": "D0ADA", "user": "U0ADA"}
    slack.event(dm | {"text": "list datasets", "ts": "1700000000.000100"})

    answer = fake_slack.post_in("1700000000.000100", "breast_cancer")
    assert answer.params["channel"] == "D0ADA"
    assert not fake_slack.posts("1700000000.000050")
    assert not fake_slack.of("reactions.add", timestamp="1700000000.000050")


def test_what_a_killed_app_left_running_is_settled_when_it_starts_again(
    slack, fake_slack, examples_catalog
):
    service = slack.start()
    thread = slack.mention("list datasets", user="U0ADA", ts="1700000000.000100")
    fake_slack.post_in(thread, "breast_cancer")
    state_dir = service.state_dir
    slack.stop()
    # The process dies inside the run-experiment tool, its experiment recorded as running.
    key = f"T0TEAM/C0CHAN/{thread}"
    store = SlackStore(state_dir / "slack.db")
    experiment = store.add_experiment(key, "U0ADA")
    store.update(experiment.id, state=JobState.RUNNING, progress_ts="1799999999.000001")
    store.close()
    with conversation(state_dir, key, progress=die) as killed, pytest.raises(SystemExit):
        killed.send(REQUEST + ", seeds 1", NobodyAnswers())

    slack.start()

    interrupted = fake_slack.wait(
        "the progress message marked interrupted", lambda: fake_slack.edits("1799999999.000001")
    )
    assert f"*Interrupted* `{experiment.id}`" in interrupted[0]
    slack.reply("status", user="U0ADA", thread_ts=thread, ts="1700000000.000200")
    status = fake_slack.post_in(thread, "Experiments in this thread")
    (row,) = [line for line in status.text.splitlines() if line.startswith(experiment.id)]
    assert row.split()[1] == "failed" and row.endswith("trialrun stopped while it was running")
    slack.reply("list datasets", user="U0ADA", thread_ts=thread, ts="1700000000.000300")
    fake_slack.wait(
        "a second answer",
        lambda: len([p for p in fake_slack.posts(thread) if "wine" in p.text]) == 2,
    )
    assert not [p for p in fake_slack.posts(thread) if "Starting experiment" in p.text]
    with conversation(state_dir, key) as saved:
        messages = saved.agent.get_state(saved.config).values["messages"]
    assert INTERRUPTED in [m.content for m in messages if isinstance(m, ToolMessage)]


def die(event: ProgressEvent) -> None:
    raise SystemExit("killed")


class NobodyAnswers:
    def ask(self, question: str, missing: list[str]) -> None:
        return None

    def approve(self, description: str) -> None:
        return None


@contextlib.contextmanager
def conversation(state_dir: Path, key: str, **context: Any) -> Iterator[Conversation]:
    """The thread's conversation, read from the app's checkpoint file."""
    with contextlib.closing(
        sqlite3.connect(state_dir / "conversations.db", check_same_thread=False)
    ) as db:
        yield Conversation(
            context=AgentContext(mode="slack", **context),
            checkpointer=SqliteSaver(db),
            thread_id=key,
        )
