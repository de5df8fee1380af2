"""Every logged model, loaded the way its users load it: ``mlflow.pyfunc`` on the frame they have.

The contract runs over both families and every public dataset beside the repository (binary,
multiclass with integer-coded and string labels, regression; category, string and missing
values). The point is the serving path, not the model's quality, so each dataset is a row sample
and each model trains a few rounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tools.data.catalog import Catalog
from tools.data.curate import add_dataset
from tools.experiment.data import load_context
from tools.experiment.request import TuneRequest
from tools.tracking.models import Member, log_model, served_predictions
from tools.tracking.runs import RunWriter, ensure_experiment
from tools.training import get_trainer
from tools.training.metrics import get_metric, score
from tools.training.run import DataContext, TrainOptions, TrainOutcome, train_tracked

REPO = Path(__file__).resolve().parents[3]
DATA_DIRS = [REPO.parent / "shared" / "datasets", REPO.parent / "shared" / "datasets-suite"]
FAMILIES = ("xgboost", "lightgbm")
SAMPLE_ROWS = 1200
ROUNDS = 8


def _manifests() -> list[tuple[Path, str, dict[str, Any]]]:
    found = []
    for directory in DATA_DIRS:
        manifest = directory / "datasets.json"
        if manifest.exists():
            for name, entry in json.loads(manifest.read_text()).items():
                found.append((directory, name, entry))
    return found


MANIFESTS = _manifests()


def sample_file(directory: Path, entry: dict[str, Any], to: Path) -> Path:
    """Write a row sample of a shared dataset (every class kept) and return its path."""
    frame = pd.read_parquet(directory / entry["file"]).sample(frac=1.0, random_state=0)
    if entry["task"] == "regression":
        frame = frame.head(SAMPLE_ROWS)
    else:
        per_class = max(12, SAMPLE_ROWS // entry["n_classes"])
        frame = frame.groupby(entry["target"], observed=True, sort=False).head(per_class)
    path = to / entry["file"]
    frame.to_parquet(path, index=False)
    return path


def train_final(ctx: DataContext, family: str, metric: str) -> TrainOutcome:
    return train_tracked(
        ctx,
        family=family,
        params=get_trainer(family).default_params(),
        metric=get_metric(metric, ctx.data.task),
        seed=0,
        experiment_id=ensure_experiment("served"),
        run_name=f"final-{family}",
        role="final",
        options=TrainOptions(max_rounds=ROUNDS),
    )


def catalogued(
    path: Path, name: str, target: str, metric: str, task: str | None = None
) -> DataContext:
    add_dataset(
        path,
        name=name,
        version="v1",
        target=target,
        catalog=Catalog.load(),
        task=task,  # type: ignore[arg-type]
        curated_by="t",
    )
    return load_context(TuneRequest(dataset=name, version="v1", metric=metric))


def held_out(ctx: DataContext) -> pd.DataFrame:
    """The validation rows as the catalogued file holds them, target removed."""
    return ctx.data.raw.loc[ctx.split.X_valid.index]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("directory", "name", "entry"),
    [pytest.param(*m, id=m[1]) for m in MANIFESTS]
    or [pytest.param(None, "none", {}, marks=pytest.mark.skip(reason="no shared datasets"))],
)
def test_the_final_model_serves_raw_rows_through_pyfunc(
    family: str,
    directory: Path,
    name: str,
    entry: dict[str, Any],
    tracking_store: str,
    tmp_path: Path,
) -> None:
    # The task as the dataset's documentation gives it: a sample of 26 whole-number classes, or of
    # a whole-number regression target, is ambiguous and `datasets add` asks for --task.
    ctx = catalogued(
        sample_file(directory, entry, tmp_path),
        name,
        entry["target"],
        entry["metric"],
        task=entry["task"],
    )
    outcome = train_final(ctx, family, entry["metric"])
    uri = outcome.output.model_artifact_path
    assert uri is not None
    rows = held_out(ctx)
    target = pd.read_parquet(ctx.entry.location)[entry["target"]].loc[rows.index]

    model = mlflow.pyfunc.load_model(uri)
    predicted = model.predict(rows)

    assert len(predicted) == len(rows)
    pred = served_predictions(uri, rows, ctx.data.n_classes)
    served = score(
        get_metric(entry["metric"], ctx.data.task), ctx.split.y_valid, pred, ctx.data.n_classes
    )
    assert served == pytest.approx(outcome.fit.valid_score, rel=1e-7, abs=1e-12)
    if entry["task"] == "regression":
        assert np.isfinite(np.asarray(predicted, dtype=float)).all()
    else:
        labels = sorted(target.unique().tolist())
        assert predicted.dtype == target.dtype
        assert set(predicted.tolist()) <= set(labels)
        proba = model.predict(rows, params={"predict_method": "predict_proba"})
        assert list(proba.columns) == labels
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    # Categories never seen in training, missing cells, strings where categories were: served.
    odd = rows.head(5).copy()
    for column in ctx.data.categorical_features:
        odd[column] = odd[column].astype(object)
        odd.iloc[0, odd.columns.get_loc(column)] = "a level never seen in training"
        odd[column] = odd[column].astype("str")
    odd.iloc[1, :] = None
    assert len(model.predict(odd)) == 5


@pytest.fixture
def adult(tracking_store: str, tmp_path: Path) -> DataContext:
    """A sample of adult: numbers, eight category columns, a 0/1 integer target."""
    directory = DATA_DIRS[0]
    if not (directory / "adult.parquet").exists():
        pytest.skip(f"the shared datasets are not at {str(directory)!r}")
    entry = json.loads((directory / "datasets.json").read_text())["adult"]
    return catalogued(sample_file(directory, entry, tmp_path), "adult", entry["target"], "roc_auc")


@pytest.fixture
def wine(example_contexts: dict[str, DataContext], tracking_store: str) -> DataContext:
    return example_contexts["wine"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_logged_model_loads_where_trialrun_is_not_installed(
    family: str, adult: DataContext, tracking_store: str, tmp_path: Path
) -> None:
    uri = train_final(adult, family, "roc_auc").output.model_artifact_path
    assert uri is not None
    rows = held_out(adult).head(50)
    rows.to_parquet(tmp_path / "rows.parquet")
    expected = mlflow.pyfunc.load_model(uri).predict(
        rows, params={"predict_method": "predict_proba"}
    )
    # A fresh interpreter in another directory, where importing any of trialrun's packages fails:
    # only the model's own files and requirements can serve it.
    script = f"""
import importlib.abc, json, sys
class NoTrialrun(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tools", "agent", "prompts", "trialrun"):
            raise ModuleNotFoundError(f"{{name}} is not importable here")
sys.meta_path.insert(0, NoTrialrun())
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model({uri!r})
rows = pd.read_parquet("rows.parquet")
proba = model.predict(rows, params={{"predict_method": "predict_proba"}})
labels = model.predict(rows)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tools", "agent", "prompts"))
print(json.dumps({{"proba": proba[1].tolist(), "labels": labels.tolist(), "loaded": loaded}}))
"""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "rows.parquet").write_bytes((tmp_path / "rows.parquet").read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MLFLOW_TRACKING_URI"] = tracking_store
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    np.testing.assert_allclose(result["proba"], expected[1].to_numpy())
    assert result["labels"] == (expected[1] > 0.5).astype(int).tolist()
    local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "model")))
    requirements = (local / "requirements.txt").read_text().split()
    assert sorted(r.split("==")[0] for r in requirements) == sorted(
        ["mlflow", "numpy", "pandas", family]
    )


def test_an_ensemble_is_the_same_model_class_with_weighted_members(
    wine: DataContext, tracking_store: str
) -> None:
    outcomes = {family: train_final(wine, family, "log_loss") for family in FAMILIES}
    writer = RunWriter(ensure_experiment("served"), "ensemble")
    uri = log_model(
        [
            Member("xgboost", outcomes["xgboost"].fit.model, 1.0),
            Member("lightgbm", outcomes["lightgbm"].fit.model, 3.0),
        ],
        encoding=wine.data.encoding,
        run_id=writer.run_id,
    )
    writer.finish()
    rows = held_out(wine)

    proba = mlflow.pyfunc.load_model(uri).predict(rows, params={"predict_method": "predict_proba"})

    single = {
        family: mlflow.pyfunc.load_model(o.output.model_artifact_path).predict(
            rows, params={"predict_method": "predict_proba"}
        )
        for family, o in outcomes.items()
    }
    np.testing.assert_allclose(
        proba.to_numpy(), 0.25 * single["xgboost"].to_numpy() + 0.75 * single["lightgbm"].to_numpy()
    )
    assert list(proba.columns) == wine.data.class_labels
    code = {
        Path(mlflow.models.get_model_info(u).flavors["python_function"]["model_code_path"]).name
        for u in (uri, *(str(o.output.model_artifact_path) for o in outcomes.values()))
    }
    assert code == {"served_model.py"}


def test_the_model_lives_in_its_runs_experiment_under_the_documented_folder(
    wine: DataContext, tracking_store: str
) -> None:
    outcome = train_final(wine, "lightgbm", "log_loss")

    client = MlflowClient(tracking_store)
    run = client.get_run(outcome.output.mlflow_run_id)
    (output,) = run.outputs.model_outputs
    logged = client.get_logged_model(output.model_id)
    assert logged.experiment_id == run.info.experiment_id != "0"
    assert logged.source_run_id == run.info.run_id
    assert str(outcome.output.model_artifact_path) == f"models:/{logged.model_id}"
    assert Path("mlartifacts").resolve().as_uri() in logged.artifact_location
    assert list(Path("mlartifacts").rglob(f"{logged.model_id}/artifacts/MLmodel"))
    assert not Path("mlruns").exists()


def test_the_signature_names_every_column_and_the_predict_method(
    adult: DataContext, tracking_store: str
) -> None:
    outcome = train_final(adult, "xgboost", "roc_auc")

    info = mlflow.models.get_model_info(str(outcome.output.model_artifact_path))
    signature = info.signature
    assert signature.inputs.input_names() == adult.data.feature_names
    assert {p.name: p.default for p in signature.params.params} == {"predict_method": "predict"}
    local = mlflow.artifacts.download_artifacts(str(outcome.output.model_artifact_path))
    example = mlflow.models.Model.load(local).load_input_example(local)
    assert list(example.columns) == adult.data.feature_names
    assert example.iloc[1].isna().all()  # a row of missing values, served like any other


def test_serving_errors_say_what_to_pass(adult: DataContext, tracking_store: str) -> None:
    outcome = train_final(adult, "lightgbm", "roc_auc")
    model = mlflow.pyfunc.load_model(str(outcome.output.model_artifact_path))
    rows = held_out(adult).head(20)

    with pytest.raises(Exception, match=r"predict_method 'proba' is not one of"):
        model.predict(rows, params={"predict_method": "proba"})
    with pytest.raises(Exception, match=r"'age'"):
        model.predict(rows.drop(columns=["age"]))
    text = rows.astype({"age": object})
    text.iloc[0, text.columns.get_loc("age")] = "forty"
    with pytest.raises(Exception, match=r"Column 'age' holds numbers .*'forty'"):
        model.predict(text)


def test_a_regression_model_refuses_probabilities(
    example_contexts: dict[str, DataContext], tracking_store: str
) -> None:
    diabetes = example_contexts["diabetes"]
    outcome = train_final(diabetes, "xgboost", "rmse")
    model = mlflow.pyfunc.load_model(str(outcome.output.model_artifact_path))

    values = model.predict(held_out(diabetes))
    assert values.dtype == np.float64
    with pytest.raises(Exception, match=r"no class probabilities"):
        model.predict(held_out(diabetes), params={"predict_method": "predict_proba"})


def test_a_member_of_an_unknown_family_is_refused(wine: DataContext, tracking_store: str) -> None:
    writer = RunWriter(ensure_experiment("served"), "bad")
    with pytest.raises(ValueError, match=r"Unknown model family 'catboost'"):
        log_model([Member("catboost", object())], encoding=wine.data.encoding, run_id=writer.run_id)
    with pytest.raises(ValueError, match=r"weight -1"):
        log_model(
            [Member("lightgbm", object(), -1)], encoding=wine.data.encoding, run_id=writer.run_id
        )
