"""Run ``trialrun run`` as a real process, stop it at a stage with a real signal, read the stores.

Used by the fault tests and by ``bench/reliability.py``. A run is started in its own directory
(the examples catalog, ``./mlflow.db``, ``./optuna.db``, ``./.trialrun``) and watched through the
progress lines it prints; it is killed the moment the line of the wanted stage appears, so the
kill lands in the middle of that stage's work. What the stores hold afterwards is summarised in
:class:`StoreState`: runs and trials still RUNNING, finished trials, trial runs per number.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROMPT = """---
dataset: breast_cancer
version: v1
model: lightgbm
metric: roc_auc
budget: {{trials: {trials}, seconds: 300, cpus: 1}}
seeds: [2, 3]
experiment: faults
approve: true
---
"""
STAGES: dict[str, Callable[[str], bool]] = {
    "validate": lambda line: "[trialrun] validate data:" in line,
    "baseline": lambda line: "[trialrun] baseline:" in line,
    "trial": lambda line: bool(re.search(r"\[trialrun\] trial \d+ (COMPLETE|PRUNED) .*\(2/", line)),
    "final": lambda line: "[trialrun] final training:" in line,
    "verify": lambda line: "[trialrun] verify:" in line,
}
"""Each stage a run is stopped at, by the progress line that says it has begun (``trial``: the
second trial of this attempt has finished, so the kill lands in the third)."""


@dataclass
class Watched:
    """A ``trialrun`` process and the lines it printed so far."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    seen: threading.Event = field(default_factory=threading.Event)

    def text(self) -> str:
        """Return everything printed so far."""
        return "\n".join(self.lines)


def write_prompt(directory: Path, trials: int) -> Path:
    """Write the fault tests' prompt file (``trials`` trials, two final seeds) and return it."""
    path = directory / "p.md"
    path.write_text(PROMPT.format(trials=trials))
    return path


def trialrun_env() -> dict[str, str]:
    """Return the environment a trialrun process gets: this one, with the repo importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_trialrun(
    directory: Path, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``trialrun ARGS`` in ``directory`` to its end; return its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "agent.adapters.cli", *args],
        cwd=directory,
        env=trialrun_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def start(directory: Path, *args: str, until: Callable[[str], bool] | None = None) -> Watched:
    """Start ``trialrun ARGS`` in ``directory``; ``seen`` is set once a line matches ``until``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "agent.adapters.cli", *args],
        cwd=directory,
        env=trialrun_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    watched = Watched(process)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            watched.lines.append(line.rstrip("\n"))
            if until is not None and until(line):
                watched.seen.set()

    threading.Thread(target=read, daemon=True).start()
    return watched


def stop_at(
    directory: Path,
    stage: str,
    *,
    sig: signal.Signals = signal.SIGKILL,
    timeout: float = 120.0,
) -> Watched:
    """Run the prompt file in the foreground and send ``sig`` once ``stage`` begins.

    Raises:
        AssertionError: The stage never came (the run ended or took longer than ``timeout``).
    """
    watched = start(directory, "run", "p.md", "--report-json", "report.json", until=STAGES[stage])
    if not watched.seen.wait(timeout):
        watched.process.kill()
        raise AssertionError(f"stage {stage!r} never began:\n{watched.text()[-3000:]}")
    os.kill(watched.process.pid, sig)
    watched.process.wait(timeout=60)
    time.sleep(0.2)  # the reader thread takes the last lines
    return watched


@dataclass(frozen=True)
class StoreState:
    """What the MLflow store and the Optuna storage of one directory hold."""

    running_runs: list[str]
    running_trials: list[int]
    finished_trials: dict[int, float | None]
    trial_runs: Counter[int]
    parents: list[tuple[str, str]]
    """Parent runs as (run id, status)."""
    finished_baselines: int

    @property
    def duplicated_trials(self) -> int:
        """Trial numbers recorded by more than one finished run (a trial that ran twice)."""
        return sum(count - 1 for count in self.trial_runs.values() if count > 1)


def store_state(directory: Path) -> StoreState:
    """Read the stores of a directory the fault runs used."""
    import optuna
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{directory / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("faults")
    runs = [] if experiment is None else client.search_runs([experiment.experiment_id])
    running_trials: list[int] = []
    finished: dict[int, float | None] = {}
    storage = directory / "optuna.db"
    if storage.exists():
        url = f"sqlite:///{storage}"
        for summary in optuna.get_all_study_summaries(url):
            study = optuna.load_study(study_name=summary.study_name, storage=url)
            for trial in study.get_trials(deepcopy=False):
                if trial.state.name == "RUNNING":
                    running_trials.append(trial.number)
                if trial.state.name in ("COMPLETE", "PRUNED"):
                    finished[trial.number] = trial.value
    trial_runs: Counter[int] = Counter(
        int(r.data.tags["optuna.trial"])
        for r in runs
        if r.data.tags.get("trialrun.role") == "trial" and r.info.status == "FINISHED"
    )
    return StoreState(
        running_runs=[r.info.run_id for r in runs if r.info.status == "RUNNING"],
        running_trials=running_trials,
        finished_trials=finished,
        trial_runs=trial_runs,
        parents=[
            (r.info.run_id, r.info.status)
            for r in runs
            if r.data.tags.get("trialrun.role") == "parent"
        ],
        finished_baselines=sum(
            r.data.tags.get("trialrun.role") == "baseline" and r.info.status == "FINISHED"
            for r in runs
        ),
    )


def stop_detached_at(directory: Path, stage: str, *, timeout: float = 120.0) -> str:
    """Submit the prompt file with ``--detach``, ``kill -9`` its run once ``stage`` begins.

    The job's wrapper lives on and records how the run ended, as it would after an OOM kill.

    Returns:
        The job id.
    """
    from tools.jobs import process
    from tools.jobs.store import JobStore

    submitted = run_trialrun(directory, "run", "p.md", "--detach", timeout=120)
    found = re.search(r"Submitted job (j-[0-9a-f]{6})", submitted.stdout)
    assert found, submitted.stdout + submitted.stderr
    job = JobStore(directory / ".trialrun" / "jobs.db").get(found.group(1))
    log = Path(job.handle["log_path"])
    end = time.monotonic() + timeout
    while not any(STAGES[stage](line) for line in _lines(log)):
        assert time.monotonic() < end, f"stage {stage!r} never began:\n{log.read_text()[-3000:]}"
        time.sleep(0.02)
    members = process.group_members(job.handle["pgid"], job.handle["start_time"])
    for pid in members:
        if pid != job.handle["pid"]:
            os.kill(pid, signal.SIGKILL)
    while process.group_members(job.handle["pgid"], job.handle["start_time"]):
        assert time.monotonic() < end + 30, "the killed job's process group did not end"
        time.sleep(0.05)
    return job.id


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
