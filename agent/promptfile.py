"""Prompt files: Markdown with YAML front matter holding the request, and a free-text body.

The front matter uses the portable field names of :class:`agent.request.ExperimentRequest`
(``dataset``, ``version``, ``target``, ``model``, ``metric``, ``direction``, ``budget``, ``seeds``,
``optimize``, ``experiment``, ``runtime``, ``approve``). A malformed file gets a message that names
the file, the field and the offending value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.request import RequestDraft, draft_from_fields
from tools.errors import InputError, PolicyError

ALLOWED_FIELDS = tuple(RequestDraft.model_fields)
DEPLOY_FIELDS = frozenset(
    {"deploy", "register", "registered_model_name", "promote", "stage", "alias", "serve", "publish"}
)


class PromptFileError(InputError):
    """A prompt file that cannot be read as a request."""


@dataclass(frozen=True)
class PromptFile:
    """A parsed prompt file."""

    path: Path
    front_matter: dict[str, Any]
    body: str


def read_prompt_file(path: str | Path) -> PromptFile:
    """Read ``path`` and split it into front matter and body.

    Raises:
        PromptFileError: Missing file, no front matter block, bad YAML, or front matter that is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptFileError(
            f"Prompt file {str(path)!r} does not exist.", hint="Check the path."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptFileError(f"Prompt file {str(path)!r} cannot be read: {exc}.") from exc
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return PromptFile(path, {}, text)
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() in ("---", "..."))
    except StopIteration:
        raise PromptFileError(
            f"{path}: the front matter opened by '---' on line 1 is never closed.",
            hint="End it with a line holding only '---'.",
        ) from None
    try:
        front = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise PromptFileError(f"{path}: the front matter is not valid YAML: {exc}") from exc
    if not isinstance(front, dict):
        raise PromptFileError(
            f"{path}: the front matter must be a mapping of fields, got {type(front).__name__} {front!r}."
        )
    return PromptFile(path, front, "\n".join(lines[end + 1 :]).strip())


def front_matter_draft(prompt: PromptFile) -> tuple[RequestDraft, list[str]]:
    """Validate the front matter into a request draft and the list of missing inputs.

    Raises:
        PolicyError: The front matter asks to deploy, register, promote, stage or serve a model.
        PromptFileError: An unknown field, or a value of the wrong type or range.
    """
    fields = dict(prompt.front_matter)
    refused = sorted(DEPLOY_FIELDS & {str(k).lower() for k in fields})
    if refused:
        raise PolicyError(
            f"{prompt.path}: refused {', '.join(map(repr, refused))}: trialrun never deploys, "
            "registers, promotes, stages or serves models. Remove the field; register a model "
            "yourself after reviewing the report if you need to."
        )
    unknown = sorted(str(k) for k in fields if k not in ALLOWED_FIELDS)
    if unknown:
        raise PromptFileError(
            f"{prompt.path}: unknown field(s) {', '.join(map(repr, unknown))} in the front matter.",
            hint=f"Allowed fields: {', '.join(ALLOWED_FIELDS)}.",
        )
    try:
        return draft_from_fields(fields)
    except ValidationError as exc:
        raise PromptFileError(f"{prompt.path}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """Return pydantic's errors as one readable line per field, quoting the values."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "request"
        value = error.get("input")
        message = error["msg"]
        if error["type"] == "literal_error" and "expected" in error.get("ctx", {}):
            message = f"must be one of {error['ctx']['expected']}"
        parts.append(f"{where}={value!r}: {message}")
    return "; ".join(parts)
