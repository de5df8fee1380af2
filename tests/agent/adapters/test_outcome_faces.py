"""The same incomplete request ends in the same typed outcome in CI and in the terminal chat.

Whatever the model does — calls the tool, asks in prose, or says nothing — a prompt file that
lacks inputs exits 3, lists them and writes the JSON report. The Slack face is tested beside the
Slack app (``slack/test_outcome.py``).
"""

import io
import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage
from rich.console import Console

from agent import models
from agent.adapters.chat_readers import PlainReader
from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from agent.adapters.terminal import Chat
from agent.context import AgentContext
from agent.conversation import Conversation
from agent.outcome import NeedsInput

from .outcomes import INCOMPLETE, MISSING, record_outcomes


@pytest.mark.parametrize("model_does", ["calls the tool", "asks in prose", "says nothing"])
def test_ci_exits_three_listing_the_missing_inputs_whatever_the_model_does(
    model_does, scripted, tool_call, examples_catalog, tracking_store, tracked, capsys, monkeypatch
):
    outcomes = record_outcomes(monkeypatch)
    steps = {
        "calls the tool": [
            tool_call("run_experiment", dataset="breast_cancer", version="v1", model="xgboost"),
            tool_call("ask_user", missing=MISSING),
        ],
        "asks in prose": ["Which metric, budget and seeds should I use?"],
        "says nothing": [AIMessage("")],
    }[model_does]
    model = scripted(*steps)
    monkeypatch.setattr(models, "load_model", lambda name=None: model)
    Path("p.md").write_text(INCOMPLETE)

    code = main(["run", "p.md", "--report-json", "r.json"])

    err = capsys.readouterr().err
    assert code == ExitCode.MISSING_INPUTS == 3
    assert f"missing required inputs: {', '.join(MISSING)}" in err
    report = json.loads(Path("r.json").read_text())
    assert report["status"] == "needs_input" and report["plan"]["missing"] == MISSING
    assert [type(o) for o in outcomes] == [NeedsInput] and outcomes[0].missing == MISSING
    assert tracked() == []


def test_the_chat_asks_for_the_same_inputs(examples_catalog, tracking_store, monkeypatch):
    outcomes = record_outcomes(monkeypatch)
    screen = io.StringIO()
    chat = Chat(
        Conversation(context=AgentContext()),
        PlainReader(io.StringIO(INCOMPLETE + "\n")),  # the answer never comes: end of input
        Console(file=screen, width=200),
    )

    assert chat.run() == ExitCode.OK

    shown = screen.getvalue()
    assert "To run this I need the primary metric" in shown and "the seeds" in shown
    assert f"Still missing: {', '.join(MISSING)}" in shown
    assert [type(o) for o in outcomes] == [NeedsInput] and outcomes[0].missing == MISSING
