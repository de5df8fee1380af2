"""One study shared by several worker processes, held exactly to its trial budget.

Each worker runs its own optimisation loop against the same Optuna storage. Left alone, workers
that each check "finished < budget" before starting a trial overshoot the budget by up to the
number of workers less one. A :class:`SharedStudy` instead starts a trial only while fewer than
``trials`` trials are finished or running, and makes that check and the start of the trial (a
queued one if any, else a new one) one step, under a lock the storage's database holds for every
worker:

- PostgreSQL: a transaction-scoped advisory lock (``pg_advisory_xact_lock``), so workers on
  different machines (Kubernetes pods) exclude each other and a dead worker never holds it.
- SQLite: an exclusive ``flock`` on a file beside the database (one machine, as SQLite is).
- Any other database: a lock within this process only; the budget may then be overshot by up
  to the number of workers less one.

A trial that fails is not counted, so a worker still running re-samples it. A worker that dies
in the middle of a trial leaves it RUNNING (counted) until its job is cancelled or recovered.
"""

from __future__ import annotations

import fcntl
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.trial import TrialState

COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
"""Trials that hold a place in the budget. A queued (WAITING) trial takes its place when it starts:
``ask`` starts a queued trial before it creates one."""

_ADVISORY_CLASS = 0x7472  # "tr": the first key of trialrun's advisory locks
_PROCESS_LOCK = threading.Lock()


class TrialBudgetSpent(Exception):
    """No trial may start: the budget is taken by finished and running trials."""


@contextmanager
def study_lock(storage_url: str, study_name: str) -> Iterator[None]:
    """Hold the lock that serialises budget checks and index claims for one study.

    Args:
        storage_url: The study's Optuna RDB storage URL.
        study_name: The study; studies in the same storage do not wait for each other.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(storage_url)
    if url.get_backend_name() == "postgresql":
        # Advisory keys are two int4s: a fixed class, and the study name's CRC shifted to signed.
        key = zlib.crc32(study_name.encode()) - 2**31
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:cls, :key)"),
                    {"cls": _ADVISORY_CLASS, "key": key},
                )
                yield
        finally:
            engine.dispose()
    elif url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # A new open file description per holder: flock then excludes threads as well.
        with open(f"{url.database}.trialrun-lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        with _PROCESS_LOCK:
            yield


class SharedStudy(optuna.Study):
    """A study that never starts more than ``trials`` counted trials, whoever asks.

    Args:
        study_name: An existing study.
        storage: Its RDB storage URL.
        trials: The budget shared by every worker.
        sampler: This worker's sampler.
        pruner: The pruner.

    Example:
        >>> study = SharedStudy("churn", "postgresql+psycopg2://db/optuna", trials=40)  # doctest: +SKIP
        >>> trial = study.ask()  # TrialBudgetSpent once 40 are taken, by any worker  # doctest: +SKIP
    """

    def __init__(
        self,
        study_name: str,
        storage: str,
        *,
        trials: int,
        sampler: optuna.samplers.BaseSampler | None = None,
        pruner: optuna.pruners.BasePruner | None = None,
    ):
        super().__init__(study_name, storage, sampler=sampler, pruner=pruner)
        self.storage_url = storage
        self.budget = trials

    def ask(self, fixed_distributions: dict[str, Any] | None = None) -> optuna.Trial:
        """Start a trial if the budget has room, else raise :class:`TrialBudgetSpent`."""
        with study_lock(self.storage_url, self.study_name):
            taken = len(self.get_trials(deepcopy=False, states=COUNTED_STATES))
            if taken >= self.budget:
                raise TrialBudgetSpent(
                    f"study {self.study_name!r} has {taken} of {self.budget} trials finished or "
                    "running"
                )
            return super().ask(fixed_distributions)


def claim_worker_index(study: SharedStudy, *, group: str, holder: str) -> int:
    """Return the lowest worker index of ``group`` nobody holds yet, and hold it.

    Workers of one launch (local processes, or the pods of one Kubernetes Job, which are not
    numbered) take 0, 1, 2 … in the order they start; the claim is a study user attribute
    ``trialrun.worker.<group>.<index>`` naming its holder.

    Args:
        study: The shared study.
        group: Identifies one launch of workers.
        holder: Who claims (a job id and host), recorded for people reading the study.
    """
    prefix = f"trialrun.worker.{group}."
    with study_lock(study.storage_url, study.study_name):
        taken = {key for key in study.user_attrs if key.startswith(prefix)}
        index = 0
        while f"{prefix}{index}" in taken:
            index += 1
        study.set_user_attr(f"{prefix}{index}", holder)
    return index
