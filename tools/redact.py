"""The one redaction step every parameter, tag and text artifact passes before it is written.

It removes API keys, tokens, passwords, credentials in connection strings, e-mail addresses and
phone numbers. It errs on the side of redacting: a false positive costs a readable tag, a false
negative leaks a secret into a store many people read.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import IO, Any

REDACTED = "[REDACTED]"

# Patterns that keep a prefix skip a value already replaced, so redacted text audits clean.
_SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # scheme://user:password@host: keep the user and host, drop the password
    (
        "url-credentials",
        re.compile(r"(?P<keep>\b[a-zA-Z][\w+.-]*://[^\s:/@]+:)(?!\[REDACTED\]@)[^\s@/]+(?=@)"),
    ),
    ("openai-key", re.compile(r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{16,}")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}")),
    ("github-token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{16,}")),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("bearer", re.compile(r"(?i)(?P<keep>\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}")),
    (
        "assignment",
        re.compile(
            r"(?i)(?P<keep>\b[\w.-]*(?:api[_-]?key|secret|token|passw(?:or)?d|pwd|credential)s?"
            r"[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\](?:[\s\"',;&]|$))[^\s\"',;&]+"
        ),
    ),
    (
        "email",
        re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    ),
    (
        "phone",
        re.compile(
            r"(?<![\w.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])"
            r"\d{3,4}[\s.-]\d{3,4}(?![\w.])"
        ),
    ),
)

_SECRET_KEYS = re.compile(r"(?i)(api[_-]?key|secret|token|passw(or)?d|pwd|credential)")


def redact(text: str) -> str:
    """Return ``text`` with every secret or PII pattern replaced by ``[REDACTED]``.

    Example:
        >>> redact("contact ada@example.com, key sk-abcdefghijklmnopqrstuv")
        'contact [REDACTED], key [REDACTED]'
    """
    for _, pattern in _SECRET_PATTERNS:
        text = pattern.sub(_replacement, text)
    return text


def _replacement(match: re.Match[str]) -> str:
    keep = match.groupdict().get("keep")
    return f"{keep}{REDACTED}" if keep else REDACTED


def redact_value(key: str, value: Any) -> str:
    """Return ``value`` as text to log under ``key``; a secret-sounding key hides its value whole."""
    if _SECRET_KEYS.search(key) and value not in (None, ""):
        return REDACTED
    return redact(str(value))


def redact_mapping(values: Mapping[str, Any]) -> dict[str, str]:
    """Return a copy of ``values`` with every key and value redacted, ready to log."""
    return {redact(str(k)): redact_value(str(k), v) for k, v in values.items()}


class RedactingStream(io.TextIOBase):
    """A text stream that redacts each line before it reaches ``target`` (a log file, a CI log).

    Lines are passed on whole, so a secret is never split between two writes; :meth:`flush` also
    passes on an unfinished line.

    Args:
        target: The stream written to.
    """

    def __init__(self, target: IO[str]):
        super().__init__()
        self.target = target
        self._pending = ""

    def write(self, text: str) -> int:
        """Redact and pass on every finished line of ``text``; keep the rest for later."""
        *lines, self._pending = (self._pending + text).split("\n")
        if lines:
            self.target.write("".join(f"{redact(line)}\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        """Pass on what is pending, redacted, and flush the target."""
        if self._pending:
            self.target.write(redact(self._pending))
            self._pending = ""
        self.target.flush()

    def isatty(self) -> bool:
        """Return whether the target is a terminal."""
        return self.target.isatty()

    def fileno(self) -> int:
        """Return the target's file descriptor."""
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """Return the target's encoding."""
        return getattr(self.target, "encoding", "utf-8")

    def writable(self) -> bool:
        """Return True: the stream is written to."""
        return True


def find_secrets(text: str) -> list[str]:
    """Return the names of the patterns that match ``text`` (for tests and audits)."""
    return [name for name, pattern in _SECRET_PATTERNS if pattern.search(text)]
