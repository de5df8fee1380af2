"""Planner quality: the phrasing corpus through the offline planner and through a chat model.

Every case of ``tests/agent/planner/phrasings.yaml`` is sent as the first message of a
conversation, with trialrun's system prompt and tools, and the first reply is judged:

- right action: the tool the case calls for (or a text answer for help, yes/no, unknown);
- right inputs: for an experiment request, the run-experiment arguments are exactly the stated
  values (for other actions, the action is the input);
- unnecessary question: a complete experiment request answered with a question (ask_user or
  prose) instead of a run;
- invented: a required input (dataset, version, metric, trials, seconds, seeds) the model passed
  that the person never stated; "reaching compute" counts those the grounding check let through;
- model calls: a whole dry-run turn of each complete request on scikit-learn's example datasets,
  counted by the agent's usage counter, with the MLflow registry checked after each (0 writes).

    python bench/planner.py                       # the offline planner
    python bench/planner.py --model local         # the 1.5B model from ../shared/llm, started here
    python bench/planner.py --model gpt-4.1-mini --base-url https://api.openai.com/v1
    python bench/planner.py --model local --every 8   # every 8th case: a slow model's subset
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "agent" / "planner" / "phrasings.yaml"
LAUNCHER = REPO.parent / "shared" / "llm" / "serve_local_llm.py"
LOCAL_CACHE = Path.home() / ".cache" / "trialrun-llm-1.5b"
REQUIRED_ARGS = ("dataset", "version", "metric", "trials", "seconds", "seeds")
TOOL_OF = {
    "run_experiment": "run_experiment",
    "answer": "run_experiment",
    "query_runs": "query_runs",
    "show_run": "show_run",
    "compare_runs": "compare_runs",
    "metric_history": "metric_history",
    "reproduce_run": "reproduce_run",
    "list_datasets": "list_datasets",
    "cancel_job": "cancel_job",
    "cancel_all_jobs": "cancel_all_jobs",
    "job_status": "show_job|list_jobs",
    "list_jobs": "list_jobs",
}
"""The tool each action calls; an action not listed is answered in text."""
COMPLETE = (
    "tune xgboost on breast_cancer v1 for roc auc, 5 trials, 2 minutes, seeds 1 and 2",
    "Baseline only: lightgbm on wine v1, log loss, 30 seconds, seed 3.",
    "train on diabetes v1 by rmse with 10 trials, seed 7",
    "benchmark both families on breast_cancer version v1, accuracy, a 5 minute budget, seed 1",
    "fit lgbm on diabetes v1 minimising mae, 15 trials in 3 minutes, seeds 1-3",
)
"""Complete requests on the example datasets, each run as a whole dry-run turn."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="offline", help="offline, local, or a model name")
    parser.add_argument("--base-url", help="an OpenAI-compatible server (not for offline/local)")
    parser.add_argument("--every", type=int, default=1, help="judge every Nth case only")
    args = parser.parse_args(argv)
    table = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    cases = table["cases"][:: max(1, args.every)]
    with _model(args.model, args.base_url) as model:
        rows = [judge(case, table, model) for case in cases]
        turns = [whole_turn(text, model) for text in COMPLETE]
    print_table(args.model, rows, turns, every=args.every, total=len(table["cases"]))
    return 0


@contextmanager
def _model(name: str, base_url: str | None) -> Iterator[Any]:
    """Yield the chat model: the offline planner, the local model (served here), or a server's."""
    if name == "offline":
        yield None
        return
    if name == "local":
        with _local_server() as url:
            yield _chat_openai("local", url)
        return
    yield _chat_openai(name, base_url or os.environ.get("OPENAI_BASE_URL"))


def _chat_openai(name: str, url: str | None) -> Any:
    from langchain_openai import ChatOpenAI

    key = os.environ.get("OPENAI_API_KEY") or "local"
    return ChatOpenAI(model=name, base_url=url, api_key=key, temperature=0)  # type: ignore[arg-type]


@contextmanager
def _local_server() -> Iterator[str]:
    python, gguf = LOCAL_CACHE / "venv" / "bin" / "python", LOCAL_CACHE / "model.gguf"
    if not (python.is_file() and gguf.is_file() and LAUNCHER.is_file()):
        sys.exit(f"the local model is not prepared in {LOCAL_CACHE}: run shared/llm/setup.sh")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(Path(tempfile.gettempdir()) / f"bench-planner-llm-{port}.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [str(python), str(LAUNCHER), str(gguf), str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "LLM_THREADS": os.environ.get("LLM_THREADS", "1")},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the local model did not start (see {log.name})")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _catalog(case: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, list[str]]:
    known = case.get("known")
    return dict(table["catalogs"][known] if isinstance(known, str) else known or {})


def first_reply(text: str, known: Mapping[str, list[str]], model: Any) -> Any:
    """Return the model's first reply to ``text`` as the agent would ask for it."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from agent.planner.offline import OfflinePlanner
    from agent.toolset import build_tools
    from prompts import render

    if model is None:
        return OfflinePlanner(known=lambda: dict(known)).decide([HumanMessage(text)])
    datasets = ", ".join(f"{n} ({', '.join(v)})" for n, v in sorted(known.items())) or "none yet"
    system = render("system", datasets=datasets, max_trials=200)
    bound = model.bind_tools(build_tools())
    return bound.invoke([SystemMessage(system), HumanMessage(text)])


def judge(case: Mapping[str, Any], table: Mapping[str, Any], model: Any) -> dict[str, Any]:
    """Judge the first reply to one case."""
    from agent.grounding import flat, ground
    from agent.tool_args import args_from_fields, fields_from_args

    known = _catalog(case, table)
    started = time.perf_counter()
    reply = first_reply(case["text"], known, model)
    seconds = time.perf_counter() - started
    calls = reply.tool_calls or []
    tool = calls[0]["name"] if calls else None
    args = dict(calls[0]["args"]) if calls else {}
    wanted = TOOL_OF.get(case["action"])
    if case["action"] == "cancel_job" and not case.get("job_id"):
        wanted = "list_jobs|text"  # "stop the job": which one? asking or listing them is right
    expected = args_from_fields(case.get("fields", {}))
    refusal = bool(case.get("deploy")) and case["action"] not in ("run_experiment", "answer")
    right_action = (tool or "text") in wanted.split("|") if wanted and not refusal else tool is None
    is_run = tool == "run_experiment"
    right_inputs = right_action and (not is_run or _same_args(args, expected))
    invented = [a for a in REQUIRED_ARGS if is_run and a in args and a not in expected]
    reaching: list[str] = []
    if is_run:
        grounded = ground(
            flat(fields_from_args(args)), texts=[case["text"]], front_matter={}, known=known
        )
        kept = args_from_fields(_unflat(grounded.fields))
        reaching = [a for a in REQUIRED_ARGS if a in kept and a not in expected]
    complete = (
        wanted == "run_experiment"
        and all(a in expected for a in ("dataset", "version", "metric", "seeds"))
        and ("trials" in expected or "seconds" in expected)
    )
    asked = tool == "ask_user" or (tool is None and "?" in str(reply.content))
    return {
        "right_action": right_action,
        "right_inputs": right_inputs,
        "invented": invented,
        "reaching": reaching,
        "unnecessary_question": complete and asked,
        "complete": complete,
        "seconds": seconds,
        "text": case["text"],
        "got": (tool, args) if calls else ("text", str(reply.content)[:80]),
    }


def _unflat(fields: Mapping[str, Any]) -> dict[str, Any]:
    from agent.grounding import unflatten

    return unflatten(fields)


def _same_args(got: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    def norm(value: Any) -> Any:
        if isinstance(value, list):
            return sorted(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return value.lower() if isinstance(value, str) else value

    present = {k: norm(v) for k, v in got.items() if v is not None}
    return present == {k: norm(v) for k, v in expected.items()}


def whole_turn(text: str, model: Any) -> dict[str, Any]:
    """Run one complete request as a dry-run turn; count model calls and registry writes."""
    from mlflow import MlflowClient

    from agent.context import AgentContext
    from agent.conversation import Conversation
    from tools.data.catalog import Catalog
    from tools.data.examples import write_examples

    here = os.getcwd()
    with tempfile.TemporaryDirectory() as root:
        os.chdir(root)
        try:
            write_examples(Path("data"), Catalog.load("datasets.yaml"))
            conversation = Conversation(model, context=AgentContext(dry_run=True), model_label="x")
            started = time.perf_counter()
            turn = conversation.send(text, _NobodyAnswers())
            seconds = time.perf_counter() - started
            uri = f"sqlite:///{Path(root) / 'mlflow.db'}"
            registry = 0
            if Path(root, "mlflow.db").exists():
                client = MlflowClient(tracking_uri=uri, registry_uri=uri)
                registry = len(client.search_registered_models())
        finally:
            os.chdir(here)
    return {
        "calls": conversation.context.usage.model_calls,
        "planned": bool(turn.plans),
        "registry": registry,
        "seconds": seconds,
    }


class _NobodyAnswers:
    def ask(self, question: str, missing: list[str]) -> None:
        return None

    def approve(self, description: str) -> bool:
        return False


def print_table(
    name: str, rows: list[dict[str, Any]], turns: list[dict[str, Any]], *, every: int, total: int
) -> None:
    count = Counter[str]()
    for row in rows:
        count["action"] += row["right_action"]
        count["inputs"] += row["right_inputs"]
        count["complete"] += row["complete"]
        count["questions"] += row["unnecessary_question"]
        count["invented"] += bool(row["invented"])
        count["reaching"] += bool(row["reaching"])
    n = len(rows)
    subset = f"every {every}th case: {n} of {total}" if every > 1 else f"all {n} cases"
    calls = [t["calls"] for t in turns]
    print(f"## Planner: {name} ({subset})\n")
    print("| measure | value |\n|---|---:|")
    print(f"| right action | {count['action']}/{n} ({100 * count['action'] / n:.1f} %) |")
    print(
        f"| right action and inputs | {count['inputs']}/{n} ({100 * count['inputs'] / n:.1f} %) |"
    )
    print(f"| unnecessary questions (of {count['complete']} complete) | {count['questions']} |")
    print(f"| requests with invented inputs, passed by the model | {count['invented']} |")
    print(f"| requests with invented inputs, reaching compute | {count['reaching']} |")
    print(
        f"| seconds per request (first reply), mean | {sum(r['seconds'] for r in rows) / n:.3f} |"
    )
    print(
        f"| complete requests planned in one turn | {sum(t['planned'] for t in turns)}/{len(turns)} |"
    )
    print(
        f"| model calls per complete request, max (mean) | {max(calls)} ({sum(calls) / len(calls):.1f}) |"
    )
    print(
        f"| seconds per complete turn, mean | {sum(t['seconds'] for t in turns) / len(turns):.2f} |"
    )
    print(f"| registry writes | {sum(t['registry'] for t in turns)} |")
    misses = [r for r in rows if not r["right_inputs"]]
    if misses:
        print("\nMisses (text -> what came back):")
        for row in misses[:40]:
            print(f"- {row['text'][:90]!r} -> {row['got']!r:.160}")


if __name__ == "__main__":
    sys.exit(main())
