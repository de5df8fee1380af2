"""The run-experiment tool's flat arguments and the request fields they state, both ways.

The tool takes ``trials``, ``seconds`` and ``namespace`` beside ``dataset``; a
:class:`~agent.request.RequestDraft` nests them under ``budget`` and ``runtime``.
:func:`fields_from_args` turns arguments into fields and :func:`args_from_fields` goes the other
way, so the model, the offline planner and the benchmark speak one shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BUDGET_ARGS = ("trials", "seconds", "parallel", "gpus")
"""The tool arguments that are parts of the budget."""


def fields_from_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Return the request fields a run-experiment call's arguments state (None ones left out).

    Example:
        >>> fields_from_args({"dataset": "wine", "trials": 20, "namespace": "ml"})
        {'dataset': 'wine', 'runtime': {'kubernetes': {'namespace': 'ml'}}, 'budget': {'trials': 20}}
    """
    fields = {
        k: v for k, v in args.items() if k not in BUDGET_ARGS and k != "namespace" and v is not None
    }
    if args.get("namespace"):
        fields["runtime"] = {"kubernetes": {"namespace": args["namespace"]}}
    budget = {k: args[k] for k in BUDGET_ARGS if args.get(k) is not None}
    if budget:
        fields["budget"] = budget
    return fields


def args_from_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Return the run-experiment arguments for request fields (the inverse of the above).

    Example:
        >>> args_from_fields({"dataset": "wine", "budget": {"seconds": 600.0}})
        {'dataset': 'wine', 'seconds': 600.0}
    """
    args = {k: v for k, v in fields.items() if k not in ("budget", "runtime", "cpus")}
    budget = fields.get("budget") or {}
    args.update({k: budget[k] for k in BUDGET_ARGS if budget.get(k) is not None})
    runtime = fields.get("runtime")
    if isinstance(runtime, Mapping):
        namespace = (runtime.get("kubernetes") or {}).get("namespace")
        if namespace:
            args["namespace"] = namespace
    return {k: v for k, v in args.items() if v is not None and k in ARG_NAMES}


ARG_NAMES = frozenset(
    {
        "dataset",
        "version",
        "metric",
        "seeds",
        "target",
        "model",
        "optimize",
        "experiment",
        "namespace",
        *BUDGET_ARGS,
    }
)
"""Every argument the run-experiment tool takes."""
