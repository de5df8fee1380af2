"""Experiments on a Kubernetes runtime, against a real v1.20 control plane, their pods run.

The control plane has no kubelet: the test's :class:`Kubelet` (tests/support/kubelet.py) runs
each pod's container as a local process, with the environment, Secrets and volumes resolved
from the API server alone and a fresh working directory. So what passes here is what the Job
manifest carries, not what the test's own process happens to have.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pytest
from kubernetes import client as k8s_client

from agent.pipeline import run_pipeline
from agent.pipeline.events import ProgressEvent, StageStarted
from agent.pipeline.state import PipelineContext
from agent.report.model import Report
from agent.report.render_markdown import render_markdown
from agent.request import ExperimentRequest
from tools.jobs.inprocess import is_in_process
from tools.jobs.kubernetes import KubernetesBackend
from tools.jobs.model import JobState
from tools.jobs.reconcile import TRIAL_JOB_ATTR
from tools.jobs.store import JobStore

pytestmark = [pytest.mark.k8s, pytest.mark.postgres]
IMAGE = "registry.example.com/team/trialrun:test"  # what the run_pods kubelet runs by default


@pytest.fixture
def cluster(
    mlflow_server: str,
    postgres_optuna: str,
    kube_namespace: str,
    kube_backend: KubernetesBackend,
    kubelet: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    """The stores, with credentials held here and in a Secret of the namespace, and a cleanup.

    PostgreSQL trusts local connections and the tracking server has no authentication, so the
    passwords below are never checked; they are what must never leak.
    """
    tag = uuid.uuid4().hex[:8]
    secrets = {"db": f"db-pw-{tag}", "mlflow": f"mlflow-pw-{tag}"}
    storage = postgres_optuna.replace("postgres@", f"postgres:{secrets['db']}@")
    values = {
        "TRIALRUN_OPTUNA_STORAGE": storage,
        "MLFLOW_TRACKING_USERNAME": "trialrun",
        "MLFLOW_TRACKING_PASSWORD": secrets["mlflow"],
    }
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TRIALRUN_K8S_IMAGE", raising=False)
    secret = f"trialrun-{tag}"
    kubelet.core.create_namespaced_secret(
        kube_namespace,
        {
            "metadata": {"name": secret},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
        },
    )
    experiment = f"k8s-{tag}"
    run: dict[str, Any] = {
        "experiment": experiment,
        "secret": secret,
        "secrets": secrets,
        "storage": storage,
        "context": PipelineContext(backends={"kubernetes": kube_backend}),
        "reports": [],
    }
    yield run
    run["context"].cancel.set()  # a failed assertion must not leave the pipeline running
    if "thread" in run:
        run["thread"].join(timeout=120)
    for summary in optuna.get_all_study_summaries(postgres_optuna):
        if summary.study_name.startswith(experiment):
            optuna.delete_study(study_name=summary.study_name, storage=postgres_optuna)


def _request(cluster: dict[str, Any], namespace: str, **kubernetes: Any) -> ExperimentRequest:
    budget = kubernetes.pop("budget", {"trials": 4, "seconds": 90, "cpus": 2, "parallel": 2})
    return ExperimentRequest.model_validate(
        {
            "dataset": "wine",
            "version": "v1",
            "metric": "log_loss",
            "model": "lightgbm",
            "budget": budget,
            "seeds": [1],
            "experiment": cluster["experiment"],
            "runtime": {
                "kubernetes": {
                    "namespace": namespace,
                    "image": IMAGE,
                    "secrets": {"env_from": [cluster["secret"]]},
                    **kubernetes,
                }
            },
        }
    )


def _start(cluster: dict[str, Any], request: ExperimentRequest) -> None:
    context = cluster["context"]
    cluster["thread"] = threading.Thread(
        target=lambda: cluster["reports"].append(run_pipeline(request, context))
    )
    cluster["thread"].start()


def _finish(cluster: dict[str, Any], timeout: float = 300) -> Report:
    cluster["thread"].join(timeout=timeout)
    assert not cluster["thread"].is_alive(), "the experiment did not end"
    return cluster["reports"][0]


def _on_a_claim(kubelet: Any, namespace: str, run_pods: Any) -> tuple[Any, dict[str, str]]:
    """Start the pods' kubelet with ./data (the examples) as a claim's volume.

    Returns the kubelet and the runtime's ``data`` block naming the claim and its mount.
    """
    data = Path("data").resolve()
    name = f"datasets-{uuid.uuid4().hex[:6]}"
    kubelet.core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "accessModes": ["ReadOnlyMany"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    return run_pods(claims={name: data}), {"claim": name, "mount": str(data)}


def _job_object(kubelet: Any, job_id: str) -> Any:
    job = JobStore().get(job_id)
    return kubelet.batch.read_namespaced_job(job.handle["job_name"], job.handle["namespace"])


def test_the_pods_train_from_the_manifest_alone_and_no_credential_leaks_anywhere(
    cluster: dict[str, Any],
    examples_catalog: Any,
    kube_namespace: str,
    kubelet: Any,
    run_pods: Any,
    mlflow_server: str,
    tmp_path: Path,
):
    pods, claim = _on_a_claim(kubelet, kube_namespace, run_pods)
    data = Path(claim["mount"])
    request = _request(cluster, kube_namespace, data=claim)

    _start(cluster, request)
    report = _finish(cluster)

    assert report.status == "succeeded", (report.failure, pods.logs())
    assert report.verification.passed, [c for c in report.verification.checks if not c.passed]
    jobs = {JobStore().get(j).spec.name: JobStore().get(j) for j in cluster["context"].jobs}
    assert list(jobs) == ["baseline", "tune", "final"]  # every model trained in the cluster
    assert all(job.state == JobState.SUCCEEDED for job in jobs.values())
    job_id = jobs["tune"].id
    study_name = next(c.id for c in report.changes.items if c.kind == "study")
    trials = optuna.load_study(study_name=study_name, storage=cluster["storage"]).get_trials()
    assert len(trials) == 4 and {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    assert {t.user_attrs[TRIAL_JOB_ATTR] for t in trials} == {job_id}

    # What the Job says, as the API server holds it.
    created = _job_object(kubelet, job_id)
    container = created.spec.template.spec.containers[0]
    plain = {e.name: e.value for e in container.env if e.value_from is None}
    assert container.image == IMAGE and container.command == ["trialrun", "worker"]
    assert [s.secret_ref.name for s in container.env_from] == [cluster["secret"]]
    assert "TRIALRUN_OPTUNA_STORAGE" not in plain and "MLFLOW_TRACKING_PASSWORD" not in plain
    assert plain["MLFLOW_TRACKING_URI"] == mlflow_server
    task = json.loads(plain["TRIALRUN_WORKER_TASK"])
    assert task["dataset"]["sha256"] == examples_catalog.get("wine", "v1").sha256
    assert task["dataset"]["location"] == str(data / "wine.parquet")
    (volume,) = created.spec.template.spec.volumes
    assert volume.persistent_volume_claim.claim_name == claim["claim"]
    assert volume.persistent_volume_claim.read_only
    assert container.volume_mounts[0].mount_path == str(data)
    assert created.spec.ttl_seconds_after_finished == 3600
    assert created.spec.template.spec.security_context.run_as_non_root
    assert container.termination_message_policy == "FallbackToLogsOnError"
    assert container.resources.requests == {"cpu": "1", "memory": "2Gi"}
    # v1.20 drops completionMode (Indexed Jobs came in 1.21): no index annotation reaches the
    # pods, so each worker claimed its index from the study instead.
    assert created.spec.completion_mode is None
    started = list(pods.started.values())
    assert len(started) == 4  # one baseline pod, two tuning workers, one final pod
    assert all(env["TRIALRUN_WORKER_INDEX"] == "" for env in started)
    assert all(env["TRIALRUN_OPTUNA_STORAGE"] == cluster["storage"] for env in started)
    assert all(env["MLFLOW_TRACKING_PASSWORD"] == cluster["secrets"]["mlflow"] for env in started)
    worker_lines = [line for line in pods.logs().splitlines() if "sampler seed" in line]
    assert sorted(line.split()[2] for line in worker_lines) == ["0", "1"]

    # No credential anywhere a person or a later tool reads.
    api = k8s_client.ApiClient()
    pod_objects = kubelet.core.list_namespaced_pod(
        kube_namespace, label_selector=f"trialrun.dev/job-id={job_id}"
    ).items
    mlflow_client = mlflow.MlflowClient(mlflow_server)
    parent = next(c.id for c in report.changes.items if c.kind == "parent_run")
    experiment_id = mlflow_client.get_run(parent).info.experiment_id
    runs = mlflow_client.search_runs([experiment_id], max_results=1000)
    ran_in = {r.data.tags["trialrun.role"]: r.data.tags.get("trialrun.job_id") for r in runs}
    own = [
        job.id
        for job in (JobStore().get(c.id) for c in report.changes.items if c.kind == "job")
        if is_in_process(job)
    ]
    assert ran_in == {
        "parent": own[0],  # the experiment is a job of the submitting process
        "baseline": jobs["baseline"].id,
        "trial": job_id,
        "final": jobs["final"].id,
    }
    assert any("as a Kubernetes Job in namespace" in step for step in report.plan.steps)
    log_artifact = Path(mlflow_client.download_artifacts(parent, f"jobs/{job_id}.log"))
    places = {
        "job manifest": json.dumps(api.sanitize_for_serialization(created)),
        "pods": json.dumps([api.sanitize_for_serialization(p) for p in pod_objects]),
        "job store": (tmp_path / ".trialrun" / "jobs.db").read_bytes().decode(errors="replace"),
        "pod logs": pods.logs(),
        "job log on the parent run": log_artifact.read_text(),
        "run params and tags": json.dumps([[r.data.params, r.data.tags] for r in runs]),
        "report": report.model_dump_json() + render_markdown(report),
    }
    for secret in cluster["secrets"].values():
        assert [place for place, text in places.items() if secret in text] == []


def test_cancelling_the_experiment_stops_its_pods_and_settles_their_trials_and_runs(
    cluster: dict[str, Any],
    examples_catalog: Any,
    kube_namespace: str,
    kubelet: Any,
    run_pods: Any,
    wait_for: Any,
    mlflow_server: str,
):
    pods, claim = _on_a_claim(kubelet, kube_namespace, run_pods)
    budget = {"trials": 500, "seconds": 240, "cpus": 2, "parallel": 2}
    request = _request(cluster, kube_namespace, data=claim, budget=budget)
    context = cluster["context"]

    _start(cluster, request)

    def tuning_job() -> str | None:
        return next((j for j in context.jobs if JobStore().get(j).spec.name == "tune"), None)

    job_id = wait_for(tuning_job, timeout=180)
    container = _job_object(kubelet, job_id).spec.template.spec.containers[0]
    plain = {e.name: e.value for e in container.env}
    task = json.loads(plain["TRIALRUN_WORKER_TASK"])
    study = optuna.load_study(study_name=task["study_name"], storage=cluster["storage"])
    running = optuna.trial.TrialState.RUNNING
    wait_for(lambda: study.get_trials(states=(running,)), timeout=120, interval=0.1)
    context.cancel.set()
    report = _finish(cluster)

    assert report.status == "cancelled"
    job = JobStore().get(job_id)
    assert job.state == JobState.CANCELLED
    assert kubelet.remains(job) == []
    assert not study.get_trials(states=(running,))
    assert all(t.state.name in ("COMPLETE", "PRUNED", "FAIL") for t in study.get_trials())
    runs = mlflow.MlflowClient(mlflow_server).search_runs([task["experiment_id"]], max_results=1000)
    assert [r.info.run_id for r in runs if r.info.status == "RUNNING"] == []
    # SIGTERM reached both workers: each stopped its trial and said so.
    assert pods.logs().count("): cancelled; study") == 2


def test_a_pod_whose_dataset_changed_refuses_to_train_and_the_report_says_why(
    cluster: dict[str, Any], kube_namespace: str, run_pods: Any, tmp_path: Path
):
    from tools.data.catalog import Catalog
    from tools.data.curate import add_dataset
    from tools.data.examples import write_examples

    served = tmp_path / "served"
    write_examples(served, Catalog.load(tmp_path / "examples.yaml"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/wine.parquet"
    add_dataset(url, name="wine", version="v1", target="cultivar", catalog=Catalog.load())
    run_pods()
    context = cluster["context"]

    def change_the_file_once_tuning_starts(event: ProgressEvent) -> None:
        if isinstance(event, StageStarted) and event.name == "tune":
            (served / "wine.parquet").write_bytes(b"not the catalogued bytes")

    context.progress = change_the_file_once_tuning_starts
    _start(cluster, _request(cluster, kube_namespace))
    report = _finish(cluster)
    server.shutdown()

    assert report.status == "failed"
    assert report.failure is not None and report.failure.node == "tune"
    message = report.failure.message
    assert "before any trial finished" in message and "exited 5" in message
    assert f"The file for 'wine@v1' at {url!r} changed after it was catalogued" in message
    baseline, tuning = (JobStore().get(j) for j in context.jobs)  # the baseline read it unchanged
    assert (baseline.state, tuning.state) == (JobState.SUCCEEDED, JobState.FAILED)


def test_a_missing_secret_is_refused_before_any_compute(
    cluster: dict[str, Any], examples_catalog: Any, kube_namespace: str
):
    request = _request(cluster, kube_namespace, secrets={"env_from": ["no-such-secret"]})

    _start(cluster, request)
    report = _finish(cluster)

    assert report.status == "failed" and report.failure is not None
    assert report.failure.node == "validate_data"
    assert "Secret 'no-such-secret', which does not exist" in report.failure.message
    assert "kubectl create secret generic no-such-secret" in report.failure.message
    assert cluster["context"].jobs == []


def test_with_tuning_off_the_baseline_and_final_models_still_train_in_the_cluster(
    cluster: dict[str, Any],
    examples_catalog: Any,
    kube_namespace: str,
    kubelet: Any,
    run_pods: Any,
    mlflow_server: str,
):
    pods, claim = _on_a_claim(kubelet, kube_namespace, run_pods)
    request = _request(cluster, kube_namespace, data=claim).model_copy(
        update={"optimize": False, "seeds": [1, 2]}
    )

    _start(cluster, request)
    report = _finish(cluster)

    assert report.status == "succeeded", (report.failure, pods.logs())
    assert report.verification.passed, [c for c in report.verification.checks if not c.passed]
    jobs = [JobStore().get(j) for j in cluster["context"].jobs]
    assert [(j.spec.name, j.state) for j in jobs] == [
        ("baseline", JobState.SUCCEEDED),
        ("final", JobState.SUCCEEDED),
    ]
    assert [s.seed for s in report.summary.seeds] == [1, 2]
    client = mlflow.MlflowClient(mlflow_server)
    for seed in report.summary.seeds:
        assert client.get_run(seed.run_id).data.tags["trialrun.job_id"] == jobs[1].id
    assert report.summary.baseline_run_id is not None
    baseline = client.get_run(report.summary.baseline_run_id)
    assert baseline.data.tags["trialrun.job_id"] == jobs[0].id
