"""Tuning at equal budget, side by side: trialrun vs FLAML vs Optuna + MLflowCallback.

Every method gets the same data, the same 80/20 split (seed 0, stratified for classification),
the same metric, the same wall-clock budget and the same CPU threads, on the same machine, in one
invocation, interleaved (the method order rotates per dataset). Each method runs in a fresh
process, timed from the moment its data is in memory, with MLflow tracking on (a SQLite store per
method). The score is on the held-out 20 %.

    python bench/tuning.py                       # ../shared/datasets, budgets 30 and 120 s
    python bench/tuning.py --budgets 30 --datasets adult electricity --threads 1
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


def load(data_dir: Path, name: str) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    manifest = json.loads((data_dir / "datasets.json").read_text())[name]
    frame = pd.read_parquet(data_dir / manifest["file"])
    y = frame.pop(manifest["target"]).to_numpy()
    if manifest["task"] != "regression":
        y = np.unique(y, return_inverse=True)[1]
    return frame, y, manifest


def split(frame: pd.DataFrame, y: np.ndarray, task: str) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    return train_test_split(
        frame, y, test_size=0.2, random_state=0, stratify=None if task == "regression" else y
    )


def score(metric: str, y_true: np.ndarray, pred: np.ndarray) -> float:
    from tools.training.metrics import get_metric
    from tools.training.metrics import score as trialrun_score

    n_classes = pred.shape[1] if pred.ndim == 2 else None
    return trialrun_score(get_metric(metric), y_true, pred, n_classes)


def run_trialrun(
    data_dir: Path, name: str, manifest: dict[str, Any], budget: float, threads: int
) -> dict[str, Any]:
    from tools.data.catalog import Catalog, add_dataset
    from tools.tuning.experiment import TuneRequest, tune

    catalog = Catalog.load(Path("datasets.yaml"))
    add_dataset(
        data_dir / manifest["file"],
        name=name,
        version="bench",
        target=manifest["target"],
        catalog=catalog,
        curated_by="bench",
    )
    # As for the other methods, the tracking store exists before the clock starts.
    from tools.tracking.runs import ensure_experiment

    ensure_experiment(f"bench-{name}")
    started = time.monotonic()
    result = tune(
        TuneRequest(
            dataset=name,
            version="bench",
            metric=manifest["metric"],
            families=("lightgbm", "xgboost"),
            trials=100_000,
            seconds=budget,
            cpus=threads,
            seeds=(0,),
            experiment=f"bench-{name}",
        )
    )
    wall = time.monotonic() - started
    final = result.finals[0]
    counts = result.study.counts if result.study else {}
    return {"score": final.fit.valid_score, "trials": sum(counts.values()), "wall": wall}


def run_flaml(frame, y, manifest, budget, threads) -> dict[str, Any]:
    import mlflow
    from flaml import AutoML

    X_train, X_valid, y_train, y_valid = split(frame, y, manifest["task"])
    metric = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"}[manifest["metric"]]
    task = "regression" if manifest["task"] == "regression" else "classification"
    mlflow.set_experiment(f"bench-flaml-{manifest['file']}")
    automl = AutoML()
    started = time.monotonic()
    with mlflow.start_run():
        automl.fit(
            X_train,
            y_train,
            X_val=X_valid,
            y_val=y_valid,
            task=task,
            metric=metric,
            time_budget=budget,
            estimator_list=["lgbm", "xgboost"],
            n_jobs=threads,
            verbose=0,
            seed=0,
            mlflow_logging=True,
        )
    wall = time.monotonic() - started
    pred = automl.predict(X_valid) if task == "regression" else automl.predict_proba(X_valid)
    trials = len(automl.config_history) if automl.config_history else 0
    return {
        "score": score(manifest["metric"], y_valid, np.asarray(pred)),
        "trials": trials,
        "wall": wall,
    }


def run_optuna(frame, y, manifest, budget, threads) -> dict[str, Any]:
    import lightgbm as lgb
    import optuna
    from optuna_integration.mlflow import MLflowCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X_train, X_valid, y_train, y_valid = split(frame, y, manifest["task"])
    task, metric = manifest["task"], manifest["metric"]
    objective_name = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[
        task
    ]
    extra = {"num_class": int(y.max()) + 1} if task == "multiclass" else {}

    def objective(trial: optuna.Trial) -> float:
        params = {
            "objective": objective_name,
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
            lgb.Dataset(X_train, y_train),
            num_boost_round=1000,
            valid_sets=[lgb.Dataset(X_valid, y_valid)],
            callbacks=[lgb.early_stopping(50, verbose=False)],
        )
        return score(
            metric, y_valid, booster.predict(X_valid, num_iteration=booster.best_iteration)
        )

    direction = "minimize" if metric in ("log_loss", "rmse") else "maximize"
    callback = MLflowCallback(tracking_uri=os.environ["MLFLOW_TRACKING_URI"], metric_name=metric)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=0))
    started = time.monotonic()
    study.optimize(objective, timeout=budget, callbacks=[callback])
    wall = time.monotonic() - started
    return {"score": study.best_value, "trials": len(study.trials), "wall": wall}


def child(args: argparse.Namespace) -> None:
    os.chdir(tempfile.mkdtemp(prefix=f"bench-{args.method}-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path('mlflow.db').resolve()}"
    frame, y, manifest = load(args.data_dir, args.dataset)
    if args.method == "trialrun":
        out = run_trialrun(args.data_dir, args.dataset, manifest, args.budget, args.threads)
    elif args.method == "flaml":
        out = run_flaml(frame, y, manifest, args.budget, args.threads)
    else:
        out = run_optuna(frame, y, manifest, args.budget, args.threads)
    print("RESULT " + json.dumps(out), flush=True)


def measure(method: str, dataset: str, budget: float, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        method,
        "--dataset",
        dataset,
        "--budget",
        str(budget),
        "--threads",
        str(args.threads),
        "--data-dir",
        str(args.data_dir),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=budget * 4 + 300
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        # One method crashing (FLAML's MLflow logging has hit SQLite's UNIQUE constraint on its
        # own tags) must not lose the other rows of a long run: the row says it failed, ranks
        # last, and the error goes to stderr.
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        print(f"{method} on {dataset} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return {"score": float("nan"), "trials": 0, "wall": float("nan"), "error": last[0]}
    return json.loads(line.removeprefix("RESULT "))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--datasets", nargs="*")
    parser.add_argument("--budgets", default="30,120")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--child")
    parser.add_argument("--dataset")
    parser.add_argument("--budget", type=float)
    args = parser.parse_args()
    if args.child:
        args.method = args.child
        child(args)
        return
    manifest = json.loads((args.data_dir / "datasets.json").read_text())
    datasets = args.datasets or sorted(manifest)
    budgets = [float(b) for b in args.budgets.split(",")]
    methods = args.methods.split(",")
    rows = []
    for budget in budgets:
        for index, dataset in enumerate(datasets):
            order = methods[index % len(methods) :] + methods[: index % len(methods)]
            results = {}
            for m in order:
                results[m] = r = measure(m, dataset, budget, args)
                print(
                    f"{dataset:20s} {m:14s} {budget:5.0f}s {r['score']:.4f} "
                    f"trials={r['trials']:4d} wall={r['wall']:6.1f}s",
                    file=sys.stderr,
                    flush=True,
                )
            sign = -1 if manifest[dataset]["metric"] in ("log_loss", "rmse") else 1
            ranked = sorted(
                methods,
                key=lambda m: (
                    "error" in results[m],
                    -sign * results[m]["score"] if "error" not in results[m] else 0.0,
                ),
            )
            for method in methods:
                r = results[method]
                rows.append(
                    {
                        "dataset": dataset,
                        "method": method,
                        "budget": budget,
                        "metric": manifest[dataset]["metric"],
                        "score": r["score"],
                        "trials": r["trials"],
                        "wall": r["wall"],
                        "overrun": r["wall"] / budget,
                        "rank": ranked.index(method) + 1,
                        "error": r.get("error"),
                    }
                )
    print(table(rows, args, datasets, methods, budgets))


def table(
    rows: list[dict[str, Any]],
    args: argparse.Namespace,
    datasets: list[str],
    methods: list[str],
    budgets: list[float],
) -> str:
    lines = [
        "| dataset | method | budget s | metric | validation score | trials | wall s | wall/budget | rank |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["error"]:
            lines.append(
                f"| {r['dataset']} | {r['method']} | {r['budget']:.0f} | {r['metric']} | "
                f"failed: {r['error'][:80]} | - | - | - | {r['rank']} |"
            )
            continue
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['budget']:.0f} | {r['metric']} | "
            f"{r['score']:.4f} | {r['trials']} | {r['wall']:.1f} | {r['overrun']:.2f} | {r['rank']} |"
        )
    lines.append("")
    for budget in budgets:
        subset = [r for r in rows if r["budget"] == budget]
        means = {
            m: statistics.fmean(r["rank"] for r in subset if r["method"] == m) for m in methods
        }
        wins = {m: sum(1 for r in subset if r["method"] == m and r["rank"] == 1) for m in methods}
        worst = {
            m: max((r["overrun"] for r in subset if r["method"] == m and not r["error"]), default=0)
            for m in methods
        }
        lines.append(
            f"budget {budget:.0f} s: mean rank: " + " ".join(f"{m}={means[m]:.1f}" for m in methods)
        )
        lines.append(
            f"budget {budget:.0f} s: wins ({len(datasets)} datasets): "
            + " ".join(f"{m}={wins[m]}" for m in methods)
        )
        lines.append(
            f"budget {budget:.0f} s: worst wall/budget: "
            + " ".join(f"{m}={worst[m]:.2f}" for m in methods)
        )
    means = {m: statistics.fmean(r["rank"] for r in rows if r["method"] == m) for m in methods}
    wins = {m: sum(1 for r in rows if r["method"] == m and r["rank"] == 1) for m in methods}
    lines.append("mean rank: " + " ".join(f"{m}={means[m]:.1f}" for m in methods))
    lines.append("wins: " + " ".join(f"{m}={wins[m]}" for m in methods))
    lines.append(f"threads per method: {args.threads}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
