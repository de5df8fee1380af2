"""Datasets, versions and targets: "churn v3", "churn@2024-06", "version 3 of churn", "predict y".

Without a catalog only the written patterns count: a bare word is never taken for a dataset. With a
catalog (name -> versions), bare names and versions are recognised too, and every name and version
found is returned in the catalog's spelling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from agent.planner.reading.scan import QUOTED, START, TOKEN, Scan, unquote

_NOT_A_NAME = frozenset(
    "a an the on of with use using for to and or in from into at by as is it its this that these "
    "those same new my our your their any each every whole full entire all both some other "
    "data dataset datasets table version versions training train test validation holdout tabular "
    "latest last current previous which what run runs job jobs experiment seed seeds trials target "
    "namespace model models column label release big large small huge tiny public private clean "
    "raw old original updated sample toy given following above bundled default "
    "python xgboost xgb lightgbm lgbm lgb mlflow optuna sklearn scikit-learn pandas numpy "
    "kubernetes k8s trialrun api cuda meant mean means try make made instead rather actually "
    "sorry".split()
)
_SOFTWARE = frozenset(
    "python py xgboost xgb lightgbm lgbm lgb mlflow optuna sklearn scikit-learn pandas numpy cuda "
    "pytorch torch pyarrow trialrun java node ubuntu debian api schema protocol model package "
    "library image docker".split()
)
_NAME = rf"(?:(?P<qname>{QUOTED})|(?P<name>{TOKEN}))"
_VNUM = r"v\d+(?:\.\d+)*"
_VER = rf"(?P<ver>{TOKEN})"
_VSEP = r"(?:\s*[=:]\s*|\s+(?:is\s+)?)"

_PATTERNS = (
    re.compile(rf"\bdata(?:set)?(?:_name)?\s*[=:]\s*{_NAME}"),
    re.compile(
        rf"\bdataset\s+(?:named\s+|called\s+)?{_NAME}"
        # "dataset churn, version 3" and "dataset churn v3" name it; "the dataset has 9 rows" not.
        r"(?=\s*(?:$|[,.;:!?)\x00])|\s+(?:v\d|version\b|ver\b|with\b|and\b|to\b|for\b|on\b))"
    ),
    re.compile(rf"{START}(?P<name>{TOKEN})\s+(?:dataset|data\s*set)\b"),
    re.compile(rf"{START}(?P<name>{TOKEN})@(?P<ver>v?\d(?:[\w.\-]*\w)?)"),
    re.compile(
        rf"\b(?:version|ver\.?){_VSEP}{_VER}(?:\s+of\s+(?:the\s+)?(?:dataset\s+)?"
        rf"(?P<name>{TOKEN})(?:\s+(?:dataset|data(?:\s*set)?))?)?"
    ),
    re.compile(
        rf"\b(?P<ver>{_VNUM})\s+of\s+(?:the\s+)?(?P<name>{TOKEN})"
        r"(?:\s+(?:dataset|data(?:\s*set)?))?"
    ),
    re.compile(rf"{START}(?P<name>{TOKEN})(?:\s+|\s*[(,]\s*)(?P<ver>{_VNUM})\b"),
    re.compile(rf"{START}(?P<name>{TOKEN})\s+(?:version|ver\.?){_VSEP}{_VER}"),
    re.compile(rf"(?<![\w.\-])(?P<ver>{_VNUM})(?![\w-]|\.\d)"),
)
_VERSION_LIKE = re.compile(r"v?[\d.\-]+")
"""A word that reads as a version ("v2", "2024-06", "3"), so never as a dataset name."""
# The word before a version, looking past "version" itself: "xgboost version 3.0" -> "xgboost".
_WORD_BEFORE = re.compile(r"([\w.\-]+)(?:[^\w\x00]+(?:version|ver)\.?)?[^\w\x00]*$")

_COLUMN = rf"[\"'`]?(?P<col>{TOKEN})[\"'`]?"
_PREDICT = re.compile(
    rf"\bpredict(?:s|ing)?\s+(?:the\s+)?(?:column\s+|target\s+)?{_COLUMN}"
    # One word followed by a boundary is a column; "predict house prices" names none.
    r"(?=\s*(?:$|[,.;:!?)\x00]|\s(?:on|from|in|using|with|for|by|and|column|as|via|given)\b))"
)
_TARGET = (
    re.compile(
        r"\b(?:target|label)(?:_col(?:umn)?|\s+(?:column|variable|col))?"
        r"(?:\s*[=:]\s*|\s+(?:(?:is|should\s+be|will\s+be)\s+)?)"
        rf"(?:the\s+)?(?:column\s+)?{_COLUMN}"
    ),
    _PREDICT,
    re.compile(rf"{START}{_COLUMN}\s+(?:is|as)\s+(?:the\s+)?(?:target|label)\b"),
)
_NOT_A_COLUMN = _NOT_A_NAME - {"label", "target"} | frozenset(
    "whether if which what how who when where whatever column variable metric be should will "
    "was has are something value values outcome".split()
)


def take_target(scan: Scan) -> tuple[str, str] | None:
    """Consume the target column ("predict churned", "target=churned") in the person's spelling."""
    for pattern in _TARGET:
        for match in scan.matches(pattern):
            if match["col"] not in _NOT_A_COLUMN:
                text = scan.quote(*match.span())
                # "predict" stays readable: it also asks for an experiment.
                scan.take(match.start("col") if pattern is _PREDICT else match.start(), match.end())
                return scan.group(match, "col"), text
    return None


def take_dataset(
    scan: Scan, known: Mapping[str, Sequence[str]] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Consume the dataset and version and return them with the text each came from.

    Returns:
        ``{"dataset": ..., "version": ...}`` holding only what was written, and the spans.

    Example:
        >>> take_dataset(Scan("train on churn v3"), None)[0]
        {'dataset': 'churn', 'version': 'v3'}
    """
    found: dict[str, str] = {}
    spans: dict[str, str] = {}
    named: list[str] = []
    names = {_key(name): name for name in known or {}}
    if names:
        # Catalog names first, so a pattern cannot take part of one: "california housing v2".
        for match in scan.matches(_catalog_names(names)):
            named.append(match.group(0))
            if "dataset" not in found:
                found["dataset"] = names[_key(match.group(0))]
                spans["dataset"] = scan.take(*match.span())
    for pattern in _PATTERNS:
        for match in scan.matches(pattern):
            values = _values(scan, match)
            if "dataset" in values:
                named.append(values["dataset"])
            values = {k: v for k, v in values.items() if k not in found}
            if not values:
                continue
            # A version beside a word that is no name ("on v3") leaves that word unread.
            span = match.span() if "dataset" in values else match.span("ver")
            text = scan.take(*span)
            found.update(values)
            spans.update(dict.fromkeys(values, text))
    if len({_key(name) for name in named}) > 1:
        # "churn v3 and adult v2" names two datasets; picking one would be a guess.
        return {}, {}
    if known:
        if "dataset" in found:
            found["dataset"] = names.get(_key(found["dataset"]), found["dataset"])
        _catalog_version(scan, known, found, spans)
    order = ("dataset", "version")
    return {k: found[k] for k in order if k in found}, {k: spans[k] for k in order if k in spans}


def _values(scan: Scan, match: re.Match[str]) -> dict[str, str]:
    groups = match.groupdict()
    values: dict[str, str] = {}
    if groups.get("qname"):
        values["dataset"] = unquote(scan.group(match, "qname"))
    elif groups.get("name"):
        name = groups["name"]
        if name not in _NOT_A_NAME and not _VERSION_LIKE.fullmatch(name):
            values["dataset"] = scan.group(match, "name")
    version = groups.get("ver")
    if version and version not in _NOT_A_NAME and not _after_software(scan, match.start("ver")):
        values["version"] = scan.group(match, "ver")
    return values


def _after_software(scan: Scan, start: int) -> bool:
    """Return True when the word before ``start`` names software: "python v3", "xgboost 3.0"."""
    word = _WORD_BEFORE.search(scan.before(start, 30))
    return word is not None and word.group(1) in _SOFTWARE


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


def _catalog_names(names: Mapping[str, str]) -> re.Pattern[str]:
    """Match any catalog name as a whole word, "_", "-" and spaces alike: "california housing"."""
    alternatives = sorted(names, key=len, reverse=True)
    spelled = "|".join(re.escape(k).replace("_", r"[\s_\-]+") for k in alternatives)
    return re.compile(rf"(?<![\w\-])(?:{spelled})(?![\w\-])")


def _catalog_version(
    scan: Scan,
    known: Mapping[str, Sequence[str]],
    found: dict[str, str],
    spans: dict[str, str],
) -> None:
    versions = (
        list(known[found["dataset"]])
        if found.get("dataset") in known
        else [v for vs in known.values() for v in vs]
    )
    if "version" in found:
        found["version"] = _spelling(found["version"], versions)
        return
    # Only versions that cannot be a count are matched bare; "3" needs "v3" or "version 3".
    for version in sorted(versions, key=len, reverse=True):
        if version.isdigit():
            continue
        match = scan.search(re.compile(rf"(?<![\w.\-]){re.escape(version.lower())}(?![\w\-]|\.\d)"))
        if match is not None:
            found["version"] = version
            spans["version"] = scan.take(*match.span())
            return


def _spelling(written: str, versions: Sequence[str]) -> str:
    """Return the catalog's spelling of a written version: "3" and "V3" both find "v3"."""
    bare = written.lower().removeprefix("v")
    for version in versions:
        if version.lower() == written.lower() or version.lower().removeprefix("v") == bare:
            return version
    return written
