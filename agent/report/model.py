"""The report: data with five sections, rendered at the edge (terminal, Markdown, JSON, Slack).

Every number and run ID in it is copied from a tool result or read back from MLflow by the verify
step; nothing is taken from free text.
"""

from __future__ import annotations

from datetime import datetime
from importlib import metadata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.training.run import ModelTrainerOutput

SCHEMA_VERSION = 2
"""The report's JSON layout; raised whenever a field is renamed, removed or changes meaning
(2: ``schema_version``, ``trialrun_version``, ``timings`` and the Plan's ``rerun``)."""

PHASES = ("validate", "baseline", "tune", "finals", "verify")
"""The pipeline's phases, in order, as ``Report.timings`` names them."""

Status = Literal["succeeded", "failed", "refused", "cancelled", "needs_input", "planned"]
Source = Literal["front matter", "text", "default", "conversation", "catalog", "environment"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanInput(_Section):
    """One input of the plan, its value and where it came from."""

    name: str
    value: Any
    source: Source


class Plan(_Section):
    """What was asked for and how it will be (or was) run."""

    inputs: list[PlanInput] = Field(default_factory=list)
    defaults_used: list[str] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list)
    trials: int | None = None
    stopping_rule: str = ""
    best: str = ""
    """How Best is defined, fixed before anything trains; every number called Best follows it."""
    rerun: str = ""
    """Whether this is a new experiment or resumes an interrupted attempt of the same request."""
    budget: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    refusals: list[str] = Field(default_factory=list)


class Change(_Section):
    """Something the experiment created."""

    kind: Literal[
        "experiment",
        "parent_run",
        "baseline_run",
        "trial_runs",
        "final_run",
        "model",
        "study",
        "job",
    ]
    id: str
    name: str = ""
    link: str | None = None
    detail: str = ""


class Changes(_Section):
    """Everything created, with IDs and links."""

    tracking_uri: str = ""
    items: list[Change] = Field(default_factory=list)


class Check(_Section):
    """One read-back check: passed, failed, or a warning (not failed, and never shown as passed)."""

    name: str
    passed: bool
    run_id: str | None = None
    detail: str = ""
    warning: bool = False


class Verification(_Section):
    """The read-back checks, each passed or failed."""

    checks: list[Check] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Return True when there are checks and none failed (warnings do not fail)."""
        return bool(self.checks) and all(c.passed for c in self.checks)


class Rollback(_Section):
    """How to stop or undo what was done."""

    steps: list[str] = Field(default_factory=list)
    cancelled: list[str] = Field(default_factory=list)
    cancelled_at: datetime | None = None


class SeedResult(_Section):
    """The final configuration's score with one seed."""

    seed: int
    run_id: str
    value: float
    test_value: float | None = None


class Summary(_Section):
    """Best run against the baseline on the primary metric.

    ``*_value`` are validation scores, which chose the configuration; ``*_test_value`` are scores
    on the test share no step of the search saw, the estimate of how the model does on new rows.
    Best is :data:`tools.experiment.results.BEST_DEFINITION`: the chosen configuration's mean over
    its final runs; ``best_run_id`` is its first seed's final run.
    """

    metric: str = ""
    direction: str = ""
    baseline_run_id: str | None = None
    baseline_value: float | None = None
    best_run_id: str | None = None
    best_value: float | None = None
    delta: float | None = None
    test_fraction: float | None = None
    """The share of rows held out before tuning (0: none); None when no data was split."""
    baseline_test_value: float | None = None
    best_test_value: float | None = None
    test_delta: float | None = None
    seeds: list[SeedResult] = Field(default_factory=list)
    mean: float | None = None
    std: float | None = None
    trials: dict[str, int] = Field(default_factory=dict)
    stop_reason: str = ""
    reproducibility: str = ""
    output: ModelTrainerOutput | None = None


class Failure(_Section):
    """Where and why the experiment failed."""

    node: str
    error_type: str
    message: str


def _trialrun_version() -> str:
    try:
        return metadata.version("trialrun")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


class Report(_Section):
    """The five-section report of one experiment request.

    ``timings`` holds the wall seconds of each phase that ran (:data:`PHASES`), in order.
    """

    schema_version: int = SCHEMA_VERSION
    trialrun_version: str = Field(default_factory=_trialrun_version)
    title: str
    status: Status
    plan: Plan = Field(default_factory=Plan)
    changes: Changes = Field(default_factory=Changes)
    verification: Verification = Field(default_factory=Verification)
    rollback: Rollback = Field(default_factory=Rollback)
    summary: Summary = Field(default_factory=Summary)
    failure: Failure | None = None
    notes: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
