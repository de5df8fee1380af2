"""The task a dataset trains as: chosen visibly, explained, and fixable with the command shown."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from tools.data.catalog import Catalog
from tools.errors import InputError
from tools.experiment.data import load_context
from tools.experiment.request import TuneRequest


@pytest.fixture
def letters(tmp_path: Path) -> Path:
    """26 classes coded 1..26 (as in letter-recognition sets), separable by the features."""
    rng = np.random.default_rng(0)
    letter = np.repeat(np.arange(1, 27), 12)
    frame = pd.DataFrame(
        {
            "width": letter + rng.normal(0, 0.2, len(letter)),
            "height": rng.normal(size=len(letter)),
            "letter": letter,
        }
    )
    path = tmp_path / "letters.parquet"
    frame.to_parquet(path, index=False)
    return path


def add(path: Path, *extra: str) -> list[str]:
    return ["datasets", "add", str(path), "--name", "letters", "--version", "v1",
            "--target", "letter", "--curated-by", "ada", *extra]  # fmt: skip


def test_datasets_add_says_which_task_it_chose_and_why(
    letters: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(add(letters)) == ExitCode.OK

    out = capsys.readouterr().out
    assert (
        "Task regression: inferred: target 'letter' holds 26 distinct whole numbers, more than "
        "the 20 read as class codes." in out
    )
    assert "If they are class codes, catalogue it as multiclass (--task multiclass)" in out
    entry = Catalog.load().get("letters", "v1")
    assert (entry.task, entry.task_alternative) == ("regression", "multiclass")


def test_a_metric_that_does_not_fit_a_given_task_names_it_and_the_fix(
    letters: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(add(letters, "--task", "regression")) == ExitCode.OK
    capsys.readouterr()
    request = TuneRequest(dataset="letters", version="v1", metric="log_loss")

    with pytest.raises(InputError) as refused:
        load_context(request)

    message = str(refused.value)
    assert message.startswith(
        "Metric 'log_loss' does not fit dataset 'letters@v1', which trains as regression "
        "(given with --task)."
    )
    assert "For regression use one of: rmse, mae, r2." in message
    command = re.search(r"catalogue it again: (trialrun datasets add .*)$", message)
    assert command is not None and "--task multiclass" in command.group(1)
    # The command, run as written, fixes it.
    assert main(shlex.split(command.group(1))[1:]) == ExitCode.OK
    ctx = load_context(request)
    assert (ctx.data.task, ctx.data.n_classes) == ("multiclass", 26)
    assert Catalog.load().get("letters", "v1").task_reason == "given with --task"


def test_an_inferred_task_gives_way_to_the_metric_but_a_given_one_does_not(
    letters: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(add(letters)) == ExitCode.OK
    ctx = load_context(TuneRequest(dataset="letters", version="v1", metric="log_loss"))
    assert ctx.data.task == "multiclass"

    assert main(add(letters, "--task", "regression", "--replace")) == ExitCode.OK
    with pytest.raises(InputError, match="given with --task"):
        load_context(TuneRequest(dataset="letters", version="v1", metric="log_loss"))


def test_a_given_task_or_labels_need_no_second_guess(
    letters: Path, tmp_path: Path, wine: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(add(letters, "--task", "multiclass")) == ExitCode.OK
    out = capsys.readouterr().out
    assert "Task multiclass: given with --task." in out and "Ambiguous" not in out

    wine["cultivar"] = wine["cultivar"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    wine.to_parquet(tmp_path / "wine.parquet", index=False)
    command = ["datasets", "add", str(tmp_path / "wine.parquet"), "--name", "wine"]
    assert main([*command, "--version", "v1", "--target", "cultivar"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "Task multiclass: inferred: target 'cultivar' holds 3 distinct labels." in out
    assert "Ambiguous" not in out


def test_few_whole_numbers_read_as_classes_and_the_other_reading_is_offered(
    wine: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wine["quality"] = np.random.default_rng(0).integers(3, 9, len(wine))
    wine.drop(columns=["cultivar"]).to_parquet(tmp_path / "q.parquet", index=False)
    command = ["datasets", "add", str(tmp_path / "q.parquet"), "--name", "q", "--version", "v1"]

    assert main([*command, "--target", "quality"]) == ExitCode.OK

    out = capsys.readouterr().out
    distinct = wine["quality"].nunique()
    assert f"holds {distinct} distinct whole numbers (up to 20 are read as class codes)" in out
    assert "If they are quantities, catalogue it as regression (--task regression)" in out
