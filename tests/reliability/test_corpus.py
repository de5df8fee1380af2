"""Every bad input of the corpus gets its documented exit code and a clear message, and loses
nothing; every legitimate look-alike still runs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from cases import all_cases
from harness import judge, run_case

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_case(case, template: Path, tmp_path: Path) -> None:
    directory = tmp_path / "case"
    outcome = run_case(case, directory, template)
    verdict = judge(case, outcome, directory)
    assert verdict.passed, (
        f"{case.channel} / {case.id}:\n- "
        + "\n- ".join(verdict.problems)
        + (f"\n--- output ---\n{outcome.output[-3000:]}")
    )


def test_the_corpus_covers_every_channel_with_enough_cases() -> None:
    ids = [c.key for c in CASES]
    assert len(ids) == len(set(ids)), "case ids repeat"
    bad = [c for c in CASES if not c.control]
    by_channel = Counter(c.channel for c in bad)
    assert len(bad) >= 250
    for channel in (
        "front matter",
        "yaml",
        "encoding",
        "body",
        "dataset file",
        "catalog",
        "environment",
        "store",
        "command line",
        "output path",
        "chat",
        "deploy request",
        "data instruction",
    ):
        assert by_channel[channel] >= 3, channel
    assert sum(c.channel == "look-alike" for c in CASES) >= 25
