"""The tool schemas the model sees are a reviewed snapshot, and every parameter is described.

A changed docstring changes what the model reads, so it must show up as a diff in review. A
missing snapshot is written and the test fails until someone has looked at it;
``TRIALRUN_UPDATE_SNAPSHOTS=1`` rewrites it after an intended change.
"""

import json
from pathlib import Path

import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent.toolset import as_tool, build_tools

SNAPSHOT = Path(__file__).parent / "agent_snapshots" / "tools.json"


def schemas_as_the_model_sees_them() -> str:
    schemas = [convert_to_openai_tool(t) for t in build_tools()]
    return json.dumps(schemas, indent=2, ensure_ascii=False) + "\n"


def test_tool_schemas_match_the_reviewed_snapshot(snapshot_at):
    # The check itself is tested with the report renderers' snapshots.
    snapshot_at(SNAPSHOT, schemas_as_the_model_sees_them())


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
