"""A whole tuning experiment: parent run, baseline, study, final models, optimisation results.

The steps are separate functions so the pipeline graph can run each as its own node; :func:`tune`
runs them in order for scripts, tests and benchmarks. The whole step ends within its time budget
plus 5 %: trials stop early enough to leave room for the final models, which share the deadline.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import settings as paths
from tools.data.catalog import Catalog, DatasetEntry
from tools.data.curate import recatalogue_command
from tools.data.load import load_curated
from tools.data.split import split
from tools.data.task import GIVEN_TASK, explain_task, task_for_metric
from tools.data.validate import prepare
from tools.errors import InputError
from tools.redact import redact
from tools.tracking.dataset import dataset_tags, log_dataset
from tools.tracking.runs import RunWriter, client, ensure_experiment
from tools.tracking.settle import close_orphans
from tools.training import get_trainer
from tools.training.metrics import METRICS, Metric, Task, get_metric, metrics_for
from tools.training.run import DataContext, TrainOptions, TrainOutcome, train_tracked
from tools.tuning.resume import finished_baseline
from tools.tuning.storage import StudyOutcome, StudySettings
from tools.tuning.study import run_study

BEST_DEFINITION = (
    "the chosen configuration's mean score over its final runs, one per seed (validation, and "
    "test on the test share); the configuration is the best trial's by validation score, or the "
    "best baseline's when no trial beat it"
)
"""What Best means, everywhere it is shown: report, parent run, ``/runs``, Slack, query tools."""


@dataclass(frozen=True)
class TuneRequest:
    """What to tune, on which data, within which budget."""

    dataset: str
    version: str
    metric: str
    families: tuple[str, ...] = ("lightgbm",)
    trials: int = 20
    seconds: float = 300.0
    cpus: int = 1
    gpus: int = 0
    parallel: int = 1
    seeds: tuple[int, ...] = (0,)
    experiment: str | None = None
    optimize: bool = True
    task: Task | None = None
    target: str | None = None
    split_seed: int = 0
    valid_fraction: float = 0.2
    test_fraction: float = 0.15
    storage: str | None = None
    catalog: str | None = None
    max_failures: int = 5
    max_rounds: int = 2000
    early_stopping_rounds: int = 50

    @property
    def experiment_name(self) -> str:
        """Return the MLflow experiment name, redacted: it names the experiment and the study."""
        return redact(self.experiment or paths.default_experiment(self.dataset, self.version))

    def fingerprint(self) -> str:
        """Return a stable hash of everything that defines the study (not the time budget)."""
        keys = (
            "dataset",
            "version",
            "metric",
            "families",
            "split_seed",
            "valid_fraction",
            "test_fraction",
            "task",
            "target",
        )
        blob = json.dumps(
            {k: getattr(self, k) for k in keys} | {"seed": self.seeds[0]}, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


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


@dataclass
class TuneResult:
    """Everything the experiment created, with IDs."""

    experiment_id: str
    parent_run_id: str
    baseline: TrainOutcome
    study: StudyOutcome | None
    finals: list[TrainOutcome]
    seconds: float
    notes: list[str] = field(default_factory=list)


def load_context(request: TuneRequest, *, catalog: Catalog | None = None) -> DataContext:
    """Load the catalogued dataset (from ``catalog``, else the request's), validate and split it."""
    catalog = catalog or Catalog.load(paths.catalog_path(request.catalog))
    entry, frame = load_curated(request.dataset, request.version, catalog=catalog)
    if request.target and request.target != entry.target:
        entry = entry.model_copy(update={"target": request.target})
    fractions = {"valid_fraction": request.valid_fraction, "test_fraction": request.test_fraction}
    # A task the person asked for is kept, and so is one the curator gave with --task (a metric
    # that does not fit is then refused, saying how to re-catalogue); otherwise the metric says
    # whether a whole-number target is classes or values.
    task = request.task
    curated = entry.task_reason == GIVEN_TASK
    if task is None and not curated and entry.target in frame.columns:
        task = task_for_metric(frame[entry.target], entry.task, get_metric(request.metric).tasks)
    data = prepare(frame, entry, task=task, **fractions)
    try:
        get_metric(request.metric, data.task)
    except InputError as exc:
        raise _metric_refusal(request, catalog, entry, frame, data.task, exc) from exc
    parts = split(data, seed=request.split_seed, **fractions)
    return DataContext(
        entry=entry, data=data, split=parts, split_seed=request.split_seed, **fractions
    )


def _metric_refusal(
    request: TuneRequest,
    catalog: Catalog,
    entry: DatasetEntry,
    frame: Any,
    task: Task,
    error: InputError,
) -> InputError:
    """Say why the metric does not fit: the task, how it was decided, how to re-catalogue."""
    if request.task is not None:
        how = "asked for in the request"
    else:
        how = (
            entry.task_reason
            or explain_task(frame[entry.target], task, given=False, target=entry.target).reason
        )
    metric = METRICS.get(request.metric)
    hint = f"For {task} use one of: {', '.join(metrics_for(task))}."
    if metric is not None:
        other: Task = "regression"
        if "regression" not in metric.tasks:
            other = "binary" if frame[entry.target].nunique() == 2 else "multiclass"
        hint += (
            f" If target {entry.target!r} is meant as {other}, catalogue it again: "
            f"{recatalogue_command(catalog, entry, other)}"
        )
    return InputError(
        f"Metric {request.metric!r} does not fit dataset {entry.ref!r}, which trains as {task} "
        f"({how}).",
        field=error.field,
        hint=hint,
    )


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


def train_baseline(
    request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    *,
    family: str | None = None,
    deadline: float | None = None,
    cancel: threading.Event | None = None,
) -> TrainOutcome:
    """Train ``family`` (default: the first) with its library defaults: the number to beat.

    A resumed request keeps the baseline its interrupted attempt finished (see
    :mod:`tools.tuning.resume`) instead of training it again.
    """
    family = family or request.families[0]
    params = get_trainer(family).default_params()
    metric = get_metric(request.metric, ctx.data.task)
    if parent.resumed:
        kept = finished_baseline(
            experiment_id=parent.experiment_id,
            parent_run_id=parent.run_id,
            family=family,
            params=params,
            seed=request.seeds[0],
            metric=metric,
        )
        if kept is not None:
            return kept
    return train_tracked(
        ctx,
        family=family,
        params=params,
        metric=metric,
        seed=request.seeds[0],
        experiment_id=parent.experiment_id,
        run_name=f"baseline-{family}",
        role="baseline",
        parent_run_id=parent.run_id,
        options=_options(request, deadline, cancel, log_model=True, run_name=f"baseline-{family}"),
    )


def tune_study(
    request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    *,
    deadline: float,
    cancel: threading.Event | None = None,
    on_trial: Any = None,
) -> StudyOutcome:
    """Run the Optuna study, leaving time for the final models before ``deadline``."""
    return run_study(
        ctx,
        study_settings(request, ctx, parent.study_name),
        experiment_id=parent.experiment_id,
        parent_run_id=parent.run_id,
        deadline=deadline,
        reserve=finals_reserve(request),
        cancel=cancel,
        on_trial=on_trial,
    )


def study_settings(request: TuneRequest, ctx: DataContext, study_name: str) -> StudySettings:
    """Return the settings of the request's study: ``parallel`` trials at a time in one process."""
    return StudySettings(
        study_name=study_name,
        storage=request.storage or paths.optuna_storage(),
        families=request.families,
        metric=get_metric(request.metric, ctx.data.task),
        trials=request.trials,
        seed=request.seeds[0],
        threads=max(1, request.cpus // request.parallel),
        parallel=request.parallel,
        max_failures=request.max_failures,
        max_rounds=request.max_rounds,
        early_stopping_rounds=request.early_stopping_rounds,
    )


def finals_reserve(request: TuneRequest) -> Callable[[list[float]], float]:
    """Return the seconds tuning leaves for the final models, given the trial durations so far."""
    # The first seed's final model is the best trial's (or the baseline's), recorded again rather
    # than retrained; the other seeds train anew. Logging a model takes about half a second.
    retrained = len(request.seeds) - 1

    def reserve(durations: list[float]) -> float:
        typical = max(durations) if durations else 0.0
        return (
            typical * retrained / max(1, min(request.parallel, retrained))
            + 0.5 * len(request.seeds)
            + 1.0
        )

    return reserve


def train_finals(
    request: TuneRequest,
    ctx: DataContext,
    parent: ParentRun,
    *,
    family: str,
    params: dict[str, Any],
    deadline: float | None = None,
    cancel: threading.Event | None = None,
    reuse: Sequence[TrainOutcome] = (),
) -> list[TrainOutcome]:
    """Train the chosen configuration once per seed (mean and spread go in the report).

    Each seed gets an equal share of the time left before ``deadline``, so a slow first seed
    cannot starve the last one. A model in ``reuse`` trained the very same way (the best trial,
    or the baseline when tuning found nothing better) is recorded as that seed's final model
    instead of being trained again.
    """
    outcomes = []
    for index, seed in enumerate(request.seeds):
        share = None
        if deadline is not None:
            share = time.monotonic() + (deadline - time.monotonic()) / (len(request.seeds) - index)
        name = f"final-{family}-seed{seed}"
        outcomes.append(
            train_tracked(
                ctx,
                family=family,
                params=params,
                metric=get_metric(request.metric, ctx.data.task),
                seed=seed,
                experiment_id=parent.experiment_id,
                run_name=name,
                role="final",
                parent_run_id=parent.run_id,
                options=_options(request, share, cancel, log_model=True, run_name=name),
                reuse=reuse,
            )
        )
    return outcomes


def baseline_deadline(request: TuneRequest, started: float) -> float:
    """Return when the baselines must stop.

    A fifth of the budget when tuning follows, else a share equal to one final model's.
    """
    share = 0.2 if request.optimize else 1.0 / (1 + len(request.seeds))
    return started + share * request.seconds


def best_outcome(outcomes: Sequence[TrainOutcome], metric: Metric) -> TrainOutcome:
    """Return the outcome with the best validation score (the first of equals)."""
    best = outcomes[0]
    for outcome in outcomes[1:]:
        if metric.better(outcome.fit.valid_score, best.fit.valid_score):
            best = outcome
    return best


def choose_configuration(
    baselines: Sequence[TrainOutcome], study: StudyOutcome | None, metric: Metric
) -> tuple[str, dict[str, Any], str | None]:
    """Return the family and parameters the final models train with, and a note when it matters.

    The study's best trial, unless a baseline scored strictly better on the validation split:
    tuning that found nothing better than the library defaults must not leave the final model
    worse than the baseline.
    """
    best = best_outcome(baselines, metric)
    defaults = get_trainer(best.family).default_params()
    if study is None or study.best_family is None or study.best_value is None:
        return best.family, defaults, None
    if metric.better(best.fit.valid_score, study.best_value):
        note = (
            f"no trial beat the {best.family} baseline ({metric.name} "
            f"{best.fit.valid_score:.6g} vs the best trial's {study.best_value:.6g}): the final "
            "models use the baseline's configuration"
        )
        return best.family, defaults, note
    return study.best_family, study.best_params, None


def headline(
    metric: str, baselines: Sequence[TrainOutcome], finals: Sequence[TrainOutcome], direction: str
) -> dict[str, float]:
    """Return the experiment's results as the parent run's metrics, named after ``metric``.

    ``best_valid_<metric>`` and ``best_test_<metric>`` are Best (:data:`BEST_DEFINITION`);
    ``baseline_*`` the best baseline's scores (by validation); ``delta_*`` Best minus baseline.
    """
    sign = 1.0 if direction == "maximize" else -1.0
    found: dict[str, float] = {}
    baseline = max(baselines, key=lambda o: sign * o.fit.valid_score) if baselines else None
    for share in ("valid", "test"):
        key = f"{share}_{metric}"
        scores = [_score(o, key) for o in finals]
        if finals and None not in scores:
            found[f"best_{key}"] = statistics.fmean(v for v in scores if v is not None)
        base = _score(baseline, key) if baseline is not None else None
        if base is not None:
            found[f"baseline_{key}"] = base
            if f"best_{key}" in found:
                found[f"delta_{key}"] = found[f"best_{key}"] - base
    return found


def _score(outcome: TrainOutcome, key: str) -> float | None:
    output = outcome.output
    return {**output.validation_metrics, **output.test_metrics}.get(key)


def record_results(
    parent: ParentRun,
    metric: Metric,
    baselines: Sequence[TrainOutcome],
    finals: Sequence[TrainOutcome],
) -> None:
    """Log the experiment's results (:func:`headline`) on the parent run, Best's run as a tag."""
    writer = parent.writer
    writer.log(
        metrics=headline(metric.name, baselines, finals, metric.direction),
        tags={"trialrun.best_run_id": finals[0].output.mlflow_run_id} if finals else {},
    )


def record_optimization(parent: ParentRun, study: StudyOutcome) -> None:
    """Put the optimisation results on the parent: best params, trials table, plots."""
    from tools.tuning.report import write_study_artifacts

    write_study_artifacts(parent.writer, study)


def record_best(parent: ParentRun, study: StudyOutcome | None) -> None:
    """Put the best trial's parameters on the parent, once the experiment has finished."""
    from tools.tuning.report import write_best_params

    if study is not None:
        write_best_params(parent.writer, study)


def tune(request: TuneRequest, *, cancel: threading.Event | None = None) -> TuneResult:
    """Run the whole experiment: baseline, then (when optimising) the study, then final models."""
    started = time.monotonic()
    deadline = started + request.seconds
    ctx = load_context(request)
    parent = open_parent(request, ctx)
    try:
        baseline = train_baseline(
            request, ctx, parent, deadline=baseline_deadline(request, started), cancel=cancel
        )
        study = None
        if request.optimize:
            study = tune_study(request, ctx, parent, deadline=deadline, cancel=cancel)
            record_optimization(parent, study)
        metric = get_metric(request.metric, ctx.data.task)
        family, params, note = choose_configuration([baseline], study, metric)
        reuse = [baseline, *([study.best_outcome] if study and study.best_outcome else [])]
        finals = train_finals(
            request,
            ctx,
            parent,
            family=family,
            params=params,
            deadline=deadline,
            cancel=cancel,
            reuse=reuse,
        )
        record_results(parent, metric, [baseline], finals)
        record_best(parent, study)
    except BaseException as exc:
        parent.writer.fail(exc)
        raise
    parent.writer.finish("FINISHED")
    return TuneResult(
        parent.experiment_id,
        parent.run_id,
        baseline,
        study,
        finals,
        time.monotonic() - started,
        notes=[note] if note else [],
    )


def _options(
    request: TuneRequest,
    deadline: float | None,
    cancel: threading.Event | None,
    *,
    log_model: bool,
    run_name: str,
) -> TrainOptions:
    return TrainOptions(
        threads=request.cpus,
        gpus=request.gpus,
        max_rounds=request.max_rounds,
        early_stopping_rounds=request.early_stopping_rounds,
        deadline=deadline,
        cancel=cancel,
        checkpoint_dir=Path(paths.home()) / "checkpoints" / request.fingerprint() / run_name,
        log_model=log_model,
    )
