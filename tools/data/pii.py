"""Finding personal data and secrets in a table's values before it is catalogued.

Every column the curator has not declared is scanned: up to :data:`SAMPLE_VALUES` distinct
values each, matched against detectors that check structure and, where the format has one, a
checksum. A column is flagged for a kind of value when enough of its sampled values are of that
kind: a single e-mail address or secret is enough (free text that holds one holds others), the
rest need at least half the values, because a number that merely looks like a phone number or a
card number is common in ordinary data (timestamps, measurements, codes).

What is detected (``KINDS``):

- ``email``: ``name@domain.tld`` anywhere in a text value.
- ``phone``: a text value that is a phone number: 7 to 15 digits, with a leading ``+``, an area
  code in parentheses, or at least two spaces, dots or dashes between digit groups (a date or
  an IP address is not one).
- ``card``: a payment card number, 13 to 19 digits (text with or without spaces and dashes, or an
  integer column) whose issuer prefix is a known network's and whose Luhn checksum holds.
- ``iban``: an international bank account number whose ISO 13616 mod-97 checksum holds.
- ``national_id``: a US Social Security number written ``AAA-GG-SSSS`` (areas 000, 666 and 900+
  excluded) or a UK National Insurance number (``QQ 12 34 56 C``, valid prefixes).
- ``ip_address``: an IPv4 or IPv6 address (text).
- ``secret``: an API key, token or password, by the same patterns the tracking redaction uses,
  and PEM private-key headers.

Values are never echoed: a finding names the column, the kind and how many sampled values
matched.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pandas as pd
from pandas.api import types as ptypes

from tools.errors import InputError, PolicyError
from tools.redact import find_secrets

if TYPE_CHECKING:
    from tools.data.catalog import DatasetEntry

Kind = Literal["email", "phone", "card", "iban", "national_id", "ip_address", "secret"]
KINDS: tuple[Kind, ...] = (
    "email",
    "phone",
    "card",
    "iban",
    "national_id",
    "ip_address",
    "secret",
)
SAMPLE_VALUES = 2000
"""Distinct values sampled per column."""
ANY_VALUE: frozenset[Kind] = frozenset({"email", "secret"})
"""Kinds flagged on a single matching value; the others need :data:`MAJORITY` of the sample."""
MAJORITY = 0.5
DESCRIPTIONS: dict[Kind, str] = {
    "email": "e-mail addresses",
    "phone": "phone numbers",
    "card": "payment card numbers (Luhn checksum valid)",
    "iban": "bank account numbers (IBAN, checksum valid)",
    "national_id": "national ID numbers (US SSN or UK NI number)",
    "ip_address": "IP addresses",
    "secret": "API keys, tokens or passwords",
}

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"^\+?\(?\d{1,4}\)?(?:[\s.-]?\(?\d{1,4}\)?){1,5}$")
_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
_CARD_TEXT = re.compile(r"^\d(?:[ -]?\d){12,18}$")
_CARD_PREFIX = re.compile(
    r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[68])|6(?:011|5|4[4-9])|35"
    r"|62|50|5[6-9]|6[0-9])"
)
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_SSN = re.compile(r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$")
_NINO = re.compile(
    r"^(?![DFIQUV])[A-Z](?![DFIQUVO])[A-Z](?<!BG)(?<!GB)(?<!NK)(?<!KN)(?<!TN)(?<!NT)(?<!ZZ)"
    r"\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]$"
)
_PEM = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
_NOT_SECRETS = {"email", "phone"}
"""Redaction patterns that are personal data rather than secrets (detected here on their own)."""


@dataclass(frozen=True)
class Finding:
    """A column whose values look personal or secret.

    Attributes:
        column: The column name.
        kind: What its values look like.
        matched: How many sampled values matched.
        sampled: How many distinct values were sampled.
    """

    column: str
    kind: Kind
    matched: int
    sampled: int

    def describe(self) -> str:
        """Say what was found, without any value."""
        return (
            f"{self.column!r}: {self.matched} of {self.sampled} sampled values are "
            f"{DESCRIPTIONS[self.kind]}"
        )


def luhn_valid(digits: str) -> bool:
    """Return True when the digit string's Luhn checksum holds."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(text: str) -> bool:
    if not _CARD_TEXT.match(text):
        return False
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_valid(digits)


def _iban(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not _IBAN.match(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _phone(text: str) -> bool:
    if _DATE.match(text) or not _PHONE.match(text):
        return False
    digits = sum(ch.isdigit() for ch in text)
    groups = len(re.findall(r"[\s.-]+", text))
    separated = text.startswith("+") or "(" in text or groups >= 2
    return 7 <= digits <= 15 and separated and not (_card(text) or _ip(text) or _SSN.match(text))


def _ip(text: str) -> bool:
    if not (text.count(".") == 3 or ":" in text):
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def kinds_of(text: str) -> set[Kind]:
    """Return the kinds of personal or secret data ``text`` holds (empty when none)."""
    text = text.strip()
    found: set[Kind] = set()
    if _EMAIL.search(text):
        found.add("email")
    if _PEM.search(text) or set(find_secrets(text)) - _NOT_SECRETS:
        found.add("secret")
    if _card(text):
        found.add("card")
    elif _phone(text):
        found.add("phone")
    if _iban(text):
        found.add("iban")
    if _SSN.match(text) or _NINO.match(text.upper()):
        found.add("national_id")
    if _ip(text):
        found.add("ip_address")
    return found


def _sample(values: pd.Series) -> list[object]:
    try:
        distinct = pd.unique(values.dropna())
    except TypeError:  # cells holding lists or arrays are scanned as their text
        distinct = pd.unique(values.dropna().astype(str))
    if len(distinct) > SAMPLE_VALUES:
        distinct = pd.Series(distinct).sample(SAMPLE_VALUES, random_state=0).to_numpy()
    return list(distinct)


def scan_column(name: str, values: pd.Series) -> list[Finding]:
    """Return what ``values`` look like, one finding per kind that crosses its threshold."""
    dtype = values.dtype
    if ptypes.is_bool_dtype(dtype) or ptypes.is_float_dtype(dtype):
        return []
    sample = _sample(values)
    if not sample:
        return []
    counts: dict[Kind, int] = {}
    if ptypes.is_integer_dtype(dtype):
        # Whole numbers can be card numbers (never a phone: too many counts and timestamps
        # have ten digits).
        counts["card"] = sum(_card(str(int(v))) for v in sample)  # type: ignore[call-overload]
    else:
        for value in sample:
            for kind in kinds_of(str(value)):
                counts[kind] = counts.get(kind, 0) + 1
    findings = []
    for kind in KINDS:
        matched = counts.get(kind, 0)
        needed = 1 if kind in ANY_VALUE else max(1, int(MAJORITY * len(sample) + 0.5))
        if matched >= needed:
            findings.append(Finding(str(name), kind, matched, len(sample)))
    return findings


def scan(frame: pd.DataFrame, *, skip: Iterable[str] = ()) -> list[Finding]:
    """Scan every column of ``frame`` except ``skip`` (declared personal or identifier columns).

    Example:
        >>> scan(pd.DataFrame({"contact": ["ada@example.com", "bob@example.org"]}))
        [Finding(column='contact', kind='email', matched=2, sampled=2)]
    """
    skipped = set(skip)
    findings: list[Finding] = []
    for name in frame.columns:
        if name not in skipped:
            findings.extend(scan_column(str(name), frame[name]))
    return findings


class PersonalData(PolicyError):
    """Refusal to catalogue columns that look personal or secret and nobody declared.

    Args:
        findings: What the scan found, per column.
    """

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        columns = list(dict.fromkeys(f.column for f in findings))
        super().__init__(
            "Column(s) that look like personal data or secrets were not declared: "
            + "; ".join(f.describe() for f in findings)
            + ". Declare each with --pii-column NAME (dropped before training and never logged),"
            " or keep it as a feature with --allow-pii 'NAME=why it is not personal data' (the"
            f" reason is recorded in the catalog). Flagged: {', '.join(map(repr, columns))}."
        )


def refuse_personal_data(frame: pd.DataFrame, entry: DatasetEntry) -> None:
    """Scan ``frame``'s undeclared columns; refuse any that looks personal and is not allowed.

    Raises:
        InputError: An allowance names no column of the file or gives no reason.
        PersonalData: A flagged column is neither declared PII nor allowed.
    """
    for column, reason in entry.pii_allowed.items():
        if column not in frame.columns:
            raise InputError(
                f"--allow-pii names column {column!r}, which is not in the file.",
                field="pii_allowed",
                hint="Check the spelling against the file's header.",
            )
        if not reason.strip():
            raise InputError(
                f"--allow-pii {column!r} gives no reason.",
                field="pii_allowed",
                hint=f"Say why it is not personal data: --allow-pii '{column}=<reason>'.",
            )
    findings = scan(frame, skip=[*entry.roles.pii, *entry.roles.id])
    refused = [f for f in findings if f.column not in entry.pii_allowed]
    if refused:
        raise PersonalData(refused)
