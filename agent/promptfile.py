"""Prompt files: Markdown with YAML front matter holding the request, and a free-text body.

The front matter uses the portable field names of :class:`agent.request.ExperimentRequest`
(``dataset``, ``version``, ``target``, ``model``, ``metric``, ``direction``, ``budget``, ``seeds``,
``optimize``, ``experiment``, ``runtime``, ``approve``). A malformed file gets a message that names
the file, the field and the offending value.

The file is read strictly (:mod:`tools.userfiles`): a byte-order mark, CRLF line ends or blank
lines before the opening ``---`` still open the front matter, so nothing a file holds can slip past
validation; a repeated key, an alias or a tag is an error; booleans are YAML's unquoted ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent.planner.normalize import fold
from agent.request import RequestDraft, draft_from_fields
from tools.errors import InputError, PolicyError
from tools.userfiles import UserFileError, decode_text, load_yaml

ALLOWED_FIELDS = tuple(RequestDraft.model_fields)
MAX_PROMPT_BYTES = 20_000
"""The largest prompt file read: a request, not a dataset."""
DEPLOY_KEY = re.compile(
    r"deploy|regist|promot|publish|alias|champion|endpoint|production|^serv(?:e|ing)|^stag(?:e|ing)"
    r"|^release|^ship"
)
"""A front matter key that asks for a deployment step (``register``, ``deploy_to``, ``stage``)."""
MAX_ERRORS_SHOWN = 5
VALUE_CHARS = 60


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
        PromptFileError: Missing or unreadable file, text that is not UTF-8, a front matter block
            never closed, YAML that is invalid or refused, or front matter that is not a mapping.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_PROMPT_BYTES + 1)
    except FileNotFoundError:
        raise PromptFileError(
            f"Prompt file {str(path)!r} does not exist.", hint="Check the path."
        ) from None
    except IsADirectoryError:
        raise PromptFileError(
            f"Prompt file {str(path)!r} is a directory.", hint="Give the path of a Markdown file."
        ) from None
    except OSError as exc:
        raise PromptFileError(
            f"Prompt file {str(path)!r} cannot be read: {exc.strerror}.",
            hint="Check that it exists and that you may read it.",
        ) from None
    if len(raw) > MAX_PROMPT_BYTES:
        raise PromptFileError(
            f"Prompt file {str(path)!r} is larger than {MAX_PROMPT_BYTES:,} bytes.",
            hint="A prompt file holds a request: keep data and logs out of it.",
        )
    try:
        text = decode_text(raw)
    except UserFileError as exc:
        raise PromptFileError(f"Prompt file {str(path)!r} is not text: {exc}.") from None
    lines = text.splitlines()
    # Blank lines before the opening fence still open it: nothing may hide the front matter.
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    if start == len(lines) or lines[start].strip() != "---":
        return PromptFile(path, {}, text.strip())
    try:
        end = next(
            i
            for i, line in enumerate(lines[start + 1 :], start=start + 1)
            if line.strip() in ("---", "...")
        )
    except StopIteration:
        raise PromptFileError(
            f"{path}: the front matter opened by '---' on line {start + 1} is never closed.",
            hint="End it with a line holding only '---'.",
        ) from None
    try:
        front = load_yaml("\n".join(lines[start + 1 : end]), first_line=start + 2)
    except UserFileError as exc:
        raise PromptFileError(
            f"{path}: the front matter is not valid YAML: {exc}.",
            hint="Fix it there (quote a value that holds ': ' or starts with a special character).",
        ) from None
    front = {} if front is None else front
    if not isinstance(front, dict):
        raise PromptFileError(
            f"{path}: the front matter must be a mapping of fields, got "
            f"{type(front).__name__} {short(front)}.",
            hint="Write one 'field: value' per line.",
        )
    return PromptFile(path, front, "\n".join(lines[end + 1 :]).strip())


def front_matter_draft(prompt: PromptFile) -> tuple[RequestDraft, list[str]]:
    """Validate the front matter into a request draft and the list of missing inputs.

    Raises:
        PolicyError: The front matter asks to deploy, register, promote, stage or serve a model.
        PromptFileError: An unknown field, or a value of the wrong type or range.
    """
    fields = dict(prompt.front_matter)
    refused = sorted(set(deploy_keys(fields)))
    if refused:
        raise PolicyError(
            f"{prompt.path}: refused {', '.join(map(repr, refused))}: trialrun never deploys, "
            "registers, promotes, stages or serves models. Remove the field; register a model "
            "yourself after reviewing the report if you need to."
        )
    unknown = sorted(short(k) for k in fields if k not in ALLOWED_FIELDS)
    if unknown:
        raise PromptFileError(
            f"{prompt.path}: unknown field(s) {', '.join(unknown)} in the front matter.",
            hint=f"Allowed fields: {', '.join(ALLOWED_FIELDS)}.",
        )
    try:
        return draft_from_fields(fields)
    except ValidationError as exc:
        raise PromptFileError(f"{prompt.path}: {describe_validation_error(exc)}") from None


def deploy_keys(value: Any) -> list[str]:
    """Return every key, at any depth, that asks for a deployment step (``register``, ``stage``)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if DEPLOY_KEY.search(fold(str(key)).replace(" ", "_")):
                found.append(str(key))
            found += deploy_keys(item)
    elif isinstance(value, list):
        for item in value:
            found += deploy_keys(item)
    return found


_HINTS = {
    "bool_type": "write true or false, unquoted",
    "int_type": "write a whole number such as 20, unquoted (not true, false or a decimal)",
    "int_parsing": "write a whole number such as 20, unquoted",
    "int_from_float": "write a whole number such as 20",
    "float_type": "write a number such as 600, unquoted",
    "float_parsing": "write a number such as 600, unquoted",
    "finite_number": "write a finite number",
    "string_type": "write it as text; quote it when YAML would read a number or a boolean "
    "(version: '3')",
    "string_too_short": "give a value, or leave the field out",
    "list_type": "write a list, such as [1, 2, 3]",
    "dict_type": "write a mapping, such as {trials: 20, seconds: 600}",
    "model_type": "write a mapping, such as {trials: 20, seconds: 600}",
    "extra_forbidden": "remove it",
}


def _range_hint(error: Any) -> str | None:
    ctx = error.get("ctx") or {}
    bounds = {
        "greater_than_equal": ("ge", "use a value of at least {}"),
        "greater_than": ("gt", "use a value above {}"),
        "less_than_equal": ("le", "use a value of at most {}"),
        "less_than": ("lt", "use a value below {}"),
        "too_long": ("max_length", "give at most {} items"),
        "too_short": ("min_length", "give at least {} items"),
    }
    if error["type"] in bounds:
        key, text = bounds[error["type"]]
        if key in ctx:
            return text.format(ctx[key])
    return None


def short(value: Any) -> str:
    """Return ``repr(value)``, cut to a readable length (a message never echoes a whole file)."""
    text = repr(value)
    if len(text) <= VALUE_CHARS:
        return text
    return f"{text[:VALUE_CHARS]}… ({len(text)} characters)"


def describe_validation_error(exc: ValidationError) -> str:
    """Return pydantic's errors as one readable clause per field: the value, what is wrong, a fix."""
    parts: list[str] = []
    errors = exc.errors()
    for error in errors[:MAX_ERRORS_SHOWN]:
        where = ".".join(str(p) for p in error["loc"]) or "request"
        message = error["msg"]
        if error["loc"][:1] == ("runtime",):
            if not any(p.startswith("runtime=") for p in parts):
                parts.append(
                    f"runtime={short(error.get('input'))}: write local, or "
                    "{kubernetes: {namespace: NAME}} with a DNS-1123 namespace"
                )
            continue
        if error["type"] == "literal_error" and "expected" in error.get("ctx", {}):
            message = f"use one of {error['ctx']['expected']}"
        elif error["type"].startswith("value_error"):
            message = message.removeprefix("Value error, ")
        hint = _HINTS.get(error["type"]) or _range_hint(error)
        if error["type"] == "missing":
            parts.append(f"{where} is required")
            continue
        if not error["loc"]:  # a rule across fields: the whole request is no value to quote
            parts.append(message)
            continue
        parts.append(
            f"{where}={short(error.get('input'))}: {message}" + (f" ({hint})" if hint else "")
        )
    if len(errors) > MAX_ERRORS_SHOWN:
        parts.append(f"and {len(errors) - MAX_ERRORS_SHOWN} more")
    return "; ".join(parts)
