"""Budgets and seeds: "20 trials", "10 minutes", "1h30m", "2 GPUs", "4 workers", "seeds 1 2 and 3".

A number counts only with its unit or keyword beside it, so "top 5 features" and "python 3.11"
give nothing, and a count of seeds ("3 seeds") is not a list of seeds.
"""

from __future__ import annotations

import re
from typing import Any

from agent.planner.reading.scan import INT, NUM, NUM_A, Scan, continues_a_number, number

MAX_SEEDS = 32
"""A written range longer than this ("seeds 1-1000") is not expanded; the request allows 32."""

_UNIT_SECONDS: dict[str, int] = {"h": 3600, "m": 60, "s": 1}

_DURATION = re.compile(
    r"(?<![\w.])(?:"
    r"(?P<half>half\s+an?\s+hour)"
    rf"|(?P<ch>{INT})\s*h\s*(?P<cm>{INT})\s*m(?:ins?)?"
    rf"|(?:(?P<n>{INT}(?:\.\d{{1,6}}(?!\d))?)\s*-?\s*"
    r"(?P<unit>hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)"
    # A number word needs a whole unit word: "the best ones" is not one second.
    rf"|(?P<w>{NUM_A})[\s-]+(?P<wunit>hours?|hrs?|minutes?|mins?|seconds?|secs?))"
    r"(?P<andhalf>\s+and\s+a\s+half)?"
    r")\b(?!\s*[=:])"
    # A per-trial limit is not the experiment's budget; "10m rows" is a size, not a time.
    r"(?!\s*(?:per|each|a|every)\s+(?:trial|run|fold))"
    r"(?!\s*(?:rows|records|samples|examples|lines|parameters|params|users|customers))"
)
_DURATION_GAP = re.compile(r"\s*(?:,|and|&|\+)?\s*")
_SECONDS_KEY = re.compile(
    r"\b(?:seconds|timeout|time_?budget|time_?limit|max_seconds|wall_?clock)\s*[=:]\s*"
    rf"(?P<n>{INT}(?:\.\d{{1,6}})?)(?!\w|\.\d)"
)

_PARALLEL = (
    re.compile(
        rf"(?<![\w.])(?P<n>{NUM})\s+(?:(?:jobs|trials|workers|runs)\s+)?"
        r"(?:in\s+parallel|concurrently|at\s+(?:a|the\s+same)\s+time)\b"
    ),
    re.compile(
        rf"(?<![\w.])(?P<n>{NUM})\s*-?\s*(?:parallel|concurrent)\s+"
        r"(?:jobs|trials|workers|processes|runs)\b"
    ),
    re.compile(rf"(?<![\w.])(?P<n>{NUM})\s*-?\s*(?:workers?|processes)\b(?!\s*[=:])"),
    re.compile(rf"(?<![\w.])(?P<n>{NUM})-way\s+parallel(?:ism)?\b"),
    re.compile(
        r"\b(?:parallel(?:ism)?|n_jobs|n_workers|workers|concurrency)\s*(?:[=:]|of)?\s*"
        rf"(?P<n>{INT})(?!\w|\.\d)"
    ),
)
_TRIALS = (
    re.compile(
        rf"(?<![\w.])(?P<n>{NUM})\s*-?\s*(?:(?:optuna|tuning|hpo|optimi[sz]ation|search)\s+)?"
        r"trials?\b(?!\s*[=:])"
    ),
    re.compile(
        r"\b(?:n_trials|num_trials|max_trials|trials|trial\s+budget(?:\s+of)?)\s*[=:]?\s*"
        rf"(?P<n>{INT})(?!\w|\.\d)"
    ),
)
_CPUS = (
    re.compile(
        rf"(?<![\w.])(?P<n>{NUM_A})\s*-?\s*(?:v?cpus?|cpu\s+cores?|cores?|threads?)\b(?!\s*[=:])"
    ),
    re.compile(rf"\b(?:cpus|cores|n_cpus|num_cpus)\s*[=:]\s*(?P<n>{INT})(?!\w|\.\d)"),
)
_GPUS = (
    re.compile(
        rf"(?<![\w.])(?P<n>{NUM_A})\s*-?\s*(?:x\s*)?(?:(?:nvidia|[ahlvt]\d+|rtx\s*\d+)\s+)?"
        r"gpus?\b(?!\s*[=:])"
    ),
    re.compile(rf"\b(?:gpus|n_gpus|num_gpus)\s*[=:]\s*(?P<n>{INT})(?!\w|\.\d)"),
    re.compile(r"\b(?:no|zero|without(?:\s+an?y?)?)\s+gpus?\b|\bcpu[- ]only\b"),
)

_SEED_ITEM = rf"{INT}(?:\s*(?:-|\.\.|to|through|thru)\s*{INT})?"
_SEEDS = re.compile(
    r"\b(?:random[\s_]+)?(?:seeds?|random_state|rng\s+seeds?)\s*(?:[=:]|of|are|is)?\s*[\[(]?\s*"
    rf"(?P<list>{_SEED_ITEM}(?:(?:\s*[,;&]\s*(?:and\s+)?|\s+and\s+|\s+){_SEED_ITEM})*)"
    r"(?!\w|\.\d)"
)
_SEED_PART = re.compile(rf"(?P<a>{INT})(?:\s*(?:-|\.\.|to|through|thru)\s*(?P<b>{INT}))?")


def take_budget(scan: Scan) -> tuple[dict[str, Any], dict[str, str]]:
    """Consume every budget value written and return the partial budget and its spans.

    Returns:
        The budget (any of ``trials``, ``seconds``, ``cpus``, ``gpus``, ``parallel``) and, for each
        key, the text it came from.

    Example:
        >>> take_budget(Scan("20 trials and 10 minutes on 2 GPUs"))[0]
        {'trials': 20, 'seconds': 600.0, 'gpus': 2}
    """
    budget: dict[str, Any] = {}
    spans: dict[str, str] = {}
    seconds = _take_seconds(scan)
    # Parallelism goes before trials: in "4 trials in parallel" the 4 is a width, not a total.
    for key, patterns in (
        ("parallel", _PARALLEL),
        ("trials", _TRIALS),
        ("cpus", _CPUS),
        ("gpus", _GPUS),
    ):
        match = _first(scan, patterns)
        if match is not None:
            budget[key] = number(match["n"]) if match.groupdict().get("n") else 0
            spans[key] = scan.take(*match.span())
    if seconds is not None:
        budget["seconds"], spans["seconds"] = seconds
    order = ("trials", "seconds", "cpus", "gpus", "parallel")
    return {k: budget[k] for k in order if k in budget}, {k: spans[k] for k in order if k in spans}


def _first(scan: Scan, patterns: tuple[re.Pattern[str], ...]) -> re.Match[str] | None:
    """Return the first match of the first pattern that matches a whole number."""
    for pattern in patterns:
        for match in scan.matches(pattern):
            if not (match.groupdict().get("n") and continues_a_number(scan, match.start("n"))):
                return match
    return None


def _take_seconds(scan: Scan) -> tuple[float, str] | None:
    """Consume the first run of adjacent durations ("1 hour and 30 minutes") and sum it."""
    found = [
        m
        for m in scan.matches(_DURATION)
        if not continues_a_number(scan, m.start("w") if m["w"] else m.start())
    ]
    if not found:
        match = scan.search(_SECONDS_KEY)
        if match is None:
            return None
        return float(match["n"]), scan.take(*match.span())
    group = [found[0]]
    for match in found[1:]:
        if not _DURATION_GAP.fullmatch(scan.work, group[-1].end(), match.start()):
            break
        group.append(match)
    total = sum(_duration_seconds(m) for m in group)
    return total, scan.take(group[0].start(), group[-1].end())


def _duration_seconds(match: re.Match[str]) -> float:
    if match["half"]:
        return 1800.0
    if match["ch"]:
        return int(match["ch"]) * 3600.0 + int(match["cm"]) * 60.0
    if match["n"]:
        amount, unit = float(match["n"]), match["unit"]
    else:
        amount, unit = float(number(match["w"])), match["wunit"]
    if match["andhalf"]:
        amount += 0.5
    return amount * _UNIT_SECONDS[unit[0]]


def take_seeds(scan: Scan) -> tuple[list[int], str] | None:
    """Consume the seeds written after "seed(s)" and return them with their text.

    Ranges ("seeds 1-3", "seeds 0 to 4") are expanded when they hold at most :data:`MAX_SEEDS`
    values; a longer or backwards range ends the list there and is left unread.

    Example:
        >>> take_seeds(Scan("seeds 1, 2 and 3"))
        ([1, 2, 3], 'seeds 1, 2 and 3')
    """
    match = scan.search(_SEEDS)
    if match is None:
        return None
    seeds: list[int] = []
    end = match.start("list")
    for part in _SEED_PART.finditer(match["list"]):
        low = int(part["a"])
        high = int(part["b"]) if part["b"] else low
        # "seed 7 2024-06 data": a backwards or huge range ends the list instead of spoiling it.
        if high < low or high - low >= MAX_SEEDS:
            break
        seeds.extend(range(low, high + 1))
        end = match.start("list") + part.end()
    if not seeds:
        return None
    return seeds, scan.take(match.start(), end)
