"""The typed experiment request: what every way in (prompt file, chat, Slack) fills in.

A :class:`RequestDraft` holds whatever has been said so far, each field optional; a
:class:`ExperimentRequest` is a complete, validated request. ``RequestDraft.missing()`` names the
required inputs still absent, which is the typed "I need more input" outcome every adapter asks for.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.approval import ApprovalPolicy, BudgetDefaults
from tools import settings
from tools.jobs.model import ClaimMount, SecretKey
from tools.training.metrics import METRICS, Direction, MetricName

ModelFamily = Literal["xgboost", "lightgbm", "both"]
REQUIRED_FIELDS: tuple[str, ...] = ("dataset", "version", "metric", "budget", "seeds")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_EXPERIMENT_CHARS = 200
"""The longest experiment name (MLflow keeps 256 characters; the study name adds a suffix)."""
MAX_COLUMN_CHARS = 512


def _label(value: str) -> str:
    if not _LABEL.match(value):
        raise ValueError(
            "a catalog name holds only letters, digits, '.', '_' and '-' (at most 128, starting "
            "with a letter or digit)"
        )
    return value


def _text(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        if not value.strip():
            raise ValueError("is blank; give a value, or leave the field out")
        if value != value.strip():
            raise ValueError("starts or ends with spaces; remove them")
        if _CONTROL.search(value):
            raise ValueError("holds a control character (a tab, newline or NUL); remove it")
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; use at most {limit}")
        return value

    return AfterValidator(check)


CatalogName = Annotated[str, Field(strict=True), AfterValidator(_label)]
"""A dataset name or version as the catalog spells them (booleans and numbers refused)."""
ExperimentName = Annotated[str, Field(strict=True), _text(MAX_EXPERIMENT_CHARS)]
ColumnName = Annotated[str, Field(strict=True), _text(MAX_COLUMN_CHARS)]
Count = Annotated[int, Field(strict=True)]
"""A whole number written as one: ``true`` or ``20.0`` is not a count."""


def default_cpus() -> int:
    """Return the CPU cores a budget gets when it names none: every core of this machine."""
    return os.cpu_count() or 1


def _check_seeds(value: list[int] | None) -> list[int] | None:
    if value is None:
        return value
    if len(set(value)) != len(value):
        raise ValueError(f"seeds {value!r} repeat a value; give distinct seeds")
    if any(s < 0 or s > 2**32 - 1 for s in value):
        raise ValueError(f"seeds {value!r} must each be between 0 and 4294967295; use such seeds")
    return value


_TRIALS = Annotated[Count, Field(ge=1, le=100_000, description="Tuning trials at most.")]
_SECONDS = Annotated[
    float,
    Field(
        strict=True, ge=1, le=7 * 24 * 3600, allow_inf_nan=False, description="Wall-clock seconds."
    ),
]
_CPUS = Annotated[Count, Field(ge=1, le=1024, description="CPU cores.")]
_GPUS = Annotated[Count, Field(ge=0, le=64, description="GPUs.")]
_PARALLEL = Annotated[Count, Field(ge=1, le=256, description="Parallel jobs or workers.")]


class BudgetDraft(BaseModel):
    """A budget as stated: given when either limit is; the missing one takes its default."""

    model_config = ConfigDict(extra="forbid")

    trials: _TRIALS | None = None
    seconds: _SECONDS | None = None
    cpus: _CPUS = Field(default_factory=default_cpus)
    gpus: _GPUS = 0
    parallel: _PARALLEL = 1

    @property
    def given(self) -> bool:
        """Return True when a limit (trials or seconds) is stated."""
        return self.trials is not None or self.seconds is not None

    def unstated(self) -> list[str]:
        """Return the limits that will take their default (``budget.trials``, ``budget.seconds``)."""
        return [f"budget.{k}" for k in ("trials", "seconds") if getattr(self, k) is None]

    def filled(self, defaults: BudgetDefaults) -> Budget:
        """Return the complete budget, each unstated limit taking its default."""
        values = self.model_dump()
        for name in ("trials", "seconds"):
            if values[name] is None:
                values[name] = getattr(defaults, name)
        return Budget.model_validate(values)


class Budget(BaseModel):
    """The compute an experiment may spend, every limit known."""

    model_config = ConfigDict(extra="forbid")

    trials: _TRIALS
    seconds: _SECONDS
    cpus: _CPUS = Field(default_factory=default_cpus)
    gpus: _GPUS = 0
    parallel: _PARALLEL = 1


class KubernetesSecrets(BaseModel):
    """Credentials the pods read from Kubernetes Secrets; their values never pass trialrun."""

    model_config = ConfigDict(extra="forbid")

    env_from: list[str] = Field(
        default_factory=list, description="Secrets whose every key becomes a variable."
    )
    env: dict[str, SecretKey] = Field(
        default_factory=dict, description="Variables each read from one key of a Secret."
    )


class KubernetesTarget(BaseModel):
    """Where on Kubernetes the experiment runs, and what its pods are given."""

    model_config = ConfigDict(extra="forbid")

    namespace: str
    image: str | None = Field(default=None, description="Worker image; $TRIALRUN_K8S_IMAGE.")
    secrets: KubernetesSecrets = Field(default_factory=KubernetesSecrets)
    data: ClaimMount | None = Field(
        default=None, description="A PersistentVolumeClaim holding catalogued files."
    )
    service_account: str | None = Field(default=None, description="The pods' service account.")
    memory: str = Field(
        default="2Gi", pattern=r"^[1-9][0-9]*(Mi|Gi)$", description="Memory per pod."
    )

    @property
    def memory_mib(self) -> int:
        """Return :attr:`memory` in MiB."""
        amount = int(self.memory[:-2])
        return amount * 1024 if self.memory.endswith("Gi") else amount

    @field_validator("namespace")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _NAMESPACE.match(value):
            raise ValueError(
                f"namespace {value!r} is not a DNS-1123 label "
                "(lowercase letters, digits and '-', at most 63 characters)"
            )
        return value


class KubernetesRuntime(BaseModel):
    """The ``{kubernetes: {namespace: ...}}`` runtime form."""

    model_config = ConfigDict(extra="forbid")

    kubernetes: KubernetesTarget


Runtime = Literal["local"] | KubernetesRuntime


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: ColumnName | None = None
    model: ModelFamily = "lightgbm"
    direction: Direction | None = None
    optimize: Annotated[bool, Field(strict=True)] = True
    test_fraction: float = Field(
        default=0.15,
        ge=0,
        lt=1,
        strict=True,
        allow_inf_nan=False,
        description="Share of rows held out before tuning and scored once by the final models; "
        "0 for none.",
    )
    experiment: ExperimentName | None = None
    runtime: Runtime = "local"
    approve: bool = Field(
        default=False,
        strict=True,
        description="Pre-approves a plan over the approval threshold (CI).",
    )

    @model_validator(mode="after")
    def _direction_matches(self) -> _Fields:
        metric = getattr(self, "metric", None)
        if metric and self.direction and METRICS[metric].direction != self.direction:
            raise ValueError(
                f"direction {self.direction!r} contradicts metric {metric!r}, which is "
                f"{METRICS[metric].direction}d; remove direction or pick another metric"
            )
        return self


class ExperimentRequest(_Fields):
    """A complete request: every required input present and valid."""

    dataset: CatalogName
    version: CatalogName
    metric: MetricName
    budget: Budget
    seeds: Annotated[list[Count], Field(min_length=1, max_length=32)]

    _seeds = field_validator("seeds")(classmethod(lambda cls, value: _check_seeds(value)))

    @property
    def metric_direction(self) -> Direction:
        """Return the direction of the primary metric."""
        return METRICS[self.metric].direction

    @property
    def experiment_name(self) -> str:
        """Return the MLflow experiment name: ``MLFLOW_EXPERIMENT_NAME``, else ``<dataset>-<version>``."""
        return self.experiment or settings.default_experiment(self.dataset, self.version)

    @property
    def families(self) -> list[Literal["xgboost", "lightgbm"]]:
        """Return the model families this request trains."""
        return ["xgboost", "lightgbm"] if self.model == "both" else [self.model]

    @property
    def kubernetes(self) -> KubernetesTarget | None:
        """Return the Kubernetes runtime block, or None for a local run."""
        return self.runtime.kubernetes if isinstance(self.runtime, KubernetesRuntime) else None

    @property
    def namespace(self) -> str | None:
        """Return the Kubernetes namespace, or None for a local run."""
        return self.kubernetes.namespace if self.kubernetes else None


class RequestDraft(_Fields):
    """A request in the making: the required inputs may still be missing."""

    dataset: CatalogName | None = None
    version: CatalogName | None = None
    metric: MetricName | None = None
    budget: BudgetDraft | None = None
    seeds: Annotated[list[Count], Field(max_length=32)] | None = None

    _seeds = field_validator("seeds")(classmethod(lambda cls, value: _check_seeds(value)))

    def missing(self) -> list[str]:
        """Return the required inputs still absent, in a stable order.

        A budget counts as given when either of its limits is; with tuning off, no trial count
        is asked for either.
        """
        return [name for name in REQUIRED_FIELDS if not self._has(name)]

    def _has(self, name: str) -> bool:
        if name == "budget":
            return self.budget is not None and self.budget.given
        return getattr(self, name) not in (None, [])

    def default_limits(self) -> list[str]:
        """Return the budget limits that take their default when the request completes."""
        if self.budget is None:
            return []
        unstated = self.budget.unstated()
        return [u for u in unstated if u != "budget.trials" or self.optimize]

    def complete(self, defaults: BudgetDefaults | None = None) -> ExperimentRequest:
        """Return the complete request, unstated budget limits at ``defaults``.

        Without ``defaults``, they are the approval thresholds of
        :meth:`agent.approval.ApprovalPolicy.budget_defaults`.

        Raises:
            MissingInputs: Required inputs are absent.
        """
        missing = self.missing()
        if missing:
            raise MissingInputs(missing)
        assert self.budget is not None  # missing() names an absent budget
        if defaults is None:
            defaults = ApprovalPolicy.from_env().budget_defaults()
        values = self.model_dump(exclude_none=False)
        values["budget"] = self.budget.filled(defaults).model_dump()
        return ExperimentRequest.model_validate(values)

    def defaults_used(self, explicit: set[str]) -> dict[str, Any]:
        """Return the optional fields that fell back to their default (for the Plan section)."""
        return {
            name: getattr(self, name)
            for name in _Fields.model_fields
            if name not in explicit and name != "approve"
        }


class MissingInputs(Exception):
    """The typed "I need more input" outcome: names every missing required input."""

    def __init__(self, fields: list[str]):
        self.fields = fields
        super().__init__("missing required inputs: " + ", ".join(fields))


def draft_from_fields(fields: dict[str, Any]) -> tuple[RequestDraft, list[str]]:
    """Build a draft from loose fields (a prompt file, the planner), naming what is missing.

    Raises:
        pydantic.ValidationError: A field is unknown or has the wrong type or range.
    """
    draft = RequestDraft.model_validate(fields)
    return draft, draft.missing()
