"""Writing runs to MLflow through one redacting path.

Every parameter, metric, tag and text artifact trialrun writes goes through :class:`RunWriter`, so
redaction happens in exactly one place and parameters are logged from one path only. Writes are
batched: a run costs one ``create_run``, one ``log_batch`` and one ``set_terminated`` where
possible, which keeps per-trial tracking overhead small.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

from tools import settings
from tools.errors import Cancelled, ConfigError
from tools.redact import redact, redact_mapping
from tools.tracking.context import environment_tags, git_state

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]
MAX_PARAM_LENGTH = 6000


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
"""The experiment kind the MLflow UI reads to open runs in its model-training view (not GenAI)."""

HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}
"""MLflow's HTTP retries as trialrun sets them unless the person did: a tracking server that
stops mid-study fails a write in seconds (MLflow's own seven retries take over four minutes)."""

QUIET_DEFAULTS = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
"""MLflow's own output, off unless the person turned it on: a "Downloading artifacts" bar each
time a model is read back and a "View run" line each time a run ends would be mixed into the
report (the report links every run itself). Its INFO log lines are off too unless
``MLFLOW_LOGGING_LEVEL`` is set."""


def client() -> Any:
    """Return an ``MlflowClient`` on trialrun's tracking URI.

    The URI also becomes MLflow's current one, which model logging reads. MLflow then exports it
    as ``MLFLOW_TRACKING_URI``; when that variable was unset the export is undone, because
    :mod:`tools.settings` reads it as the person's choice (artifacts would leave ``mlartifacts/``).
    """
    import mlflow

    for name, value in (HTTP_DEFAULTS | QUIET_DEFAULTS).items():
        os.environ.setdefault(name, value)
    if "MLFLOW_LOGGING_LEVEL" not in os.environ:
        # MLflow's INFO lines ("Validating input example…") are its own progress, not trialrun's.
        logging.getLogger("mlflow").setLevel(logging.WARNING)

    uri = settings.tracking_uri()
    exported = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    if exported is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    if uri.startswith("sqlite:///") and uri not in _OPENED:
        return _open_sqlite_store(uri)
    return mlflow.MlflowClient(tracking_uri=uri)


def record_on_run(run_id: str, metrics: Mapping[str, float], tags: Mapping[str, str]) -> None:
    """Add ``metrics`` (step 0, now) and redacted ``tags`` to a run that may have ended already."""
    from mlflow.entities import Metric, RunTag
    from mlflow.utils.time import get_current_time_millis

    now = get_current_time_millis()
    client().log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        tags=[RunTag(k, v) for k, v in redact_mapping(dict(tags)).items()],
    )


_OPENED: set[str] = set()
"""SQLite tracking stores this process has opened (created, or found with their schema)."""


def _open_sqlite_store(uri: str) -> Any:
    """Return a client on a SQLite tracking store, opened the first time under a lock.

    MLflow creates and migrates a store's schema as a client first opens it; several trialrun
    processes started at once on a new ``mlflow.db`` otherwise migrate it together and fail
    (``Online migration expected to match one row …``). The lock is ``flock`` on the store's
    folder, so no lock file is left beside it.
    """
    import fcntl

    import mlflow

    folder = Path(uri.removeprefix("sqlite:///").split("?", 1)[0]).parent
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return mlflow.MlflowClient(tracking_uri=uri)  # MLflow's own error says what is wrong
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        opened = mlflow.MlflowClient(tracking_uri=uri)
    finally:
        os.close(descriptor)  # closing releases the lock
    _OPENED.add(uri)
    return opened


def ensure_experiment(name: str) -> str:
    """Return the id of experiment ``name`` (redacted), creating it when absent.

    The experiment is marked as model training (:data:`EXPERIMENT_KIND`), an existing one too
    when it has no kind yet; a kind someone chose is kept.
    """
    name = redact(name)
    mlflow_client = client()
    try:
        experiment = mlflow_client.get_experiment_by_name(name)
    except Exception as exc:  # the store itself is unreachable or broken
        raise ConfigError(
            f"Cannot reach the MLflow tracking store {settings.tracking_uri()!r}: {exc}"
        ) from exc
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            mlflow_client.restore_experiment(experiment.experiment_id)
        if EXPERIMENT_KIND_TAG not in experiment.tags:
            mlflow_client.set_experiment_tag(
                experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
            )
        return str(experiment.experiment_id)
    return str(
        mlflow_client.create_experiment(
            name,
            artifact_location=settings.artifact_root(),
            tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND},
        )
    )


class DeferredWrites:
    """Run writes in one background thread, in order, off the training's critical path.

    Each write to a SQLite store is a transaction of several milliseconds; a trial's parameters,
    curves, dataset input and status would add tens of milliseconds to every trial. Deferred, they
    overlap the next trial's training. :meth:`flush` waits for them and raises the first error,
    so nothing is read back (or reported) before it is written.
    """

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trialrun-tracking")
        self._pending: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue ``fn(*args, **kwargs)``."""
        self._pending.append(self._executor.submit(fn, *args, **kwargs))

    def flush(self) -> None:
        """Wait for every queued write; raise the first one that failed."""
        pending, self._pending = self._pending, []
        errors = [f.exception() for f in pending]
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first

    def close(self) -> None:
        """Flush, then stop the background thread."""
        try:
            self.flush()
        finally:
            self._executor.shutdown(wait=True)


class RunWriter:
    """One MLflow run, written through the redaction step.

    Args:
        experiment_id: The experiment the run belongs to.
        name: The run name.
        parent_run_id: The parent run, for child runs (baseline, trials, final models).
        tags: Extra tags (redacted like everything else).
        run_id: An existing run to write to instead of creating one.
        deferred: When given, every write after the run's creation goes through it.
    """

    def __init__(
        self,
        experiment_id: str,
        name: str,
        *,
        parent_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        deferred: DeferredWrites | None = None,
    ):
        self.client = client()
        self.experiment_id = experiment_id
        self.deferred = deferred
        self.closing_status: RunStatus = "FINISHED"
        """The status :func:`tracked` closes the run with when its block ends without error."""
        if run_id is not None:
            self.run_id = run_id
            self.client.update_run(run_id, status="RUNNING")
            _opened(run_id, parent_run_id)
            return
        all_tags: dict[str, Any] = {**environment_tags(), "mlflow.runName": name, **(tags or {})}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(
            experiment_id, run_name=redact(name), tags=redact_mapping(all_tags)
        )
        self.run_id = run.info.run_id
        _opened(self.run_id, parent_run_id)
        if git_state().dirty:
            self.log_text(git_state().diff, "git/diff.patch")

    def run_later(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``fn`` now, or queue it when this run's writes are deferred."""
        if self.deferred is None:
            fn(*args, **kwargs)
        else:
            self.deferred.submit(fn, *args, **kwargs)

    def log(
        self,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        curves: Mapping[str, list[float]] | None = None,
        tags: Mapping[str, Any] | None = None,
        step: int = 0,
    ) -> None:
        """Log params, final metrics, per-round curves and tags in one batched write.

        Args:
            params: Parameters (logged once; values are redacted and truncated to MLflow's limit).
            metrics: Final metric values.
            curves: Per-step metric histories, one list per key, steps numbered from 0.
            tags: Tags.
            step: The step final metrics are logged at.
        """
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.utils.time import get_current_time_millis

        now = get_current_time_millis()
        metric_rows = [Metric(k, float(v), now, step) for k, v in (metrics or {}).items()]
        for key, values in (curves or {}).items():
            metric_rows.extend(Metric(key, float(v), now, i) for i, v in enumerate(values))
        param_rows = [
            Param(k, v[:MAX_PARAM_LENGTH]) for k, v in redact_mapping(params or {}).items()
        ]
        tag_rows = [RunTag(k, v) for k, v in redact_mapping(tags or {}).items()]
        # One call: MLflow's client splits it into chunks within the server's batch limits.
        self.run_later(
            self.client.log_batch,
            self.run_id,
            metrics=metric_rows,
            params=param_rows,
            tags=tag_rows,
        )

    def log_text(self, text: str, artifact_file: str) -> None:
        """Write a redacted text artifact."""
        self.run_later(self.client.log_text, self.run_id, redact(text), artifact_file)

    def log_file(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a binary artifact (an image, a model file) that carries no free text."""
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def finish(self, status: RunStatus = "FINISHED") -> None:
        """Close the run with ``status``."""
        self.run_later(self._terminate, status)

    def _terminate(self, status: RunStatus) -> None:
        self.client.set_terminated(self.run_id, status)
        with _OPEN_LOCK:
            _OPEN.pop(self.run_id, None)

    def fail(self, exc: BaseException, *, tags: Mapping[str, Any] | None = None) -> None:
        """Record ``exc``, its traceback and ``tags``; close the run FAILED (KILLED if cancelled).

        A store that does not take the run's end leaves it RUNNING there and listed by
        :func:`unclosed_runs`.
        """
        text = "".join(traceback.format_exception(exc))
        status: RunStatus = "KILLED" if isinstance(exc, Cancelled | KeyboardInterrupt) else "FAILED"
        with contextlib.suppress(Exception):
            self.log_text(text, "error/traceback.txt")
            self.log(tags={"trialrun.error": f"{type(exc).__name__}: {exc}"[:4000], **(tags or {})})
        # The store that failed the work may fail its end too; the run then stays on record as
        # open (see unclosed_runs) and the error that ended it is the one that propagates.
        with contextlib.suppress(Exception):
            self.finish(status)


_OPEN: dict[str, str | None] = {}
"""Runs this process opened and has not closed yet: run id -> parent run id (None: a parent)."""
_OPEN_LOCK = threading.Lock()


def _opened(run_id: str, parent_run_id: str | None) -> None:
    with _OPEN_LOCK:
        _OPEN[run_id] = parent_run_id


def unclosed_runs(parent_run_id: str) -> list[str]:
    """Return the runs of one experiment this process opened and could not close, parent first.

    A run is open from its creation (or reopening) until its end was written; one whose end the
    tracking store did not take, because it stopped answering, stays listed here.
    """
    with _OPEN_LOCK:
        children = [r for r, parent in _OPEN.items() if parent == parent_run_id]
        return ([parent_run_id] if parent_run_id in _OPEN else []) + children


@contextlib.contextmanager
def tracked(
    writer: RunWriter, *, failure_tags: Mapping[str, Any] | None = None
) -> Iterator[RunWriter]:
    """Close ``writer``'s run on success, FAILED (or KILLED) with its traceback otherwise.

    On success the status is ``writer.closing_status``: FINISHED unless the block set another
    (a trial the pruner stopped closes KILLED, as the MLflow UI shows a run stopped early).

    Args:
        writer: The run.
        failure_tags: Tags written only when the run fails.
    """
    try:
        yield writer
    except BaseException as exc:
        writer.fail(exc, tags=failure_tags)
        raise
    writer.finish(writer.closing_status)


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """Yield a temporary directory for artifacts staged before upload."""
    with tempfile.TemporaryDirectory(prefix="trialrun-") as tmp:
        yield Path(tmp)
