"""The scanner under the offline reader: match on a folded copy, quote the original text.

Every extractor reads the message through one :class:`Scan`. Patterns run on a lowercased copy of
the same length, so a match's offsets quote the person's own spelling. Text that gave a value is
consumed (replaced by :data:`GONE`), so one number is never read twice: "20 trials" cannot also be
a seed, and a consumed region stops any pattern that would reach across it.
"""

from __future__ import annotations

import re

GONE = "\x00"
"""Stands in for consumed text; ``\\s`` does not match it, so no pattern spans a consumed value."""

_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u00a0": " ",
        "\u00b2": "2",
        "\u00d7": "x",
    }
)

NUMBER_WORDS: dict[str, int] = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "hundred": 100,
}

INT = r"\d{1,10}(?!\d)"
"""An integer of at most ten digits; a longer one is no count, seed or duration a person meant."""

_WORDS = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
NUM = rf"(?:\d{{1,3}}(?:,\d{{3}})+(?![\d,])|{INT}|{_WORDS})"
"""A count: digits, with or without thousands separators ("1,000 trials"), or a number word."""

_AFTER_WORD = re.compile(rf"\b(?:{_WORDS})(?:[\s-]+and)?[\s-]+$")
_AFTER_DIGIT = re.compile(r"\d[\s-]+$")

NUM_A = rf"(?:{NUM}|an?)"
"""A count that may also be "a"/"an" ("a GPU", "an hour")."""

TOKEN = r"[a-z0-9_](?:[\w.\-]*\w)?"
"""A name as people type them: ``churn``, ``ml-dev``, ``price_up``, ``2024-06``; never ends in
punctuation, so "churn." at the end of a sentence reads as ``churn``."""

START = r"(?<![\w.@\-])"
"""Where a name may begin: not inside another name, version or address ("1.2.3", "a@b")."""

QUOTED = r"(?:\"[^\"\x00]+\"|'[^'\x00]+'|`[^`\x00]+`)"
"""A quoted name, which may hold spaces."""


def number(word: str) -> int:
    """Return the value of a count matched by :data:`NUM` or :data:`NUM_A`.

    Example:
        >>> number("twenty"), number("an"), number("8")
        (20, 1, 8)
    """
    word = word.strip().replace(",", "")
    if word.isdigit():
        return int(word)
    return 1 if word in ("a", "an") else NUMBER_WORDS[word]


def continues_a_number(scan: Scan, start: int) -> bool:
    """Return True when the count at ``start`` ends a longer number: "twenty five", "2 hundred".

    Such numbers are not read at all, rather than read as their last word. Digits after digits
    ("seeds 1 2 3 20 trials") are separate numbers.
    """
    before = scan.before(start, 24)
    if _AFTER_WORD.search(before):
        return True
    return scan.work[start : start + 1].isalpha() and _AFTER_DIGIT.search(before) is not None


def unquote(text: str) -> str:
    """Return ``text`` without one pair of surrounding quotes or backticks."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1].strip()
    return text


class Scan:
    """A message being read: the original text and a folded, partly consumed working copy.

    Args:
        text: The message as the person wrote it.
    """

    def __init__(self, text: str):
        self.original = text
        # Lowercase character by character so offsets in ``work`` stay offsets in ``original``
        # even for the few characters whose lowercase form is longer.
        folded = text.translate(_FOLD)
        self.work = "".join(c.lower() if len(c.lower()) == 1 else c for c in folded)

    def search(self, pattern: re.Pattern[str], start: int = 0) -> re.Match[str] | None:
        """Return the first match of ``pattern`` in the unconsumed text."""
        return pattern.search(self.work, start)

    def matches(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        """Return every match of ``pattern``, taken before any of them is consumed."""
        return list(pattern.finditer(self.work))

    def has(self, pattern: re.Pattern[str]) -> bool:
        """Return True when ``pattern`` matches the unconsumed text."""
        return pattern.search(self.work) is not None

    def quote(self, start: int, end: int) -> str:
        """Return the person's own text between two offsets, stripped."""
        return self.original[start:end].strip()

    def group(self, match: re.Match[str], name: str | int) -> str:
        """Return a match group in the person's own spelling."""
        return self.quote(*match.span(name))

    def take(self, start: int, end: int) -> str:
        """Consume the text between two offsets and return it as the person wrote it."""
        self.work = self.work[:start] + GONE * (end - start) + self.work[end:]
        return self.quote(start, end)

    def before(self, start: int, width: int = 40) -> str:
        """Return up to ``width`` characters of working text that end at ``start``."""
        return self.work[max(0, start - width) : start]

    def remaining(self) -> str:
        """Return the unconsumed text, consumed parts turned into spaces."""
        return self.work.replace(GONE, " ")
