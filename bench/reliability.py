"""Reliability and security figures: the corpus, a leak scan, and the time to refuse a dead store.

Runs every case of ``tests/reliability/`` (in-process, as the tests do), then one experiment with
secrets and personal data planted in every input a prompt file and the catalog have, and scans
every byte it left (MLflow store, artifacts, Optuna storage, trialrun's home, reports, output);
then times how long ``trialrun run`` takes to refuse stores that cannot be used; then stops real
``trialrun run`` processes at every stage (``kill -9`` in the foreground and detached, SIGINT),
lets ``trialrun jobs list`` settle them and runs the file again, counting what was left RUNNING
and the trials lost or run twice; then runs eight experiments at once on one store.

    python bench/reliability.py            # everything (about twenty minutes on two cores)
    python bench/reliability.py --no-corpus --no-load
    python bench/reliability.py --postgres  # the load also on PostgreSQL at 127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "reliability"))

from cases import all_cases, front  # noqa: E402
from faults import (  # noqa: E402
    STAGES,
    run_trialrun,
    start,
    stop_at,
    stop_detached_at,
    store_state,
    write_prompt,
)
from harness import Case, judge, leak_scan, make_template, run_case  # noqa: E402

from tools.jobs.store import JobStore  # noqa: E402

FAULT_TRIALS = 5
LOAD_PROCESSES = 8
LOAD_PROMPT = """---
dataset: breast_cancer
version: v1
model: lightgbm
metric: roc_auc
budget: {{trials: 3, seconds: 240, cpus: 1}}
seeds: [1]
experiment: load-{index}
---
"""


def corpus(root: Path) -> None:
    template = make_template(root / "template")
    verdicts = []
    for index, case in enumerate(all_cases()):
        directory = root / f"case-{index}"
        verdicts.append(judge(case, run_case(case, directory, template), directory))
    by_channel: dict[str, Counter[str]] = defaultdict(Counter)
    for v in verdicts:
        row = by_channel[v.case.channel]
        row["cases"] += 1
        row["passed"] += v.passed
        row["clear"] += not v.unclear and not v.case.control
        row["tracebacks"] += v.traceback
        row["wrong codes"] += v.wrong_code
        row["silent accepts"] += v.silent_accept
        row["left RUNNING"] += v.running_left
        row["registry"] += sum("registered" in p for p in v.store_problems)
    columns = ("cases", "passed", "clear", "tracebacks", "wrong codes", "silent accepts")
    columns += ("left RUNNING", "registry")
    print("| channel | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    total: Counter[str] = Counter()
    for channel, row in by_channel.items():
        total.update(row)
        print(f"| {channel} | " + " | ".join(str(row[c]) for c in columns) + " |")
    print("| **all** | " + " | ".join(f"**{total[c]}**" for c in columns) + " |")
    bad = sum(not v.case.control for v in verdicts)
    print(f"\n{bad} bad inputs, {len(verdicts) - bad} legitimate look-alikes; clear = the message")
    print("quotes the value and says what to do, within 20,000 characters.")
    for v in verdicts:
        if not v.passed:
            print(f"- {v.case.key}: {v.problems[0][:200]}")


def leaks(root: Path) -> None:
    """Plant secrets in every input channel of one real experiment; count the bytes found."""
    outcome, hits, scanned = leak_scan(root / "leak", make_template(root / "leak-template"))
    print(f"\nLeak scan: exit code {outcome.code}; {scanned:,} bytes of stores, artifacts, Optuna")
    print(f"storage, trialrun home and reports scanned, plus {len(outcome.output):,} printed.")
    print(f"bytes leaked: {sum(hits.values())}")
    for where, count in hits.items():
        print(f"- {where}: {count}")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _blackhole() -> tuple[int, threading.Event]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
        server.close()

    threading.Thread(target=accept, daemon=True).start()
    return int(server.getsockname()[1]), stop


def refusal_times(root: Path) -> None:
    template = make_template(root / "store-template")
    port, stop = _blackhole()
    stores = {
        "tracking: closed port": {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{_closed_port()}"},
        "tracking: accepts, never answers": {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"},
        "tracking: folder missing": {"MLFLOW_TRACKING_URI": "sqlite:////nonexistent/dir/x.db"},
        "optuna: PostgreSQL closed port": {
            "TRIALRUN_OPTUNA_STORAGE": f"postgresql+psycopg2://u@127.0.0.1:{_closed_port()}/db"
        },
        "optuna: PostgreSQL accepts, never answers": {
            "TRIALRUN_OPTUNA_STORAGE": f"postgresql+psycopg2://u@127.0.0.1:{port}/db"
        },
    }
    print("\n| store that cannot be used | exit code | seconds to refuse |")
    print("|---|---:|---:|")
    for index, (label, env) in enumerate(stores.items()):
        case = Case(label, "store", 7, files={"p.md": front(optimize="true")}, env=env)
        outcome = run_case(case, root / f"store-{index}", template)
        print(f"| {label} | {outcome.code} | {outcome.seconds:.2f} |")
    stop.set()
    print("(defaults: connect 3 s, read 5 s; TRIALRUN_STORE_CONNECT_TIMEOUT/_READ_TIMEOUT)")


def faults(root: Path) -> None:
    """Stop a run at each stage, settle it with ``trialrun jobs list``, run the file again."""
    template = make_template(root / "fault-template")
    scenarios = [(face, stage) for face in ("foreground", "detached") for stage in STAGES]
    scenarios.append(("foreground SIGINT", "trial"))
    print(
        "\n| fault | stage | runs RUNNING after | trials RUNNING after | resumed | lost | twice |"
    )
    print("|---|---|---:|---:|---|---:|---:|")
    for index, (face, stage) in enumerate(scenarios):
        directory = root / f"fault-{index}"
        shutil.copytree(template, directory)
        write_prompt(directory, FAULT_TRIALS)
        if face == "detached":
            stop_detached_at(directory, stage)
        else:
            sig = signal.SIGINT if "SIGINT" in face else signal.SIGKILL
            stop_at(directory, stage, sig=sig)
        run_trialrun(directory, "jobs", "list")
        settled = store_state(directory)
        again = run_trialrun(directory, "run", "p.md")
        after = store_state(directory)
        resumed = "yes" if len({run_id for run_id, _ in after.parents}) == 1 else "no (new)"
        lost = FAULT_TRIALS - len(after.finished_trials)
        if again.returncode != 0:
            resumed = f"exit {again.returncode}"
        kind = "kill -9 " + face if face != "foreground SIGINT" else "SIGINT foreground"
        print(
            f"| {kind} | {stage} | {len(settled.running_runs)} | {len(settled.running_trials)} "
            f"| {resumed} | {lost} | {after.duplicated_trials} |"
        )


def load(root: Path, storages: dict[str, str]) -> None:
    """Run eight experiments at once on one store; count how they ended."""
    template = make_template(root / "load-template")
    print("\n| 8 runs at once took | Optuna storage | succeeded | failed, said why | lost |")
    print("|---|---|---:|---:|---:|")
    deleted: dict[str, int] = {}
    for label, storage in storages.items():
        directory = root / f"load-{label}"
        shutil.copytree(template, directory)
        env_storage = {"TRIALRUN_OPTUNA_STORAGE": storage} if storage else {}
        os.environ.update(env_storage)
        started = time.monotonic()
        try:
            runs = []
            for index in range(LOAD_PROCESSES):
                (directory / f"p{index}.md").write_text(LOAD_PROMPT.format(index=index))
                runs.append(start(directory, "run", f"p{index}.md"))
            codes = [run.process.wait(timeout=900) for run in runs]
        finally:
            for name in env_storage:
                os.environ.pop(name)
            if storage:
                deleted[label] = delete_studies(directory, storage)
        run_trialrun(directory, "jobs", "list")
        ended = [
            j for j in JobStore(directory / ".trialrun" / "jobs.db").list() if j.state.finished
        ]
        said_why = sum(
            code != 0 and "Traceback" not in run.text() and "error" in run.text().lower()
            for code, run in zip(codes, runs, strict=True)
        )
        print(
            f"| {time.monotonic() - started:.0f} s | {label} | {codes.count(0)} | {said_why} "
            f"| {LOAD_PROCESSES - len(ended)} |"
        )
    for label, count in deleted.items():
        print(f"\n{label}: the {count} studies the runs made were deleted from the shared storage.")


def delete_studies(directory: Path, storage: str) -> int:
    """Delete the studies the runs in ``directory`` made in a shared storage, by their parents' tags.

    The tags name exactly this directory's studies, where a name prefix would also match studies
    another user of the same database is making at the time.
    """
    import optuna
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{directory / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, "tags.`trialrun.role` = 'parent'", max_results=1000)
    existing = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    made = {r.data.tags["optuna.study"] for r in runs} & existing
    for name in made:
        optuna.delete_study(study_name=name, storage=storage)
    return len(made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-corpus", action="store_true", help="skip the corpus")
    parser.add_argument("--no-faults", action="store_true", help="skip the fault runs")
    parser.add_argument("--no-load", action="store_true", help="skip the concurrent runs")
    parser.add_argument(
        "--postgres",
        default="",
        nargs="?",
        const="postgresql+psycopg2://postgres@127.0.0.1:5432/test",
        help="also load PostgreSQL (this URL, default the local test database)",
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="trialrun-reliability-") as tmp:
        root = Path(tmp)
        if not args.no_corpus:
            corpus(root)
        leaks(root)
        refusal_times(root)
        if not args.no_faults:
            faults(root)
        if not args.no_load:
            load(root, {"SQLite": "", **({"PostgreSQL": args.postgres} if args.postgres else {})})


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"\n({time.monotonic() - started:.0f} s)")
