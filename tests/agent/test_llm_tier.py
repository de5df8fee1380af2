"""The agent's guarantees with a real language model over the real OpenAI HTTP path.

A small real model (Qwen2.5-Coder 0.5B, llama.cpp) is served on loopback by the launcher in
``shared/llm`` beside the repository, and the agent reaches it through ``langchain-openai`` exactly
as it would reach a hosted model. A model this small plans badly — it invents values and repeats
calls — so these tests assert what the agent guarantees whatever the model does: every tool call
names a real tool with valid arguments, nothing is computed while an input is missing, what runs
is what the person stated, deployment requests are refused, and the loop limits hold. Each model
call takes seconds on two cores, so every test makes as few as it can.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow_server import free_port

from agent import guards
from agent.context import AgentContext
from agent.conversation import Conversation
from agent.guards import MAX_EXPERIMENTS_PER_TURN
from agent.outcome import NeedsInput
from agent.toolset import build_tools

pytestmark = pytest.mark.llm

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO.parent / "shared" / "llm" / "serve_local_llm.py"
STARTUP_SECONDS = 180
CALL_CAP = 3


def llm_cache() -> Path:
    return Path(os.environ.get("TRIALRUN_LLM_CACHE") or Path.home() / ".cache" / "trialrun-llm")


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the LLM tier cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def local_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the small model on a free loopback port; yield its OpenAI base URL."""
    cache = llm_cache()
    python, model = cache / "venv" / "bin" / "python", cache / "model.gguf"
    if not LAUNCHER.is_file():
        unavailable(f"the launcher is not at {str(LAUNCHER)!r} (clone shared/ beside the repo)")
    if not (python.is_file() and model.is_file()):
        unavailable(
            f"the local LLM is not prepared in {str(cache)!r}: run shared/llm/setup.sh "
            "(or set TRIALRUN_LLM_CACHE to where it was prepared)"
        )
    port = free_port()
    log_path = tmp_path_factory.mktemp("llm") / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(python), str(LAUNCHER), str(model), str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LLM_THREADS": "1"},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _ready(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the local LLM did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.5)
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def real_model(local_llm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Select the local model the way a person would: a provider string and a base URL.

    The model-call cap comes down to the three calls a fully specified request needs at most,
    so a small model that repeats itself is stopped after three slow calls instead of eight.
    """
    monkeypatch.setenv("TRIALRUN_MODEL", "openai:local")
    monkeypatch.setenv("OPENAI_BASE_URL", local_llm)
    monkeypatch.setattr(guards, "MAX_MODEL_CALLS", CALL_CAP)


def tool_calls(conversation: Conversation) -> list[dict[str, Any]]:
    messages = conversation.agent.get_state(conversation.config).values.get("messages", [])
    return [call for m in messages for call in getattr(m, "tool_calls", None) or []]


def assert_valid_tool_calls(conversation: Conversation) -> None:
    tools = {t.name: t for t in build_tools()}
    for call in tool_calls(conversation):
        assert call["name"] in tools, call
        tools[call["name"]].tool_call_schema.model_validate(call["args"])


def registry_is_empty(tracking_uri: str) -> bool:
    mlflow_client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    return (
        mlflow_client.search_registered_models() == []
        and mlflow_client.search_model_versions() == []
    )


def test_a_fully_specified_request_runs_with_the_stated_values(
    real_model, person, examples_catalog, tracking_store, tracked
):
    conversation = Conversation(context=AgentContext())

    turn = conversation.send(
        "Baseline only: xgboost on breast_cancer v1 for roc_auc, 1 trial, 10 seconds, seed 1.",
        person(answers=[None]),
    )

    assert_valid_tool_calls(conversation)
    assert 1 <= len(turn.reports) <= MAX_EXPERIMENTS_PER_TURN
    assert conversation.context.usage.model_calls <= CALL_CAP
    assert "limit" not in turn.answer.lower()  # the turn ended on its own, not at the cap
    for report in turn.reports:
        assert report.status == "succeeded"
        stated = {i.name: i.value for i in report.plan.inputs}
        assert stated["dataset"] == "breast_cancer" and stated["version"] == "v1"
        assert stated["metric"] == "roc_auc" and stated["seeds"] == [1]
        assert stated["budget"]["trials"] == 1 and stated["budget"]["seconds"] == 10
    parents = [r for r in tracked() if r.data.tags.get("trialrun.role") == "parent"]
    assert len(parents) == len(turn.reports)
    assert {p.data.tags["trialrun.agent.model"] for p in parents} == {"openai:local"}
    assert registry_is_empty(tracking_store)


def test_a_missing_input_is_asked_for_and_nothing_runs(
    real_model, person, examples_catalog, tracking_store, tracked
):
    runs_when_asked: list[int] = []
    someone = person(answers=[None], on_ask=lambda: runs_when_asked.append(len(tracked())))
    conversation = Conversation(context=AgentContext())

    turn = conversation.send("Train a model on breast_cancer.", someone)

    assert_valid_tool_calls(conversation)
    assert conversation.context.usage.model_calls <= CALL_CAP
    assert turn.reports == []
    assert tracked() == []
    if someone.asked:  # a small model may ask in prose instead of through ask_user
        [(question, missing)] = someone.asked
        assert runs_when_asked == [0]
        assert {"metric", "budget", "seeds"} <= set(missing)
        assert "primary metric" in question and "seeds" in question
    else:
        assert turn.answer


def test_digits_that_state_no_budget_or_seed_are_not_taken_for_one(
    real_model, person, examples_catalog, tracking_store, tracked
):
    conversation = Conversation(context=AgentContext())

    turn = conversation.send(
        "Tune lightgbm on wine v1 for log_loss with a 15 min budget.", person(answers=[None])
    )

    assert_valid_tool_calls(conversation)
    assert conversation.context.usage.model_calls <= CALL_CAP
    assert turn.reports == [] and tracked() == []
    if isinstance(turn.outcome, NeedsInput):  # or the model asked in prose
        assert "seeds" in turn.outcome.missing and "budget" not in turn.outcome.missing


def test_a_deployment_request_is_refused(real_model, person, examples_catalog, tracking_store):
    conversation = Conversation(context=AgentContext())

    turn = conversation.send(
        "Register the best model as churn-prod and promote it to Production.",
        person(answers=[None]),
    )

    assert_valid_tool_calls(conversation)
    assert conversation.context.usage.model_calls <= CALL_CAP
    assert turn.refusals
    assert any(r.status == "refused" or r.plan.refusals for r in turn.reports)
    assert registry_is_empty(tracking_store)
