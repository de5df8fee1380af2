"""The Kubernetes backend against a real v1.20 control plane (no kubelet: see FakeKubelet)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tools.errors import ConfigError, InputError, Unreachable
from tools.jobs import kubernetes_manifest as km
from tools.jobs import lifecycle
from tools.jobs.kubernetes import KubernetesBackend
from tools.jobs.model import ClaimMount, JobSpec, JobState, Resources, SecretKey
from tools.jobs.recovery import recover
from tools.jobs.store import JobStore

k8s = pytest.mark.k8s


def _spec(namespace: str | None, **changes: Any) -> JobSpec:
    fields: dict[str, Any] = {
        "name": "tune",
        "command": ["python", "-m", "worker"],
        "image": "registry.example.com/trialrun:1.0",
        "namespace": namespace,
    }
    return JobSpec(**{**fields, **changes})


@k8s
def test_the_created_job_carries_resources_deadline_labels_and_retry_policy(
    kube_backend: KubernetesBackend, kube_namespace: str, kubelet: Any
) -> None:
    spec = _spec(
        kube_namespace,
        resources=Resources(cpus=2, memory_mib=512, gpus=1),
        deadline_seconds=600,
        parallelism=3,
        backoff_limit=2,
        env={"SEED": "7"},
        labels={
            "experiment": "churn prediction",
            "mlflow_run_id": "0f3a9c",
            "study": "churn",
            "optuna_storage": "postgresql+psycopg2://u@db:5432/optuna",
        },
    )
    job = kube_backend.submit(spec, job_id="j-c0ffee")

    created = kubelet.batch.read_namespaced_job(job.handle["job_name"], kube_namespace)
    container = created.spec.template.spec.containers[0]

    assert job.handle["job_name"] == "tune-j-c0ffee"
    assert created.metadata.labels == {
        "app.kubernetes.io/name": "trialrun",
        "trialrun.dev/job-id": "j-c0ffee",
        "trialrun.dev/experiment": "churn-prediction",
        "trialrun.dev/mlflow_run_id": "0f3a9c",
        "trialrun.dev/study": "churn",
        "trialrun.dev/optuna_storage": "postgresql-psycopg2-u-db-5432-optuna",
    }
    assert created.metadata.labels.items() <= created.spec.template.metadata.labels.items()
    assert (
        '"optuna_storage": "postgresql+psycopg2://u@db:5432/optuna"'
        in (created.metadata.annotations["trialrun.dev/labels"])
    )
    assert (created.spec.backoff_limit, created.spec.parallelism, created.spec.completions) == (
        2,
        3,
        3,
    )
    assert created.spec.active_deadline_seconds == 600
    assert created.spec.template.spec.restart_policy == "Never"
    assert container.image == "registry.example.com/trialrun:1.0"
    assert container.command == ["python", "-m", "worker"]
    assert container.resources.requests == {"cpu": "2", "memory": "512Mi"}
    assert container.resources.limits == {"cpu": "2", "memory": "512Mi", "nvidia.com/gpu": "1"}
    env = {e.name: e.value for e in container.env}
    assert env["SEED"] == "7" and env["TRIALRUN_JOB_ID"] == "j-c0ffee"
    assert len(kubelet.pods(job, 3)) == 3  # parallelism reached the controller
    kube_backend.cancel(job)


def _secret(kubelet: Any, namespace: str, name: str, **data: str) -> None:
    import base64

    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    kubelet.core.create_namespaced_secret(namespace, {"metadata": {"name": name}, "data": encoded})


@k8s
def test_credentials_data_index_and_cleanup_reach_the_job_as_references(
    kube_backend: KubernetesBackend, kube_namespace: str, kubelet: Any
) -> None:
    _secret(kubelet, kube_namespace, "stores", TRIALRUN_OPTUNA_STORAGE="postgresql://u:pw@db/o")
    _secret(kubelet, kube_namespace, "mlflow", password="pw2")
    spec = _spec(
        kube_namespace,
        parallelism=2,
        secret_env_from=["stores"],
        secret_env={"MLFLOW_TRACKING_PASSWORD": SecretKey(secret="mlflow", key="password")},
        claims=[ClaimMount(claim="team-datasets", mount="/datasets")],
        service_account="trialrun-worker",
        ttl_seconds=3600,
    )
    job = kube_backend.submit(spec, job_id="j-5ec2e7")

    created = kubelet.batch.read_namespaced_job(job.handle["job_name"], kube_namespace)
    pod = created.spec.template.spec
    container = pod.containers[0]
    by_name = {e.name: e for e in container.env}

    assert [s.secret_ref.name for s in container.env_from] == ["stores"]
    ref = by_name["MLFLOW_TRACKING_PASSWORD"].value_from.secret_key_ref
    assert (ref.name, ref.key, by_name["MLFLOW_TRACKING_PASSWORD"].value) == (
        "mlflow",
        "password",
        None,
    )
    assert by_name["TRIALRUN_WORKER_INDEX"].value_from.field_ref.field_path == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    assert pod.volumes[0].persistent_volume_claim.claim_name == "team-datasets"
    assert (container.volume_mounts[0].mount_path, container.volume_mounts[0].read_only) == (
        "/datasets",
        True,
    )
    assert pod.service_account_name == "trialrun-worker"
    assert pod.security_context.run_as_non_root
    assert not container.security_context.allow_privilege_escalation
    assert container.termination_message_policy == "FallbackToLogsOnError"
    assert created.spec.ttl_seconds_after_finished == 3600
    # The manifest asks for an Indexed Job; a v1.20 server does not know the field and drops it,
    # so its pods get no index annotation (workers then claim indices from the study).
    assert km.manifest(spec, "j-5ec2e7", kube_namespace)["spec"]["completionMode"] == "Indexed"
    assert created.spec.completion_mode is None
    kube_backend.cancel(job)


@k8s
@pytest.mark.parametrize(
    ("env_from", "env", "message"),
    [
        (["absent"], {}, "Secret 'absent', which does not exist in namespace"),
        (
            [],
            {"MLFLOW_TRACKING_TOKEN": SecretKey(secret="present", key="token")},
            "has no key token (for MLFLOW_TRACKING_TOKEN); it holds: password",
        ),
    ],
    ids=["missing-secret", "missing-key"],
)
def test_a_job_whose_secrets_its_pods_could_not_read_is_never_created(
    kube_backend: KubernetesBackend,
    kube_namespace: str,
    kubelet: Any,
    env_from: list[str],
    env: dict[str, SecretKey],
    message: str,
) -> None:
    if not any(
        s.metadata.name == "present"
        for s in kubelet.core.list_namespaced_secret(kube_namespace).items
    ):
        _secret(kubelet, kube_namespace, "present", password="pw")
    spec = _spec(kube_namespace, secret_env_from=env_from, secret_env=env)

    with pytest.raises(InputError, match=re.escape(message)):
        kube_backend.submit(spec, job_id="j-5ec2e8")

    assert (
        kubelet.batch.list_namespaced_job(
            kube_namespace, label_selector="trialrun.dev/job-id=j-5ec2e8"
        ).items
        == []
    )


@k8s
def test_a_failed_pods_last_words_are_in_the_jobs_reason_and_its_logs(
    kube_backend: KubernetesBackend, kube_namespace: str, kubelet: Any, store: JobStore
) -> None:
    backends = {"kubernetes": kube_backend}
    job = lifecycle.submit(
        _spec(kube_namespace), backend="kubernetes", store=store, backends=backends
    )
    kubelet.finish(job, exit_code=5, message="error: refused: the file changed")

    final = lifecycle.wait(job.id, timeout=15, interval=0.05, store=store, backends=backends)

    assert final.state == JobState.FAILED and final.exit_code == 5
    (pod,) = kubelet.pods(job)
    assert final.reason is not None
    assert final.reason.endswith(
        f"; pod {pod.metadata.name} exited 5: error: refused: the file changed"
    )
    assert "last lines (termination message):\nerror: refused: the file changed" in (
        kube_backend.logs(final)
    )


def test_a_kubernetes_spec_without_an_image_is_refused(tmp_path: Path) -> None:
    backend = KubernetesBackend(kubeconfig=tmp_path / "unused")

    with pytest.raises(InputError, match="Kubernetes job 'tune' has no container image"):
        backend.submit(_spec("default", image=None), job_id="j-000001")


def test_an_unusable_kubeconfig_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "kubeconfig"
    backend = KubernetesBackend(kubeconfig=missing)

    with pytest.raises(ConfigError, match="Cannot use kubeconfig '.*kubeconfig'"):
        backend.submit(_spec("default"), job_id="j-000002")


def test_an_unreachable_api_server_is_named_as_a_server_that_does_not_answer(
    tmp_path: Path,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u, namespace: team}}]\n"
    )
    backend = KubernetesBackend(kubeconfig=kubeconfig)

    with pytest.raises(
        Unreachable,
        match="Cannot reach the Kubernetes API server for Job 'tune-j-000004' in namespace 'team'",
    ):
        backend.submit(_spec(None), job_id="j-000004")  # the context's namespace is the default


@k8s
def test_the_servers_validation_errors_come_back_as_input_errors(
    kube_backend: KubernetesBackend, kube_namespace: str, store: JobStore
) -> None:
    backends = {"kubernetes": kube_backend}

    with pytest.raises(
        InputError, match=r"metadata.name: Invalid value: \"Tune_Model-j-.*RFC 1123"
    ):
        lifecycle.submit(
            _spec(kube_namespace, name="Tune_Model"),
            backend="kubernetes",
            store=store,
            backends=backends,
        )
    with pytest.raises(InputError, match='namespaces "no-such-team" not found'):
        kube_backend.submit(_spec("no-such-team"), job_id="j-000003")
    (refused,) = store.list()
    assert refused.state == JobState.FAILED
    assert (refused.reason or "").startswith("could not start: The Kubernetes API server refused")


@k8s
def test_foreground_cancel_waits_for_pods_that_a_kubelet_must_confirm(
    kubeconfig: Path, kube_namespace: str, kubelet: Any, wait_for: Any
) -> None:
    # A pod on a node ends gracefully: it stays, terminating, until the node's kubelet confirms
    # that its containers stopped, and the foreground-deleted Job stays until its pods are gone.
    # A pod on no node (the contract suite's) is deleted at once instead.
    backend = KubernetesBackend(kubeconfig=kubeconfig, cancel_wait_seconds=1.0, poll_seconds=0.05)
    job = backend.submit(_spec(kube_namespace), job_id="j-0b0b0b")
    (pod,) = kubelet.pods(job)
    kubelet.bind(pod)
    kubelet.run(job)

    started = time.monotonic()
    cancelled = backend.cancel(job)
    elapsed = time.monotonic() - started

    assert cancelled.state == JobState.CANCELLED
    assert cancelled.reason == (
        f"still being deleted after 1 s: Job tune-j-0b0b0b, pod {pod.metadata.name}"
    )
    assert elapsed < 5
    kubelet.confirm_deletions(job)
    wait_for(lambda: kubelet.remains(job) == [], timeout=15)


@k8s
def test_logs_say_plainly_that_none_are_available(
    kube_backend: KubernetesBackend, kube_namespace: str, kubelet: Any
) -> None:
    job = kube_backend.submit(_spec(kube_namespace), job_id="j-10910a")
    (pod,) = kubelet.pods(job)

    text = kube_backend.logs(job)

    assert text == (
        f"--- pod {pod.metadata.name}: no logs available: not running on any node "
        "(no node was assigned; logs come from the node's kubelet)"
    )
    kube_backend.cancel(job)
    assert kube_backend.logs(job).startswith("No logs available: Job ")


@k8s
def test_recovery_fails_a_job_whose_kubernetes_job_was_deleted_elsewhere(
    kube_backend: KubernetesBackend,
    kube_namespace: str,
    kubelet: Any,
    store: JobStore,
    wait_for: Any,
) -> None:
    backends = {"kubernetes": kube_backend}
    job = lifecycle.submit(
        _spec(kube_namespace), backend="kubernetes", store=store, backends=backends
    )
    kubelet.batch.delete_namespaced_job(
        job.handle["job_name"], kube_namespace, propagation_policy="Foreground"
    )
    wait_for(lambda: kubelet.remains(job) == [])

    lines = recover(store, backends=backends)

    name = f"{kube_namespace}/tune-{job.id}"
    assert lines == [f"job {job.id} (kubernetes) → FAILED: Kubernetes Job {name} does not exist"]
    assert store.get(job.id).state == JobState.FAILED
