import json
from typing import Any

from agent.report import render_slack
from agent.report.model import Failure, PlanInput, Report

RUN = "2c3d4e5f607182930a4b5c6d7e8f90a1"


def assert_within_slack_limits(blocks: list[dict[str, Any]]) -> None:
    """Slack rejects a whole message that breaks any of these limits."""
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            fields = block.get("fields", [])
            assert "text" in block or fields
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(fields) <= 10
            assert all(len(field["text"]) <= 2000 for field in fields)
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(len(element["text"]) <= 3000 for element in block["elements"])
        else:
            assert block["type"] == "divider"


def texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_every_sample_fits_slack(report: Report) -> None:
    assert_within_slack_limits(render_slack(report))


def test_five_hundred_checks_are_cut_with_a_note_and_failures_first(samples) -> None:
    blocks = render_slack(samples.with_checks(500))
    assert_within_slack_limits(blocks)
    verification = next(b for b in blocks if b.get("text", {}).get("text", "").startswith("*Ver"))
    text = verification["text"]["text"]
    assert text.startswith("*Verification*\n167 of 500 checks failed.\n✗ trial run 0 metrics")
    assert "✓" not in text
    assert text.endswith("more line(s) left out to fit Slack's limit._")


def test_an_oversized_report_is_cut_to_fifty_blocks_with_a_note(samples) -> None:
    report = samples.with_checks(500)
    report.title = "t" * 400
    report.plan.inputs = [
        PlanInput(name=f"in{i}", value="v" * 3000, source="text") for i in range(600)
    ]
    report.notes = [f"note {i}" for i in range(30)]
    report.failure = Failure(node="tune", error_type="DataError", message="m" * 10_000)
    blocks = render_slack(report)
    assert_within_slack_limits(blocks)
    assert blocks[0]["text"]["text"].endswith("…")
    assert "cut to fit Slack's limit" in texts(blocks[:4])
    assert blocks[-1]["type"] == "context"
    assert "more block(s) left out to fit Slack's limit" in blocks[-1]["elements"][0]["text"]


def test_too_many_notes_are_cut_with_a_note(samples) -> None:
    report = samples.succeeded()
    report.notes = [f"note {i}" for i in range(30)]
    blocks = render_slack(report)
    assert_within_slack_limits(blocks)
    notes = blocks[-1]["elements"]
    assert [n["text"] for n in notes[:2]] == ["note 0", "note 1"]
    assert notes[-1]["text"] == "_…21 more note(s) left out._"


def test_run_ids_link_to_the_mlflow_ui_from_the_reports_links(samples) -> None:
    text = texts(render_slack(samples.succeeded()))
    # every link opens the model-training view of MLflow 3's UI, not its GenAI one
    view = "?workflowType=machine_learning"
    assert f"<http://mlflow.internal:5000/#/experiments/7/runs/{RUN}{view}|2c3d4e5f>" in text


def test_a_given_mlflow_ui_links_runs_the_report_has_no_link_for(samples) -> None:
    report = samples.failed()
    assert "<http" not in texts(render_slack(report))
    text = texts(render_slack(report, mlflow_ui="https://mlflow.example.com/"))
    baseline = "1b2c3d4e5f60718293a4b5c6d7e8f90a"
    view = "?workflowType=machine_learning"
    assert f"<https://mlflow.example.com/#/experiments/7/runs/{baseline}{view}|1b2c3d4e>" in text
    assert f"<https://mlflow.example.com/#/experiments/7{view}|7>" in text


def test_free_text_cannot_ping_a_channel_or_forge_a_link(samples) -> None:
    report = samples.failed()
    report.failure = Failure(node="tune", error_type="E", message="<!channel> <http://x|y> & co")
    text = texts(render_slack(report))
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &lt;http://x|y&gt; &amp; co" in text
