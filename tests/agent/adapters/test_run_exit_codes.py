"""Each documented exit code of ``trialrun run``, without a subprocess."""

import json
from pathlib import Path

import pytest

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode

COMPLETE = """---
dataset: diabetes
version: v1
model: xgboost
metric: rmse
budget: {trials: 1, seconds: 10, cpus: 1}
seeds: [0]
optimize: false
---
"""


def run(text: str, capsys, *extra: str) -> tuple[int, str]:
    Path("p.md").write_text(text)
    code = main(["run", "p.md", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_success_is_zero(examples_catalog, tracking_store, capsys):
    code, out = run(COMPLETE, capsys)
    assert code == ExitCode.OK == 0
    assert "Summary" in out


def test_malformed_prompt_file_is_two(capsys):
    code, out = run("---\nmetric: [\n---\n", capsys)
    assert code == ExitCode.USAGE == 2
    assert "not valid YAML" in out


def test_unknown_option_is_two(capsys):
    assert main(["run", "--no-such-flag", "x.md"]) == ExitCode.USAGE


def test_missing_inputs_are_three_and_listed(examples_catalog, capsys):
    code, out = run("---\ndataset: diabetes\n---\n", capsys, "--report-json", "r.json")
    assert code == ExitCode.MISSING_INPUTS == 3
    missing = ["version", "metric", "budget", "seeds"]
    assert f"missing required inputs: {', '.join(missing)}" in out
    assert json.loads(Path("r.json").read_text())["plan"]["missing"] == missing


def test_failed_experiment_is_four(examples_catalog, tracking_store, capsys):
    entry = examples_catalog.get("diabetes", "v1")
    Path(examples_catalog.resolve_location(entry)).unlink()  # the data vanished after cataloguing
    code, out = run(COMPLETE, capsys)
    assert code == ExitCode.FAILED == 4
    assert "validate_data" in out


@pytest.mark.parametrize(
    "text",
    [
        COMPLETE.replace("optimize: false", "optimize: false\nregister: churn-model"),
        COMPLETE.replace("dataset: diabetes", "dataset: churn"),
    ],
    ids=["deploy-field", "uncatalogued-data"],
)
def test_refused_by_policy_is_five(text, examples_catalog, tracking_store, capsys):
    code, out = run(text, capsys)
    assert code == ExitCode.REFUSED == 5
    assert "refused" in out.lower()


@pytest.fixture
def unavailable_model_server():
    """An OpenAI-compatible address whose server answers every request 503, as one loading does."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Unavailable(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server spelling
            body = b'{"error": {"message": "model is loading", "type": "unavailable"}}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_a_model_server_answering_503_is_seven_in_one_line(
    unavailable_model_server, examples_catalog, tracking_store, monkeypatch, capsys
):
    monkeypatch.setenv("OPENAI_BASE_URL", unavailable_model_server)
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-real-key")  # the loopback server ignores it
    code, out = run(COMPLETE, capsys, "--model", "openai:gpt-4.1-mini")
    assert code == ExitCode.UNAVAILABLE == 7
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if "HTTP 503" in line]
    assert len(lines) == 1 and unavailable_model_server in lines[0], out
