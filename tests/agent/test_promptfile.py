from pathlib import Path

import pytest

from agent.promptfile import PromptFileError, front_matter_draft, read_prompt_file
from tools.errors import PolicyError

GOOD = """---
dataset: churn
version: v3
target: churned
model: lightgbm
metric: roc_auc
budget: {trials: 40, seconds: 600, cpus: 2, gpus: 0, parallel: 1}
seeds: [7, 8, 9]
optimize: true
experiment: churn-tuning
runtime: local
---
Tune churn.
"""


def write(text: str) -> Path:
    path = Path("prompt.md")
    path.write_text(text)
    return path


def test_the_documented_front_matter_reads_as_a_complete_request():
    draft, missing = front_matter_draft(read_prompt_file(write(GOOD)))
    assert missing == []
    request = draft.complete()
    assert (request.dataset, request.version, request.target) == ("churn", "v3", "churned")
    assert request.budget.trials == 40 and request.budget.seconds == 600
    assert request.seeds == [7, 8, 9]
    assert request.metric_direction == "maximize"


def test_kubernetes_runtime_form_is_accepted():
    text = GOOD.replace("runtime: local", "runtime: {kubernetes: {namespace: ml-dev}}")
    draft, _ = front_matter_draft(read_prompt_file(write(text)))
    assert draft.complete().namespace == "ml-dev"


def test_missing_inputs_are_listed_each_by_name():
    text = "---\ndataset: churn\nbudget: {trials: 4}\n---\n"
    _, missing = front_matter_draft(read_prompt_file(write(text)))
    assert missing == ["version", "metric", "seeds"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("---\ndataset: [unclosed\n---\n", "not valid YAML"),
        ("---\ndataset: churn\n", "never closed"),
        ("---\n- a\n- b\n---\n", "must be a mapping"),
        ("---\ndataset: churn\ncolour: blue\n---\n", "'colour'"),
        ("---\nmetric: aucc\n---\n", "metric='aucc'"),
        ("---\nbudget: {trials: -3, seconds: 10}\n---\n", "budget.trials=-3"),
        ("---\nbudget: {trials: 3, seconds: -10}\n---\n", "budget.seconds=-10"),
        ("---\nbudget: {trials: 3, seconds: 10, gpus: -1}\n---\n", "budget.gpus=-1"),
        ("---\nseeds: seven\n---\n", "seeds='seven'"),
        ("---\nseeds: [1, 1]\n---\n", "repeat"),
        ("---\nmodel: catboost\n---\n", "model='catboost'"),
        ("---\nmetric: rmse\ndirection: maximize\n---\n", "contradicts"),
        ("---\nruntime: {kubernetes: {namespace: ML_Dev}}\n---\n", "DNS-1123"),
        ("---\nbudget: {trials: 3, seconds: 10, bananas: 2}\n---\n", "bananas"),
    ],
)
def test_malformed_prompt_files_get_a_message_naming_the_field_and_value(text, needle):
    with pytest.raises(PromptFileError) as info:
        front_matter_draft(read_prompt_file(write(text)))
    assert needle in str(info.value)
    assert "prompt.md" in str(info.value)


def test_a_missing_file_is_a_clear_error():
    with pytest.raises(PromptFileError, match="does not exist"):
        read_prompt_file(Path("nope.md"))


@pytest.mark.parametrize("field", ["deploy", "register", "registered_model_name", "stage", "alias"])
def test_deploy_fields_are_refused_by_policy(field):
    with pytest.raises(PolicyError, match="never deploys"):
        front_matter_draft(
            read_prompt_file(write(GOOD.replace("optimize: true", f"{field}: prod")))
        )


def test_a_file_without_front_matter_is_all_body():
    prompt = read_prompt_file(write("Train churn v3 please"))
    assert prompt.front_matter == {} and prompt.body == "Train churn v3 please"
