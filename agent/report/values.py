"""How one value is written in the report, whatever the medium.

A metric, a signed delta, a plan input, key=value pairs, a count, the phase timings: every
free-text one is redacted by :func:`clean`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tools.redact import redact, redact_value

SIGNIFICANT = 5


def clean(text: object) -> str:
    """Return ``text`` as a string with every secret and PII pattern redacted."""
    return redact(str(text))


def status_label(status: str) -> str:
    """Return the status as words, e.g. ``needs input``."""
    return status.replace("_", " ")


def fmt_metric(value: float | None) -> str:
    """Return a metric value with five significant digits (six when rounding carries over).

    Trailing zeros are kept so a column of values lines up; exponents appear only for values
    below 1e-4 or from 1e6 on.

    Example:
        >>> [fmt_metric(v) for v in (0.9234567, 0.9, 1234.5678, 0.00012345, 0.0)]
        ['0.92346', '0.90000', '1234.6', '0.00012345', '0.0000']
    """
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return f"{0:.{SIGNIFICANT - 1}f}"
    magnitude = math.floor(math.log10(abs(value)))
    if not -4 <= magnitude < 6:
        return f"{value:.{SIGNIFICANT - 1}e}"
    return f"{value:.{max(SIGNIFICANT - 1 - magnitude, 0)}f}"


def fmt_signed(value: float) -> str:
    """Return :func:`fmt_metric` of ``value`` with an explicit sign."""
    text = fmt_metric(value)
    return text if text.startswith("-") else f"+{text}"


def fmt_value(value: Any) -> str:
    """Return a plan input, budget or hyperparameter value as short redacted text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping):
        return fmt_pairs(value)
    if isinstance(value, list | tuple):
        return ", ".join(fmt_value(v) for v in value)
    if value is None:
        return "none"
    return clean(value)


def fmt_pairs(values: Mapping[str, Any], *, metric: bool = False) -> str:
    """Return ``k=v, ...``; a value under a secret-sounding key is hidden whole."""

    def one(value: Any) -> str:
        if metric and isinstance(value, int | float) and not isinstance(value, bool):
            return fmt_metric(float(value))
        text = fmt_value(value)
        return f"({text})" if isinstance(value, Mapping) else text

    pairs = [f"{clean(k)}={redact_value(str(k), one(v))}" for k, v in values.items()]
    return ", ".join(pairs) or "none"


def plural(n: int, word: str) -> str:
    """Return ``1 check`` or ``3 checks``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def timings_text(timings: Mapping[str, float]) -> str:
    """Return each phase's wall time and their sum, e.g. ``validate 0.4 s · tune 171.2 s``.

    Example:
        >>> timings_text({"validate": 0.412, "tune": 171.25})
        'validate 0.4 s · tune 171.2 s (171.7 s in all)'
    """
    parts = " · ".join(f"{clean(phase)} {seconds:.1f} s" for phase, seconds in timings.items())
    return f"{parts} ({sum(timings.values()):.1f} s in all)"
