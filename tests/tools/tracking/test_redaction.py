"""Secrets and personal data never reach the tracking store: per pattern, and end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from tools import settings
from tools.data.catalog import Catalog
from tools.data.curate import add_dataset
from tools.experiment.data import load_context
from tools.experiment.parent import open_parent
from tools.experiment.request import TuneRequest
from tools.experiment.results import record_optimization
from tools.experiment.train import train_baseline, train_finals
from tools.experiment.tune import tune_study
from tools.redact import REDACTED, find_secrets, redact, redact_mapping
from tools.tracking.runs import RunWriter, ensure_experiment
from tools.training.metrics import get_metric
from tools.training.run import train_tracked

OPENAI_KEY = "sk-proj-" + "Qz7xK2mV9pL4" * 3
SLACK_TOKEN = "xoxb-2718281828-3141592653-Zx9Qw8Er7Ty6"
GITHUB_TOKEN = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7"
AWS_KEY = "AKIAJ7Q4XKZ2LM5NP8RT"
DB_PASSWORD = "Tr0ub4dor-and-3"
DB_URL = f"postgresql://analyst:{DB_PASSWORD}@db.internal:5432/sales"
EMAIL = "ada.lovelace@example.org"
PHONE = "+44 20 7946 0958"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"use key {OPENAI_KEY} please", OPENAI_KEY),
        (f"token {SLACK_TOKEN}", SLACK_TOKEN),
        (f"clone with {GITHUB_TOKEN}", GITHUB_TOKEN),
        (f"aws {AWS_KEY}", AWS_KEY),
        (f"data at {DB_URL}", DB_PASSWORD),
        (f"mail {EMAIL} today", EMAIL),
        (f"call {PHONE} now", PHONE),
        (f"Authorization: Bearer {JWT}", JWT),
        (f"password={DB_PASSWORD}", DB_PASSWORD),
        (f'"api_key": "{DB_PASSWORD}"', DB_PASSWORD),
    ],
)
def test_each_kind_of_secret_is_redacted_from_free_text(text: str, secret: str) -> None:
    redacted = redact(text)

    assert secret not in redacted
    assert REDACTED in redacted
    assert find_secrets(text) and not find_secrets(redacted)


def test_a_connection_string_keeps_its_user_and_host_but_not_its_password() -> None:
    assert redact(DB_URL) == f"postgresql://analyst:{REDACTED}@db.internal:5432/sales"


def test_ordinary_run_text_is_left_alone() -> None:
    text = "lightgbm learning_rate=0.05 num_leaves=31 valid_rmse 0.4312 at round 120 on wine@v1"

    assert redact(text) == text


def test_a_secret_sounding_key_hides_its_whole_value() -> None:
    assert redact_mapping({"DATABASE_PASSWORD": "hunter2", "db_token": 12345, "rounds": 40}) == {
        "DATABASE_PASSWORD": REDACTED,
        "db_token": REDACTED,
        "rounds": "40",
    }


def test_no_secret_or_personal_value_reaches_any_byte_of_the_store(
    tracking_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    personal = {
        "email": [f"patient{i:04d}.mail@hospital.example" for i in range(len(frame))],
        "phone": [f"+1 415 555 {i:04d}" for i in range(len(frame))],
    }
    for column, values in personal.items():
        frame[column] = values
    Path("data").mkdir()
    frame.to_parquet("data/patients.parquet")
    add_dataset(
        "data/patients.parquet",
        name="patients",
        version="v1",
        target="target",
        catalog=Catalog.load(),
        pii_columns=["email", "phone"],
        description=f"Owner {EMAIL}",
    )
    # Secrets in the environment must not be copied anywhere either (fakes: nothing calls out).
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("DATABASE_URL", DB_URL)

    request = TuneRequest(
        dataset="patients",
        version="v1",
        metric="roc_auc",
        trials=3,
        seconds=120,
        max_rounds=30,
        experiment="patients",
    )
    ctx = load_context(request)
    parent = open_parent(
        request,
        ctx,
        extra_tags={
            "trialrun.request_text": f"tune with {OPENAI_KEY} on {DB_URL}, mail {EMAIL}",
            "trialrun.slack_user": f"{SLACK_TOKEN} {PHONE}",
        },
    )
    train_baseline(request, ctx, parent)
    study = tune_study(request, ctx, parent, deadline=float("inf"))
    record_optimization(parent, study)
    train_finals(request, ctx, parent, family="lightgbm", params=study.best_params)
    parent.writer.log(params={"api_key": OPENAI_KEY, "note": f"password={DB_PASSWORD}"})
    parent.writer.finish()
    # A library error that quotes a secret passed as a parameter value.
    with pytest.raises(Exception, match="num_leaves"):
        train_tracked(
            ctx,
            family="lightgbm",
            params={"num_leaves": OPENAI_KEY},
            metric=get_metric("roc_auc"),
            seed=0,
            experiment_id=ensure_experiment("patients"),
            run_name=f"run for {EMAIL}",
            role="trial",
            tags={"contact": EMAIL, "db": DB_URL},
        )
    RunWriter(ensure_experiment("patients"), "notes").log_text(
        f"{OPENAI_KEY} {DB_URL} {EMAIL} {PHONE} {JWT}", "notes.txt"
    )

    inputs = {(tmp_path / "data" / "patients.parquet").resolve(), Path("datasets.yaml").resolve()}
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.resolve() not in inputs]
    names = {p.name for p in written}
    assert {"mlflow.db", "optuna.db", "traceback.txt", "trials.json", "notes.txt"} <= names
    store = b"".join(p.read_bytes() for p in written)
    assert REDACTED.encode() in store
    secrets = [OPENAI_KEY, SLACK_TOKEN, DB_PASSWORD, EMAIL, PHONE, JWT, *sum(personal.values(), [])]
    leaked = [s for s in secrets if s.encode() in store]
    assert leaked == []
    run_inputs = MlflowClient(settings.tracking_uri()).get_run(parent.run_id).inputs
    schema = run_inputs.dataset_inputs[0].dataset.schema
    assert '"email"' not in schema and '"phone"' not in schema
