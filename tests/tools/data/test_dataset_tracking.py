from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tools.data.curate import add_dataset
from tools.data.load import load_curated
from tools.data.validate import prepare
from tools.tracking.dataset import MLFLOW_DIGEST_LENGTH, log_dataset

SECRET = "secret-mailbox.example.org"
RARE_LEVEL = "zebra-clinic"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real SQLite tracking store with its artifacts beside it, shared by this module."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.create_experiment("data", artifact_location=(root / "art").as_uri())
        # Through the environment, so the choice ends with this module.
        patch.setenv("MLFLOW_EXPERIMENT_ID", experiment)
        yield root
    mlflow.set_tracking_uri(previous)


@pytest.fixture(autouse=True)
def _use_store(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite unsets MLFLOW_TRACKING_URI before every test; point it at this module's store.
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)


@pytest.fixture
def curated(tmp_path: Path, catalog, cancer: pd.DataFrame):
    """The breast cancer data with two PII columns and a string feature, catalogued."""
    cancer["email"] = [f"patient{i}@{SECRET}" for i in range(len(cancer))]
    cancer["ssn"] = [f"900-{i:02d}-{i * 7919 % 10000:04d}" for i in range(len(cancer))]
    cancer["clinic"] = np.where(cancer.mean_radius > 14, f"{RARE_LEVEL}-north", "south")
    path = tmp_path / "data" / "cancer.parquet"
    path.parent.mkdir()
    cancer.to_parquet(path)
    add_dataset(
        path,
        name="cancer",
        version="v1",
        target="benign",
        catalog=catalog,
        pii_columns=["email", "ssn"],
        curated_by="ada",
    )
    entry, frame = load_curated("cancer", "v1", catalog=catalog)
    return entry, prepare(frame, entry)


def test_the_run_records_the_dataset_by_catalog_name_digest_and_source(store, curated) -> None:
    entry, data = curated
    with mlflow.start_run() as run:
        log_dataset(entry, data)

    logged = MlflowClient().get_run(run.info.run_id)
    (item,) = logged.inputs.dataset_inputs
    dataset = item.dataset
    assert dataset.name == "cancer@v1"
    assert dataset.digest == entry.sha256[:MLFLOW_DIGEST_LENGTH]
    assert json.loads(dataset.source) == {"uri": entry.location}
    assert dataset.source_type == "local"
    columns = json.loads(dataset.schema)["mlflow_colspec"]
    assert [c["name"] for c in columns] == [*data.feature_names, "benign"]
    assert {c["name"]: c["type"] for c in columns}["clinic"] == "string"
    assert not {"email", "ssn"} & {c["name"] for c in columns}
    assert json.loads(dataset.profile)["num_rows"] == 569
    tags = {t.key: t.value for t in item.tags}
    assert tags["mlflow.data.context"] == "training"
    assert logged.data.tags["dataset.name"] == "cancer"
    assert logged.data.tags["dataset.version"] == "v1"
    assert logged.data.tags["dataset.digest"] == entry.sha256


def test_no_row_and_no_pii_value_reaches_the_store(store, curated) -> None:
    entry, data = curated
    with mlflow.start_run():
        log_dataset(entry, data, context="tuning")

    stored = b"".join(p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file())
    assert entry.sha256.encode() in stored  # the scan does see what was logged
    for value in (SECRET, "900-01-", RARE_LEVEL):
        assert value.encode() not in stored


def test_a_run_named_by_id_gets_the_same_input(store, curated) -> None:
    entry, data = curated
    experiment = mlflow.get_experiment_by_name("data")
    run = MlflowClient().create_run(experiment.experiment_id)

    log_dataset(entry, data, run_id=run.info.run_id, context="tuning")

    (item,) = MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert (item.dataset.name, item.dataset.digest) == ("cancer@v1", entry.sha256[:36])
    assert {t.key: t.value for t in item.tags}["mlflow.data.context"] == "tuning"


@pytest.mark.parametrize(
    ("location", "source_type"),
    [("s3://bucket/cancer.parquet", "s3"), ("gcs://bucket/cancer.parquet", "uri")],
)
def test_a_url_location_is_recorded_as_the_source(store, curated, location, source_type) -> None:
    entry, data = curated
    # A new name: the store keeps one dataset per name and digest, whatever its source.
    moved = entry.model_copy(update={"location": location, "name": f"cancer-{source_type}"})
    with mlflow.start_run() as run:
        log_dataset(moved, data)

    (item,) = MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert json.loads(item.dataset.source) == {"uri": location}
    assert item.dataset.source_type == source_type


def test_log_dataset_needs_an_active_run(store, curated) -> None:
    with pytest.raises(RuntimeError, match="active MLflow run"):
        log_dataset(*curated)
