"""References to past work: time windows, best or latest, run IDs and names, metric keys, jobs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from agent.planner.reading.scan import NUM, NUM_A, QUOTED, START, TOKEN, Scan, number, unquote

_UNIT = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=30),
    "year": timedelta(days=365),
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_LEAD = r"\b(?:(?:in|over|during|from|within|for|since)\s+)?(?:the\s+)?"

_SINCE = re.compile(
    "|".join(
        (
            rf"(?P<n_ago>{_LEAD}(?:last|past|previous)\s+(?P<n>{NUM})\s+"
            r"(?P<unit>hour|day|week|month|year)s?\b)",
            rf"(?P<one_ago>{_LEAD}(?:last|past|previous)\s+(?P<unit1>hour|day|week|month|year)\b)",
            rf"(?P<ago>\b(?:(?:since|from)\s+)?(?P<n2>{NUM_A})\s+"
            r"(?P<unit2>hour|day|week|month|year)s?\s+ago\b)",
            r"(?P<yesterday>\b(?:(?:since|from)\s+)?yesterday\b)",
            r"(?P<today>\b(?:(?:since|from)\s+)?(?:today|this\s+morning)\b)",
            r"(?P<this>\b(?:(?:from|in|during)\s+)?this\s+(?P<unit3>week|month|year)\b)",
            r"(?P<date>\b(?:since|after|from)\s+(?P<day>\d{4}-\d{2}-\d{2})\b)",
            r"(?P<weekday>\b(?:since|from|on)\s+(?:last\s+)?(?P<wd>"
            + "|".join(_WEEKDAYS)
            + r")\b)",
        )
    )
)

_BEST = re.compile(r"\b(?:best|top|winning|highest[\s-]scoring|strongest)\b")
_LATEST = re.compile(r"\b(?:latest|last|most\s+recent|newest|recent|previous)\b")

_HEX_ID = re.compile(r"(?<!\w)[0-9a-f]{32}(?!\w)")
_MLFLOW_NAME = re.compile(r"(?<![\w-])[a-z]+-[a-z]+-\d{1,5}(?![\w-])")
_NAME_CONTEXT = re.compile(
    r"\b(?:runs?|compare|comparison|vs|versus|show|describe|inspect|history|plot|curve)\b"
)
_RUN_KEY = re.compile(
    r"\b(?:show|describe|open|inspect|compare|of|for|in|from|vs\.?|versus|with|between|about|on|me)"
    r"\s+(?:the\s+)?runs?\b(?:\s+(?:ids?|names?|named|called))?\s*[:#=]?\s*"
)
_RUN_TOKEN = re.compile(rf"(?:{QUOTED}|{TOKEN})")
_RUN_SEP = re.compile(
    r"\s*(?:,\s*(?:and\s+)?|&\s*|\s+(?:and|vs\.?|versus|with|to)\s+|\s+)(?:run\s+)?"
)
_NOT_A_RUN = frozenset(
    "a an the of in from with for on and to is was that this it its last latest best id ids name "
    "details please vs versus history metrics metric params parameters results yesterday today "
    "week experiment which where what did had has have do does again now then so or by at since "
    "over against between log show plot logs info summary status".split()
)

_KEY = rf"(?P<key>{TOKEN})"
_METRIC_KEY = (
    re.compile(rf"\bhistory\s+of\s+(?:the\s+)?(?:metric\s+)?{_KEY}"),
    re.compile(
        rf"{START}{_KEY}\s+(?:metric\s+)?(?:history|curve|trajectory|over\s+(?:time|steps|epochs"
        r"|iterations)|per\s+(?:step|epoch|iteration)|by\s+step)\b"
    ),
    re.compile(rf"\b(?:plot|chart|graph|trace)\s+(?:me\s+)?(?:the\s+)?(?:metric\s+)?{_KEY}"),
    re.compile(
        rf"\bhow\s+(?:did|does|has)\s+(?:the\s+)?{_KEY}\s+(?:evolve|change|develop|progress)"
    ),
    re.compile(rf"\bmetric(?:_key)?\s*[=:]\s*{_KEY}"),
)
_NOT_A_KEY = frozenset(
    "the a an metric metrics run runs for of training learning history it this that all every "
    "each progress curve roc auc under".split()
)

_JOB_ID = (
    re.compile(r"(?<![\w-])(?P<id>job[-_][a-z0-9](?:[\w-]*\w)?)"),
    re.compile(r"\bjob\s*(?:id\s*|number\s*|no\.\s*)?[#:=]?\s*(?P<id>[a-z0-9](?:[\w.-]*\w)?)"),
    re.compile(r"\b(?:cancel|stop|kill|abort|terminate|halt)\s+#(?P<id>\d+)\b"),
    re.compile(r"\b(?:cancel|stop|kill|abort|terminate|halt)\s+(?P<id>\d+)\s*$"),
)


def take_since(scan: Scan, now: datetime) -> tuple[datetime, str] | None:
    """Consume a time window ("last week", "in the last 3 days", "yesterday") and resolve it.

    Rolling windows count back from ``now`` (a month is 30 days); "yesterday", "today", "this
    week" and a weekday start at midnight in ``now``'s time zone.

    Example:
        >>> from datetime import datetime
        >>> take_since(Scan("runs from last week"), datetime(2025, 3, 12))[0]
        datetime.datetime(2025, 3, 5, 0, 0)
    """
    for match in scan.matches(_SINCE):
        try:
            since = _resolve(match, now)
        except (OverflowError, ValueError):
            # "the last 99999 years" or "since 2025-13-45" is no window; leave the text unread.
            continue
        return since, scan.take(*match.span())
    return None


def _resolve(match: re.Match[str], now: datetime) -> datetime:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if match["n_ago"]:
        return now - number(match["n"]) * _UNIT[match["unit"]]
    if match["one_ago"]:
        return now - _UNIT[match["unit1"]]
    if match["ago"]:
        return now - number(match["n2"]) * _UNIT[match["unit2"]]
    if match["yesterday"]:
        return midnight - timedelta(days=1)
    if match["today"]:
        return midnight
    if match["this"]:
        unit = match["unit3"]
        if unit == "week":
            return midnight - timedelta(days=now.weekday())
        return midnight.replace(day=1) if unit == "month" else midnight.replace(month=1, day=1)
    if match["date"]:
        return datetime.fromisoformat(match["day"]).replace(tzinfo=now.tzinfo)
    back = (now.weekday() - _WEEKDAYS.index(match["wd"])) % 7
    return midnight - timedelta(days=back)


def find_order(scan: Scan) -> tuple[str, str] | None:
    """Return ``"best"`` or ``"latest"`` and the word it came from; "best" wins if both appear."""
    for order, pattern in (("best", _BEST), ("latest", _LATEST)):
        match = scan.search(pattern)
        if match is not None:
            return order, scan.group(match, 0)
    return None


def take_run_ids(scan: Scan) -> list[str]:
    """Consume run references: MLflow run IDs (32 hex digits) and names after "run"/"runs".

    MLflow's generated names ("brave-owl-42") count without the word "run" only when the message
    compares, shows or plots something, so a dataset named like one is not taken for a run.
    """
    found: list[tuple[int, str]] = []
    for match in scan.matches(_HEX_ID):
        found.append((match.start(), scan.take(*match.span())))
    for match in scan.matches(_RUN_KEY):
        found.extend(_take_run_names(scan, match.end()))
    if scan.has(_NAME_CONTEXT):
        for match in scan.matches(_MLFLOW_NAME):
            found.append((match.start(), scan.take(*match.span())))
    ids: list[str] = []
    for _, run_id in sorted(found):
        if run_id not in ids:
            ids.append(run_id)
    return ids


def _take_run_names(scan: Scan, pos: int) -> list[tuple[int, str]]:
    names: list[tuple[int, str]] = []
    while True:
        token = _RUN_TOKEN.match(scan.work, pos)
        if token is None or token.group(0) in _NOT_A_RUN:
            return names
        names.append((token.start(), unquote(scan.take(*token.span()))))
        sep = _RUN_SEP.match(scan.work, token.end())
        if sep is None:
            return names
        pos = sep.end()


def take_metric_key(scan: Scan) -> tuple[str, str] | None:
    """Consume the metric key of a history request ("history of val_rmse for run X").

    The key is returned as written: MLflow metric keys are case-sensitive.
    """
    for pattern in _METRIC_KEY:
        for match in scan.matches(pattern):
            if match["key"] in _NOT_A_KEY:
                continue
            key = scan.group(match, "key")
            return key, scan.take(*match.span())
    return None


def take_job_id(scan: Scan) -> tuple[str, str] | None:
    """Consume a job reference ("job 12", "job #12", "job-7f3a", "cancel #12") and return its ID.

    An ID must hold a digit, so "the job" or "job status" name no job.
    """
    for pattern in _JOB_ID:
        for match in scan.matches(pattern):
            job_id = match["id"]
            if any(c.isdigit() for c in job_id):
                return scan.group(match, "id"), scan.take(*match.span())
    return None
