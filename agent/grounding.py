"""Grounding: every required input must come from what the person wrote, or from the catalog.

Small models invent plausible values (asked "Train a model on churn.", a 0.5B model answered with
dataset ``churn_dataset``, version ``v1.0`` and seed 42). Before anything runs, each value the
model passes is checked against the catalog and against the person's own words (messages, answers,
a prompt file); a value nobody stated is treated as missing, so the person is asked for it.

What the person stated is what the offline reader
(:func:`agent.planner.reading.message.read_message`) reads in their words, not whether the value's
characters occur there: "15 min" states 900 seconds and not 15, "seeds 1-3" states seeds 1, 2 and
3, "v3" states no trial count. A required input, or a
target column, that the reader did not read is dropped and asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.planner.reading.message import read_message
from agent.report.model import Source

REQUIRED = ("dataset", "version", "metric", "seeds")
LIMITS = ("budget.trials", "budget.seconds")
"""The budget is given when either limit is; the other takes its default."""
READ_ONLY = (*REQUIRED, *LIMITS, "target")
"""Fields whose value counts as stated only when the offline reader read it in the person's words.

Unstated, a target falls back to the catalog's; the others are asked for.
"""
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+|,?\s+(?:and\s+)?then\s+", re.IGNORECASE)
"""Where a message holding several requests splits into them ("... seed 1. Then tune wine ...")."""
OPTIONAL = ("target", "model", "direction", "optimize", "experiment", "runtime", "approve")
BUDGET_KEYS = ("trials", "seconds", "cpus", "gpus", "parallel")
_ORDER = ("dataset", "version", "metric", "budget", "seeds")


@dataclass
class Grounded:
    """The request fields that survived grounding, with where each came from."""

    fields: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)


def stated_fields(texts: Iterable[str], known: Mapping[str, list[str]]) -> dict[str, Any]:
    """Return the request values the person stated across ``texts`` (later texts win)."""
    return statements(texts, known)[0]


def statements(
    texts: Iterable[str], known: Mapping[str, list[str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the values stated across ``texts`` and what was asked that cannot run as asked.

    Later texts win: a correction ("actually make it 50 trials") replaces the earlier value, and a
    valid value stated later clears an earlier rejection of the same field.
    """
    stated: dict[str, Any] = {}
    rejected: dict[str, str] = {}
    for text in texts:
        if not text.strip():
            continue
        intent = read_message(text, known=known)
        values = dict(intent.fields)
        budget = {**stated.get("budget", {}), **values.pop("budget", {})}
        stated.update(values)
        if budget:
            stated["budget"] = budget
        for name in flat({**values, "budget": intent.fields.get("budget", {})}):
            rejected.pop(name, None)
        rejected.update(intent.rejected)
    return stated, rejected


def readings(texts: Iterable[str], known: Mapping[str, list[str]]) -> dict[str, list[Any]]:
    """Return every value the reader read for each flat field, in the texts that still count.

    Each text is read whole and sentence by sentence, so each request of a message holding
    several counts. A later text that states a field replaces what earlier ones said of it: after
    "actually make it 50 trials", 20 trials is no longer stated.
    """
    read: dict[str, list[Any]] = {}
    for text in texts:
        if not text.strip():
            continue
        pieces = [text, *(p for p in _SENTENCE.split(text) if p.strip() and p != text)]
        found: dict[str, list[Any]] = {}
        for piece in pieces:
            for name, value in flat(read_message(piece, known=known).fields).items():
                found.setdefault(name, []).append(value)
        read.update(found)
    return read


def flat(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten a request's fields: ``budget`` becomes ``budget.trials`` and so on."""
    out = {k: v for k, v in fields.items() if k != "budget"}
    for key, value in (fields.get("budget") or {}).items():
        out[f"budget.{key}"] = value
    return out


def ground(
    proposed: Mapping[str, Any],
    *,
    texts: list[str],
    front_matter: Mapping[str, Any],
    known: Mapping[str, list[str]],
) -> Grounded:
    """Keep the proposed values the person stated; fill in what they stated but the model left out.

    Args:
        proposed: Flat fields the model passed (``budget.trials`` style for the budget).
        texts: Everything the person wrote in this conversation or prompt file.
        front_matter: Fields a prompt file's front matter stated; they win over everything.
        known: The catalog: dataset name -> versions.
    """
    said, rejected = statements(texts, known)
    stated = flat(said)
    read = readings(texts, known)
    front = flat(front_matter)
    words = " ".join(texts).lower()
    result = Grounded(rejected={k: v for k, v in rejected.items() if k not in front})
    for name in REQUIRED + LIMITS + OPTIONAL + tuple(f"budget.{k}" for k in BUDGET_KEYS[2:]):
        if name in front:
            result.fields[name], result.sources[name] = front[name], "front matter"
            continue
        value = proposed.get(name)
        if value is not None and not _stated(name, value, read, words):
            if name in READ_ONLY:
                result.problems.append(f"{name} {value!r} was not stated by the person")
            value = None
        if value is None and name in stated:
            value = stated[name]
        if value is not None:
            result.fields[name], result.sources[name] = value, "conversation"
        elif name in REQUIRED:
            result.missing.append(name)
    if not any(limit in result.fields for limit in LIMITS):
        result.missing.append("budget")
    result.missing.sort(key=_ORDER.index)
    _check_catalog(result, known)
    return result


def unflatten(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Undo :func:`flat`."""
    out: dict[str, Any] = {k: v for k, v in fields.items() if not k.startswith("budget.")}
    budget = {k.split(".", 1)[1]: v for k, v in fields.items() if k.startswith("budget.")}
    if budget:
        out["budget"] = budget
    return out


def _stated(name: str, value: Any, read: Mapping[str, list[Any]], words: str) -> bool:
    if any(_same(r, value) for r in read.get(name, [])):
        return True
    if name in READ_ONLY:
        # Characters are not a statement: "v3" holds a 3 but states no trial count.
        return False
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return _number_in(value, words)
    if isinstance(value, str):
        return re.search(rf"(?<![\w.-]){re.escape(value.lower())}(?![\w-])", words) is not None
    return False


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return sorted(a) == sorted(b)
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a) == float(b)
    return bool(a == b)


def _number_in(value: Any, words: str) -> bool:
    number = float(value)
    text = str(int(number)) if number.is_integer() else str(number)
    return re.search(rf"(?<![\d.]){re.escape(text)}(?![\d]|\.\d)", words) is not None


def _check_catalog(result: Grounded, known: Mapping[str, list[str]]) -> None:
    fields = result.fields
    dataset = fields.get("dataset")
    if dataset is None or result.sources.get("dataset") == "front matter":
        # A prompt file's own values are not asked about: the pipeline refuses data outside
        # the catalog by policy, which is what CI needs to hear.
        return
    names = {n.lower(): n for n in known}
    if str(dataset).lower() not in names:
        listing = ", ".join(f"{n} ({', '.join(v)})" for n, v in sorted(known.items())) or "none"
        result.problems.append(f"dataset {dataset!r} is not in the catalog; catalogued: {listing}")
        _unset(result, "dataset")
        return
    fields["dataset"] = names[str(dataset).lower()]
    version = fields.get("version")
    versions = {str(v).lower(): v for v in known[fields["dataset"]]}
    if version is not None and str(version).lower() not in versions:
        result.problems.append(
            f"version {version!r} of {fields['dataset']!r} is not in the catalog; "
            f"catalogued versions: {', '.join(known[fields['dataset']])}"
        )
        _unset(result, "version")
    elif version is not None:
        fields["version"] = versions[str(version).lower()]


def _unset(result: Grounded, name: str) -> None:
    result.fields.pop(name, None)
    result.sources.pop(name, None)
    result.missing.append(name)
    result.missing.sort(key=_ORDER.index)
