"""Reliability and security figures: the corpus, a leak scan, and the time to refuse a dead store.

Runs every case of ``tests/reliability/`` (in-process, as the tests do), then one experiment with
secrets and personal data planted in every input a prompt file and the catalog have, and scans
every byte it left (MLflow store, artifacts, Optuna storage, trialrun's home, reports, output);
then times how long ``trialrun run`` takes to refuse stores that cannot be used.

    python bench/reliability.py            # everything (about ten minutes on two cores)
    python bench/reliability.py --no-corpus
"""

from __future__ import annotations

import argparse
import os
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
from harness import Case, judge, leak_scan, make_template, run_case  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-corpus", action="store_true", help="skip the corpus")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="trialrun-reliability-") as tmp:
        root = Path(tmp)
        if not args.no_corpus:
            corpus(root)
        leaks(root)
        refusal_times(root)


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"\n({time.monotonic() - started:.0f} s)")
