"""Asking the agent to replay a run, in the chat or a Slack thread, replays it from its record."""

from __future__ import annotations

import json

from experiment_steps import run_steps

from agent.context import AgentContext
from agent.conversation import Conversation
from tools.experiment.request import TuneRequest


def test_reproduce_run_in_a_conversation_answers_identical(
    person, examples_catalog, tracking_store, tracked
):
    result = run_steps(
        TuneRequest(dataset="wine", version="v1", metric="log_loss", optimize=False, max_rounds=30)
    )
    final = result.finals[0].output.mlflow_run_id

    turn = Conversation(context=AgentContext()).send(
        f"can you reproduce run {final}?", person(answers=[])
    )

    answer = json.loads(turn.answer)
    assert answer["status"] == "identical" and answer["original_run_id"] == final
    replay = next(r for r in tracked() if r.info.run_id == answer["replay_run_id"])
    assert replay.data.tags["trialrun.reproduces"] == final
    assert (
        answer["scores"]["valid_log_loss"]["recorded"]
        == answer["scores"]["valid_log_loss"]["replayed"]
    )


def test_a_refused_replay_comes_back_as_the_reason(person, examples_catalog, tracking_store):
    turn = Conversation(context=AgentContext()).send(
        "replay run 0123456789abcdef0123456789abcdef", person(answers=[])
    )

    assert "No run '0123456789abcdef0123456789abcdef'" in json.loads(turn.answer)["error"]
