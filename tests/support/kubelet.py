"""A kubelet for the loopback control plane: it runs the pods' containers as local processes.

The control plane has no kubelet, scheduler or container runtime. :class:`Kubelet` plays them
for the pods of one namespace, from what the API server holds and nothing else:

- it binds each new pod to its node, as a scheduler would, so that deleting the pod waits until
  this kubelet confirms that the container has stopped;
- it builds the container's environment as a kubelet does: the image's own variables, then
  ``envFrom`` (Secrets, ConfigMaps), then ``env`` (values, ``secretKeyRef``, ``configMapKeyRef``,
  ``fieldRef`` on the pod) — all read from the API server, nothing from the test's environment;
- it mounts PersistentVolumeClaims: the claim must exist, and the directory standing in for its
  volume must be the mount path itself (a process cannot be shown a directory elsewhere);
- it runs ``command`` + ``args`` in a new, empty working directory, output to a log file;
- it reports like a kubelet: Running with a start time, then Succeeded or Failed with the exit
  code and, for a failed ``FallbackToLogsOnError`` container, its last log lines as the
  termination message; a missing Secret or key leaves the pod Pending
  (``CreateContainerConfigError``), an unknown image too (``ErrImagePull``);
- when a pod is deleted (a cancel, the Job's deadline) it sends SIGTERM, waits out the grace
  period (at most :attr:`Kubelet.max_grace`), kills, and then removes the pod.

Limits: an "image" is a directory of executables on this machine (a virtual environment with
trialrun installed); there is no network or filesystem isolation (so the tests check what a pod
is *told*: a fresh working directory and an environment built from the API server alone), no
resource limits, ``runAsNonRoot`` is not enforced, and the API server serves no pod logs (they
are here: :meth:`Kubelet.log`).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIELD = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
TERMINATION_LINES, TERMINATION_BYTES = 80, 2048  # what a kubelet keeps of a failed container's log


@dataclass(frozen=True)
class Image:
    """A stand-in for a container image: where its executables are, and its ``ENV`` lines."""

    bin_dir: Path
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class _Container:
    process: subprocess.Popen[bytes]
    log: Path
    reported: bool = False


class PodNotReady(Exception):
    """The container cannot start yet; ``reason`` is what a kubelet reports."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Kubelet:
    """Runs the pods of ``namespace`` until :meth:`stop`; use it as a context manager.

    Args:
        kubeconfig: The control plane's kubeconfig.
        namespace: Whose pods to run.
        images: The images it can run, by name.
        root: Where pods get their working directories and logs.
        claims: The directory standing in for each PersistentVolumeClaim's volume, by claim.
        max_grace: The longest a deleted pod's container is given to stop after SIGTERM.
    """

    node = "trialrun-test-node"

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        *,
        images: dict[str, Image],
        root: Path,
        claims: dict[str, Path] | None = None,
        max_grace: float = 20.0,
    ):
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core: Any = client.CoreV1Api(api)
        self.namespace = namespace
        self.images = images
        self.root = root
        self.claims = claims or {}
        self.max_grace = max_grace
        self.started: dict[str, dict[str, str]] = {}
        """The environment each pod's container was started with, by pod name."""
        self._containers: dict[str, _Container] = {}
        self._stopping: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kubelet", daemon=True)
        self.errors: list[str] = []

    def __enter__(self) -> Kubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop watching and kill every container still running."""
        self._stop.set()
        self._thread.join(timeout=30)
        for container in self._containers.values():
            if container.process.poll() is None:
                os.killpg(container.process.pid, signal.SIGKILL)
                container.process.wait()

    def log(self, pod: str) -> str:
        """Return what the pod's container wrote (stdout and stderr)."""
        container = self._containers.get(pod)
        return container.log.read_text(errors="replace") if container else ""

    def logs(self) -> str:
        """Return what every container wrote, pod by pod."""
        return "\n".join(f"--- {name}\n{self.log(name)}" for name in sorted(self._containers))

    # --- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync()
            except Exception as exc:  # keep playing the kubelet; the test reads what went wrong
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(0.1)

    def _sync(self) -> None:
        pods = self.core.list_namespaced_pod(self.namespace).items
        present = {pod.metadata.name for pod in pods}
        for pod in pods:
            name = pod.metadata.name
            if pod.metadata.deletion_timestamp is not None:
                self._delete(pod)
            elif name not in self._containers and pod.status.phase in (None, "Pending"):
                self._start(pod)
            elif name in self._containers:
                self._report_end(pod)
        for name, container in self._containers.items():
            if name not in present and container.process.poll() is None:
                os.killpg(container.process.pid, signal.SIGKILL)  # removed without a grace period

    def _start(self, pod: Any) -> None:
        name = pod.metadata.name
        if not pod.spec.node_name:
            self._bind(pod)
        spec = pod.spec.containers[0]
        try:
            image = self.images.get(spec.image)
            if image is None:
                raise PodNotReady("ErrImagePull", f"image {spec.image!r} not found")
            env = self._environment(pod, spec, image)
            self._mounts(pod, spec)
        except PodNotReady as exc:
            self._waiting(pod, exc.reason, str(exc))
            return
        workdir = self.root / name
        workdir.mkdir(parents=True, exist_ok=True)
        env = {"HOME": str(workdir), **env}
        log = self.root / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*(spec.command or []), *(spec.args or [])],
                cwd=spec.working_dir or workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._containers[name] = _Container(process, log)
        self.started[name] = env
        self._status(
            pod,
            {
                "phase": "Running",
                "startTime": _now(),
                "containerStatuses": [
                    self._container_status(spec, {"running": {"startedAt": _now()}})
                ],
            },
        )

    def _report_end(self, pod: Any) -> None:
        container = self._containers[pod.metadata.name]
        code = container.process.poll()
        if code is None or container.reported:
            return
        container.reported = True
        spec = pod.spec.containers[0]
        terminated: dict[str, Any] = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": _now(),
            "finishedAt": _now(),
        }
        if code != 0 and spec.termination_message_policy == "FallbackToLogsOnError":
            lines = container.log.read_bytes().splitlines()[-TERMINATION_LINES:]
            terminated["message"] = b"\n".join(lines)[-TERMINATION_BYTES:].decode(errors="replace")
        self._status(
            pod,
            {
                "phase": "Succeeded" if code == 0 else "Failed",
                "containerStatuses": [self._container_status(spec, {"terminated": terminated})],
            },
        )

    def _delete(self, pod: Any) -> None:
        name = pod.metadata.name
        container = self._containers.get(name)
        if container is not None and name not in self._stopping:
            self._stopping.add(name)
            grace = pod.metadata.deletion_grace_period_seconds
            threading.Thread(
                target=self._stop_container,
                args=(pod, container, min(float(grace or 30), self.max_grace)),
                daemon=True,
            ).start()
        elif container is None:
            self._remove(pod)

    def _stop_container(self, pod: Any, container: _Container, grace: float) -> None:
        process = container.process
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._remove(pod)

    def _remove(self, pod: Any) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.core.delete_namespaced_pod(
                pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    # --- what a container is given ----------------------------------------------------------

    def _environment(self, pod: Any, spec: Any, image: Image) -> dict[str, str]:
        env = {"PATH": f"{image.bin_dir}:/usr/local/bin:/usr/bin:/bin", **image.env}
        namespace = pod.metadata.namespace
        for source in spec.env_from or []:
            prefix = source.prefix or ""
            if source.secret_ref is not None:
                data = self._secret(namespace, source.secret_ref.name, source.secret_ref.optional)
            else:
                ref = source.config_map_ref
                data = self._config_map(namespace, ref.name, ref.optional)
            env.update({prefix + key: value for key, value in data.items()})
        for var in spec.env or []:
            if var.value_from is None:
                env[var.name] = var.value or ""
                continue
            found = self._value_from(pod, var.value_from)
            if found is not None:
                env[var.name] = found
        return env

    def _value_from(self, pod: Any, source: Any) -> str | None:
        namespace = pod.metadata.namespace
        if source.secret_key_ref is not None:
            ref = source.secret_key_ref
            return self._key(self._secret(namespace, ref.name, ref.optional), ref, "Secret")
        if source.config_map_key_ref is not None:
            ref = source.config_map_key_ref
            return self._key(self._config_map(namespace, ref.name, ref.optional), ref, "ConfigMap")
        if source.field_ref is not None:
            return self._field(pod, source.field_ref.field_path)
        raise PodNotReady("CreateContainerConfigError", f"unsupported valueFrom {source}")

    def _key(self, data: dict[str, str], ref: Any, kind: str) -> str | None:
        if ref.key in data:
            return data[ref.key]
        if ref.optional:
            return None
        raise PodNotReady(
            "CreateContainerConfigError", f"couldn't find key {ref.key} in {kind} {ref.name}"
        )

    def _secret(self, namespace: str, name: str, optional: bool | None) -> dict[str, str]:
        found = self._read(self.core.read_namespaced_secret, namespace, name, optional, "secret")
        if found is None:
            return {}
        data = {k: base64.b64decode(v).decode() for k, v in (found.data or {}).items()}
        return {**data, **(found.string_data or {})}

    def _config_map(self, namespace: str, name: str, optional: bool | None) -> dict[str, str]:
        found = self._read(
            self.core.read_namespaced_config_map, namespace, name, optional, "configmap"
        )
        return dict(found.data or {}) if found is not None else {}

    def _read(self, read: Any, namespace: str, name: str, optional: bool | None, kind: str) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return read(name, namespace)
        except ApiException as exc:
            if exc.status == 404 and optional:
                return None
            if exc.status == 404:
                raise PodNotReady(
                    "CreateContainerConfigError", f'{kind} "{name}" not found'
                ) from None
            raise

    def _field(self, pod: Any, path: str) -> str:
        simple = {
            "metadata.name": pod.metadata.name,
            "metadata.namespace": pod.metadata.namespace,
            "metadata.uid": pod.metadata.uid,
            "spec.nodeName": self.node,
            "spec.serviceAccountName": pod.spec.service_account_name or "",
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
        }
        if path in simple:
            return str(simple[path])
        match = FIELD.match(path)
        if match is None:
            raise PodNotReady("CreateContainerConfigError", f"unsupported fieldPath {path!r}")
        values = getattr(pod.metadata, match.group(1)) or {}
        return str(values.get(match.group(2), ""))  # a missing key reads as empty, as in k8s

    def _mounts(self, pod: Any, spec: Any) -> None:
        volumes = {volume.name: volume for volume in pod.spec.volumes or []}
        for mount in spec.volume_mounts or []:
            volume = volumes[mount.name]
            claim = volume.persistent_volume_claim
            if claim is None:
                continue  # the service account token and the like: nothing a test uses
            self._read(
                self.core.read_namespaced_persistent_volume_claim,
                pod.metadata.namespace,
                claim.claim_name,
                False,
                "persistentvolumeclaim",
            )
            backing = self.claims.get(claim.claim_name)
            if backing is None or Path(mount.mount_path) != backing:
                raise PodNotReady(
                    "FailedMount",
                    f"claim {claim.claim_name!r} at {mount.mount_path!r}: this kubelet mounts a "
                    f"claim only at the directory that stands in for it ({backing})",
                )

    # --- talking to the API server ----------------------------------------------------------

    def _bind(self, pod: Any) -> None:
        self.core.create_namespaced_pod_binding(
            pod.metadata.name,
            pod.metadata.namespace,
            {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": pod.metadata.name},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.node},
            },
            _preload_content=False,
        )

    def _waiting(self, pod: Any, reason: str, message: str) -> None:
        spec = pod.spec.containers[0]
        state = {"waiting": {"reason": reason, "message": message}}
        statuses = [self._container_status(spec, state)]
        self._status(pod, {"phase": "Pending", "containerStatuses": statuses})

    def _container_status(self, spec: Any, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": spec.name,
            "image": spec.image,
            "imageID": "",
            "ready": "running" in state,
            "restartCount": 0,
            "state": state,
        }

    def _status(self, pod: Any, status: dict[str, Any]) -> None:
        self.core.patch_namespaced_pod_status(
            pod.metadata.name, pod.metadata.namespace, {"status": status}
        )
