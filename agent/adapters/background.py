"""``trialrun run --detach`` and what every trialrun process does first: settle a crash.

``--detach`` submits each prompt file's ``trialrun run FILE`` as a local job: a process group of
its own, its output captured in the job log, its record in the job store. It prints the job id and
how to watch or cancel it, and returns at once. Once the experiment's parent run exists, the
pipeline records it (and the study) on the job, so ``trialrun jobs cancel`` settles the trials
and runs too, and the pipeline touches the job's progress file on every progress event.
"""

from __future__ import annotations

import math
import os
import sqlite3
import sys
from pathlib import Path

from agent.adapters.exit_codes import ExitCode, err, exit_code_for

DETACHED_OVERHEAD_SECONDS = 600
"""Added to a detached run's time budget for its deadline: loading data, verifying, reporting."""


def recover_at_start() -> None:
    """Settle jobs, trials and runs a killed trialrun process left RUNNING; say what changed.

    Cheap when no job is on record, and nothing is created when there is no job store yet. A job
    store that cannot be read is reported, not fatal: the command goes on without recovery.
    """
    from tools import settings
    from tools.errors import TrialrunError
    from tools.jobs.recovery import recover

    try:
        if not (settings.home() / "jobs.db").exists():
            return
        lines = recover()
    except (TrialrunError, sqlite3.Error, OSError) as exc:
        err(f"trialrun: could not check for jobs left by a crash: {exc}")
        return
    for line in lines:
        err(f"trialrun: recovered after a crash: {line}")


def detach_files(
    files: list[Path],
    *,
    report_md: Path | None = None,
    report_json: Path | None = None,
    model: str | None = None,
) -> int:
    """Submit ``trialrun run FILE`` for each file as a local job; return 0 once all are submitted.

    Every file is checked first, so a malformed file (exit 2) or one refused by policy (exit 5)
    submits nothing. Missing inputs are not checked here: the planner may find them in the body.
    """
    from agent.adapters.batch import check_report_path, report_target
    from tools.errors import InputError, PolicyError

    checked = []
    several = len(files) > 1
    for path in files:
        try:
            for target in (report_md, report_json):
                if target is not None:
                    check_report_path(report_target(target, path, several))
            checked.append(_check(path))
        except PolicyError as exc:
            err(f"{path}: refused: {exc}")
            return int(exit_code_for(exc))
        except InputError as exc:
            err(f"error: {exc}")
            return int(exit_code_for(exc))
    from tools.jobs import lifecycle
    from tools.jobs.model import JobSpec
    from tools.redact import redact

    for path, (experiment, seconds) in zip(files, checked, strict=True):
        command = [sys.executable, "-m", "agent.adapters.cli", "run", str(path.resolve())]
        for option, target in (("--report-md", report_md), ("--report-json", report_json)):
            if target is not None:
                command += [option, str(report_target(target, path, several).resolve())]
        if model is not None:
            command += ["--model", model]
        experiment = redact(experiment)
        spec = JobSpec(
            name=f"run {experiment}"[:40],
            command=command,
            labels={"experiment": experiment, "prompt_file": redact(str(path.resolve()))},
            deadline_seconds=None
            if seconds is None
            else math.ceil(seconds) + DETACHED_OVERHEAD_SECONDS,
            workdir=os.getcwd(),
        )
        job = lifecycle.submit(spec)
        print(
            f"Submitted job {job.id}: trialrun run {path} (experiment {experiment})\n"
            f"  watch it:  trialrun jobs show {job.id}    trialrun jobs logs {job.id}\n"
            f"  cancel it: trialrun jobs cancel {job.id}",
            flush=True,
        )
    return int(ExitCode.OK)


def _check(path: Path) -> tuple[str, float | None]:
    """Return the experiment name and time budget the file states, after the checks a run makes.

    Raises:
        InputError: The file cannot be read, or its front matter is invalid.
        PolicyError: It asks to deploy, or for more parallel jobs than the cap without approval.
    """
    from agent.approval import check_parallel
    from agent.promptfile import front_matter_draft, read_prompt_file

    prompt = read_prompt_file(path)
    draft, _ = front_matter_draft(prompt)
    if draft.budget is not None:
        check_parallel(draft.budget.parallel, approved=draft.approve)
    if draft.experiment:
        experiment = draft.experiment
    elif draft.dataset and draft.version:
        experiment = f"{draft.dataset}-{draft.version}"
    else:
        experiment = path.stem
    return experiment, None if draft.budget is None else draft.budget.seconds
