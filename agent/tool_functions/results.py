"""How a tool function's result reaches the model: JSON, cut to :data:`MAX_RESULT_CHARS`."""

from __future__ import annotations

import json
from typing import Any

MAX_RESULT_CHARS = 6000


def result(**fields: Any) -> str:
    """Return ``fields`` as JSON, cut to fit."""
    return bounded(json.dumps(fields, default=str))


def dump(value: Any) -> str:
    """Return a value (a pydantic model's JSON form when it has one) as JSON, cut to fit."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return bounded(json.dumps(value, default=str))


def bounded(text: str) -> str:
    """Return ``text``, or its first :data:`MAX_RESULT_CHARS` characters and how many were cut."""
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return text[:MAX_RESULT_CHARS] + f"... [cut: {len(text) - MAX_RESULT_CHARS} more characters]"
