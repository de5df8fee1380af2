"""One tuning worker: joins a study a coordinator opened and runs trials in it until it is done.

A coordinator (the pipeline's tune step) opens the parent run and the study, then starts N
workers (local processes, or the pods of one Kubernetes Job) with the same :class:`WorkerTask`.
Each worker loads and checks the dataset itself, claims a worker index, and runs trials through
:func:`tools.tuning.study.run_study` on a :class:`~tools.tuning.shared.SharedStudy`, so the
workers together finish the trial budget without overshooting it. A worker stops when the budget
is taken, when the deadline leaves no room for another trial, at the failure budget, or when
cancelled (a trial in progress stops within one boosting round, FAIL, its run KILLED).

Seeds: every trial trains with the request's first seed, as in one process; worker ``i``'s TPE
sampler is seeded with :func:`worker_seed` of that seed and ``i``. Indices are claimed in the
order workers start, so the same request always uses the same N sampler seeds; which worker
proposes which trial, and what it has seen of the others' results when it does, depends on
timing. A trial is reproducible from its logged parameters and seed; the sequence of trials and
the best configuration found are not.

Data: the task carries the dataset's catalog entry (resolved location and sha256 digest), so a
pod needs no catalog file of its own; the worker reads the file from that location (a path on a
volume it mounts, or an ``s3://``, ``gs://`` or ``http(s)://`` URL through fsspec) and refuses it,
before any trial, when its digest differs from the entry's.

Secrets never travel in the task: a storage URL holding a password is left out, and the worker
takes it from ``TRIALRUN_OPTUNA_STORAGE`` in its own environment (on Kubernetes, from a Secret).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import optuna
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.data.catalog import Catalog, DatasetEntry
from tools.errors import InputError
from tools.experiment.data import load_context
from tools.experiment.request import TuneRequest
from tools.experiment.tune import finals_reserve, study_settings
from tools.tuning.distributed import has_password
from tools.tuning.shared import SharedStudy, claim_worker_index
from tools.tuning.storage import StudyOutcome, open_study
from tools.tuning.study import run_study

TASK_ENV = "TRIALRUN_WORKER_TASK"
"""The environment variable that carries a worker's task as JSON."""

_TUPLE_FIELDS = ("families", "seeds")


def worker_seed(seed: int, index: int) -> int:
    """Return the sampler seed of worker ``index`` of a study seeded with ``seed``.

    Example:
        >>> worker_seed(7, 0) == worker_seed(7, 0) != worker_seed(7, 1)
        True
    """
    import numpy as np

    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class JobTask(BaseModel):
    """What a job that ``trialrun run`` starts is told: the tuning request's fields, and more.

    Attributes:
        request: The tuning request's fields (:class:`~tools.experiment.request.TuneRequest`);
            a storage URL holding a password is left out (the job has it from a Secret).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    what: ClassVar[str] = "worker task"
    env: ClassVar[str] = TASK_ENV

    request: dict[str, Any]

    @classmethod
    def for_request(cls, request: TuneRequest, **fields: Any) -> Self:
        """Return the task for ``request``, leaving out a storage URL that holds a password."""
        values = json.loads(json.dumps(dataclasses.asdict(request)))  # tuples as JSON lists
        if values["storage"] and has_password(values["storage"]):
            values["storage"] = None
        return cls(request=values, **fields)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read a task from its JSON form.

        Raises:
            InputError: The text is not a task.
        """
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise InputError(
                f"The {cls.what} is not valid: {exc.errors()[0]['msg']} "
                f"at {'.'.join(map(str, exc.errors()[0]['loc']))!r}.",
                field=cls.env,
                hint="Jobs are started by `trialrun run`; do not edit their task.",
            ) from None

    def tune_request(self) -> TuneRequest:
        """Return the tuning request.

        Raises:
            InputError: The request fields do not make a request.
        """
        values: dict[str, Any] = {
            k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in self.request.items()
        }
        try:
            return TuneRequest(**values)
        except TypeError as exc:
            raise InputError(f"The {self.what}'s request is not valid: {exc}.") from None

    def to_json(self) -> str:
        """Return the JSON form, as :meth:`parse` reads it."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


class WorkerTask(JobTask):
    """What every worker of one launch is told.

    Attributes:
        request: The tuning request's fields (:class:`~tools.experiment.request.TuneRequest`).
        study_name: The study the coordinator opened.
        experiment_id: The MLflow experiment of the trial runs.
        parent_run_id: The parent run every trial run is a child of.
        group: Identifies this launch: workers claim indices within it.
        workers: How many workers were launched.
        deadline: Unix time by which tuning must have ended.
        dataset: The dataset's catalog entry, its location resolved; None to read the entry from
            the worker's own catalog (``TRIALRUN_CATALOG``).
    """

    study_name: str = Field(min_length=1)
    experiment_id: str = Field(min_length=1)
    parent_run_id: str = Field(min_length=1)
    group: str = Field(min_length=1)
    workers: int = Field(ge=1)
    deadline: float
    dataset: DatasetEntry | None = None


@dataclasses.dataclass(frozen=True)
class WorkerOutcome:
    """What one worker did.

    Attributes:
        index: The worker index it claimed.
        sampler_seed: Its TPE sampler's seed.
        study: The study as this worker left it (counting every worker's trials).
    """

    index: int
    sampler_seed: int
    study: StudyOutcome


def run_worker(
    task: WorkerTask,
    *,
    job_id: str | None = None,
    index: int | None = None,
    holder: str = "",
    cancel: threading.Event | None = None,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> WorkerOutcome:
    """Run trials of the task's study until the shared budget, the deadline or a cancel ends it.

    Args:
        task: What the coordinator said.
        job_id: The job this worker runs in; each trial records it (``trialrun_job_id``).
        index: The worker's index when its job numbers its workers (an Indexed Job's pods);
            otherwise one is claimed from the study.
        holder: Who this worker is, recorded with its claimed index (a job id and host).
        cancel: Stops the running trial within one round and starts no more.
        on_trial: Called after each of this worker's trials.

    Raises:
        InputError: The task is invalid, or the dataset fails its checks.
        ConfigError: The storage or the tracking server cannot be used.
    """
    request = task.tune_request()
    catalog = None
    if task.dataset is not None:
        catalog = Catalog(Path(f"the job's dataset entry {task.dataset.ref}"), [task.dataset])
    ctx = load_context(request, catalog=catalog)
    settings = dataclasses.replace(
        study_settings(request, ctx, task.study_name),
        threads=max(1, request.cpus // task.workers),
        parallel=1,
        shared=True,
        job_id=job_id,
    )
    study = open_study(settings)
    assert isinstance(study, SharedStudy)
    if index is None:
        index = claim_worker_index(study, group=task.group, holder=holder or job_id or "worker")
    seed = worker_seed(settings.seed, index)
    settings = dataclasses.replace(settings, sampler_seed=seed)
    # Wall-clock in the task (processes and pods share no monotonic clock), monotonic from here.
    deadline = time.monotonic() + (task.deadline - time.time())
    outcome = run_study(
        ctx,
        settings,
        experiment_id=task.experiment_id,
        parent_run_id=task.parent_run_id,
        deadline=deadline,
        reserve=finals_reserve(request),
        cancel=cancel,
        on_trial=on_trial,
    )
    return WorkerOutcome(index, seed, outcome)
