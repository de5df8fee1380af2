"""What trialrun cannot run as asked: unsupported metrics, model families and tasks, bad counts.

A value trialrun does not support is never mapped to a neighbour ("PR-AUC" is not ``roc_auc``,
"random forest" is not LightGBM), and a count that is no count ("-5 trials", "0 trials", "a few
trials", "2.5 trials") is never repaired into one. Each is consumed, so no other reader can take a
piece of it, and returned with a message that quotes the person and lists what trialrun supports.
"""

from __future__ import annotations

import re

from agent.planner.reading.scan import Scan
from tools.training.metrics import METRICS

SUPPORTED_FAMILIES = ("xgboost", "lightgbm", "both")
SUPPORTED_TASKS = ("binary", "multiclass", "regression")

_ANCHOR = (
    r"(?:(?<=\bfor\s)|(?<=\bby\s)|(?<=\bon\s)|(?<=\busing\s)|(?<=\bmaximi[sz]e\s)"
    r"|(?<=\bminimi[sz]e\s)|(?<=\boptimi[sz]e\s)|(?<=\bmetric\s)|(?<=\bmetric:\s)"
    r"|(?<=\bmetric=)|(?<=\bmetric\sis\s)|(?<=\bscoring\s)|(?<=\bscore\s))"
)
"""A word that is a metric only after "for", "by", "maximise", "metric" ("for precision")."""

_METRICS = re.compile(
    r"(?<![\w\-])(?:"
    r"pr[\s_-]?auc|auc[\s_-]?pr|au[\s_-]?prc|auprc|prauc"
    r"|area\s+under\s+(?:the\s+)?(?:precision[\s-]+recall|pr)(?:\s+curve)?"
    r"|precision[\s-]+recall(?:\s+(?:auc|curve|area))?"
    r"|average[\s_-]+precision|avg[\s_-]+precision|\bap\s+score"
    r"|(?<!root\s)(?<!root-)mean[\s_-]+squared[\s_-]+(?:log(?:arithmic)?[\s_-]+)?error|mse|msle|rmsle"
    r"|mape|mean\s+absolute\s+percentage\s+error|smape|median\s+absolute\s+error"
    r"|balanced[\s_-]+accuracy|top[\s-]?\d+[\s_-]+accuracy|mcc|matthews(?:\s+correlation)?"
    r"|cohen'?s\s+kappa|kappa|brier(?:\s+score)?|ndcg(?:@\d+)?|map@\d+|gini(?:\s+coefficient)?"
    r"|huber(?:\s+loss)?|log[\s-]?cosh|explained\s+variance|pinball(?:\s+loss)?"
    r"|f2(?:[\s_-]score)?|f0\.5|specificity|sensitivity"
    rf"|{_ANCHOR}(?:the\s+)?(?:precision|recall|auc@\w+)"
    r")(?![\w\-])"
)
_FAMILIES = re.compile(
    r"(?<![\w\-])(?:"
    r"random[\s_-]*forests?|catboost|cat\s+boost|logistic[\s_-]+regression|linear[\s_-]+regression"
    r"|svms?|support[\s-]+vector(?:\s+machines?)?|neural[\s-]+net(?:work)?s?|mlps?|knn"
    r"|k[\s-]?nearest[\s-]+neighbou?rs?|decision[\s-]+trees?|extra[\s-]+trees|naive[\s-]+bayes"
    r"|prophet|arima|lstms?|transformers?|deep[\s-]+learning|elastic[\s-]?net|lasso|ridge"
    r"|sklearn'?s?\s+gradient\s+boosting|histgradientboosting\w*|adaboost|pytorch|tensorflow|keras"
    r")(?![\w\-])"
)
_TASKS = re.compile(
    r"(?<![\w\-])(?:"
    r"clustering|cluster\s+(?:the|my|our)\s+\w+|(?:time[\s-]+series\s+)?forecast(?:ing)?"
    r"|time[\s-]+series|learning[\s-]+to[\s-]+rank|ranking\s+model|multi[\s-]?label"
    r"|anomaly\s+detection|outlier\s+detection|object\s+detection|image\s+classification"
    r"|segmentation|survival\s+analysis|recommendations?\s+(?:model|system|engine)"
    r"|recommender(?:\s+system)?|topic\s+model(?:l?ing)?|text\s+generation"
    r")(?![\w\-])"
)
_COUNT = (
    re.compile(
        r"(?<![\w.,])(?P<n>-\s*\d+(?:\.\d+)?|\d+\.\d+|0+|zero|a\s+few|few|some|several|many"
        r"|lots\s+of|a\s+lot\s+of|a\s+bunch\s+of|a\s+couple(?:\s+of)?|tons\s+of)"
        r"\s*-?\s*(?P<what>(?:tuning\s+|optuna\s+)?trials?|seeds?)\b(?!\s*[=:])"
    ),
    re.compile(
        r"\b(?P<what>n_trials|num_trials|max_trials|trials|seeds?)\s*[=:]\s*"
        r"(?P<n>-\s*\d+(?:\.\d+)?|\d+\.\d+|0+(?!\.?\d)|[a-z]+\b)"
    ),
    re.compile(r"\b(?P<what>seeds?)\s+(?P<n>-\s*\d+)"),
)


def take_rejected(scan: Scan) -> dict[str, tuple[str, str]]:
    """Consume what cannot run as asked; return, per field, the message and the text it came from.

    Fields: ``metric``, ``model``, ``task``, ``budget.trials`` and ``seeds``.

    Example:
        >>> take_rejected(Scan("tune on churn v3 for PR-AUC"))["metric"][1]
        'PR-AUC'
    """
    found: dict[str, tuple[str, str]] = {}
    for field, pattern, message in (
        ("metric", _METRICS, _metric_message),
        ("model", _FAMILIES, _family_message),
        ("task", _TASKS, _task_message),
    ):
        match = scan.search(pattern)
        if match is not None:
            text = scan.take(*match.span())
            found[field] = message(text), text
    for pattern in _COUNT:
        for match in scan.matches(pattern):
            what = "seeds" if match["what"].startswith("seed") else "budget.trials"
            if what in found or (what == "seeds" and _is_seed_count(match["n"])):
                continue
            text = scan.take(*match.span())
            found[what] = _count_message(what, text), text
    return found


def _is_seed_count(amount: str) -> bool:
    # "no seeds" or "some seeds" asks nothing odd of the seed list; only a negative seed does.
    return not amount.strip().startswith("-")


def _metric_message(text: str) -> str:
    return f"metric {text!r} is not one trialrun supports; choose one of {', '.join(METRICS)}"


def _family_message(text: str) -> str:
    return f"model family {text!r} is not one trialrun trains; choose xgboost, lightgbm or both"


def _task_message(text: str) -> str:
    return (
        f"{text!r} is not a task trialrun runs; it trains {', '.join(SUPPORTED_TASKS)} models "
        "on a catalogued table"
    )


def _count_message(what: str, text: str) -> str:
    if what == "seeds":
        return f"{text!r}: a seed is a whole number from 0 to 4294967295, e.g. 'seeds 1, 2, 3'"
    return (
        f"{text!r} is no trial count: give a whole number of at least 1, e.g. '20 trials' (for "
        "no tuning at all, say 'baseline only')"
    )
