"""Kubernetes jobs: one ``batch/v1`` Job per trialrun job, through the official client.

Credentials come from the user's kubeconfig (``KUBECONFIG`` or ``~/.kube/config``, or an explicit
file and context), else from the in-cluster service account. The Job's own status is the truth:
``Complete`` is SUCCEEDED; ``Failed`` is FAILED, with the reason ``deadline`` when the server
stopped it at ``activeDeadlineSeconds``. A cancel deletes the Job in the foreground, so the Job
object stays until its pods are gone, and waits (bounded) for that.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tools.errors import ConfigError, InputError, Unreachable
from tools.jobs import kubernetes_manifest as km
from tools.jobs.model import Job, JobSpec, JobState, SecretKey

_IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_MAX_LOG_PODS = 5
_MAX_MESSAGE_CHARS = 600


def _server_message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body)["message"])
    except (TypeError, ValueError, KeyError):
        return f"{exc.status} {exc.reason}"


class _NotAllowed(Exception):
    """The API server answered with a status the caller chose to handle itself."""


def _api_error(exc: Any, what: str) -> Exception:
    message = _server_message(exc)
    if exc.status in (400, 409, 422):
        return InputError(
            f"The Kubernetes API server refused {what}: {message}",
            hint="Fix the job spec (name, resources, image) and submit again.",
        )
    if exc.status == 404:
        return InputError(
            f"The Kubernetes API server refused {what}: {message}",
            field="namespace",
            hint="Create the namespace first, or set JobSpec.namespace to an existing one.",
        )
    if exc.status in (401, 403):
        return ConfigError(f"Kubernetes refused the credentials for {what}: {message}")
    return Unreachable(f"The Kubernetes API server failed {what}: {message}")


class KubernetesBackend:
    """Runs jobs as Kubernetes ``batch/v1`` Jobs.

    Args:
        kubeconfig: A kubeconfig file; ``KUBECONFIG`` or ``~/.kube/config`` when None.
        context: A kubeconfig context; the current one when None.
        cancel_wait_seconds: How long a cancel waits for the Job and its pods to be gone.
        poll_seconds: Seconds between looks while waiting.

    Example:
        >>> backend = KubernetesBackend(context="training")  # doctest: +SKIP
        >>> spec = JobSpec(name="tune", command=["trialrun-worker"], image="ghcr.io/acme/tr:1")
        >>> backend.submit(spec, job_id="j-3f9a2c").handle["job_name"]  # doctest: +SKIP
        'tune-j-3f9a2c'
    """

    name = "kubernetes"

    def __init__(
        self,
        *,
        kubeconfig: str | Path | None = None,
        context: str | None = None,
        cancel_wait_seconds: float = 60.0,
        poll_seconds: float = 0.2,
    ):
        self.kubeconfig = str(kubeconfig) if kubeconfig is not None else None
        self.context = context
        self.cancel_wait_seconds = cancel_wait_seconds
        self.poll_seconds = poll_seconds
        self._apis: tuple[Any, Any] | None = None
        self._namespace = "default"

    def _connect(self) -> tuple[Any, Any]:
        """Return ``(BatchV1Api, CoreV1Api)``, loading the configuration on first use."""
        if self._apis is not None:
            return self._apis
        from kubernetes import client, config

        try:
            api = config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
            contexts, active = config.list_kube_config_contexts(config_file=self.kubeconfig)
            wanted = self.context or active["name"]
            chosen = next((c for c in contexts if c["name"] == wanted), active)
            self._namespace = chosen["context"].get("namespace") or "default"
        except (config.ConfigException, OSError) as kube_error:
            if self.kubeconfig is not None:
                raise ConfigError(
                    f"Cannot use kubeconfig {self.kubeconfig!r}: {kube_error}"
                ) from kube_error
            configuration = client.Configuration()
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException as exc:
                raise ConfigError(
                    f"No Kubernetes configuration: no usable kubeconfig ({kube_error}) and not "
                    "running in a cluster. Set KUBECONFIG or create ~/.kube/config."
                ) from exc
            api = client.ApiClient(configuration)
            if _IN_CLUSTER_NAMESPACE.exists():
                self._namespace = _IN_CLUSTER_NAMESPACE.read_text().strip()
        self._apis = (client.BatchV1Api(api), client.CoreV1Api(api))
        return self._apis

    def _call(
        self,
        what: str,
        func: Any,
        *args: Any,
        missing_ok: bool = False,
        allowed: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> Any:
        """Call the API; errors become InputError, ConfigError or Unreachable, a 404 None when ``missing_ok``.

        A status in ``allowed`` raises :class:`_NotAllowed` for the caller to handle.
        """
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return func(*args, **kwargs)
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            if exc.status in allowed:
                raise _NotAllowed(exc.status) from None
            raise _api_error(exc, what) from None
        except HTTPError as exc:
            raise Unreachable(f"Cannot reach the Kubernetes API server for {what}: {exc}") from exc

    def submit(self, spec: JobSpec, *, job_id: str) -> Job:
        """Create the Job and return the QUEUED record (RUNNING once pods exist).

        Raises:
            InputError: The spec has no image, or the API server refused it (its message quoted).
            ConfigError: No usable credentials.
            Unreachable: The API server cannot be reached or fails (5xx).
        """
        if not spec.image:
            raise InputError(
                f"Kubernetes job {spec.name!r} has no container image.",
                field="image",
                hint="Set JobSpec.image to an image with trialrun and your code installed, "
                "e.g. 'registry.example.com/team/trialrun:1.0'.",
            )
        batch, _ = self._connect()
        namespace = spec.namespace or self._namespace
        self.check_secrets(namespace, env_from=spec.secret_env_from, env=spec.secret_env)
        body = km.manifest(spec, job_id, namespace)
        name = body["metadata"]["name"]
        created = self._call(
            f"Job {name!r} in namespace {namespace!r}",
            batch.create_namespaced_job,
            namespace,
            body,
        )
        handle = {"namespace": namespace, "job_name": name, "uid": created.metadata.uid}
        return Job(id=job_id, backend="kubernetes", spec=spec, handle=handle)

    def secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        """Return the keys Secret ``name`` holds (never its values).

        Returns:
            The keys; an empty set when the Secret does not exist; None when these credentials
            may not read Secrets (the cluster then checks the references when pods start).
        """
        _, core = self._connect()
        try:
            found = self._call(
                f"reading Secret {namespace}/{name}",
                core.read_namespaced_secret,
                name,
                namespace,
                missing_ok=True,
                allowed=(401, 403),
            )
        except _NotAllowed:
            return None
        if found is None:
            return frozenset()
        return frozenset(found.data or {}) | frozenset(found.string_data or {})

    def check_secrets(
        self, namespace: str, *, env_from: list[str], env: Mapping[str, SecretKey]
    ) -> None:
        """Refuse Secret references that pods could never resolve: a missing Secret or key.

        Args:
            namespace: Where the pods would run.
            env_from: Secrets whose every key the pods get as variables.
            env: Variables each read from one key of a Secret.

        Raises:
            InputError: A Secret does not exist or lacks a key (named, with how to fix it).
                Credentials that may not read Secrets skip the check: the cluster then
                reports it when the pods start.
        """
        wanted: dict[str, list[str]] = {name: [] for name in env_from}
        for variable, ref in env.items():
            wanted.setdefault(ref.secret, []).append(f"{ref.key} (for {variable})")
        for name, keys in wanted.items():
            held = self.secret_keys(namespace, name)
            if held is None:
                continue
            if not held:
                raise InputError(
                    f"The pods would read Secret {name!r}, which does not exist in namespace "
                    f"{namespace!r} (or holds no keys).",
                    field="runtime.kubernetes.secrets",
                    hint=f"Create it first: kubectl create secret generic {name} "
                    f"--namespace {namespace} --from-literal=KEY=VALUE ...",
                )
            absent = [k for k in keys if k.split(" ", 1)[0] not in held]
            if absent:
                raise InputError(
                    f"Secret {namespace}/{name} has no key {', '.join(absent)}; it holds: "
                    f"{', '.join(sorted(held))}.",
                    field="runtime.kubernetes.secrets",
                    hint="Add the key to the Secret, or name one it holds.",
                )

    def _where(self, job: Job) -> tuple[str, str]:
        namespace = job.handle.get("namespace") or job.spec.namespace or self._namespace
        return namespace, job.handle.get("job_name") or km.job_name(job.spec, job.id)

    def refresh(self, job: Job) -> Job:
        """Read the Job's status and return the record it implies."""
        if job.state.finished:
            return job
        batch, _ = self._connect()
        namespace, name = self._where(job)
        found = self._call(
            f"reading Job {namespace}/{name}",
            batch.read_namespaced_job_status,
            name,
            namespace,
            missing_ok=True,
        )
        if found is None:
            return job.transition(
                JobState.FAILED, reason=f"Kubernetes Job {namespace}/{name} does not exist"
            )
        status = found.status
        conditions = {c.type: c for c in status.conditions or [] if c.status == "True"}
        if "Complete" in conditions:
            running = job if job.state == JobState.RUNNING else job.transition(JobState.RUNNING)
            return running.transition(JobState.SUCCEEDED, exit_code=0)
        if "Failed" in conditions:
            failed = conditions["Failed"]
            if failed.reason == "DeadlineExceeded":
                return job.transition(JobState.FAILED, reason="deadline")
            exit_code, said = self._failed_container(job)
            return job.transition(
                JobState.FAILED,
                reason=f"{failed.reason}: {failed.message}{said}",
                exit_code=exit_code,
            )
        if job.state == JobState.QUEUED and (status.active or status.succeeded or status.failed):
            return job.transition(JobState.RUNNING)
        return job

    def _pods(self, job: Job) -> list[Any]:
        _, core = self._connect()
        namespace, _ = self._where(job)
        selector = f"{km.JOB_ID_LABEL}={job.id}"
        pods = self._call(
            f"listing pods of job {job.id}",
            core.list_namespaced_pod,
            namespace,
            label_selector=selector,
        )
        return list(pods.items)

    def _failed_container(self, job: Job) -> tuple[int | None, str]:
        """Return the first failed container's exit code and what it said before it ended."""
        for pod in self._pods(job):
            for container in pod.status.container_statuses or []:
                ended = container.state.terminated if container.state else None
                if ended is not None and ended.exit_code:
                    said = _last_words(ended.message)
                    detail = f"; pod {pod.metadata.name} exited {ended.exit_code}"
                    return int(ended.exit_code), detail + (f": {said}" if said else "")
        return None, ""

    def cancel(self, job: Job) -> Job:
        """Delete the Job in the foreground and wait (bounded) until it and its pods are gone.

        When the wait runs out, the record is still CANCELLED and its reason says what was left
        (pods on a node whose kubelet has not confirmed their end).
        """
        if job.state.finished:
            return job
        batch, _ = self._connect()
        namespace, name = self._where(job)
        self._call(
            f"deleting Job {namespace}/{name}",
            batch.delete_namespaced_job,
            name,
            namespace,
            propagation_policy="Foreground",
            missing_ok=True,
        )
        end = time.monotonic() + self.cancel_wait_seconds
        while True:
            left = self._leftovers(job)
            if not left:
                return job.transition(JobState.CANCELLED)
            if time.monotonic() >= end:
                return job.transition(
                    JobState.CANCELLED,
                    reason=f"still being deleted after {self.cancel_wait_seconds:g} s: "
                    + ", ".join(left),
                )
            time.sleep(self.poll_seconds)

    def _leftovers(self, job: Job) -> list[str]:
        batch, _ = self._connect()
        namespace, name = self._where(job)
        left = [f"pod {pod.metadata.name}" for pod in self._pods(job)]
        found = self._call(
            f"reading Job {namespace}/{name}",
            batch.read_namespaced_job,
            name,
            namespace,
            missing_ok=True,
        )
        return left if found is None else [f"Job {name}", *left]

    def logs(self, job: Job, *, tail: int = 200) -> str:
        """Return the last lines of each pod's log, or say plainly why there are none."""
        _, core = self._connect()
        namespace, name = self._where(job)
        pods = self._pods(job)
        if not pods:
            return f"No logs available: Job {namespace}/{name} has no pods (none yet, or deleted)."
        from kubernetes.client.exceptions import ApiException

        parts = []
        for pod in pods[:_MAX_LOG_PODS]:
            pod_name = pod.metadata.name
            try:
                text = core.read_namespaced_pod_log(
                    pod_name, namespace, container=km.CONTAINER, tail_lines=tail
                )
            except ApiException as exc:
                parts.append(f"--- pod {pod_name}: no logs available: {_server_message(exc)}")
                parts += _termination_messages(pod)
                continue
            if text:
                parts.append(f"--- pod {pod_name}\n{text.rstrip()}")
                continue
            if not pod.spec.node_name:
                parts.append(
                    f"--- pod {pod_name}: no logs available: not running on any node "
                    "(no node was assigned; logs come from the node's kubelet)"
                )
            else:
                parts.append(f"--- pod {pod_name}: no output yet")
            parts += _termination_messages(pod)
        return "\n".join(parts)


def _last_words(message: str | None) -> str:
    text = " ".join((message or "").split())
    return text if len(text) <= _MAX_MESSAGE_CHARS else "…" + text[-_MAX_MESSAGE_CHARS:]


def _termination_messages(pod: Any) -> list[str]:
    """Return what the pod's ended containers left as termination messages (their last lines)."""
    lines = []
    for container in (pod.status.container_statuses if pod.status else None) or []:
        ended = container.state.terminated if container.state else None
        if ended is not None and (ended.message or "").strip():
            lines.append(
                f"--- pod {pod.metadata.name}: exit code {ended.exit_code}, last lines "
                f"(termination message):\n{ended.message.rstrip()}"
            )
    return lines
