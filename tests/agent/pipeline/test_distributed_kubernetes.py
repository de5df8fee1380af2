"""The tune step on Kubernetes: one Job of N worker pods, against a real v1.20 control plane.

No kubelet runs here, so no pod ever runs a trial: the test plays the kubelet (FakeKubelet) and,
where a pod would be in the middle of a trial, plants that trial and its run itself.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pytest

from agent.pipeline import run_pipeline
from agent.pipeline.state import PipelineContext
from agent.report.model import Report
from agent.request import ExperimentRequest
from tools.jobs.kubernetes import KubernetesBackend
from tools.jobs.model import JobState
from tools.jobs.reconcile import TRIAL_JOB_ATTR
from tools.jobs.store import JobStore

pytestmark = [pytest.mark.k8s, pytest.mark.postgres]
IMAGE = "registry.example.com/team/trialrun:1.0"


@pytest.fixture
def cluster_run(
    mlflow_server: str,
    postgres_optuna: str,
    kube_namespace: str,
    kube_backend: KubernetesBackend,
    examples_catalog: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    """A Kubernetes request and a pipeline context whose backend uses the test kubeconfig."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("TRIALRUN_OPTUNA_STORAGE", postgres_optuna)
    monkeypatch.setenv("TRIALRUN_K8S_IMAGE", IMAGE)
    experiment = f"k8s-{uuid.uuid4().hex[:8]}"
    request = ExperimentRequest.model_validate(
        {
            "dataset": "wine",
            "version": "v1",
            "metric": "log_loss",
            "model": "lightgbm",
            "budget": {"trials": 6, "seconds": 60, "cpus": 6, "parallel": 3},
            "seeds": [1],
            "experiment": experiment,
            "runtime": {"kubernetes": {"namespace": kube_namespace}},
        }
    )
    context = PipelineContext(backends={"kubernetes": kube_backend})
    run: dict[str, Any] = {"request": request, "context": context, "reports": []}
    run["thread"] = threading.Thread(
        target=lambda: run["reports"].append(run_pipeline(request, context))
    )
    yield run
    # A failed assertion must not leave the pipeline running into the next test.
    context.cancel.set()
    if run["thread"].ident is not None:
        run["thread"].join(timeout=120)
    for summary in optuna.get_all_study_summaries(postgres_optuna):
        if summary.study_name.startswith(experiment):
            optuna.delete_study(study_name=summary.study_name, storage=postgres_optuna)


def test_the_tune_step_creates_one_job_of_n_workers_and_a_cancel_deletes_and_settles_it(
    cluster_run: dict[str, Any],
    kubelet: Any,
    wait_for: Any,
    mlflow_server: str,
    postgres_optuna: str,
):
    request, context = cluster_run["request"], cluster_run["context"]
    cluster_run["thread"].start()
    job_id = wait_for(lambda: context.jobs and context.jobs[0], timeout=120)
    job = JobStore().get(job_id)
    created = kubelet.batch.read_namespaced_job(job.handle["job_name"], job.handle["namespace"])
    pod = created.spec.template.spec
    container = pod.containers[0]
    env = {e.name: e.value for e in container.env}
    task = json.loads(env["TRIALRUN_WORKER_TASK"])

    assert context.jobs == [job_id]  # one Job for all the workers
    assert (created.spec.parallelism, created.spec.completions) == (3, 3)
    assert created.spec.backoff_limit == 0 and pod.restart_policy == "Never"
    assert container.image == IMAGE and container.command == ["trialrun", "worker"]
    assert container.resources.requests == {"cpu": "2", "memory": "2Gi"}  # 6 cpus / 3
    assert 0 < created.spec.active_deadline_seconds <= 60 + 15
    assert env["MLFLOW_TRACKING_URI"] == mlflow_server
    assert env["TRIALRUN_OPTUNA_STORAGE"] == postgres_optuna
    assert env["TRIALRUN_JOB_ID"] == job_id
    assert task["workers"] == 3 and task["request"]["trials"] == 6
    assert created.metadata.labels["trialrun.dev/experiment"] == request.experiment_name
    assert (
        json.loads(created.metadata.annotations["trialrun.dev/labels"])["mlflow_run_id"]
        == (task["parent_run_id"])
    )

    kubelet.run(job, count=3)
    # Where a pod is in the middle of a trial: its RUNNING trial and run.
    study = optuna.load_study(study_name=task["study_name"], storage=postgres_optuna)
    trial = study.ask()
    trial.set_user_attr(TRIAL_JOB_ATTR, job_id)
    client = mlflow.MlflowClient(mlflow_server)
    child = client.create_run(
        task["experiment_id"],
        tags={"mlflow.parentRunId": task["parent_run_id"], "trialrun.role": "trial"},
    ).info.run_id

    context.cancel.set()
    cluster_run["thread"].join(timeout=120)

    report: Report = cluster_run["reports"][0]
    assert report.status == "cancelled"
    assert kubelet.remains(job) == []
    stored = JobStore().get(job_id)
    assert stored.state == JobState.CANCELLED
    assert f"optuna trial {trial.number} of study {task['study_name']!r} → FAIL" in (
        stored.cancelled_what
    )
    assert study.get_trials()[trial.number].state.name == "FAIL"
    assert client.get_run(child).info.status == "KILLED"
    assert client.get_run(task["parent_run_id"]).info.status == "KILLED"
    assert [c.id for c in report.changes.items if c.kind == "job"] == [job_id]
    assert any(f"trialrun jobs cancel {job_id}" in step for step in report.rollback.steps)


def test_when_the_worker_pods_succeed_the_experiment_goes_on_to_its_final_models(
    cluster_run: dict[str, Any], kubelet: Any, wait_for: Any, mlflow_server: str
):
    context = cluster_run["context"]
    cluster_run["thread"].start()
    job_id = wait_for(lambda: context.jobs and context.jobs[0], timeout=120)
    job = JobStore().get(job_id)

    kubelet.finish(job, exit_code=0, count=3)
    cluster_run["thread"].join(timeout=120)

    report: Report = cluster_run["reports"][0]
    assert report.status == "succeeded", report.failure
    assert JobStore().get(job_id).state == JobState.SUCCEEDED
    assert report.summary.seeds and report.summary.stop_reason.startswith("time budget reached")
    parent = next(c.id for c in report.changes.items if c.kind == "parent_run")
    log = mlflow.MlflowClient(mlflow_server).download_artifacts(parent, f"jobs/{job_id}.log")
    assert "no logs available" in Path(log).read_text()  # no kubelet, so no container logs
