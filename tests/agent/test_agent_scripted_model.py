"""The scripted chat model itself: it replays, records, and refuses to be called off-script."""

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from agent.toolset import build_tools


def test_it_replays_text_and_tool_calls_and_records_what_it_was_asked(scripted, tool_call):
    model = scripted(tool_call("list_datasets"), "Three datasets.")

    first = model.invoke([HumanMessage("list datasets")])
    second = model.invoke([HumanMessage("list datasets"), first])

    assert first.tool_calls == [
        {"name": "list_datasets", "args": {}, "id": "call_1_list_datasets", "type": "tool_call"}
    ]
    assert second == AIMessage("Three datasets.", id=second.id)
    assert [[m.content for m in call] for call in model.calls] == [
        ["list datasets"],
        ["list datasets", ""],
    ]


def test_a_step_can_be_computed_from_the_messages(scripted):
    model = scripted(lambda messages: f"you said {messages[-1].content}")

    assert model.invoke([HumanMessage("hi")]).content == "you said hi"


def test_binding_tools_returns_the_same_model_and_remembers_their_names(scripted, tool_call):
    model = scripted()

    assert model.bind_tools(build_tools()) is model
    assert "run_experiment" in model.tools and "ask_user" in model.tools


def test_a_call_beyond_the_script_fails_the_test(scripted):
    model = scripted("only answer")
    model.invoke([HumanMessage("one")])

    with pytest.raises(pytest.fail.Exception, match="called 2 times but scripted for 1"):
        model.invoke([HumanMessage("two")])


def test_unused_steps_are_reported(scripted):
    model = scripted("first", "second")
    model.invoke([HumanMessage("one")])

    assert model.leftover() == ["second"]
    model.invoke([HumanMessage("two")])  # leaves nothing over, so this test itself passes
