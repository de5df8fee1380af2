"""The worker image's install, done outside Docker: no Docker engine runs on this machine.

The Dockerfile builds trialrun's wheel and installs it with ``docker/install-worker.sh`` over
the pinned ``docker/requirements.txt``. These tests run that same script on a freshly built
wheel into a new virtual environment, then start ``trialrun worker`` from there — in a working
directory with no catalog and no checkout, given only its task and environment — against a
real study and tracking store. What they cannot prove: the base image's own packages, the
non-root user and the ENTRYPOINT at run time (those are checked in the Dockerfile's text).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools import settings
from tools.data.catalog import Catalog
from tools.data.load import load_curated
from tools.experiment.request import TuneRequest
from tools.experiment.worker import TASK_ENV, WorkerTask
from tools.tracking.runs import RunWriter, ensure_experiment

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def worker_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment installed exactly as the image's is (about 4 minutes on 2 cores)."""
    root = tmp_path_factory.mktemp("image")
    # The wheel is built from a copy of the working tree, as the Dockerfile builds from its COPY:
    # setuptools writes build/ beside the sources it builds, which must not land in the checkout.
    source = root / "src"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            root / "dist",
            source,
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (root / "dist").glob("trialrun-*.whl")
    venv = root / "venv"
    done = subprocess.run(
        ["sh", DOCKER / "install-worker.sh", venv, DOCKER / "requirements.txt", wheel],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def test_the_dockerfile_installs_with_the_same_script_and_runs_the_worker_unprivileged():
    text = (DOCKER / "Dockerfile").read_text()

    assert "ARG PYTHON=python:3.11-slim" in text
    assert "pip wheel --no-cache-dir --quiet --no-deps --wheel-dir /dist ." in text
    assert (
        "RUN sh /tmp/install/install-worker.sh /opt/trialrun /tmp/install/requirements.txt" in text
    )
    assert "USER 10001" in text and 'ENTRYPOINT ["trialrun", "worker"]' in text
    pinned = [
        line
        for line in (DOCKER / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pinned and all("==" in line for line in pinned)  # every dependency pinned
    assert not any(line.startswith("trialrun") for line in pinned)


def test_every_dependency_of_the_project_is_pinned_for_the_image():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = {
        canonicalize_name(Requirement(line).name)
        for line in (DOCKER / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    wanted = project["dependencies"] + project["optional-dependencies"]["remote"]
    missing = sorted(
        name
        for name in (canonicalize_name(Requirement(r).name) for r in wanted)
        if name not in pinned
    )
    assert not missing, f"run docker/lock.sh: {missing} missing from docker/requirements.txt"


def test_the_installed_worker_joins_a_real_study_with_only_its_task_and_environment(
    worker_venv: Path, examples_catalog: Catalog, tracking_store: str, tmp_path: Path
):
    experiment_id = ensure_experiment("image")
    parent = RunWriter(experiment_id, "parent").run_id
    storage = settings.optuna_storage()
    optuna.create_study(study_name="image-study", storage=storage, direction="minimize")
    entry, _ = load_curated("wine", "v1", catalog=examples_catalog)
    task = WorkerTask.for_request(
        TuneRequest(dataset="wine", version="v1", metric="log_loss", trials=2),
        study_name="image-study",
        experiment_id=experiment_id,
        parent_run_id=parent,
        group="g",
        workers=1,
        deadline=time.time() + 300,
        dataset=entry,
    )
    pod = tmp_path / "pod"
    pod.mkdir()
    env = {
        "PATH": f"{worker_venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(pod),
        "PYTHONUNBUFFERED": "1",
        "MLFLOW_TRACKING_URI": tracking_store,
        "TRIALRUN_OPTUNA_STORAGE": storage,
        "TRIALRUN_JOB_ID": "j-1a9e0f",
        TASK_ENV: task.to_json(),
    }

    where = subprocess.run(
        ["python", "-c", "import tools, agent; print(tools.__file__, agent.__file__)"],
        cwd=pod,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    done = subprocess.run(
        ["trialrun", "worker"], cwd=pod, env=env, capture_output=True, text=True, timeout=300
    )

    assert all(p.startswith(str(worker_venv)) for p in where.stdout.split())  # not the checkout
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trial budget reached; study 'image-study': 2 complete" in done.stdout
    trials = optuna.load_study(study_name="image-study", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    runs = MlflowClient(tracking_store).search_runs(
        [experiment_id], "tags.`trialrun.role` = 'trial'"
    )
    assert len(runs) == 2
    assert {r.data.tags["trialrun.job_id"] for r in runs} == {"j-1a9e0f"}
    installed = json.loads(
        subprocess.run(
            ["python", "-m", "pip", "list", "--format", "json"],
            cwd=pod,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    versions = {p["name"].lower(): p["version"] for p in installed}
    assert runs[0].data.tags["trialrun.version.trialrun"] == versions["trialrun"]
    assert runs[0].data.tags["trialrun.version.lightgbm"] == versions["lightgbm"]
