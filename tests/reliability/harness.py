"""Run one reliability case through trialrun the way a user would, and judge what they would see.

A case is a bad input (or a legitimate look-alike, a *control*) on one channel: prompt-file front
matter or body, an encoding, a YAML trick, a dataset file, a catalog edit, an environment
variable, a command-line argument or output path, chat input. It runs in-process through
``main(argv)`` in a directory of its own; what it printed, its exit code and the stores it left
are then judged:

- the documented exit code (a bad input answered 0 is a *silent accept*);
- no traceback;
- a message that names the value and says what to do, bounded in size;
- the store consistent: no run RUNNING, no run that failed shown FINISHED, and nothing at all
  created by a refusal or a usage error (exit 2, 3, 5, 7).

``bench/reliability.py`` runs the same cases for its figures; the tests assert each one.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAX_OUTPUT_CHARS = 20_000
"""The most a refused or failed command may print (a report included)."""
MAX_ERROR_LINE_CHARS = 2_500
"""The longest single error line."""
ADVICE = (
    "use ",
    "give ",
    "write ",
    "set ",
    "add ",
    "remove",
    "rename",
    "check",
    "point ",
    "quote",
    "fix ",
    "unset",
    "create",
    "install",
    "keep ",
    "pass ",
    "save ",
    "replace",
    "drop ",
    "end it",
    "approve",
    "declare",
    "convert",
    "pick ",
    "group ",
    "name ",
    "say ",
    "re-add",
    "lower",
    "what should i use",
    "catalogued",
    "try ",
    "leave ",
    "delete",
    "register a model yourself",
    "run `trialrun",
    "do not ",
)
"""Words that tell a person what to do next (one must appear in a bad input's message)."""
NOTHING_CREATED = (2, 3, 5, 7)


@dataclass(frozen=True)
class Case:
    """One input and what trialrun must answer.

    Attributes:
        id: A short unique name.
        channel: Where the input enters (front matter, dataset file, env, ...).
        expect: The documented exit code.
        argv: The command line (after ``trialrun``).
        files: Files written into the case's directory first (text or bytes).
        env: Variables set for the case.
        stdin: What standard input holds (chat).
        says: Substrings the output must hold (the offending value, the reason).
        control: A legitimate request that must run (no advice wanted).
        prepare: Called with the case's directory after the files are written.
        check: Extra checks on the finished case; returns problems.
        creates: Runs may exist afterwards although the code is a usage error (the experiment
            ran; only its report could not be written).
    """

    id: str
    channel: str
    expect: int
    argv: tuple[str, ...] = ("run", "p.md")
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None
    says: tuple[str, ...] = ()
    control: bool = False
    prepare: Callable[[Path], None] | None = None
    check: Callable[[Path, str], list[str]] | None = None
    creates: bool = False

    @property
    def key(self) -> str:
        """Return ``channel/id``, unique in the corpus."""
        return f"{self.channel.replace(' ', '-')}/{self.id}"


@dataclass
class Outcome:
    """What running a case gave."""

    code: int | None
    output: str
    seconds: float
    crash: str = ""


@dataclass
class Verdict:
    """How a case was judged."""

    case: Case
    outcome: Outcome
    problems: list[str]
    wrong_code: bool = False
    silent_accept: bool = False
    traceback: bool = False
    unclear: bool = False
    running_left: int = 0
    store_problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Return True when nothing is wrong."""
        return not self.problems


LOCATION_VARIABLES = (
    "MLFLOW_TRACKING_URI",
    "TRIALRUN_HOME",
    "TRIALRUN_CATALOG",
    "TRIALRUN_OPTUNA_STORAGE",
)


@contextlib.contextmanager
def _environment(changes: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in LOCATION_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(changes)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _inside(directory: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


def run_case(case: Case, directory: Path, template: Path) -> Outcome:
    """Run ``case`` in ``directory`` (filled from ``template`` first) through ``main(argv)``."""
    from agent.adapters.cli import main
    from tools.tracking.context import forget_git_state

    shutil.copytree(template, directory, dirs_exist_ok=True)
    for name, content in case.files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    out = io.StringIO()
    code: int | None = None
    crash = ""
    started = time.monotonic()
    with _environment(case.env), _inside(directory):
        forget_git_state()
        if case.prepare is not None:
            case.prepare(directory)
        saved = sys.stdin, sys.stdout, sys.stderr
        sys.stdin = io.StringIO(case.stdin or "")
        sys.stdout = sys.stderr = out
        try:
            code = main(list(case.argv))
        except BaseException:  # what escapes main() is a traceback the person would see
            crash = traceback.format_exc()
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved
            forget_git_state()
    return Outcome(code, out.getvalue() + crash, time.monotonic() - started, crash)


def judge(case: Case, outcome: Outcome, directory: Path) -> Verdict:
    """Judge a finished case (see the module docstring)."""
    verdict = Verdict(case, outcome, [])
    problems = verdict.problems
    text = outcome.output
    if outcome.crash or "Traceback (most recent call last)" in text:
        verdict.traceback = True
        problems.append(f"traceback:\n{text[-1500:]}")
    if outcome.code != case.expect:
        verdict.wrong_code = True
        verdict.silent_accept = outcome.code == 0 and not case.control
        problems.append(f"exit code {outcome.code}, documented {case.expect}")
    lowered = text.lower()
    missing = [s for s in case.says if s.lower() not in lowered]
    if missing:
        verdict.unclear = True
        problems.append(f"the output does not say {missing!r}")
    if not case.control and case.expect != 0 and not any(a in lowered for a in ADVICE):
        verdict.unclear = True
        problems.append("the output does not say what to do")
    if len(text) > MAX_OUTPUT_CHARS:
        verdict.unclear = True
        problems.append(f"the output is {len(text)} characters long")
    long_lines = [line for line in text.splitlines() if len(line) > MAX_ERROR_LINE_CHARS]
    if long_lines:
        verdict.unclear = True
        problems.append(f"a line of {len(long_lines[0])} characters")
    verdict.store_problems = store_problems(
        directory, created_allowed=case.creates or case.expect not in NOTHING_CREATED
    )
    verdict.running_left = sum("RUNNING" in p for p in verdict.store_problems)
    problems.extend(verdict.store_problems)
    if case.check is not None:
        problems.extend(case.check(directory, text))
    return verdict


def store_problems(directory: Path, *, created_allowed: bool) -> list[str]:
    """Return what is wrong with the MLflow and Optuna stores under ``directory``."""
    found: list[str] = []
    for path in sorted(directory.rglob("*.db")):
        tables = _tables(path)
        if "runs" in tables:
            found += _runs_problems(path, created_allowed=created_allowed)
        if "trials" in tables and not created_allowed:
            studies = _count(path, "SELECT COUNT(*) FROM studies")
            if studies:
                found.append(f"{path.name}: a refusal created {studies} Optuna study(ies)")
        if "trials" in tables:
            running = _count(path, "SELECT COUNT(*) FROM trials WHERE state = 'RUNNING'")
            if running:
                found.append(f"{path.name}: {running} Optuna trial(s) left RUNNING")
    return found


def _runs_problems(path: Path, *, created_allowed: bool) -> list[str]:
    found = []
    runs = _count(path, "SELECT COUNT(*) FROM runs")
    if runs and not created_allowed:
        found.append(f"{path.name}: a refusal created {runs} MLflow run(s)")
    running = _count(path, "SELECT COUNT(*) FROM runs WHERE status = 'RUNNING'")
    if running:
        found.append(f"{path.name}: {running} MLflow run(s) left RUNNING")
    failed_finished = _count(
        path,
        "SELECT COUNT(*) FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
        "WHERE t.key = 'trialrun.error' AND r.status = 'FINISHED'",
    )
    if failed_finished:
        found.append(f"{path.name}: {failed_finished} run(s) with an error shown FINISHED")
    registered = _count(path, "SELECT COUNT(*) FROM registered_models")
    if registered:
        found.append(f"{path.name}: {registered} registered model(s)")
    return found


def _tables(path: Path) -> set[str]:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError:
        return set()


def _count(path: Path, sql: str) -> int:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return int(db.execute(sql).fetchone()[0])
    except sqlite3.DatabaseError:
        return 0


def make_template(directory: Path) -> Path:
    """Write the examples catalog (breast_cancer, wine, diabetes v1) into ``directory``."""
    from tools.data.catalog import Catalog
    from tools.data.examples import write_examples

    directory.mkdir(parents=True, exist_ok=True)
    with _inside(directory):
        write_examples(Path("data"), Catalog.load("datasets.yaml"))
    return directory


SECRETS = (
    "sk-proj-Q8vT3xLm2Nw9Kp4Rj7Yb1Hc",
    "AKIAQWERTYUIOPASDFGH",
    "ada.lovelace@example.com",
    "hunter2secret",
    "+44 20 7946 0958",
)
"""Secrets and personal data planted in every input the leak scan can reach."""


def leak_scan(directory: Path, template: Path) -> tuple[Outcome, dict[str, int], int]:
    """Run one tuning experiment with :data:`SECRETS` planted everywhere; find them again.

    Planted in the prompt file's experiment name and body, and in every catalog entry's
    description. Every file left in ``directory`` is scanned (MLflow store, artifacts, Optuna
    storage, trialrun's home, the reports) but the two inputs themselves, and so is what was
    printed.

    Returns:
        The outcome, the bytes of secrets found per file (and ``printed output``), the bytes
        scanned.
    """
    import yaml
    from cases import front

    body = f"Contact {SECRETS[2]} or {SECRETS[4]}; my key is {SECRETS[0]}, aws {SECRETS[1]}."
    text = front(body, experiment=f'"exp {SECRETS[2]} token={SECRETS[3]}"', optimize="true")
    text = text.replace("{trials: 1, seconds: 10, cpus: 1}", "{trials: 2, seconds: 20, cpus: 1}")

    def plant(root: Path) -> None:
        path = root / "datasets.yaml"
        document = yaml.safe_load(path.read_text())
        for entry in document["datasets"]:
            entry["description"] = f"owner {SECRETS[2]}, password={SECRETS[3]}, {SECRETS[0]}"
        path.write_text(yaml.safe_dump(document, sort_keys=False))

    case = Case(
        "planted-secrets",
        "leak",
        0,
        argv=("run", "p.md", "--report-md", "r.md", "--report-json", "r.json"),
        files={"p.md": text},
        prepare=plant,
        control=True,
    )
    outcome = run_case(case, directory, template)
    hits: dict[str, int] = {}
    scanned = 0
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.name in ("datasets.yaml", "p.md"):
            continue
        data = path.read_bytes()
        scanned += len(data)
        found = sum(data.count(s.encode()) * len(s) for s in SECRETS)
        if found:
            hits[str(path.relative_to(directory))] = found
    printed = sum(outcome.output.count(s) * len(s) for s in SECRETS)
    if printed:
        hits["printed output"] = printed
    return outcome, hits, scanned
