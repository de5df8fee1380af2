"""The tool schemas the model sees are a reviewed snapshot, and every parameter is described.

A changed docstring changes what the model reads, so it must show up as a diff in review. A
missing snapshot is written and the test fails until someone has looked at it;
``TRIALRUN_UPDATE_SNAPSHOTS=1`` rewrites it after an intended change.
"""

import difflib
import json
import os
from pathlib import Path

import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent.toolset import as_tool, build_tools

SNAPSHOT = Path(__file__).parent / "agent_snapshots" / "tools.json"
UPDATE_ENV = "TRIALRUN_UPDATE_SNAPSHOTS"


def check_snapshot(path: Path, text: str) -> None:
    if os.environ.get(UPDATE_ENV) == "1":
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
            f"The tool schemas the model sees differ from {path}:\n{diff}\n"
            f"If the change is intended, re-run with {UPDATE_ENV}=1 and review the diff."
        )


def schemas_as_the_model_sees_them() -> str:
    schemas = [convert_to_openai_tool(t) for t in build_tools()]
    return json.dumps(schemas, indent=2, ensure_ascii=False) + "\n"


def test_tool_schemas_match_the_reviewed_snapshot():
    check_snapshot(SNAPSHOT, schemas_as_the_model_sees_them())


def test_no_injected_argument_reaches_the_model():
    for schema in json.loads(schemas_as_the_model_sees_them()):
        parameters = schema["function"]["parameters"].get("properties", {})
        assert "runtime" not in parameters, schema["function"]["name"]


def test_every_parameter_the_model_sees_has_a_description():
    for schema in json.loads(schemas_as_the_model_sees_them()):
        function = schema["function"]
        assert function["description"], function["name"]
        for name, parameter in function["parameters"].get("properties", {}).items():
            assert parameter.get("description"), f"{function['name']}.{name}"


def test_a_parameter_without_a_description_fails_registration():
    def tag_run(run_id: str, tag: str) -> str:
        """Tag a run.

        Args:
            run_id: MLflow run ID.
        """
        return run_id + tag

    with pytest.raises(TypeError, match=r"tool 'tag_run': parameter 'tag' has no description"):
        as_tool(tag_run)


def test_a_docstring_without_args_fails_registration():
    def drop_run(run_id: str) -> str:
        """Drop a run."""
        return run_id

    with pytest.raises(TypeError, match=r"tool 'drop_run'.*'Args:' section"):
        as_tool(drop_run)


def test_a_missing_snapshot_is_written_and_fails(tmp_path, monkeypatch):
    monkeypatch.delenv(UPDATE_ENV, raising=False)
    path = tmp_path / "tools.json"
    with pytest.raises(pytest.fail.Exception, match="review it, then re-run"):
        check_snapshot(path, "[]\n")
    assert path.read_text(encoding="utf-8") == "[]\n"
    check_snapshot(path, "[]\n")


def test_a_changed_schema_fails_with_a_diff(tmp_path, monkeypatch):
    monkeypatch.delenv(UPDATE_ENV, raising=False)
    path = tmp_path / "tools.json"
    path.write_text('{"description": "old"}\n', encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r'(?s)-\{"description": "old"\}.*\+.*new'):
        check_snapshot(path, '{"description": "new"}\n')


def test_the_update_variable_rewrites_the_snapshot(tmp_path, monkeypatch):
    monkeypatch.setenv(UPDATE_ENV, "1")
    path = tmp_path / "tools.json"
    path.write_text("old\n", encoding="utf-8")
    check_snapshot(path, "new\n")
    assert path.read_text(encoding="utf-8") == "new\n"
