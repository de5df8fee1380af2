"""``trialrun run FILE...``: prompt files in, tracked experiments and reports out (the CI mode).

Each file is read, validated and run through the pipeline; the report is printed and, on request,
written as Markdown and JSON. Nobody is there to answer questions, so missing inputs end with
exit code 3 and the list of what is missing.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from rich.console import Console

from agent.adapters.exit_codes import ExitCode
from agent.report.model import Plan, Report

STATUS_CODES = {
    "succeeded": ExitCode.OK,
    "failed": ExitCode.FAILED,
    "refused": ExitCode.REFUSED,
    "cancelled": ExitCode.CANCELLED,
    "needs_input": ExitCode.MISSING_INPUTS,
}


def run_files(
    files: list[Path],
    *,
    report_md: Path | None = None,
    report_json: Path | None = None,
    console: Console | None = None,
) -> int:
    """Run each prompt file in turn; return the first non-zero exit code, or 0."""
    console = console or Console()
    codes = []
    for path in files:
        report, code = run_prompt_file(path, console=console)
        if report is not None:
            from agent.report import print_report

            print_report(report, console=console)
            _write_reports(report, path, report_md, report_json, several=len(files) > 1)
        codes.append(code)
    return int(next((c for c in codes if c != ExitCode.OK), ExitCode.OK))


def run_prompt_file(path: Path, *, console: Console) -> tuple[Report | None, ExitCode]:
    """Run one prompt file; a malformed file returns no report and the usage code."""
    from agent.promptfile import front_matter_draft, read_prompt_file
    from tools.errors import InputError, PolicyError

    try:
        prompt = read_prompt_file(path)
        draft, missing = front_matter_draft(prompt)
    except PolicyError as exc:
        err(console, f"refused: {exc}")
        return _refused(path, str(exc)), ExitCode.REFUSED
    except InputError as exc:
        err(console, f"error: {exc}")
        return None, ExitCode.USAGE
    if missing:
        err(console, f"{path}: missing required inputs: {', '.join(missing)}")
        report = Report(
            title=f"{path.name}: needs input", status="needs_input", plan=Plan(missing=missing)
        )
        return report, ExitCode.MISSING_INPUTS
    request = draft.complete()
    sources = {name: "front matter" for name in prompt.front_matter}
    report = execute(request, sources=sources, console=console)
    return report, STATUS_CODES[report.status]


def execute(request: object, *, sources: dict[str, str], console: Console) -> Report:
    """Run a complete request with a progress display; Ctrl-C cancels it cleanly."""
    from agent.adapters.progress import ProgressPrinter
    from agent.pipeline import run_pipeline
    from agent.pipeline.state import PipelineContext
    from agent.request import ExperimentRequest

    assert isinstance(request, ExperimentRequest)
    context = PipelineContext(sources=sources)  # type: ignore[arg-type]
    printer = ProgressPrinter(
        trials=request.budget.trials if request.optimize else 0,
        seconds=request.budget.seconds,
        direction=request.metric_direction,
        stream=console.file,
    )
    context.progress = printer
    with printer, cancel_on_interrupt(context.cancel, console):
        return run_pipeline(request, context)


@contextmanager
def cancel_on_interrupt(cancel: threading.Event, console: Console) -> Iterator[None]:
    """Turn the first Ctrl-C into a clean cancel (the run stops within a round, the report says so)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err(console, "cancelling: the running model stops within one round (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _refused(path: Path, reason: str) -> Report:
    return Report(title=f"{path.name}: refused", status="refused", plan=Plan(refusals=[reason]))


def _write_reports(
    report: Report, source: Path, md: Path | None, js: Path | None, *, several: bool
) -> None:
    from agent.report import render_json, render_markdown

    for target, render in ((md, render_markdown), (js, render_json)):
        if target is None:
            continue
        if several:
            target = target.with_name(f"{target.stem}-{source.stem}{target.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(report), encoding="utf-8")


def err(console: Console, message: str) -> None:
    """Print a message to standard error (never into a report)."""
    print(message, file=sys.stderr, flush=True)
