"""The report as JSON: the model's own fields, every string redacted, in a stable order."""

from __future__ import annotations

import json
from typing import Any

from agent.report.model import Report
from tools.redact import redact, redact_value


def render_json(report: Report) -> str:
    """Return the report as indented JSON that ``Report.model_validate_json`` reads back.

    Keys keep the model's field order, so the same report always gives the same text.

    Example:
        >>> from agent.report.model import Report
        >>> text = render_json(Report(title="demo", status="refused"))
        >>> Report.model_validate_json(text).status
        'refused'
    """
    return json.dumps(_redacted(report.model_dump(mode="json")), indent=2, ensure_ascii=False)


def _redacted(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {redact(str(k)): _redacted(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, key) for v in value]
    if isinstance(value, str):
        return redact_value(key, value) if key else redact(value)
    return value
