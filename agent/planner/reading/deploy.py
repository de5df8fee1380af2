"""Deployment requests, however phrased: deploy, register, promote, stage, serve, ship, alias.

trialrun trains and reports; it never deploys. A message that asks for any step towards production
is flagged, with the phrases as evidence, so the agent can refuse that part out loud while still
running the experiment the rest of the message asks for.

Words that only look like deployment stay unflagged: a verb counts when its object is a model (or
"it", "the winner", a run) or its destination is production, staging, an endpoint or the registry.
So "registered users", "a two-stage pipeline", "production data", "serving size" and "the
deployments dataset" describe data and are not requests. "Registered model", "model registry"
and "model serving" are MLflow's names for deployment steps and are flagged on their own.
"""

from __future__ import annotations

import re

from agent.planner.reading.scan import Scan

_HEAD = (
    r"(?:models?|runs?|versions?|winner|boosters?|classifiers?|regressors?|artifacts?|one)"
    # The run or model may be named right after: "run brave-owl-42", "model churn-xgb", "version 3".
    r"(?:\s+(?:[0-9a-f]{32}|[a-z]\w*-[\w-]*\w|v?\d+)(?![\w-]))?"
)
_NOUN = (
    r"(?:(?:best|winning|top|final|new|trained|tuned|resulting|selected|chosen|champion|xgboost|"
    r"lightgbm|xgb|lgbm|model|\w+-\w+)\s+){0,2}"
    rf"{_HEAD}"
)
_OBJECT = rf"(?:it|this|that|them|(?:the|a|this|that|our|my|your)\s+(?:[\w-]+\s+){{0,2}}{_HEAD})"
"""What a deployment verb acts on: "it", "the best model", "this churn run"."""
_LOOSE_OBJECT = rf"(?:{_OBJECT}|{_NOUN})"
"""Also a bare noun ("register model"), for verbs that mean deployment whatever follows."""
_DESTINATION = (
    r"(?:\s+(?:to|into|in|on|as|for|behind|via)\s+(?:the\s+)?(?:"
    r"prod(?:uction)?(?:\s+stage)?|staging(?:\s+stage)?|live|registry|model\s+registry|"
    r"an?\s+(?:\w+\s+)?(?:endpoint|api|service)|champion|"
    r"(?:kubernetes|k8s)(?:\s+(?:in\s+)?(?:namespace|ns)\s+"
    r"[\w-]+)?|(?:version|v)\s*\d+|@?\w+\s+alias))"
)
_DEPLOY_VERBS = (
    r"(?:re-?)?deploy(?:s|ed|ing)?",
    r"register(?:s|ed|ing)?",
    r"promot(?:e|es|ed|ing)",
    r"roll(?:s|ed|ing)?[\s-]?out",
    r"productioni[sz](?:e|es|ed|ing)",
)
# These verbs have everyday meanings ("a two-stage model", "shipping data", "release notes"), so
# they count only with a determiner-led object: "stage the model", "ship it".
_EVERYDAY_VERBS = (
    r"publish(?:es|ed|ing)?",
    r"releas(?:e|es|ed|ing)",
    r"ship(?:s|ped|ping)?",
    r"serv(?:e|es|ed|ing)",
    r"stag(?:e|es|ed|ing)",
    r"host(?:s|ed|ing)?",
)
_VERBS = "|".join(_DEPLOY_VERBS + _EVERYDAY_VERBS)
_TO_PRODUCTION_VERBS = (
    r"push(?:es|ed|ing)?|send(?:s|ing)?|sent|mov(?:e|es|ed|ing)|put(?:s|ting)?|take|get|launch"
    r"(?:es|ed|ing)?|transition(?:s|ed|ing)?|go(?:es|ing)?|graduat(?:e|es|ed|ing)|bump"
)

_PATTERNS = (
    # A deployment verb acting on a model-like object, optionally with its destination.
    re.compile(rf"(?<![\w-])(?:{'|'.join(_DEPLOY_VERBS)})\s+{_LOOSE_OBJECT}\b{_DESTINATION}?"),
    re.compile(rf"(?<![\w-])(?:{'|'.join(_EVERYDAY_VERBS)})\s+{_OBJECT}\b{_DESTINATION}?"),
    # "deploy" needs no object: "deploy to prod", "can you deploy?", "redeploy".
    re.compile(rf"(?<![\w-])(?:re-?)?deploy(?:s|ed|ing)?(?![\w-]){_DESTINATION}?"),
    re.compile(r"\b(?:a|the|for|create|make|do|trigger|start|model)\s+deployment\b"),
    re.compile(r"\bdeployment\s+(?:to|of|on|in|pipeline|target)\b"),
    # Any verb whose destination is a deployment stage: "push it to prod", "move to Staging".
    re.compile(
        rf"(?<![\w-])(?:{_TO_PRODUCTION_VERBS}|{_VERBS})(?:\s+{_LOOSE_OBJECT})?"
        r"\s+(?:to|into|in|on)\s+(?:the\s+)?(?:prod|production|staging|live)\b(?:\s+stage)?"
    ),
    re.compile(r"\b(?:to|into)\s+(?:the\s+)?(?:production|staging|archived)\s+stage\b"),
    re.compile(
        rf"\bgo(?:es|ing)?\s+live\b(?:\s+with\s+{_OBJECT})?"
        r"|\bproductioni[sz](?:e|es|ed|ing|ation)\b"
    ),
    re.compile(r"\bregister(?:s|ed|ing)?\s+(?:it|them)\b|\bregister\s+as\b"),
    re.compile(r"\b(?:model\s+registry|registered\s+models?|model\s+registration)\b"),
    re.compile(
        r"\b(?:add|put|push|log|save)\s+(?:it\s+|them\s+)?(?:to|in|into)\s+the\s+"
        r"(?:model\s+)?registry\b"
    ),
    # Serving: MLflow's command, endpoints and APIs in front of a model.
    re.compile(
        r"\bmlflow\s+(?:models\s+(?:serve|build-docker)|deployments\s+\w+)\b"
        # The command's options belong to the evidence (and a run ID in them is no run query).
        r"(?:\s+-{1,2}[\w-]+(?:[\s=]+[^\s\x00-][^\s\x00]*)?)*"
    ),
    re.compile(
        r"\b(?:model\s+serving|(?:serving|inference|prediction|scoring)\s+(?:endpoint|api|server|"
        r"service|container)|rest\s+endpoint)\b"
    ),
    re.compile(
        r"\b(?:create|spin\s+up|set\s+up|stand\s+up|expose|launch|start|build|deploy|make)\s+"
        r"(?:it\s+|the\s+model\s+)?(?:as\s+|via\s+|behind\s+)?(?:an?\s+|the\s+)?"
        r"(?:(?:serving|inference|prediction|scoring|rest|http|online|real-?time)\s+)+"
        r"(?:endpoint|api|service|server)\b"
    ),
    re.compile(
        r"\bexpose\s+(?:it|this|the\s+(?:\w+\s+)?model)\s+(?:as|via|through|behind)\s+"
        r"(?:an?\s+)?(?:\w+\s+)?(?:api|endpoint|service)\b"
    ),
    # Aliases and the champion/challenger convention of MLflow's registry.
    re.compile(r"\b(?:set|assign|add|move|update|give|tag|apply)\s+(?:\S+\s+){0,4}?alias(?:es)?\b"),
    re.compile(r"\b(?:champion|challenger|production|prod|staging)\s+alias\b"),
    re.compile(r"\balias\s+(?:it|them|the\s+(?:\w+\s+)?model)?\s*(?:as|to)\s+@?\w+"),
    re.compile(r"(?<![\w@])@(?:champion|challenger|prod|production|staging)\b"),
    re.compile(
        rf"\b(?:make|tag|mark|label|set|name)\s+(?:{_OBJECT}\s+)?(?:as\s+)?(?:the\s+)?(?:new\s+)?"
        r"(?:champion|challenger|production\s+model)\b"
    ),
    re.compile(
        r"\b(?:update|replace|swap|overwrite|refresh|upgrade)\s+(?:the\s+|our\s+)?"
        rf"(?:production|prod|live|serving|deployed)\s+model\b(?:\s+with\s+{_OBJECT})?"
    ),
)


def take_deploy(scan: Scan) -> list[str]:
    """Consume every deployment request and return the phrases, in the order written.

    Overlapping matches merge into one phrase, so "promote it to Production stage" is one piece of
    evidence, not three.

    Example:
        >>> take_deploy(Scan("train on churn v3, then ship it to prod"))
        ['ship it to prod']
    """
    spans: list[tuple[int, int]] = []
    for pattern in _PATTERNS:
        spans.extend(m.span() for m in scan.matches(pattern))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [scan.take(start, end) for start, end in merged]
