"""Fixtures for the agent tests: a real ``mlflow server`` on a free loopback port.

PostgreSQL, the Kubernetes control plane and the fake kubelet come from the shared plugin
``tests/support/cluster.py``. For the agent itself: a scripted chat model that replays tool calls
and records what it was asked (``scripted``, ``tool_call``), a recording stand-in for the person
(``person``), and the runs in the working directory's tracking store (``tracked``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from mlflow_server import MlflowServer
from pydantic import Field


def start_mlflow_server(root: Path) -> MlflowServer:
    """Start ``mlflow server`` on a free loopback port, storing under ``root``; wait for it."""
    server = MlflowServer(root)
    server.start(timeout=120)
    return server


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``mlflow server`` with its own backend store and artifact root; yield its URL."""
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow-server"))
    yield server.url
    server.stop()


class ScriptedModel(BaseChatModel):
    """A chat model that replays scripted replies and records every list of messages it gets.

    The offline stand-in for a language model when a test must decide exactly what the model says
    (openai-agents' ``ScriptedModel``, pydantic-ai's ``FunctionModel``). Each step is a text
    answer (``str``), one tool call (``{"name": ..., "args": {...}}``), an ``AIMessage``, or a
    callable that receives the messages and returns one of those. A call beyond the script fails
    the test at once; the ``scripted`` fixture fails it when steps are left over.
    """

    steps: list[Any]
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "trialrun-scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedModel:
        """Remember the tool names offered and return itself."""
        self.tools = [getattr(t, "name", str(t)) for t in tools]
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append([m.model_copy(deep=True) for m in messages])
        if len(self.calls) > len(self.steps):
            last = messages[-1] if messages else None
            pytest.fail(
                f"the model was called {len(self.calls)} times but scripted for "
                f"{len(self.steps)}; the extra call followed {type(last).__name__}: "
                f"{getattr(last, 'content', '')!r:.300}",
                pytrace=False,
            )
        step = self.steps[len(self.calls) - 1]
        if callable(step):
            step = step(messages)
        return ChatResult(generations=[ChatGeneration(message=self._message(step))])

    def _message(self, step: Any) -> AIMessage:
        if isinstance(step, AIMessage):
            return step
        if isinstance(step, str):
            return AIMessage(step)
        if isinstance(step, dict) and set(step) == {"name", "args"}:
            call_id = f"call_{len(self.calls)}_{step['name']}"
            return AIMessage("", tool_calls=[{**step, "id": call_id}])
        raise TypeError(f"unscripted step {step!r}: give a str, a tool-call dict or an AIMessage")

    def leftover(self) -> list[Any]:
        """Return the steps the agent never asked for."""
        return self.steps[len(self.calls) :]


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedModel]]:
    """Make scripted chat models; fail the test when one is left with unused steps."""
    made: list[ScriptedModel] = []

    def make(*steps: Any) -> ScriptedModel:
        model = ScriptedModel(steps=list(steps))
        made.append(model)
        return model

    yield make
    unused = [(i, m.leftover()) for i, m in enumerate(made) if m.leftover()]
    if unused:
        pytest.fail(f"scripted steps left over (model index, steps): {unused!r}", pytrace=False)


def call(tool: str, /, **args: Any) -> dict[str, Any]:
    """One scripted tool call."""
    return {"name": tool, "args": args}


@dataclass
class Person:
    """A responder that answers the agent's questions from a list and records what it was asked.

    ``answers`` are given in order (None: nobody answers); ``approvals`` likewise for plans
    waiting for approval. A question or approval beyond the lists fails the test.
    """

    answers: list[str | None] = field(default_factory=list)
    approvals: list[bool] = field(default_factory=list)
    asked: list[tuple[str, list[str]]] = field(default_factory=list)
    described: list[str] = field(default_factory=list)
    on_ask: Callable[[], None] | None = None

    def ask(self, question: str, missing: list[str]) -> str | None:
        """Record the question and give the next answer."""
        self.asked.append((question, missing))
        if self.on_ask is not None:
            self.on_ask()
        if len(self.asked) > len(self.answers):
            pytest.fail(f"unexpected question {question!r} (missing {missing!r})", pytrace=False)
        return self.answers[len(self.asked) - 1]

    def approve(self, description: str) -> bool:
        """Record the plan described and give the next decision."""
        self.described.append(description)
        if len(self.described) > len(self.approvals):
            pytest.fail(f"unexpected approval request {description!r}", pytrace=False)
        return self.approvals[len(self.described) - 1]


@pytest.fixture
def person() -> type[Person]:
    """The recording responder class (``person(answers=[...], approvals=[...])``)."""
    return Person


@pytest.fixture
def tool_call() -> Callable[..., dict[str, Any]]:
    """Build one scripted tool call: ``tool_call("run_experiment", dataset="wine")``."""
    return call


@pytest.fixture
def tracked() -> Callable[[], list[Any]]:
    """Return every MLflow run in the working directory's tracking store, in any experiment."""

    def runs() -> list[Any]:
        from mlflow import MlflowClient

        from tools import settings

        uri = settings.tracking_uri()
        if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
            return []  # not even a store was created
        mlflow_client = MlflowClient(tracking_uri=uri)
        ids = [e.experiment_id for e in mlflow_client.search_experiments()]
        return list(mlflow_client.search_runs(ids, max_results=1000)) if ids else []

    return runs
