"""The remaining request fields: model family, tuning on/off, runtime, experiment name, approval."""

from __future__ import annotations

import re
from typing import Any

from agent.planner.reading.scan import QUOTED, START, TOKEN, Scan, unquote

_FAMILIES = {
    "xgboost": re.compile(
        r"\b(?:xgboost|xgb|xg\s+boost|xgbclassifier|xgbregressor)(?:'s)?(?![\w\-])"
    ),
    "lightgbm": re.compile(
        r"\b(?:lightgbm|light\s*gbm|lgbm|lgb|lgbmclassifier|lgbmregressor)(?:'s)?(?![\w\-])"
    ),
}
_NEGATED = re.compile(
    r"\b(?:not|no|without|except|excluding|instead\s+of|rather\s+than|skip|but\s+not)\s+"
    r"(?:the\s+|with\s+|using\s+|any\s+)?\W*$"
)
_BOTH = re.compile(
    r"^\W*both\W*$|\bboth\b(?!\s+(?:the\s+|my\s+|our\s+)?(?:gpus?|cpus?|cores|datasets?|data|"
    r"seeds?|metrics?|versions?|runs?|jobs?|experiments?|namespaces?|of\s+(?:these|those|the)\s+"
    r"(?:datasets|runs|jobs|metrics)))"
)

_NO_TUNING = re.compile(
    r"\b(?:no|without|skip(?:ping)?|don'?t|do\s+not|disable|w/o|zero)\s+(?:any\s+)?"
    r"(?:hyper-?parameter\s+|hyperparam\s+)?(?:tuning|tune|optimi[sz]ation|optimi[sz]e|search|"
    r"hpo|optuna|sweep)\b"
    r"|\bbaselines?\s+only\b|\b(?:only|just)\s+(?:a\s+|the\s+)?baselines?\b"
    r"|\bdefault\s+(?:hyper-?)?param(?:eter)?s\s+only\b|\buntuned\b"
    r"|--no-optimi[sz]e\b|\boptimi[sz]e\s*[=:]\s*(?:false|no|off|0)\b"
)
_TUNING = re.compile(
    r"\b(?:tune|tuning|hyper-?parameter\s+(?:search|tuning|optimi[sz]ation|sweep)|hpo|"
    r"with\s+optuna)\b|\boptimi[sz]e\s*[=:]\s*(?:true|yes|on|1)\b"
)

_KUBERNETES = re.compile(
    r"(?:\b(?:on|in|to|using|via)\s+)?(?:the\s+)?(?:kubernetes|k8s)(?:\s+cluster)?\b"
)
_NOT_A_NAMESPACE = frozenset(
    "the a an of in on to for and with is it this that k8s kubernetes cluster any some which what "
    "same my our your".split()
)
_NAMESPACE = (
    re.compile(
        r"\b(?:namespace|ns)(?:\s*[=:]\s*|\s+(?:is\s+|called\s+|named\s+)?)"
        rf"[\"'`]?(?P<ns>{TOKEN})"
    ),
    re.compile(
        r"(?:\b(?:in|into|to|on)\s+)?(?:\bthe\s+)?[\"'`]?"
        rf"{START}(?P<ns>{TOKEN})[\"'`]?\s+namespace\b"
    ),
)
_LOCAL = re.compile(
    r"\blocally\b|\bruntime\s*[=:]?\s*local\b|^\W*local\W*$"
    r"|\bon\s+(?:this|my|the\s+local|a\s+local)\s+"
    r"(?:machine|laptop|box|computer|host|workstation)\b"
    r"|(?:(?<=\brun\s)|(?<=\bon\s)|(?<=\btrain\s))local\b|\blocal\s+(?:run|runtime|machine|mode)\b"
)
_NOT_LOCAL = re.compile(r"\b(?:not|n't|instead\s+of|rather\s+than|no)\s+(?:run\s+)?$")

_EXPERIMENT = (
    re.compile(
        r"\bexperiment(?:_name|\s+name)?(?:\s*[=:]\s*|\s+(?:named\s+|called\s+|is\s+)?)"
        rf"(?:(?P<quoted>{QUOTED})|(?P<name>{TOKEN}))"
    ),
    re.compile(
        r"\b(?:in|to|into|under)\s+(?:the\s+)?(?:mlflow\s+)?"
        rf"(?:(?P<quoted>{QUOTED})|(?P<name>{TOKEN}))\s+experiment\b"
    ),
)
_NOT_AN_EXPERIMENT = frozenset(
    "the a an new same this that my our existing default current mlflow with on for to and in of "
    "using is was run runs tracking id ids name names it its which what where whose has had from "
    "by at as or doing going done running finished".split()
)

_APPROVE = re.compile(
    r"\bpre-?approved?\b|\bauto-?approve\b|--approve\b|\bapprove\s*[=:]\s*(?:true|yes|1)\b"
    r"|\b(?:budget|plan|cost|spend)\s+(?:is\s+)?approved\b"
    r"|\bi\s+(?:hereby\s+)?approve\b(?:\s+(?:the|this|it|that)(?:\s+(?:budget|plan|cost|spend))?)?"
    r"|\bapprove\s+(?:it|this|that|the\s+(?:budget|plan|cost|spend|run))\b"
    r"|\byou\s+(?:have|got)\s+my\s+approval\b"
    # "approved" on its own counts only where it ends a clause: "approved, go ahead", not
    # "the approved loans".
    r"|\bapproved\b(?=\s*(?:$|[,.;:!)\-\x00]|\s(?:and|so|go|please)\b))"
)
_DISAPPROVE = re.compile(
    r"\b(?:not|don'?t|do\s+not|never)\s+(?:pre-?)?approved?\b|\bapprove\s*[=:]\s*(?:false|no|0)\b"
)


def take_model(scan: Scan) -> tuple[str, str] | None:
    """Consume the model family: ``xgboost``, ``lightgbm``, or ``both`` when both are asked for.

    A family written after "not", "without" or "instead of" is consumed and left out.
    """
    wanted: list[tuple[int, int, str]] = []
    for family, pattern in _FAMILIES.items():
        for match in scan.matches(pattern):
            if not _NEGATED.search(scan.before(match.start())):
                wanted.append((match.start(), match.end(), family))
            scan.take(*match.span())
    both = scan.search(_BOTH)
    if both is not None:
        wanted.append((both.start(), both.end(), "both"))
        scan.take(*both.span())
    if not wanted:
        return None
    wanted.sort()
    families = {family for _, _, family in wanted}
    model = families.pop() if len(families) == 1 else "both"
    return model, scan.quote(wanted[0][0], wanted[-1][1])


def take_optimize(scan: Scan) -> tuple[bool, str] | None:
    """Consume "no tuning"/"baseline only" (False), else read a tuning request (True).

    The words of a tuning request stay unconsumed: "tune" is also the verb that asks for an
    experiment.
    """
    match = scan.search(_NO_TUNING)
    if match is not None:
        return False, scan.take(*match.span())
    match = scan.search(_TUNING)
    if match is not None:
        return True, scan.group(match, 0)
    return None


def take_runtime(scan: Scan) -> tuple[Any, str] | None:
    """Consume the runtime: ``"local"``, or ``{"kubernetes": {"namespace": ...}}``.

    Kubernetes without a namespace gives ``{"kubernetes": {}}``: the person asked for the cluster,
    so the caller must ask for the namespace instead of quietly running locally. A message that
    names both a local and a Kubernetes runtime gives none.
    """
    pieces: list[tuple[int, int]] = []
    namespace = None
    for pattern in _NAMESPACE:
        match = scan.search(pattern)
        if match is not None and match["ns"] not in _NOT_A_NAMESPACE:
            namespace = scan.group(match, "ns")
            pieces.append(match.span())
            scan.take(*match.span())
            break
    for match in scan.matches(_KUBERNETES):
        pieces.append(match.span())
        scan.take(*match.span())
    local = [m for m in scan.matches(_LOCAL) if not _NOT_LOCAL.search(scan.before(m.start()))]
    for match in local:
        scan.take(*match.span())
    if pieces and local:
        return None
    if local:
        return "local", scan.quote(*local[0].span())
    if not pieces:
        return None
    pieces.sort()
    target = {"namespace": namespace} if namespace else {}
    return {"kubernetes": target}, scan.quote(pieces[0][0], pieces[-1][1])


def take_experiment(scan: Scan) -> tuple[str, str] | None:
    """Consume an MLflow experiment name ("experiment churn-tuning", "log to the X experiment")."""
    for pattern in _EXPERIMENT:
        for match in scan.matches(pattern):
            if match["quoted"]:
                name = unquote(scan.group(match, "quoted"))
            elif match["name"] not in _NOT_AN_EXPERIMENT:
                name = scan.group(match, "name")
            else:
                continue
            return name, scan.take(*match.span())
    return None


def take_approve(scan: Scan) -> tuple[bool, str] | None:
    """Consume a pre-approval ("approved", "I approve the budget") or its refusal."""
    match = scan.search(_DISAPPROVE)
    if match is not None:
        return False, scan.take(*match.span())
    match = scan.search(_APPROVE)
    if match is not None:
        return True, scan.take(*match.span())
    return None
