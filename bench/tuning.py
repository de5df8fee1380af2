"""Tuning at equal budget, scored on rows no search touched: trialrun vs FLAML vs Optuna.

Each dataset is split into dev and test (80/20, seed 0, stratified for classification) before
any method sees it. Every method tunes on the dev rows only, with the same train/validation
split of them (trialrun's own, seed 0, 20 % validation), the same metric, the same wall-clock
budget and the same threads, interleaved (the method order rotates per dataset), each in a fresh
process timed from the moment its data is in memory, with MLflow tracking on (a SQLite store per
method). Each method's final model then predicts the test rows once:

- FLAML: ``AutoML.predict`` / ``predict_proba``;
- Optuna (TPE over LightGBM, MLflowCallback): the best trial's booster;
- trialrun: its final model loaded back from MLflow with ``mlflow.pyfunc.load_model`` and given
  the raw test frame, as a user does. trialrun's own test share is off (``test_fraction=0``): the
  benchmark holds out its own, and trialrun sees the same dev rows as the others.

Methods are ranked on the test score; the validation score is printed beside it. A method that
fails ranks last on that dataset and its row says why. Every measured row is appended to a JSONL
file, so an interrupted run resumes where it stopped and a run can be extended by subset; the
tables are printed from that file.

    python bench/tuning.py --budgets 30,120
    python bench/tuning.py --budgets 30 --datasets adult electricity --results /tmp/t.jsonl
    python bench/tuning.py --results bench/results/tuning-30s.jsonl --report-only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
METHODS = ("trialrun", "flaml", "optuna_mlflow")
DEFAULT_DIRS = (REPO.parent / "shared" / "datasets", REPO.parent / "shared" / "datasets-suite")
LOWER_IS_BETTER = ("log_loss", "rmse")
SEED = 0


def manifests(data_dirs: list[Path]) -> dict[str, dict[str, Any]]:
    """Return every dataset of ``data_dirs`` by name, with the folder it lives in."""
    found: dict[str, dict[str, Any]] = {}
    for folder in data_dirs:
        for name, entry in json.loads((folder / "datasets.json").read_text()).items():
            if name in found:
                raise SystemExit(
                    f"Dataset {name!r} is in both {found[name]['dir']} and {folder}: "
                    "give only one of them with --data-dir."
                )
            found[name] = {**entry, "dir": str(folder)}
    return found


def dev_test(frame: pd.DataFrame, manifest: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the raw frame 80/20 into dev and test rows, before any method sees it."""
    from sklearn.model_selection import train_test_split

    target = frame[manifest["target"]]
    dev, test = train_test_split(
        frame,
        test_size=0.2,
        random_state=SEED,
        stratify=None if manifest["task"] == "regression" else target,
    )
    return dev.reset_index(drop=True), test.reset_index(drop=True)


def score(metric: str, y_true: np.ndarray, pred: np.ndarray) -> float:
    from tools.training.metrics import get_metric
    from tools.training.metrics import score as trialrun_score

    n_classes = pred.shape[1] if pred.ndim == 2 else None
    if pred.ndim == 2 and pred.shape[1] == 2:
        pred, n_classes = pred[:, 1], None
    return trialrun_score(get_metric(metric), y_true, pred, n_classes)


class Prepared:
    """One dataset as every method gets it: dev rows split into train/validation, test rows."""

    def __init__(self, name: str, manifest: dict[str, Any]) -> None:
        from tools.data.catalog import Catalog
        from tools.data.curate import add_dataset
        from tools.experiment.data import load_context
        from tools.experiment.request import TuneRequest
        from tools.settings import catalog_path

        self.name, self.manifest = name, manifest
        self.metric, self.task = manifest["metric"], manifest["task"]
        target = manifest["target"]
        frame = pd.read_parquet(Path(manifest["dir"]) / manifest["file"])
        dev, test = dev_test(frame, manifest)
        dev.to_parquet("dev.parquet", index=False)
        catalog = Catalog.load(catalog_path())
        # The curator's task from the manifest, as a user catalogues a dataset they know.
        add_dataset(
            "dev.parquet",
            name=name,
            version="bench",
            target=target,
            task=self.task,
            catalog=catalog,
            curated_by="bench",
        )
        self.request = TuneRequest(
            dataset=name,
            version="bench",
            metric=self.metric,
            families=("lightgbm", "xgboost"),
            trials=100_000,
            seeds=(SEED,),
            split_seed=SEED,
            valid_fraction=0.2,
            test_fraction=0.0,
            experiment=f"bench-{name}",
        )
        # trialrun's train/validation split of the dev rows is the one every method gets.
        parts = load_context(self.request).split
        self.labels = (
            None if self.task == "regression" else np.unique(frame[target].to_numpy()).tolist()
        )
        y_dev, self.y_test = self._codes(dev.pop(target)), self._codes(test.pop(target))
        self.X_train, self.X_valid = dev.iloc[parts.X_train.index], dev.iloc[parts.X_valid.index]
        self.y_train, self.y_valid = y_dev[parts.X_train.index], y_dev[parts.X_valid.index]
        self.X_test = test

    def _codes(self, y: pd.Series) -> np.ndarray:
        if self.labels is None:
            return y.to_numpy(dtype=np.float64)
        return np.searchsorted(np.asarray(self.labels), y.to_numpy())


def run_steps(request: Any) -> tuple[Any, list[Any]]:
    """Run the experiment's steps in the pipeline graph's order; return the study and the finals.

    Not the graph itself: its verify and report steps would add their time to the wall
    measured here. The clock starts before the data is loaded; the finals end the budget. As
    the benchmark has always measured it, one baseline: the first family's.
    """
    import threading

    from tools.experiment import steps
    from tools.experiment.data import load_context
    from tools.experiment.parent import open_parent
    from tools.experiment.results import baseline_configuration
    from tools.experiment.train import baseline_deadline
    from tools.training.metrics import get_metric

    cancel = threading.Event()
    started = time.monotonic()
    deadline = started + request.seconds
    ctx = load_context(request)
    parent = open_parent(request, ctx)
    try:
        baselines = steps.train_baselines(
            request,
            ctx,
            parent,
            deadline=baseline_deadline(request, started),
            cancel=cancel,
            families=request.families[:1],
        )
        study = None
        family, params = baseline_configuration(
            baselines, get_metric(request.metric, ctx.data.task)
        )
        if request.optimize:
            tuned = steps.tune(request, ctx, parent, baselines, deadline=deadline, cancel=cancel)
            study, family, params = tuned.study, tuned.family, tuned.params
        finals = steps.train_final_models(
            request,
            ctx,
            parent,
            baselines,
            study,
            family=family,
            params=params,
            deadline=deadline,
            cancel=cancel,
        )
        steps.close(parent, study)
    except BaseException as exc:
        parent.writer.fail(exc)
        raise
    return study, finals


def run_trialrun(data: Prepared, budget: float, threads: int) -> dict[str, Any]:
    import dataclasses

    import mlflow.pyfunc

    from tools.tracking.runs import ensure_experiment

    # As for the other methods, the tracking store exists before the clock starts.
    ensure_experiment(f"bench-{data.name}")
    started = time.monotonic()
    study, finals = run_steps(dataclasses.replace(data.request, seconds=budget, cpus=threads))
    wall = time.monotonic() - started
    final = finals[0]
    model = mlflow.pyfunc.load_model(final.output.model_artifact_path)
    if data.labels is None:
        pred = np.asarray(model.predict(data.X_test), dtype=np.float64)
    else:
        proba = model.predict(data.X_test, params={"predict_method": "predict_proba"})
        proba = proba.reindex(columns=data.labels)
        if proba.isna().any().any():
            raise RuntimeError(f"predict_proba columns {list(proba.columns)} miss a label")
        pred = proba.to_numpy(dtype=np.float64)
    return {
        "test": score(data.metric, data.y_test, pred),
        "valid": final.fit.valid_score,
        "trials": sum(study.counts.values()) if study else 0,
        "first_trial_s": study.trial_seconds[0] if study and study.trial_seconds else None,
        "wall": wall,
    }


def run_flaml(data: Prepared, budget: float, threads: int) -> dict[str, Any]:
    import mlflow
    from flaml import AutoML

    task = "regression" if data.task == "regression" else "classification"
    mlflow.set_experiment(f"bench-flaml-{data.name}")
    automl = AutoML()
    started = time.monotonic()
    with mlflow.start_run():
        automl.fit(
            data.X_train,
            data.y_train,
            X_val=data.X_valid,
            y_val=data.y_valid,
            task=task,
            metric=data.metric,
            time_budget=budget,
            estimator_list=["lgbm", "xgboost"],
            n_jobs=threads,
            verbose=0,
            seed=SEED,
            mlflow_logging=True,
        )
    wall = time.monotonic() - started

    def predict(X: pd.DataFrame) -> np.ndarray:
        return np.asarray(automl.predict(X) if task == "regression" else automl.predict_proba(X))

    history = automl.config_history or {}
    return {
        "test": score(data.metric, data.y_test, predict(data.X_test)),
        "valid": score(data.metric, data.y_valid, predict(data.X_valid)),
        "trials": len(history),
        "first_trial_s": None,
        "wall": wall,
    }


def run_optuna(data: Prepared, budget: float, threads: int) -> dict[str, Any]:
    import lightgbm as lgb
    import optuna
    from optuna_integration.mlflow import MLflowCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    extra = {"num_class": len(data.labels or [])} if data.task == "multiclass" else {}
    boosters: dict[int, Any] = {}

    def objective(trial: optuna.Trial) -> float:
        params = {
            "objective": data.task,
            "verbosity": -1,
            "num_threads": threads,
            **extra,
            "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 2, 256, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 100),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.4, 1.0),
            "bagging_freq": trial.suggest_int("bagging_freq", 1, 7),
            "lambda_l1": trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
        }
        booster = lgb.train(
            params,
            lgb.Dataset(data.X_train, data.y_train),
            num_boost_round=1000,
            valid_sets=[lgb.Dataset(data.X_valid, data.y_valid)],
            callbacks=[lgb.early_stopping(50, verbose=False)],
        )
        boosters[trial.number] = booster
        return score(
            data.metric,
            data.y_valid,
            booster.predict(data.X_valid, num_iteration=booster.best_iteration),
        )

    direction = "minimize" if data.metric in LOWER_IS_BETTER else "maximize"
    callback = MLflowCallback(
        tracking_uri=os.environ["MLFLOW_TRACKING_URI"], metric_name=data.metric
    )
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=SEED))
    started = time.monotonic()
    study.optimize(objective, timeout=budget, callbacks=[callback])
    wall = time.monotonic() - started
    best = boosters[study.best_trial.number]
    first = study.trials[0].duration
    return {
        "test": score(
            data.metric, data.y_test, best.predict(data.X_test, num_iteration=best.best_iteration)
        ),
        "valid": study.best_value,
        "trials": len(study.trials),
        "first_trial_s": first.total_seconds() if first else None,
        "wall": wall,
    }


RUNNERS = {"trialrun": run_trialrun, "flaml": run_flaml, "optuna_mlflow": run_optuna}


def child(args: argparse.Namespace) -> None:
    os.chdir(tempfile.mkdtemp(prefix=f"bench-{args.child}-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path('mlflow.db').resolve()}"
    # Everything trialrun keeps (catalog, state, Optuna storage) lives in this fresh folder.
    os.environ["TRIALRUN_HOME"] = str(Path(".trialrun").resolve())
    os.environ["TRIALRUN_CATALOG"] = str(Path("datasets.yaml").resolve())
    os.environ.pop("TRIALRUN_OPTUNA_STORAGE", None)
    data = Prepared(args.dataset, manifests(args.data_dir)[args.dataset])
    out = RUNNERS[args.child](data, args.budget, args.threads)
    print("RESULT " + json.dumps(out), flush=True)


def measure(method: str, dataset: str, budget: float, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", method, "--dataset", dataset]
    command += ["--budget", str(budget), "--threads", str(args.threads)]
    for folder in args.data_dir:
        command += ["--data-dir", str(folder)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=budget * 4 + 300
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {budget * 4 + 300:.0f} s"}
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        # One method crashing must not lose the other rows of a long run: the row says it
        # failed, ranks last, and the error goes to stderr.
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        print(f"{method} on {dataset} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return {"error": last[0]}
    return json.loads(line.removeprefix("RESULT "))


def git_sha() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    )
    return done.stdout.strip()


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, action="append", help="repeatable")
    parser.add_argument("--datasets", nargs="*")
    parser.add_argument("--budgets", default="30,120")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--results", type=Path, default=Path("bench-tuning.jsonl"))
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--dataset")
    parser.add_argument("--budget", type=float)
    args = parser.parse_args()
    args.data_dir = args.data_dir or list(DEFAULT_DIRS)
    if args.child:
        child(args)
        return
    found = manifests(args.data_dir)
    datasets = args.datasets or sorted(found)
    unknown = sorted(set(datasets) - set(found))
    if unknown:
        raise SystemExit(
            f"Unknown datasets {unknown}; the --data-dir folders hold {sorted(found)}."
        )
    budgets = [float(b) for b in args.budgets.split(",")]
    methods = args.methods.split(",")
    if not args.report_only:
        done = {
            (r["dataset"], r["method"], r["budget"], r["threads"]) for r in read_rows(args.results)
        }
        sha = git_sha()
        for budget in budgets:
            for index, dataset in enumerate(datasets):
                order = methods[index % len(methods) :] + methods[: index % len(methods)]
                for method in order:
                    if (dataset, method, budget, args.threads) in done:
                        continue
                    r = measure(method, dataset, budget, args)
                    row = {
                        "dataset": dataset,
                        "method": method,
                        "budget": budget,
                        "threads": args.threads,
                        "metric": found[dataset]["metric"],
                        "task": found[dataset]["task"],
                        "commit": sha,
                        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                        **r,
                    }
                    with args.results.open("a") as out:
                        out.write(json.dumps(row) + "\n")
                    print(_line(row), file=sys.stderr, flush=True)
    rows = [
        r
        for r in read_rows(args.results)
        if r["dataset"] in datasets and r["method"] in methods and r["budget"] in budgets
    ]
    # A dataset not yet measured for every method (an interrupted run) stays out of the tables.
    count: dict[tuple[str, float], int] = {}
    for r in rows:
        count[(r["dataset"], r["budget"])] = count.get((r["dataset"], r["budget"]), 0) + 1
    rows = [r for r in rows if count[(r["dataset"], r["budget"])] == len(methods)]
    print(table(rank(rows), methods, budgets))


def _line(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['dataset']:20s} {r['method']:14s} {r['budget']:5.0f}s failed: {r['error']}"
    return (
        f"{r['dataset']:20s} {r['method']:14s} {r['budget']:5.0f}s test={r['test']:.4f} "
        f"valid={r['valid']:.4f} trials={r['trials']:4d} wall={r['wall']:6.1f}s"
    )


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rank the methods of each (dataset, budget) on the test score; a failure ranks last."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["budget"]), []).append(r)
    for group in groups.values():
        sign = -1 if group[0]["metric"] in LOWER_IS_BETTER else 1
        group.sort(key=lambda r: ("error" in r, -sign * r["test"] if "error" not in r else 0.0))
        for index, r in enumerate(group):
            r["rank"] = index + 1
    return rows


def table(rows: list[dict[str, Any]], methods: list[str], budgets: list[float]) -> str:
    lines = []
    for budget in budgets:
        subset = sorted(
            (r for r in rows if r["budget"] == budget),
            key=lambda r: (r["dataset"], methods.index(r["method"])),
        )
        if not subset:
            continue
        datasets = sorted({r["dataset"] for r in subset})
        lines += [
            f"### {budget:.0f} s",
            "",
            "| method | mean test rank | wins | mean validation rank | failed | worst wall/budget |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        valid_rank = _valid_ranks(subset)
        for m in methods:
            mine = [r for r in subset if r["method"] == m]
            if not mine:
                continue
            ok = [r for r in mine if "error" not in r]
            lines.append(
                f"| {m} | {statistics.fmean(r['rank'] for r in mine):.2f} "
                f"| {sum(r['rank'] == 1 for r in mine)} "
                f"| {statistics.fmean(valid_rank[id(r)] for r in mine):.2f} "
                f"| {len(mine) - len(ok)} "
                f"| {max((r['wall'] / budget for r in ok), default=float('nan')):.2f} |"
            )
        lines += [
            "",
            f"{len(datasets)} datasets; every method measured on each; rank 1 = best test score.",
            "",
            "| dataset | metric | method | test | validation | trials | first trial s "
            "| wall s | wall/budget | rank |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in subset:
            head = f"| {r['dataset']} | {r['metric']} | {r['method']} "
            if "error" in r:
                lines.append(head + f"| failed: {r['error'][:90]} | | | | | | {r['rank']} |")
                continue
            first = "-" if r.get("first_trial_s") is None else f"{r['first_trial_s']:.1f}"
            lines.append(
                head + f"| {r['test']:.4f} | {r['valid']:.4f} | {r['trials']} | {first} "
                f"| {r['wall']:.1f} | {r['wall'] / budget:.2f} | {r['rank']} |"
            )
        lines.append("")
    return "\n".join(lines)


def _valid_ranks(rows: list[dict[str, Any]]) -> dict[int, int]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["dataset"], []).append(r)
    ranks = {}
    for group in groups.values():
        sign = -1 if group[0]["metric"] in LOWER_IS_BETTER else 1
        ordered = sorted(
            group, key=lambda r: ("error" in r, -sign * r["valid"] if "error" not in r else 0.0)
        )
        for index, r in enumerate(ordered):
            ranks[id(r)] = index + 1
    return ranks


if __name__ == "__main__":
    main()
