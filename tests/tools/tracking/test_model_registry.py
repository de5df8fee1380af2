"""trialrun never registers, promotes or serves a model: no code path does it, no test leaves one."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

REPO = Path(__file__).resolve().parents[3]
REGISTRY_CALLS = re.compile(
    r"register_model|create_registered_model|set_registered_model_alias"
    r"|transition_model_version_stage|create_model_version|registered_model_name\s*="
    r"|models\s+serve"
)


def test_the_tools_and_the_agent_expose_no_model_registry_or_serving_call() -> None:
    sources = [p for package in ("tools", "agent") for p in (REPO / package).rglob("*.py")]
    assert len(sources) > 20, "the source tree was not found"

    hits = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if REGISTRY_CALLS.search(line)
    ]

    assert hits == []


def test_the_registry_audit_sees_a_registered_model(
    tracking_store: str, registry_audit: Callable[[], dict[str, list[str]]]
) -> None:
    store = str(Path("mlflow.db").resolve())
    client = MlflowClient(tracking_store, registry_uri=tracking_store)
    client.create_registered_model("probe")
    try:
        assert registry_audit()[store] == ["model 'probe'"]
    finally:
        client.delete_registered_model("probe")
    assert registry_audit()[store] == []


@pytest.mark.after_all
def test_after_the_whole_suite_every_model_registry_is_empty(
    registry_audit: Callable[[], dict[str, list[str]]],
) -> None:
    leftovers = {store: found for store, found in registry_audit().items() if found}

    assert leftovers == {}
