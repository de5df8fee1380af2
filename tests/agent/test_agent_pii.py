"""Personal data and secrets never reach the model: the person's words, answers and tool results."""

from agent.context import AgentContext
from agent.conversation import Conversation

EMAIL = "ada.lovelace@example.com"
API_KEY = "sk-proj-Q8vT3xLm2Nw9Kp4Rj7Yb1Hc"


def seen_by_model(model) -> str:
    return "\n".join(str(m.content) for messages in model.calls for m in messages)


def test_an_email_and_an_api_key_in_a_message_are_redacted_before_the_model(
    scripted, person, examples_catalog
):
    model = scripted("Which dataset should I use?")
    conversation = Conversation(model, context=AgentContext())

    conversation.send(f"Hi, I am {EMAIL}; my OpenAI key is {API_KEY}. List datasets?", person())

    seen = seen_by_model(model)
    assert EMAIL not in seen
    assert API_KEY not in seen
    assert "[REDACTED_EMAIL]" in seen and "[REDACTED_SECRET]" in seen
    assert "List datasets?" in seen  # the rest of the message is intact


def test_an_answer_to_a_question_is_redacted_before_the_model(
    scripted, person, tool_call, examples_catalog
):
    model = scripted(
        tool_call("ask_user", missing=["metric"]),
        "Thanks.",
    )
    conversation = Conversation(model, context=AgentContext())

    conversation.send("Train on breast_cancer v1.", person(answers=[f"roc_auc; mail {EMAIL}"]))

    last_call = model.calls[-1]
    assert "roc_auc; mail [REDACTED_EMAIL]" in str(last_call[-1].content)
    assert EMAIL not in seen_by_model(model)


def test_a_secret_in_a_tool_result_is_redacted_before_the_model(
    scripted, person, tool_call, examples_catalog
):
    entry = examples_catalog.get("wine", "v1")
    examples_catalog.add(
        entry.model_copy(update={"description": f"Owner {EMAIL}, token={API_KEY}"}), replace=True
    )
    examples_catalog.save()
    model = scripted(tool_call("validate_dataset", dataset="wine", version="v1"), "Checked.")
    conversation = Conversation(model, context=AgentContext())

    conversation.send("Check wine v1.", person())

    tool_result = str(model.calls[-1][-1].content)
    assert '"dataset": "wine@v1"' in tool_result
    assert EMAIL not in tool_result and API_KEY not in tool_result
    assert "[REDACTED_EMAIL]" in tool_result
