"""Choosing the chat model: langchain provider strings, or the built-in offline planner.

``--model openai:gpt-4.1-mini`` (or ``TRIALRUN_MODEL``) selects a model by langchain's provider
string; ``OPENAI_BASE_URL`` points the OpenAI provider at any OpenAI-compatible server (vLLM,
Ollama, llama.cpp). With no model configured, trialrun uses its offline planner.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import BaseChatModel

OFFLINE = "offline"


def model_name(explicit: str | None = None) -> str:
    """Return the configured model string (``offline`` when none is configured)."""
    return explicit or os.environ.get("TRIALRUN_MODEL") or OFFLINE


def load_model(name: str | None = None) -> BaseChatModel:
    """Return the chat model for ``name`` (see :func:`model_name`).

    Example:
        >>> type(load_model("offline")).__name__
        'OfflinePlanner'
    """
    name = model_name(name)
    if name == OFFLINE:
        from agent.planner.offline import OfflinePlanner
        from agent.toolset import catalog_names

        return OfflinePlanner(known=catalog_names)
    from langchain.chat_models import init_chat_model

    kwargs: dict[str, Any] = {"temperature": 0}
    if (
        name.startswith("openai:")
        and os.environ.get("OPENAI_BASE_URL")
        and not os.environ.get("OPENAI_API_KEY")
    ):
        kwargs["api_key"] = "local"  # OpenAI-compatible servers on a private network need none
    return init_chat_model(name, **kwargs)
