"""The agent's tools: the plain functions of :mod:`agent.tool_functions`, wrapped for langchain here.

:func:`build_tools` wraps each function with ``@tool(parse_docstring=True)`` (its Google-style
docstring is what the model reads) and refuses to register a parameter without a description.
Errors a model can fix come back to it as tool results naming the argument; anything else
propagates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool, tool

from agent.tool_functions.data import list_datasets, validate_dataset
from agent.tool_functions.experiment import ask_user, run_experiment
from agent.tool_functions.jobs import cancel_all_jobs, cancel_job, list_jobs, show_job
from agent.tool_functions.results import result
from agent.tool_functions.runs import (
    compare_runs,
    metric_history,
    query_runs,
    reproduce_run,
    show_run,
)
from tools.errors import InputError, PolicyError

TOOL_FUNCTIONS = (
    run_experiment,
    ask_user,
    validate_dataset,
    list_datasets,
    query_runs,
    show_run,
    compare_runs,
    metric_history,
    reproduce_run,
    list_jobs,
    show_job,
    cancel_job,
    cancel_all_jobs,
)


def build_tools() -> list[BaseTool]:
    """Wrap every tool function for langchain; fail loudly on an undescribed parameter."""
    return [as_tool(fn) for fn in TOOL_FUNCTIONS]


def as_tool(fn: Callable[..., str]) -> BaseTool:
    """Wrap one tool function for langchain, the only place tools are wrapped.

    Raises:
        TypeError: A parameter the model sees has no description in the docstring's ``Args``.
    """
    try:
        wrapped = tool(parse_docstring=True)(_model_fixable(fn))
    except ValueError as exc:  # langchain's parser: parameters but no Google-style Args section
        raise TypeError(
            f"tool {fn.__name__!r}: {exc} Describe every parameter in an 'Args:' section."
        ) from exc
    for name, schema in wrapped.args.items():
        if not schema.get("description"):
            raise TypeError(
                f"tool {wrapped.name!r}: parameter {name!r} has no description; "
                "describe it in the docstring's 'Args:' section"
            )
    return wrapped


def _model_fixable(fn: Callable[..., str]) -> Callable[..., str]:
    """Return errors the model can fix (bad input, a refusal) as tool results; others propagate."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> str:
        try:
            return fn(*args, **kwargs)
        except (InputError, PolicyError) as exc:
            return result(status="error", error=str(exc))

    return run
