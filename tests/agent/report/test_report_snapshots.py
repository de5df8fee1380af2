import json
from collections.abc import Callable

import pytest

from agent.report import render_json, render_markdown, render_rich, render_slack, render_text
from agent.report.model import Report

SUFFIXES = {
    "json": "json",
    "markdown": "md",
    "rich": "txt",
    "text": "plain.txt",
    "slack": "slack.json",
}


@pytest.mark.parametrize("renderer", SUFFIXES)
def test_rendering_matches_the_reviewed_snapshot(
    sample: str, report: Report, renderer: str, snapshot, plain
) -> None:
    render: dict[str, Callable[[Report], str]] = {
        "json": lambda r: render_json(r) + "\n",
        "markdown": render_markdown,
        "rich": lambda r: plain(render_rich(r)),
        "text": render_text,
        "slack": lambda r: json.dumps(render_slack(r), indent=1, ensure_ascii=False) + "\n",
    }
    snapshot(f"{sample}.{SUFFIXES[renderer]}", render[renderer](report))


def test_a_missing_snapshot_is_written_and_fails(tmp_path, monkeypatch, snapshot_at) -> None:
    monkeypatch.delenv("TRIALRUN_UPDATE_SNAPSHOTS", raising=False)
    path = tmp_path / "new.md"
    with pytest.raises(pytest.fail.Exception, match="review it, then re-run"):
        snapshot_at(path, "# report\n")
    assert path.read_text(encoding="utf-8") == "# report\n"
    snapshot_at(path, "# report\n")


def test_a_changed_rendering_fails_with_a_diff(tmp_path, monkeypatch, snapshot_at) -> None:
    monkeypatch.delenv("TRIALRUN_UPDATE_SNAPSHOTS", raising=False)
    path = tmp_path / "old.md"
    path.write_text("# report\nold line\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"(?s)-old line.*\+new line"):
        snapshot_at(path, "# report\nnew line\n")


def test_the_update_variable_rewrites_snapshots(tmp_path, monkeypatch, snapshot_at) -> None:
    monkeypatch.setenv("TRIALRUN_UPDATE_SNAPSHOTS", "1")
    path = tmp_path / "old.md"
    path.write_text("old\n", encoding="utf-8")
    snapshot_at(path, "new\n")
    assert path.read_text(encoding="utf-8") == "new\n"
