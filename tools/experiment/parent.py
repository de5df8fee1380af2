"""The experiment's parent run: opened once, reopened when the same request resumes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tools.experiment.request import TuneRequest
from tools.tracking.dataset import dataset_tags, log_dataset
from tools.tracking.runs import RunWriter, client, ensure_experiment
from tools.tracking.settle import close_orphans
from tools.training.run import DataContext


@dataclass
class ParentRun:
    """The experiment's parent run."""

    experiment_id: str
    writer: RunWriter
    resumed: bool
    study_name: str

    @property
    def run_id(self) -> str:
        """Return the parent run id."""
        return self.writer.run_id


def open_parent(
    request: TuneRequest, ctx: DataContext, *, extra_tags: dict[str, Any] | None = None
) -> ParentRun:
    """Create the parent run, or reopen the unfinished one of the same request (resume)."""
    experiment_id = ensure_experiment(request.experiment_name)
    fingerprint = request.fingerprint()
    found = client().search_runs(
        [experiment_id],
        filter_string=f"tags.`trialrun.request` = '{fingerprint}' and tags.`trialrun.role` = 'parent'",
        max_results=5,
        order_by=["attributes.start_time DESC"],
    )
    unfinished = [r for r in found if r.info.status in ("RUNNING", "KILLED", "FAILED")]
    if unfinished:
        # An interrupted attempt of the same request: go on in its parent run and its study.
        writer = RunWriter(experiment_id, "", run_id=unfinished[0].info.run_id)
        close_orphans(experiment_id, writer.run_id)
        study_name = unfinished[0].data.tags["optuna.study"]
        return ParentRun(experiment_id, writer, resumed=True, study_name=study_name)
    # A finished request asked again is a new experiment, with a study of its own.
    study_name = f"{request.experiment_name}-{fingerprint}-{time.strftime('%Y%m%d%H%M%S')}"
    entry = ctx.entry
    writer = RunWriter(
        experiment_id,
        f"{request.experiment_name}-{time.strftime('%Y%m%d-%H%M%S')}",
        tags={
            "trialrun.role": "parent",
            "trialrun.request": fingerprint,
            "trialrun.seeds": ",".join(map(str, request.seeds)),
            "optuna.study": study_name,
            **dataset_tags(entry),
            **(extra_tags or {}),
        },
    )
    log_dataset(entry, ctx.data, run_id=writer.run_id)
    writer.log(
        params={
            "dataset": entry.ref,
            "metric": request.metric,
            "task": ctx.data.task,
            "families": ",".join(request.families),
            "budget_trials": request.trials,
            "budget_seconds": request.seconds,
            "budget_cpus": request.cpus,
            "budget_gpus": request.gpus,
            "budget_parallel": request.parallel,
            "seeds": ",".join(map(str, request.seeds)),
            "split_seed": request.split_seed,
            "valid_fraction": request.valid_fraction,
            "test_fraction": request.test_fraction,
            "optimize": request.optimize,
        }
    )
    return ParentRun(experiment_id, writer, resumed=False, study_name=study_name)
