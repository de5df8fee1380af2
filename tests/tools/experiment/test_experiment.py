"""A whole tuning experiment on real data, read back from MLflow and the Optuna storage."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from experiment_steps import run_steps
from mlflow import MlflowClient
from mlflow.entities import Run

from tools import settings
from tools.data.catalog import Catalog
from tools.experiment.request import TuneRequest
from tools.training import get_trainer

FINISHED_STATES = ("COMPLETE", "PRUNED")
SUPPORT = Path(__file__).resolve().parents[2] / "support"


def cancer_request(**fields: Any) -> TuneRequest:
    values: dict[str, Any] = {
        "dataset": "breast_cancer",
        "version": "v1",
        "metric": "roc_auc",
        "families": ("xgboost", "lightgbm"),
        "seeds": (0, 1),
        "max_rounds": 200,
        "early_stopping_rounds": 20,
    }
    return TuneRequest(**{**values, **fields})


def experiment_runs(client: MlflowClient, request: TuneRequest) -> list[Run]:
    experiment = client.get_experiment_by_name(request.experiment_name)
    return list(client.search_runs([experiment.experiment_id], max_results=1000))


def by_role(runs: list[Run], role: str) -> list[Run]:
    return [r for r in runs if r.data.tags.get("trialrun.role") == role]


def study_trials(study_name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=study_name, storage=settings.optuna_storage())
    return study.get_trials(deepcopy=False)


@pytest.fixture
def warm_imports() -> None:
    """Import what a tune step uses, as a process does once at start-up.

    The budget promise covers the step's own work; the first import of XGBoost, LightGBM,
    matplotlib and MLflow's model flavours (seconds on this machine) is a once-per-process cost
    that would otherwise land on whichever test runs first.
    """
    import lightgbm  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import mlflow.lightgbm  # noqa: F401
    import mlflow.pyfunc  # noqa: F401
    import mlflow.xgboost  # noqa: F401
    import optuna.visualization.matplotlib  # noqa: F401
    import xgboost  # noqa: F401


def test_tune_builds_one_parent_whose_children_are_the_baseline_every_trial_and_the_finals(
    examples_catalog: Catalog, tracking_store: str, tmp_path: Path
) -> None:
    # Sampler seed 3 and a patience that lets trials run past their pruning warm-up prune a few
    # of the first ten trials, so every trial state is covered.
    request = cancer_request(trials=10, seconds=120, seeds=(3, 4), early_stopping_rounds=100)

    result = run_steps(request)

    client = MlflowClient(tracking_store)
    runs = experiment_runs(client, request)
    (parent,) = by_role(runs, "parent")
    assert parent.info.run_id == result.parent_run_id
    assert parent.info.status == "FINISHED"
    assert "mlflow.parentRunId" not in parent.data.tags
    children = [r for r in runs if r is not parent]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert len(by_role(runs, "baseline")) == 1
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"

    assert result.study is not None
    assert parent.data.tags["optuna.study"] == result.study.study_name
    trials = study_trials(result.study.study_name)
    study = optuna.load_study(study_name=result.study.study_name, storage=settings.optuna_storage())
    assert study.metric_names == ["roc_auc"]
    assert study.user_attrs == {
        "mlflow_experiment": request.experiment_name,
        "mlflow_experiment_id": parent.info.experiment_id,
        "mlflow_parent_run_id": parent.info.run_id,
        "dataset": "breast_cancer@v1",
        "dataset_digest": parent.data.tags["dataset.digest"],
        "metric": "roc_auc",
    }
    assert len(trials) == 10
    assert sum(t.state.name in FINISHED_STATES for t in trials) == 10
    states = {t.state.name for t in trials}
    assert states == {"COMPLETE", "PRUNED"}
    trial_runs = {r.info.run_id: r for r in by_role(runs, "trial")}
    assert len(trial_runs) == 10
    for trial in trials:
        run = trial_runs[trial.user_attrs["mlflow_run_id"]]
        assert run.data.tags["trialrun.trial_state"] == trial.state.name
        assert run.data.tags["optuna.trial"] == str(trial.number)
        if trial.state.name == "PRUNED":
            # The UI shows a pruned trial as stopped, and says when and against what.
            assert run.info.status == "KILLED"
            step = int(run.data.tags["trialrun.pruned_at_round"])
            assert trial.user_attrs["pruned_at_round"] == step
            assert float(run.data.tags["trialrun.pruned_value"]) == trial.intermediate_values[step]
            assert "trialrun.pruned_median" in run.data.tags
        else:
            assert run.info.status == "FINISHED"
    assert all(r.info.status == "FINISHED" for r in children if r.info.run_id not in trial_runs)

    finals = by_role(runs, "final")
    assert sorted(r.data.tags["trialrun.seed"] for r in finals) == ["3", "4"]
    best = result.study.best_params
    # The finals train the best trial's configuration, or the baseline's when it scored better.
    assert result.study.best_value is not None
    if result.baseline.fit.valid_score > result.study.best_value:
        chosen_family, chosen = result.baseline.family, get_trainer("xgboost").default_params()
    else:
        chosen_family, chosen = result.study.best_family, best
    for final in finals:
        assert final.data.tags["trialrun.family"] == chosen_family
        plots = {a.path for a in client.list_artifacts(final.info.run_id, "plots")}
        assert plots == {
            "plots/roc_curve.png",
            "plots/precision_recall_curve.png",
            "plots/confusion_matrix.png",
            "plots/feature_importance.png",
        }
        assert {k: final.data.params[k] for k in chosen} == {k: str(v) for k, v in chosen.items()}

    assert {k: parent.data.params[f"best_{k}"] for k in best} == {
        k: str(v) for k, v in best.items()
    }
    # The parent's headline metrics are the experiment's results: Best is the finals' mean
    scores = [f.data.metrics["valid_roc_auc"] for f in finals]
    assert parent.data.metrics["best_valid_roc_auc"] == pytest.approx(sum(scores) / len(scores))
    (baseline,) = by_role(runs, "baseline")
    assert parent.data.metrics["baseline_test_roc_auc"] == baseline.data.metrics["test_roc_auc"]
    assert parent.data.metrics["delta_test_roc_auc"] == pytest.approx(
        parent.data.metrics["best_test_roc_auc"] - baseline.data.metrics["test_roc_auc"]
    )
    assert parent.data.metrics["tuning/best_trial_value"] == result.study.best_value
    assert parent.data.tags["optuna.stop_reason"] == "trial budget reached"
    assert parent.data.tags["optuna.best_run_id"] == result.study.best_run_id
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "optuna")}
    assert artifacts == {
        "optuna/trials.json",
        "optuna/optimization_history.png",
        "optuna/param_importances.png",
    }
    table = json.loads(
        Path(
            client.download_artifacts(parent.info.run_id, "optuna/trials.json", str(tmp_path))
        ).read_text()
    )
    assert sorted(row["mlflow_run_id"] for row in table) == sorted(trial_runs)


def test_tune_ends_within_its_time_budget_plus_five_percent(
    examples_catalog: Catalog, tracking_store: str, warm_imports: None
) -> None:
    request = cancer_request(trials=10_000, seconds=8, max_rounds=2000, early_stopping_rounds=50)

    started = time.monotonic()
    result = run_steps(request)
    wall = time.monotonic() - started

    assert wall <= request.seconds * 1.05
    assert result.study is not None
    assert result.study.stop_reason == "time budget reached"
    assert [f.seed for f in result.finals] == [0, 1]
    runs = experiment_runs(MlflowClient(tracking_store), request)
    pruned = [r for r in runs if r.data.tags.get("trialrun.trial_state") == "PRUNED"]
    assert {r.info.status for r in pruned} <= {"KILLED"}  # how the UI shows a pruned trial
    assert {r.info.status for r in runs if r not in pruned} == {"FINISHED"}


def finished_trials(optuna_db: Path) -> int:
    """Count finished trials straight from the storage file another process is writing."""
    if not optuna_db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{optuna_db}?mode=ro", uri=True)) as db:
            (count,) = db.execute(
                "SELECT count(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED')"
            ).fetchone()
    except sqlite3.OperationalError:  # the schema is still being created
        return 0
    return int(count)


def test_a_tune_killed_mid_study_resumes_without_repeating_finished_trials(
    examples_catalog: Catalog, tracking_store: str, tmp_path: Path
) -> None:
    request = cancer_request(trials=8, seconds=300, families=("lightgbm",))
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(SUPPORT)!r})
        from experiment_steps import run_steps
        from tools.experiment.request import TuneRequest
        run_steps(TuneRequest(**{request.__dict__!r}))
        """
    )
    crashed = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while finished_trials(tmp_path / "optuna.db") < 3:
            assert crashed.poll() is None, "the tune process ended before it was killed"
            assert time.monotonic() < deadline, "no 3 finished trials within 120 s"
            time.sleep(0.05)
    finally:
        os.kill(crashed.pid, signal.SIGKILL)
        crashed.wait()
    client = MlflowClient(tracking_store)
    (crashed_parent,) = by_role(experiment_runs(client, request), "parent")
    assert crashed_parent.info.status == "RUNNING"
    study_name = crashed_parent.data.tags["optuna.study"]
    (baseline,) = by_role(experiment_runs(client, request), "baseline")
    assert baseline.info.status == "FINISHED"
    before = {
        t.number: (t.state.name, t.params)
        for t in study_trials(study_name)
        if t.state.name in FINISHED_STATES
    }

    result = run_steps(request)

    assert result.parent_run_id == crashed_parent.info.run_id
    assert result.study is not None and result.study.study_name == study_name
    trials = study_trials(study_name)
    finished = [t for t in trials if t.state.name in FINISHED_STATES]
    assert len(finished) == request.trials
    # The trials finished before the kill are kept as they were, and none is run again.
    assert {t.number: (t.state.name, t.params) for t in finished if t.number in before} == before
    assert all(t.state.name != "FAIL" for t in trials)
    assert len(trials) - len(finished) <= 1  # the one the kill interrupted, left RUNNING
    runs = experiment_runs(client, request)
    assert "RUNNING" not in {r.info.status for r in runs}
    (parent,) = by_role(runs, "parent")
    assert parent.info.status == "FINISHED"
    # The baseline that finished before the kill is kept, not trained again beside it.
    assert [r.info.run_id for r in by_role(runs, "baseline")] == [baseline.info.run_id]
    assert result.baseline.output.mlflow_run_id == baseline.info.run_id
    finished_runs = {t.user_attrs["mlflow_run_id"] for t in finished}
    assert finished_runs <= {r.info.run_id for r in by_role(runs, "trial")}


def test_when_no_trial_beats_the_baseline_the_finals_keep_the_baseline_configuration(
    examples_catalog: Catalog, tracking_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools.tuning import space

    # One trial, a configuration that cannot catch up in ten rounds: a tenth of the
    # defaults' learning rate.
    slow = {**get_trainer("lightgbm").default_params(), "learning_rate": 0.01}
    slow |= {"lambda_l1": 1e-3, "lambda_l2": 1e-3, "subsample": 1.0, "feature_fraction": 1.0}
    monkeypatch.setattr(space, "PORTFOLIO", [("lightgbm", slow)])
    request = TuneRequest(
        dataset="diabetes",
        version="v1",
        metric="rmse",
        families=("lightgbm",),
        trials=1,
        seconds=60,
        max_rounds=10,
    )

    result = run_steps(request)

    assert result.study is not None and result.study.best_value is not None
    assert result.baseline.fit.valid_score < result.study.best_value
    final = result.finals[0]
    assert final.output.best_hyperparameters["learning_rate"] == 0.1
    assert final.fit.valid_score == result.baseline.fit.valid_score
    assert any("no trial beat the lightgbm baseline" in note for note in result.notes)


def test_no_step_of_the_search_reads_the_test_share(
    examples_catalog: Catalog, tracking_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    import experiment_steps
    import numpy as np

    from tools.experiment.data import load_context

    request = cancer_request(trials=8, seconds=600, seeds=(0, 1))
    honest = load_context(request)
    # The same split, but test rows that are noise with shuffled labels: if any trial, early
    # stopping, pruning or the choice of the final read them, some validation number would move.
    rng = np.random.default_rng(5)
    X_test = honest.split.X_test.copy()
    X_test[:] = rng.permutation(X_test.to_numpy())
    scrambled = dataclasses.replace(
        honest,
        split=dataclasses.replace(
            honest.split, X_test=X_test, y_test=rng.permutation(honest.split.y_test)
        ),
    )
    assert len(honest.split.y_test) == 86  # 15 % of 569 rows

    def validation_numbers(result: experiment_steps.Ran) -> dict[str, Any]:
        assert result.study is not None
        trials = study_trials(result.study.study_name)
        return {
            "baseline": result.baseline.fit.valid_score,
            "trials": [(t.state.name, t.value, t.params) for t in trials],
            "finals": [(f.family, f.fit.valid_score, f.fit.best_iteration) for f in result.finals],
        }

    first = run_steps(request)
    monkeypatch.setattr(experiment_steps, "load_context", lambda _: scrambled)
    second = run_steps(dataclasses.replace(request, experiment="scrambled-test-share"))

    assert validation_numbers(second) == validation_numbers(first)
    assert len(validation_numbers(first)["trials"]) == 8
    tested = [(first.baseline, second.baseline), *zip(first.finals, second.finals, strict=True)]
    for honest_run, scrambled_run in tested:
        assert set(honest_run.output.test_metrics) == {"test_roc_auc"}
        assert honest_run.output.test_metrics["test_roc_auc"] > 0.9
        assert abs(scrambled_run.output.test_metrics["test_roc_auc"] - 0.5) < 0.2


@pytest.mark.parametrize(
    ("classes", "metric", "catalogued", "trained"),
    [
        # 26 whole-number classes are inferred as a regression target: log_loss says otherwise.
        (26, "log_loss", "regression", "multiclass"),
        # 7 whole-number values are inferred as classes: rmse says they are values.
        (7, "rmse", "multiclass", "regression"),
    ],
)
def test_the_metric_decides_what_a_whole_number_target_is(
    tracking_store: str, tmp_path: Path, classes: int, metric: str, catalogued: str, trained: str
) -> None:
    import numpy as np
    import pandas as pd

    from tools.data.curate import add_dataset
    from tools.experiment.data import load_context

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40 * classes), "z": rng.normal(size=40 * classes)})
    frame["label"] = np.repeat(np.arange(classes), 40).astype(np.int8)
    frame.to_parquet(tmp_path / "letters.parquet")
    catalog = Catalog.load("datasets.yaml")
    entry = add_dataset(
        tmp_path / "letters.parquet", name="letters", version="v1", target="label", catalog=catalog
    )
    assert entry.task == catalogued

    ctx = load_context(TuneRequest(dataset="letters", version="v1", metric=metric))

    assert ctx.data.task == trained
    assert ctx.data.n_classes == (classes if trained == "multiclass" else None)
