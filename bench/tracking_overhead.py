"""Per-trial tracking overhead: trialrun's RunWriter against optuna-integration's MLflowCallback.

The same Optuna trials (the same parameters, drawn once from trialrun's search space) are trained
three ways on one MLflow SQLite store:

- ``none``: the trial trains and reports its score, nothing is tracked;
- ``trialrun``: the trial goes through ``train_tracked`` as in a study: the run created with its
  tags, then — deferred to trialrun's background writer, as a study does, so they overlap the next
  trial — the dataset input, one batched write of params, final metrics, per-round curves and
  tags, the feature importances as a text artifact, and the run closed. The time to drain the
  writer after the last trial is printed too;
- ``MLflowCallback``: the trial trains untracked and optuna-integration's callback then logs its
  params, value and tags in a run (no curves, no dataset: it records less than trialrun).

Each trial runs once per way, in rotating order, so machine noise falls on all three alike. The
overhead of a way is, per trial, its time outside the trainer (``FitResult.seconds``) minus the
same for the untracked run of that trial, averaged over trials: training time varies from run to
run by more than tracking costs, so it is measured and left out rather than subtracted whole. One
warm-up trial per way (imports, store schema, experiment creation) is not counted.
trialrun's target: at most 15 ms and 3 % of the trial time.

Usage:
    python bench/tracking_overhead.py                       # electricity from shared/datasets
    python bench/tracking_overhead.py --data wine --trials 10 --max-rounds 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
# name: (target, metric); no target for scikit-learn's examples, which are catalogued as they are
DATASETS = {
    "electricity": ("price_up", "roc_auc"),
    "adult": ("income_gt_50k", "roc_auc"),
    "covertype_75k": ("cover_type", "log_loss"),
    "california_housing": ("median_house_value_100k", "rmse"),
    "breast_cancer": (None, "roc_auc"),
    "wine": (None, "log_loss"),
    "diabetes": (None, "rmse"),
}
WAYS = ("none", "trialrun", "MLflowCallback")
TARGET_MS, TARGET_SHARE = 15.0, 0.03


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default="electricity",
        choices=list(DATASETS),
        help="a shared benchmark dataset (read from --shared) or a scikit-learn example",
    )
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared datasets folder")
    parser.add_argument("--family", default="lightgbm", choices=["lightgbm", "xgboost"])
    parser.add_argument("--trials", type=int, default=20, help="trials measured per way")
    parser.add_argument("--max-rounds", type=int, default=200)
    parser.add_argument("--early-stopping-rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def catalogue(args: argparse.Namespace) -> tuple[str, str]:
    """Catalogue the data in the working directory's catalog; return its name and version."""
    from tools.data.catalog import Catalog
    from tools.data.curate import add_dataset
    from tools.data.examples import EXAMPLE_VERSION, write_examples

    catalog = Catalog.load("datasets.yaml")
    target = DATASETS[args.data][0]
    if target is None:
        write_examples(Path("data"), catalog)
        return args.data, EXAMPLE_VERSION
    path = args.shared / f"{args.data}.parquet"
    if not path.is_file():
        sys.exit(f"No {str(path)!r}: pass --shared, or --data with a scikit-learn example.")
    add_dataset(
        path, name=args.data, version="bench", target=target, catalog=catalog, curated_by="bench"
    )
    return args.data, "bench"


def draw_params(family: str, trials: int, seed: int) -> list[dict[str, Any]]:
    """Draw ``trials`` configurations from trialrun's search space, once for every way."""
    import optuna

    from tools.tuning.space import suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [suggest(study.ask(), family) for _ in range(trials + 1)]


class Ways:
    """One Optuna study and one MLflow experiment per way; ``run(way, params)`` does one trial."""

    def __init__(self, ctx: Any, args: argparse.Namespace):
        import optuna
        from optuna_integration import MLflowCallback

        # Deprecated since optuna-integration 4.9 but still the integration people reach for.
        warnings.filterwarnings("ignore", "MLflowCallback has been deprecated", FutureWarning)

        from tools import settings
        from tools.tracking.runs import DeferredWrites, RunWriter, ensure_experiment
        from tools.training import get_trainer
        from tools.training.base import FitSpec
        from tools.training.metrics import get_metric

        self.ctx, self.args = ctx, args
        task = ctx.data.task
        self.metric = get_metric(DATASETS[args.data][1], task)
        self.trainer = get_trainer(args.family)
        self.spec = lambda params: FitSpec(
            task=task,
            n_classes=ctx.data.n_classes,
            metric=self.metric,
            params=params,
            seed=args.seed,
            max_rounds=args.max_rounds,
            early_stopping_rounds=args.early_stopping_rounds,
            threads=args.threads,
        )
        self.studies = {
            way: optuna.create_study(study_name=way, direction=self.metric.direction)
            for way in WAYS
        }
        self.experiment_id = ensure_experiment("bench-trialrun")
        self.parent_run_id = RunWriter(self.experiment_id, "bench-parent").run_id
        self.deferred = DeferredWrites()
        self.callback = MLflowCallback(
            tracking_uri=settings.tracking_uri(),
            metric_name=f"valid_{self.metric.name}",
            mlflow_kwargs={"experiment_id": ensure_experiment("bench-mlflowcallback")},
        )

    def run(self, way: str, params: dict[str, Any]) -> Timing:
        """Run one trial ``way``; return its wall time and the part spent training."""
        import optuna

        from tools.training.run import TrainOptions, train_tracked
        from tools.tuning.space import suggest

        study = self.studies[way]
        started = time.perf_counter()
        study.enqueue_trial(params)
        trial = study.ask()
        suggest(trial, self.args.family)
        if way == "trialrun":
            fit = train_tracked(
                self.ctx,
                family=self.args.family,
                params=params,
                metric=self.metric,
                seed=self.args.seed,
                experiment_id=self.experiment_id,
                run_name=f"trial-{trial.number:03d}",
                role="trial",
                parent_run_id=self.parent_run_id,
                options=TrainOptions(
                    threads=self.args.threads,
                    max_rounds=self.args.max_rounds,
                    early_stopping_rounds=self.args.early_stopping_rounds,
                    log_model=False,
                    deferred=self.deferred,
                ),
                tags={"optuna.study": way, "optuna.trial": trial.number},
                outcome_tags=lambda fit: {"trialrun.trial_state": "COMPLETE"},
            ).fit
        else:
            fit = self.trainer.fit(self.ctx.split, self.spec(params))
        study.tell(trial, fit.valid_score)
        if way == "MLflowCallback":
            self.callback(study, study.trials[-1])
        assert study.trials[-1].state == optuna.trial.TrialState.COMPLETE
        return Timing(total=time.perf_counter() - started, training=fit.seconds)


@dataclass(frozen=True)
class Timing:
    """One trial's wall time, and the part of it inside the trainer (``FitResult.seconds``)."""

    total: float
    training: float

    @property
    def rest(self) -> float:
        """Everything but training: Optuna's ask and tell, and the tracking when there is any."""
        return self.total - self.training


def measure(
    ways: Ways, configs: list[dict[str, Any]], log: Callable[[str], object]
) -> dict[str, list[Timing]]:
    timings: dict[str, list[Timing]] = {way: [] for way in WAYS}
    for way in WAYS:
        ways.run(way, configs[0])
    for index, params in enumerate(configs[1:]):
        order = WAYS[index % 3 :] + WAYS[: index % 3]
        for way in order:
            timings[way].append(ways.run(way, params))
        log(f"\rtrial {index + 1}/{len(configs) - 1}")
    log("\n")
    return timings


def report(timings: dict[str, list[Timing]], args: argparse.Namespace, described: str) -> str:
    base = timings["none"]
    mean_trial = statistics.fmean(t.total for t in base) * 1000
    lines = [
        f"data: {described}; {args.family}, max {args.max_rounds} rounds, "
        f"{args.threads} thread(s); MLflow SQLite store; {len(base)} trials per way",
        "",
        f"{'tracking':<16}{'trials':>7}{'mean trial ms':>15}"
        f"{'overhead ms (mean, median, sd)':>33}{'overhead %':>12}",
        f"{'none':<16}{len(base):>7}{mean_trial:>15.1f}{'-':>33}{'-':>12}",
    ]
    verdict = ""
    for way in WAYS[1:]:
        # Training time differs run to run by more than tracking costs; compare what is not
        # training, trial by trial, against the same trial untracked.
        deltas = [(t.rest - b.rest) * 1000 for t, b in zip(timings[way], base, strict=True)]
        mean, median = statistics.fmean(deltas), statistics.median(deltas)
        spread = statistics.stdev(deltas)
        share = mean / mean_trial
        lines.append(
            f"{way:<16}{len(deltas):>7}{statistics.fmean(t.total for t in timings[way]) * 1000:>15.1f}"
            f"{f'{mean:.1f}, {median:.1f}, {spread:.1f}':>33}{share:>12.1%}"
        )
        if way == "trialrun":
            met = mean <= TARGET_MS and share <= TARGET_SHARE
            verdict = (
                f"trialrun target (<= {TARGET_MS:.0f} ms and <= {TARGET_SHARE:.0%} of the trial): "
                f"{'met' if met else 'NOT met'}"
            )
    return "\n".join([*lines, "", verdict])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.trials < 2:
        sys.exit(f"--trials {args.trials!r}: measure at least 2 trials.")
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory(prefix="trialrun-bench-") as workdir:
        os.chdir(workdir)
        for name in ("MLFLOW_TRACKING_URI", "TRIALRUN_HOME", "TRIALRUN_CATALOG"):
            os.environ.pop(name, None)
        from tools.experiment.data import load_context
        from tools.experiment.request import TuneRequest

        name, version = catalogue(args)
        metric = DATASETS[args.data][1]
        ctx = load_context(TuneRequest(dataset=name, version=version, metric=metric))
        described = (
            f"{name}@{version} ({len(ctx.split.X_train):,} training rows, "
            f"{len(ctx.data.feature_names)} features, {ctx.data.task})"
        )
        ways = Ways(ctx, args)
        configs = draw_params(args.family, args.trials, args.seed)
        timings = measure(ways, configs, sys.stderr.write)
        drain = time.perf_counter()
        ways.deferred.close()
        drain = time.perf_counter() - drain
        os.chdir(REPO)
    print(report(timings, args, described))
    print(f"trialrun's background writes drained {drain * 1000:.0f} ms after the last trial")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
