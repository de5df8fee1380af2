"""Choosing the chat model: langchain provider strings, or the built-in offline planner.

``--model openai:gpt-4.1-mini`` (or ``TRIALRUN_MODEL``) selects a model by langchain's provider
string; ``OPENAI_BASE_URL`` points the OpenAI provider at any OpenAI-compatible server (vLLM,
Ollama, llama.cpp). With no model configured, trialrun uses its offline planner.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import BaseChatModel

from tools.errors import ConfigError, TrialrunError, Unreachable

OFFLINE = "offline"
_CLIENT_MODULES = ("openai", "httpx", "httpcore", "anthropic", "langchain_openai")


def model_name(explicit: str | None = None) -> str:
    """Return the configured model string (``offline`` when none is configured)."""
    return explicit or os.environ.get("TRIALRUN_MODEL") or OFFLINE


def load_model(name: str | None = None) -> BaseChatModel:
    """Return the chat model for ``name`` (see :func:`model_name`).

    Example:
        >>> type(load_model("offline")).__name__
        'OfflinePlanner'

    Raises:
        ConfigError: The name is no provider string langchain knows, the provider's package is
            not installed, or its client refuses its settings (no API key).
    """
    name = model_name(name)
    if name == OFFLINE:
        from agent.planner.offline import OfflinePlanner
        from agent.proposal import catalog_names

        return OfflinePlanner(known=catalog_names)
    from langchain.chat_models import init_chat_model

    kwargs: dict[str, Any] = {"temperature": 0}
    if (
        name.startswith("openai:")
        and os.environ.get("OPENAI_BASE_URL")
        and not os.environ.get("OPENAI_API_KEY")
    ):
        kwargs["api_key"] = "local"  # OpenAI-compatible servers on a private network need none
    try:
        return init_chat_model(name, **kwargs)
    except ImportError as exc:
        raise ConfigError(
            f"Model {name!r} (--model or TRIALRUN_MODEL) needs its provider's package, which is not "
            f"installed ({exc}). Install it (pip install langchain-<provider>), or use --model "
            "offline."
        ) from None
    except ValueError as exc:
        raise ConfigError(
            f"Model {name!r} (--model or TRIALRUN_MODEL) is not one langchain can load: "
            f"{str(exc).splitlines()[0][:200]} Write PROVIDER:MODEL (openai:gpt-4.1-mini), or use "
            "--model offline."
        ) from None
    except Exception as exc:  # the provider's client refusing its settings, e.g. no API key
        raise ConfigError(
            f"Model {name!r} cannot be set up: {type(exc).__name__}: {str(exc)[:300]} Check its "
            "API key and OPENAI_BASE_URL, or use --model offline."
        ) from None


def model_error(exc: BaseException, name: str) -> TrialrunError | None:
    """Return what a failed model call means for the person, or None when it was no model call.

    Args:
        exc: What the agent raised.
        name: The model's name, for the message.
    """
    if not type(exc).__module__.startswith(_CLIENT_MODULES):
        return None
    where = os.environ.get("OPENAI_BASE_URL") or "the provider's API"
    kind = type(exc).__name__
    detail = " ".join(str(exc).split())[:300]
    status = getattr(exc, "status_code", None)
    if "Connection" in kind or "Timeout" in kind or "Connect" in kind:
        return Unreachable(
            f"The model server for {name!r} at {where} does not answer ({kind}: {detail}). Check "
            "that it runs and OPENAI_BASE_URL, or use --model offline."
        )
    if isinstance(status, int) and status >= 500:
        # 502/503/504 from a server that is starting, overloaded or behind a proxy: it is there
        # but cannot serve, which is not a mistake in the request.
        return Unreachable(
            f"The model server for {name!r} at {where} cannot serve now (HTTP {status}, {kind}: "
            f"{detail}). Check that it runs and has loaded its model, or use --model offline."
        )
    return ConfigError(
        f"The model server for {name!r} at {where} refused the request ({kind}: {detail}). Check "
        "the model name and the API key, or use --model offline."
    )
