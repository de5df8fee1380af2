"""Metrics and direction: "AUC", "area under the ROC", "cross-entropy", "minimise RMSE"."""

from __future__ import annotations

import re

from agent.planner.reading.scan import Scan
from tools.training.metrics import MetricName

SYNONYMS: dict[str, MetricName] = {
    **dict.fromkeys(
        (
            "roc_auc",
            "roc-auc",
            "roc auc",
            "rocauc",
            "auroc",
            "auc",
            "auc_roc",
            "auc-roc",
            "auc roc",
            "area under the roc",
            "area under roc",
            "area under the roc curve",
            "area under roc curve",
            "area under the curve",
            "area under curve",
            "area under the receiver operating characteristic curve",
        ),
        "roc_auc",
    ),
    **dict.fromkeys(
        (
            "log_loss",
            "log loss",
            "logloss",
            "log-loss",
            "logarithmic loss",
            "cross-entropy",
            "cross entropy",
            "crossentropy",
            "binary cross-entropy",
            "negative log-likelihood",
            "negative log likelihood",
        ),
        "log_loss",
    ),
    **dict.fromkeys(("accuracy", "classification accuracy"), "accuracy"),
    **dict.fromkeys(
        ("f1", "f1 score", "f1-score", "f1_score", "f-score", "f score", "f-measure", "f measure"),
        "f1",
    ),
    **dict.fromkeys(
        (
            "rmse",
            "root mean squared error",
            "root mean square error",
            "root-mean-square error",
            "root-mean-squared error",
        ),
        "rmse",
    ),
    **dict.fromkeys(("mae", "mean absolute error"), "mae"),
    **dict.fromkeys(
        (
            "r2",
            "r^2",
            "r squared",
            "r-squared",
            "r_squared",
            "r2 score",
            "r2_score",
            "coefficient of determination",
        ),
        "r2",
    ),
}
"""Every spelling a person uses for a registered metric, lowercased."""

_SPELLINGS = "|".join(
    re.escape(s).replace(r"\ ", r"\s+") for s in sorted(SYNONYMS, key=len, reverse=True)
)
# "val_rmse" is a metric key, not the metric: "_" and "-" count as part of a word here.
_METRIC = re.compile(rf"(?<![\w\-])(?:{_SPELLINGS})(?![\w\-^])")
_ANCHOR = re.compile(
    r"(?:maximi[sz]e|minimi[sz]e|optimi[sz]e|metric|objective|scoring|score|rank|select|judge|"
    r"evaluate|measure|by|using)\s*(?:[=:]|is|for|on|by|with|of|to)?\s*(?:the\s+)?\W*$"
)
_DIRECTION = re.compile(
    r"\b(?:(?P<max>maximi[sz](?:e|es|ed|ing)|higher\s+is\s+better)"
    r"|(?P<min>minimi[sz](?:e|es|ed|ing)|lower\s+is\s+better))\b"
    r"|\bdirection\s*[=:]\s*(?:(?P<dmax>max)|(?P<dmin>min))\w*"
)


def _name(text: str) -> MetricName:
    return SYNONYMS[re.sub(r"\s+", " ", text)]


def take_metric(scan: Scan) -> tuple[MetricName, str] | None:
    """Consume the primary metric and return its registry name and the text it came from.

    One metric named, or named again, is the metric. When several different metrics appear, the
    one tied to "optimise", "maximise", "metric" or "by" wins; with no single such tie, none is
    returned rather than a guess.

    Example:
        >>> take_metric(Scan("optimise log loss, report accuracy"))
        ('log_loss', 'log loss')
    """
    found = scan.matches(_METRIC)
    names = {_name(m.group(0)) for m in found}
    if not names:
        return None
    if len(names) > 1:
        anchored = [m for m in found if _ANCHOR.search(scan.before(m.start()))]
        if len({_name(m.group(0)) for m in anchored}) != 1:
            return None
        found = anchored
    first = found[0]
    return _name(first.group(0)), scan.take(*first.span())


def take_direction(scan: Scan) -> tuple[str, str] | None:
    """Consume the optimisation direction when the message states exactly one.

    Returns:
        ``"maximize"`` or ``"minimize"`` and the text it came from.
    """
    found = scan.matches(_DIRECTION)
    directions = {"maximize" if m["max"] or m["dmax"] else "minimize" for m in found}
    if len(directions) != 1:
        return None
    return directions.pop(), scan.take(*found[0].span())
