"""What the pipeline refuses by itself, before any compute, whoever calls it."""

from __future__ import annotations

import mlflow
import pytest

from agent.approval import max_parallel
from agent.pipeline import run_pipeline
from agent.pipeline.distributed import check_runtime
from agent.request import ExperimentRequest
from tools import settings
from tools.errors import ConfigError, InputError


def request(**changes) -> ExperimentRequest:
    fields = {
        "dataset": "wine",
        "version": "v1",
        "metric": "log_loss",
        "budget": {"trials": 4, "seconds": 30, "cpus": 4, "parallel": 3},
        "seeds": [0],
    }
    return ExperimentRequest.model_validate({**fields, **changes})


def test_parallel_jobs_over_the_cap_are_refused_unless_approved(
    examples_catalog, tracking_store, monkeypatch
):
    monkeypatch.setenv("TRIALRUN_MAX_PARALLEL", "2")

    report = run_pipeline(request())

    assert report.status == "refused"
    message = report.failure.message
    assert "budget.parallel 3 is over the parallel-job cap of 2 (TRIALRUN_MAX_PARALLEL)" in message
    assert "add `approve: true`" in message
    assert report.plan.refusals == [message]
    # Refused before any compute: not even the parent run exists.
    experiments = mlflow.MlflowClient(settings.tracking_uri()).search_experiments()
    assert [e.name for e in experiments] == ["Default"]


def test_the_cap_defaults_to_four_and_a_bad_value_is_a_configuration_error(monkeypatch):
    monkeypatch.delenv("TRIALRUN_MAX_PARALLEL", raising=False)
    assert max_parallel() == 4
    monkeypatch.setenv("TRIALRUN_MAX_PARALLEL", "four")
    with pytest.raises(ConfigError, match="TRIALRUN_MAX_PARALLEL='four' is not a positive"):
        max_parallel()


KUBERNETES = {"runtime": {"kubernetes": {"namespace": "ml-dev"}}}


@pytest.mark.parametrize(
    ("env", "changes", "names"),
    [
        ({}, KUBERNETES, "TRIALRUN_K8S_IMAGE"),
        ({"TRIALRUN_K8S_IMAGE": "img:1"}, KUBERNETES, "TRIALRUN_OPTUNA_STORAGE"),
        (
            {"TRIALRUN_K8S_IMAGE": "img:1", "TRIALRUN_OPTUNA_STORAGE": "postgresql://db/optuna"},
            KUBERNETES,
            "MLFLOW_TRACKING_URI",
        ),
        ({}, {"budget": {"trials": 4, "seconds": 30, "gpus": 1, "parallel": 2}}, "budget.gpus"),
    ],
    ids=["no-image", "sqlite-optuna", "file-mlflow", "uneven-gpus"],
)
def test_distributed_tuning_its_stores_cannot_serve_is_refused_with_the_fix(
    env, changes, names, monkeypatch
):
    monkeypatch.delenv("TRIALRUN_K8S_IMAGE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(InputError) as refused:
        check_runtime(request(**changes))

    assert names in str(refused.value)
    assert refused.value.hint


def test_local_workers_may_share_sqlite_stores(monkeypatch):
    check_runtime(request())  # the defaults: SQLite files beside each other
