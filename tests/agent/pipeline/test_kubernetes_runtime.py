"""What a Kubernetes runtime's pods are given, and what is refused before any of them starts.

No cluster is needed: these runtimes name no Secret to read, or read none.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.pipeline.kubernetes_runtime import check_data, pod_settings
from agent.request import ExperimentRequest
from tools.data.catalog import DatasetEntry
from tools.errors import InputError
from tools.jobs.kubernetes import KubernetesBackend

DB = "postgresql+psycopg2://optuna@db.example.com:5432/optuna"
DB_WITH_PASSWORD = "postgresql+psycopg2://optuna:hunter2@db.example.com:5432/optuna"


def request(**kubernetes) -> ExperimentRequest:
    return ExperimentRequest.model_validate(
        {
            "dataset": "churn",
            "version": "v3",
            "metric": "roc_auc",
            "budget": {"trials": 20, "seconds": 600, "cpus": 4, "parallel": 2},
            "seeds": [0],
            "runtime": {"kubernetes": {"namespace": "ml-dev", "image": "img:1", **kubernetes}},
        }
    )


def entry(location: str) -> DatasetEntry:
    return DatasetEntry(
        name="churn",
        version="v3",
        location=location,
        sha256="0" * 64,
        target="churned",
        curated_by="ml-platform",
        added_at=datetime.now(UTC),
        rows=10,
        columns=3,
    )


@pytest.fixture(autouse=True)
def stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example.com:5000")
    monkeypatch.setenv("TRIALRUN_OPTUNA_STORAGE", DB)
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TRIALRUN_K8S_IMAGE", raising=False)


def test_plain_store_urls_travel_as_values_and_the_budget_sets_memory_and_cleanup():
    pods = pod_settings(request(memory="6Gi"))

    assert pods.image == "img:1"
    assert pods.env == {
        "MLFLOW_TRACKING_URI": "http://mlflow.example.com:5000",
        "TRIALRUN_OPTUNA_STORAGE": DB,
    }
    assert pods.memory_mib == 6144
    assert pods.ttl_seconds == 3600  # at least an hour, or the time budget when longer


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRIALRUN_OPTUNA_STORAGE", DB_WITH_PASSWORD),
        ("MLFLOW_TRACKING_URI", "https://ci:s3cret@mlflow.example.com"),
        ("MLFLOW_TRACKING_TOKEN", "tok-123"),
        ("MLFLOW_TRACKING_PASSWORD", "pw-123"),
    ],
)
def test_a_credential_no_secret_provides_is_refused_and_never_copied(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(variable, value)

    with pytest.raises(InputError) as refused:
        pod_settings(request())

    assert f"The pods would need {variable}, which hold credentials" in str(refused.value)
    assert "kubectl create secret generic trialrun --namespace ml-dev" in str(refused.value)
    assert value not in str(refused.value)


class _Cluster(KubernetesBackend):
    """The Kubernetes backend, with Secrets that hold ``keys`` (where no cluster is needed)."""

    def __init__(self, keys: set[str]):
        super().__init__()
        self.keys = frozenset(keys)

    def secret_keys(self, namespace: str, name: str) -> frozenset[str]:
        return self.keys


def test_a_credential_mapped_to_a_secret_key_is_left_to_the_cluster(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("TRIALRUN_OPTUNA_STORAGE", DB_WITH_PASSWORD)
    runtime = {"secrets": {"env": {"TRIALRUN_OPTUNA_STORAGE": {"secret": "db", "key": "url"}}}}

    pods = pod_settings(request(**runtime), backends={"kubernetes": _Cluster({"url"})})

    assert pods.env == {"MLFLOW_TRACKING_URI": "http://mlflow.example.com:5000"}
    assert pods.secret_env["TRIALRUN_OPTUNA_STORAGE"].secret == "db"


def test_a_variable_a_secret_holds_is_not_set_from_here_where_it_would_override_it(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123")
    cluster = _Cluster({"MLFLOW_TRACKING_TOKEN", "TRIALRUN_OPTUNA_STORAGE"})

    pods = pod_settings(
        request(secrets={"env_from": ["trialrun"]}), backends={"kubernetes": cluster}
    )

    assert pods.env == {"MLFLOW_TRACKING_URI": "http://mlflow.example.com:5000"}
    assert pods.secret_env_from == ["trialrun"]


@pytest.mark.parametrize(
    ("runtime", "image"),
    [({"image": None}, "from-env:2"), ({}, "img:1")],
    ids=["environment", "runtime-block"],
)
def test_the_image_comes_from_the_runtime_block_else_the_environment(
    runtime, image, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TRIALRUN_K8S_IMAGE", "from-env:2")

    assert pod_settings(request(**runtime)).image == image


def test_no_image_anywhere_is_refused_with_how_to_build_one():
    with pytest.raises(InputError, match="runtime.kubernetes.image nor TRIALRUN_K8S_IMAGE") as e:
        pod_settings(request(image=None))

    assert "docker/Dockerfile" in str(e.value)


@pytest.mark.parametrize(
    "location",
    [
        "s3://team-data/churn/v3.parquet",
        "gs://team/churn.parquet",
        "https://data.example.com/c.csv",
    ],
)
def test_a_file_at_a_url_the_cluster_can_read_is_accepted(location: str):
    check_data(request(), entry(location))


def test_a_file_on_the_claim_named_in_the_runtime_is_accepted():
    data = {"claim": "team-datasets", "mount": "/mnt/datasets"}

    check_data(request(data=data), entry("/mnt/datasets/churn/v3.parquet"))


@pytest.mark.parametrize(
    ("location", "data", "hint"),
    [
        (
            "/home/me/churn.parquet",
            None,
            "on a PersistentVolumeClaim named in runtime.kubernetes.data",
        ),
        ("file:///home/me/churn.parquet", None, "s3://"),
        (
            "/home/me/churn.parquet",
            {"claim": "team-datasets", "mount": "/mnt/datasets"},
            "under '/mnt/datasets', where the PersistentVolumeClaim 'team-datasets' is mounted",
        ),
    ],
    ids=["local-path", "file-url", "outside-the-claim"],
)
def test_a_file_only_this_machine_can_read_is_refused_with_where_to_put_it(location, data, hint):
    runtime = {"data": data} if data else {}

    with pytest.raises(InputError) as refused:
        check_data(request(**runtime), entry(location))

    assert f"The pods cannot read churn@v3: its file {location!r}" in str(refused.value)
    assert hint in str(refused.value)
