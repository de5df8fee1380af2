"""Fixtures shared by the whole suite: no paid service, one working directory per test.

Every test runs in its own ``tmp_path`` with trialrun's location variables unset, so the defaults
(``./mlflow.db``, ``./optuna.db``, ``./datasets.yaml``, ``./.trialrun``) land there. After each
test, every MLflow store in its directory is audited for registered models; tests marked
``after_all`` run last and read the audit, so the suite proves it never registered a model, and
compare the checkout with its state at the start, so it proves it wrote nothing there.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tools.data.catalog import Catalog
    from tools.training.run import DataContext

REPO = Path(__file__).resolve().parents[1]
CLUSTER_PLUGIN = REPO / "tests" / "support" / "cluster.py"
# Helpers the test directories share (tests/ is not a package): ``from mlflow_server import ...``.
sys.path.insert(0, str(REPO / "tests" / "support"))
PAID_SERVICE_KEYS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
)
LOCATION_VARIABLES = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "TRIALRUN_HOME",
    "TRIALRUN_CATALOG",
    "TRIALRUN_OPTUNA_STORAGE",
)
AUDIT = pytest.StashKey[dict[str, list[str]]]()
CHECKOUT = pytest.StashKey[set[str]]()
NOT_CHECKOUT_FILES = {".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def checkout_files() -> set[str]:
    """Return every file and directory in the checkout, less the VCS, caches and environment."""
    found = set()
    for path in REPO.rglob("*"):
        parts = path.relative_to(REPO).parts
        if NOT_CHECKOUT_FILES.isdisjoint(parts) and not parts[0].endswith(".egg-info"):
            found.add("/".join(parts))
    return found


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "after_all: runs after every other test of the session")
    config.stash[AUDIT] = {}
    config.stash[CHECKOUT] = checkout_files()
    # PostgreSQL and the Kubernetes control plane (tests/support/cluster.py). tests/ is not a
    # package (importlib mode), so the plugin is loaded by path, once for the whole suite.
    spec = importlib.util.spec_from_file_location("trialrun_test_cluster", CLUSTER_PLUGIN)
    assert spec is not None and spec.loader is not None
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    config.pluginmanager.register(plugin, "trialrun-cluster")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("after_all") is not None)


@pytest.fixture(autouse=True)
def _no_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # No test may reach a paid model or a real Slack workspace, even by accident.
    for name in list(os.environ):
        if name in PAID_SERVICE_KEYS or name.endswith("_API_KEY"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _own_workdir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[None]:
    for name in LOCATION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    from tools.tracking.context import forget_git_state

    forget_git_state()  # the git state is read from the working directory
    yield
    forget_git_state()
    audit = request.config.stash[AUDIT]
    for store in mlflow_stores(tmp_path):
        audit[str(store)] = registered_models(store)


def mlflow_stores(directory: Path) -> list[Path]:
    """Return the SQLite files under ``directory`` that hold an MLflow model registry."""
    stores = []
    for path in sorted(directory.rglob("*.db")):
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError:
            continue  # another kind of file that happens to end in .db
        if "registered_models" in tables:
            stores.append(path)
    return stores


def registered_models(store: Path) -> list[str]:
    """Return every registered model and model version in the MLflow store ``store``."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{store}"
    mlflow_client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = [f"model {m.name!r}" for m in mlflow_client.search_registered_models()]
    found += [f"version {v.name!r} v{v.version}" for v in mlflow_client.search_model_versions()]
    return found


@pytest.fixture
def registry_audit(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[], dict[str, list[str]]]:
    """Audit every MLflow store this session created so far: the registered models in each.

    Stores of finished tests were audited when each test ended (their directories may be gone);
    the stores still on disk under the session's temporary root are read when it is called.
    """

    def audit() -> dict[str, list[str]]:
        found = dict(request.config.stash[AUDIT])
        for store in mlflow_stores(tmp_path_factory.getbasetemp()):
            found[str(store)] = registered_models(store)
        return found

    return audit


@pytest.fixture
def files_added_to_checkout(request: pytest.FixtureRequest) -> Callable[[], list[str]]:
    """Return what the session has added to the checkout so far (stores, artifacts, models)."""

    def added() -> list[str]:
        return sorted(checkout_files() - request.config.stash[CHECKOUT])

    return added


@pytest.fixture(scope="session")
def _empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("template") / "empty.sqlite"
    # MLflow gives the Default experiment an artifact location under the working directory the
    # store is created in; session fixtures run before any test changes directory.
    here = Path.cwd()
    os.chdir(path.parent)
    try:
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    finally:
        os.chdir(here)
    return path


@pytest.fixture
def tracking_store(_empty_store: Path, tmp_path: Path) -> str:
    """Put an empty MLflow store at the default ``./mlflow.db`` and return its URI.

    Creating the schema costs about two seconds; a copy of one created per session costs none.
    """
    shutil.copyfile(_empty_store, tmp_path / "mlflow.db")
    from tools import settings

    return settings.tracking_uri()


@pytest.fixture
def examples_catalog() -> Catalog:
    """Write scikit-learn's example datasets (breast_cancer, wine, diabetes, all v1) and catalogue them."""
    from tools.data.catalog import Catalog
    from tools.data.examples import write_examples

    catalog = Catalog.load("datasets.yaml")
    write_examples(Path("data"), catalog)
    return catalog


@pytest.fixture
def shared_datasets() -> Path:
    """The benchmark datasets in ``shared/datasets`` beside the repository (never copied in)."""
    path = (REPO.parent / "shared" / "datasets").resolve()
    if not path.is_dir():
        pytest.skip(f"the shared datasets are not at {str(path)!r} (clone shared/ beside the repo)")
    return path


@pytest.fixture(scope="session")
def example_contexts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DataContext]:
    """The example datasets loaded, validated and split once per session, by name.

    For tests that train without a catalog in the working directory; nothing may modify them.
    """
    from tools.data.catalog import Catalog
    from tools.data.examples import write_examples
    from tools.experiment.data import load_context
    from tools.experiment.request import TuneRequest
    from tools.training.metrics import DEFAULT_METRIC

    root = tmp_path_factory.mktemp("examples")
    catalog = Catalog.load(root / "datasets.yaml")
    entries = write_examples(root / "data", catalog)
    return {
        entry.name: load_context(
            TuneRequest(
                dataset=entry.name,
                version=entry.version,
                metric=DEFAULT_METRIC[entry.task or "binary"],
                catalog=str(catalog.path),
            )
        )
        for entry in entries
    }


UPDATE_SNAPSHOTS_ENV = "TRIALRUN_UPDATE_SNAPSHOTS"


def check_snapshot(path: Path, text: str) -> None:
    """Compare ``text`` with the snapshot at ``path``; write it when missing or asked to.

    A missing snapshot is written and the test fails, so no snapshot is accepted unreviewed (in
    CI least of all); ``TRIALRUN_UPDATE_SNAPSHOTS=1`` rewrites snapshots on purpose.
    """
    import difflib

    if os.environ.get(UPDATE_SNAPSHOTS_ENV) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        pytest.fail(f"Snapshot {path} did not exist and was written: review it, then re-run.")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{path.name} (snapshot)",
                tofile=f"{path.name} (now)",
            )
        )
        pytest.fail(
            f"The output differs from {path}:\n{diff}\n"
            f"If the change is intended, re-run with {UPDATE_SNAPSHOTS_ENV}=1 and review the diff."
        )


@pytest.fixture
def snapshot_at() -> Callable[[Path, str], None]:
    """Check text against a snapshot file at any path."""
    return check_snapshot
