"""Reading the files people write by hand (prompt files, the catalog): text and strict YAML.

Text: UTF-8 with or without a byte-order mark, UTF-16 and UTF-32 with one; CRLF and CR line ends
read like LF. A NUL byte or bytes that are not text are an error naming the offset, never a reason
to read the file some other way (a BOM once hid a whole front matter from validation).

YAML is PyYAML's safe loader with what a hand-written request never needs switched off: a key
written twice is an error (PyYAML keeps the last one silently), anchors, aliases and explicit tags
are refused (a few hundred bytes of aliases expand to millions of nodes), nesting is shallow, and
dates stay text, so ``version: 2024-06-01`` is a version. Booleans are YAML's own — ``true`` and
``false``, and YAML 1.1's ``yes``/``no``/``on``/``off`` — unquoted: a quoted ``"no"`` is a string.

Example:
    >>> load_yaml("seeds: [1, 2]")
    {'seeds': [1, 2]}
"""

from __future__ import annotations

import codecs
from typing import Any

import yaml
from yaml.events import AliasEvent

MAX_DEPTH = 16
"""The deepest nesting of mappings and lists a hand-written file may hold."""

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class UserFileError(ValueError):
    """A hand-written file that cannot be read: the message says where and what to do."""


def decode_text(raw: bytes) -> str:
    """Return the text of a hand-written file's bytes.

    Raises:
        UserFileError: A NUL byte, or bytes that are not UTF-8 (nor UTF-16/32 with a BOM).
    """
    encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UserFileError(
            f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not {encoding.upper()} text; "
            "save the file as UTF-8"
        ) from None
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        offset = text.index("\x00")
        raise UserFileError(
            f"it holds a NUL character (at character {offset}): it is binary, or UTF-16 without "
            "a byte-order mark; save it as UTF-8 text"
        )
    return text


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing aliases, anchors, tags, repeated keys and deep nesting."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str, *, aliases: bool = False):
        super().__init__(stream)
        self._depth = 0
        self._aliases = aliases

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        where = _where(event.start_mark)
        if isinstance(event, AliasEvent) and not self._aliases:
            raise UserFileError(
                f"{where}: YAML aliases (*{event.anchor}) are not allowed; write the value out"
            )
        if getattr(event, "anchor", None) and not self._aliases:
            raise UserFileError(
                f"{where}: YAML anchors (&{event.anchor}) are not allowed; write the value out"
            )
        tag = getattr(event, "tag", None)
        if tag not in (None, "!"):
            raise UserFileError(
                f"{where}: YAML tags ({tag!r}) are not allowed; write a plain value "
                "(quote it to make it text)"
            )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise UserFileError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                raise UserFileError(
                    f"{_where(key_node.start_mark)}: a key must be a plain name, not {key!r}"
                ) from None
            if first is not None:
                raise UserFileError(
                    f"{_where(key_node.start_mark)}: key {key!r} is written twice (first on "
                    f"line {first.line + 1}); keep one"
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def _construct_map(loader: _StrictLoader, node: Any) -> dict[Any, Any]:
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def load_yaml(text: str, *, first_line: int = 1, aliases: bool = False) -> Any:
    """Parse ``text`` strictly (see the module docstring) and return its value.

    Args:
        text: The YAML document.
        first_line: The line of the file ``text`` starts on, so messages name the file's lines.
        aliases: Allow anchors and aliases (PyYAML's own dumper writes them for a repeated value,
            as in a catalog written by a script).

    Raises:
        UserFileError: Invalid YAML, or one of the refused constructs; the message is one line
            naming the line and column.
    """
    padded = "\n" * (first_line - 1) + text
    try:
        loader = _StrictLoader(padded, aliases=aliases)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except UserFileError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{_where(mark)}: " if mark is not None else ""
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise UserFileError(f"{where}{problem}"[:300]) from None
    except yaml.YAMLError as exc:
        raise UserFileError(" ".join(str(exc).split())[:300]) from None
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise UserFileError(
            "a number is too long to read (more than 4300 digits); write a smaller one"
        ) from None
    except RecursionError:
        raise UserFileError(f"nested more than {MAX_DEPTH} levels deep") from None
