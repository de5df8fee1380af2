"""Shared fixtures for real external components: PostgreSQL and a Kubernetes control plane.

A pytest plugin, registered once as ``trialrun-cluster`` by the root conftest's
``pytest_configure`` (``tests/`` is not a package, so it is loaded by path). Fixtures:
``wait_for``, ``postgres_optuna``, ``kubeconfig``, ``kube_namespace``, ``kube_backend``,
``kubelet`` (a :class:`FakeKubelet`, which only reports pod states) and ``run_pods`` (starts a
:class:`kubelet.Kubelet`, which runs the pods' containers; see ``tests/support/kubelet.py``). A
component that is absent skips the tests that need it, except under ``CI=true``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.jobs.kubernetes import KubernetesBackend
from tools.jobs.model import Job

CONTROL_PLANE = Path("/work/shared/k8s/control-plane.sh")
TEST_IMAGE = "registry.example.com/team/trialrun:test"
"""The image name the running kubelet maps to this test environment (trialrun installed)."""
K8S_CACHE = Path(
    os.environ.get("TRIALRUN_K8S_CACHE") or Path.home() / ".cache" / "trialrun-k8s-v1.20.2"
)
POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI") == "true"


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until ``condition()`` is truthy and return it; fail the test after ``timeout`` s."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


def unavailable(message: str) -> None:
    """Skip the test, or fail it in CI, where every component must be there."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: required)")
    pytest.skip(message)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    return wait_for


@pytest.fixture(scope="session")
def postgres_optuna() -> str:
    import psycopg2

    try:
        psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3
        ).close()
    except psycopg2.OperationalError as exc:
        unavailable(f"PostgreSQL at 127.0.0.1:5432 (database 'test') is not reachable: {exc}")
    return POSTGRES_URL


# --- Kubernetes: a real control plane, and the test playing the kubelet ------------------------


def _apiserver_ready() -> bool:
    result = subprocess.run(
        [
            "curl",
            "-sk",
            "-m",
            "2",
            "-H",
            "Authorization: Bearer trialrun-test-token",
            "https://127.0.0.1:16443/readyz",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() == "ok"


@pytest.fixture(scope="session")
def kubeconfig() -> Iterator[Path]:
    """A loopback control plane (etcd, kube-apiserver, kube-controller-manager), v1.20.

    Started once per session with control-plane.sh and stopped at the end; one that is already
    up (another session's) is used and left running. Skipped when the binaries are not built,
    except in CI, where that fails.
    """
    if not (K8S_CACHE / "bin" / "kube-apiserver").exists():
        unavailable(
            f"Kubernetes control plane binaries not found in {K8S_CACHE / 'bin'}; "
            f"build them with `{CONTROL_PLANE} build`"
        )
    started = False
    if not _apiserver_ready():
        subprocess.run(
            ["bash", str(CONTROL_PLANE), "start", str(K8S_CACHE)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        started = True
    yield K8S_CACHE / "kubeconfig"
    if started:
        subprocess.run(
            ["bash", str(CONTROL_PLANE), "stop", str(K8S_CACHE)],
            check=False,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def kube_namespace(kubeconfig: Path) -> str:
    """A namespace of this session's own, so leftovers never meet another session's."""
    from kubernetes import client, config

    name = f"trialrun-test-{uuid.uuid4().hex[:6]}"
    api = config.new_client_from_config(config_file=str(kubeconfig))
    core: Any = client.CoreV1Api(api)  # plain dicts as bodies, as the API takes them
    core.create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture
def kube_backend(kubeconfig: Path) -> KubernetesBackend:
    return KubernetesBackend(kubeconfig=kubeconfig, cancel_wait_seconds=10.0, poll_seconds=0.05)


class FakeKubelet:
    """Plays the kubelet: the control plane has none, so no container ever runs.

    The Job controller creates pods as on any cluster; this sets their status the way a kubelet
    reports it (phase, container exit code), through the pods' ``status`` subresource. Limits:
    nothing runs, so there are no logs, no resource enforcement, no real timing; pods are never
    scheduled (no node) unless :meth:`bind` assigns one, which a scheduler would do.
    """

    def __init__(self, kubeconfig: Path):
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core: Any = client.CoreV1Api(api)
        self.batch: Any = client.BatchV1Api(api)

    def pods(self, job: Job, count: int = 1) -> list[Any]:
        """Wait for the Job controller to create ``count`` pods of the job; return them."""
        namespace = job.handle["namespace"]

        def listed() -> list[Any]:
            items = self.core.list_namespaced_pod(
                namespace, label_selector=f"trialrun.dev/job-id={job.id}"
            ).items
            return items if len(items) >= count else []

        return list(wait_for(listed))

    def run(self, job: Job, count: int = 1) -> None:
        for pod in self.pods(job, count):
            self._status(pod, {"phase": "Running"})

    def finish(self, job: Job, exit_code: int, count: int = 1, message: str = "") -> None:
        """Report the pods ended with ``exit_code``; ``message`` is the termination message."""
        now = dt.datetime.now(dt.UTC).isoformat()
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "startedAt": now,
            "finishedAt": now,
            "reason": "Completed" if exit_code == 0 else "Error",
        }
        if message:
            terminated["message"] = message
        for pod in self.pods(job, count):
            self._status(
                pod,
                {
                    "phase": "Succeeded" if exit_code == 0 else "Failed",
                    "containerStatuses": [
                        {
                            "name": "trialrun",
                            "image": job.spec.image,
                            "imageID": "",
                            "ready": False,
                            "restartCount": 0,
                            "state": {"terminated": terminated},
                        }
                    ],
                },
            )

    def bind(self, pod: Any, node: str = "node-without-kubelet") -> None:
        """Assign the pod to a node, as the scheduler would; its deletion then waits for us."""
        self.core.create_namespaced_pod_binding(
            pod.metadata.name,
            pod.metadata.namespace,
            {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": pod.metadata.name},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            },
            _preload_content=False,
        )

    def confirm_deletions(self, job: Job) -> None:
        """Do what a kubelet does once a terminating pod's containers stopped: delete it now."""
        for pod in self.pods(job):
            if pod.metadata.deletion_timestamp is not None:
                self.core.delete_namespaced_pod(
                    pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
                )

    def remains(self, job: Job) -> list[str]:
        """Return what is left of the job on the cluster: its Job object and its pods."""
        from kubernetes.client.exceptions import ApiException

        namespace = job.handle["namespace"]
        left = [
            f"pod {pod.metadata.name}"
            for pod in self.core.list_namespaced_pod(
                namespace, label_selector=f"trialrun.dev/job-id={job.id}"
            ).items
        ]
        try:
            self.batch.read_namespaced_job(job.handle["job_name"], namespace)
        except ApiException as exc:
            assert exc.status == 404
            return left
        return [f"Job {job.handle['job_name']}", *left]

    def _status(self, pod: Any, status: dict[str, Any]) -> None:
        self.core.patch_namespaced_pod_status(
            pod.metadata.name, pod.metadata.namespace, {"status": status}
        )


@pytest.fixture
def kubelet(kubeconfig: Path) -> FakeKubelet:
    return FakeKubelet(kubeconfig)


def _kubelet_module() -> Any:
    # tests/ is not a package: load the sibling module by path, as the root conftest loads this one.
    path = Path(__file__).with_name("kubelet.py")
    spec = importlib.util.spec_from_file_location("trialrun_test_kubelet", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_pods(
    kubeconfig: Path, kube_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Any]]:
    """Start a kubelet that runs the namespace's pods; ``run_pods(images=..., claims=...)``.

    ``images`` maps image names to directories of executables (default: :data:`TEST_IMAGE` to
    this environment's, where ``trialrun`` is installed); ``claims`` maps claim names to the
    directories standing in for their volumes. Every kubelet started is stopped after the test.
    """
    module = _kubelet_module()
    started: list[Any] = []

    def start(images: dict[str, Path] | None = None, claims: dict[str, Path] | None = None) -> Any:
        bins = images or {TEST_IMAGE: Path(sys.executable).parent}
        kubelet = module.Kubelet(
            kubeconfig,
            kube_namespace,
            # The Dockerfile's ENV lines that matter here: unbuffered output, as in the image.
            images={
                name: module.Image(path, {"PYTHONUNBUFFERED": "1"}) for name, path in bins.items()
            },
            root=tmp_path_factory.mktemp("kubelet"),
            claims=claims,
        )
        started.append(kubelet.__enter__())
        return kubelet

    yield start
    for kubelet in started:
        kubelet.stop()
        assert not kubelet.errors, kubelet.errors
