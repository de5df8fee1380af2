"""``trialrun run FILE...`` and ``trialrun plan FILE...``: prompt files in CI.

Each file's front matter is validated, then the file goes through the same agent as the chat: the
planner reads the free-text body, the front matter wins where both say something. Nobody is there
to answer questions, so missing inputs end with exit code 3 and the list of what is missing, and a
plan that needs approval is refused (exit 5) unless the file says ``approve: true``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from agent.adapters.exit_codes import ExitCode, err, exit_code_for
from agent.outcome import (
    Answered,
    Finished,
    NeedsApproval,
    NeedsInput,
    Outcome,
    Planned,
    Refused,
)
from agent.report.model import Plan, Report

STATUS_CODES = {
    "succeeded": ExitCode.OK,
    "failed": ExitCode.FAILED,
    "refused": ExitCode.REFUSED,
    "cancelled": ExitCode.CANCELLED,
    "needs_input": ExitCode.MISSING_INPUTS,
    "planned": ExitCode.OK,
}


class NobodyToAsk:
    """The CI responder: no answers, no approvals."""

    def ask(self, question: str, missing: list[str]) -> str | None:
        """Return None: in CI nobody answers."""
        return None

    def approve(self, description: str) -> bool:
        """Return False: in CI only the prompt file can pre-approve."""
        return False


def run_files(
    files: list[Path],
    *,
    report_md: Path | None = None,
    report_json: Path | None = None,
    dry_run: bool = False,
    model: str | None = None,
    console: Console | None = None,
) -> int:
    """Run (or plan) each prompt file in turn; return the first non-zero exit code, or 0.

    The report paths are checked before anything runs: a directory, or a folder that cannot be
    created or written, is a usage error (2) naming the path.
    """
    from tools.errors import InputError

    console = console or Console()
    several = len(files) > 1
    try:
        for path in files:
            for target in (report_md, report_json):
                if target is not None:
                    check_report_path(report_target(target, path, several))
    except InputError as exc:
        err(f"error: {exc}")
        return int(exit_code_for(exc))
    codes = []
    for path in files:
        report, code = run_prompt_file(path, console=console, dry_run=dry_run, model=model)
        if report is not None:
            from agent.report import print_report

            print_report(report, console=console)
            try:
                _write_reports(report, path, report_md, report_json, several=several)
            except InputError as exc:
                err(f"error: {exc}")
                code = code or exit_code_for(exc)
        codes.append(code)
    return int(next((c for c in codes if c != ExitCode.OK), ExitCode.OK))


def check_report_path(target: Path) -> None:
    """Refuse a report path that cannot be written, before the experiment runs.

    Raises:
        InputError: ``target`` is a directory, or its folder is a file, cannot be created, or
            cannot be written.
    """
    from tools.errors import InputError

    hint = "Give a file path in a folder you may write (--report-md/--report-json)."
    if target.is_dir():
        raise InputError(f"Report path {str(target)!r} is a directory.", hint=hint)
    folder = next((p for p in target.absolute().parents if p.exists()), None)
    if folder is None or not folder.is_dir():
        raise InputError(
            f"Report path {str(target)!r} cannot be created: {str(folder)!r} is not a folder.",
            hint=hint,
        )
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"Report path {str(target)!r} is not writable.", hint=hint)


def run_prompt_file(
    path: Path, *, console: Console, dry_run: bool = False, model: str | None = None
) -> tuple[Report | None, ExitCode]:
    """Run one prompt file; a malformed file returns no report and the usage code."""
    from agent.deploy import REFUSAL, deploy_phrases
    from agent.promptfile import front_matter_draft, read_prompt_file
    from tools.errors import InputError, PolicyError

    try:
        prompt = read_prompt_file(path)
        draft, _ = front_matter_draft(prompt)
    except PolicyError as exc:
        err(f"refused: {exc}")
        return _refused(path, [str(exc)]), exit_code_for(exc)
    except InputError as exc:
        err(f"error: {exc}")
        return None, exit_code_for(exc)
    hidden = [
        f"refused {p!r} (prompt file): {REFUSAL}"
        for text in (prompt.body, *_strings(prompt.front_matter))
        for p in deploy_phrases(text)
    ]
    if hidden:
        err(
            f"{path}: refused: the prompt file asks to deploy or register a model ({'; '.join(hidden)})"
        )
        return _refused(path, hidden), ExitCode.REFUSED
    return converse(
        path,
        prompt.front_matter,
        prompt.body,
        console=console,
        dry_run=dry_run,
        model=model,
        approved=draft.approve,
    )


def converse(
    path: Path,
    front_matter: dict[str, Any],
    body: str,
    *,
    console: Console,
    dry_run: bool,
    model: str | None,
    approved: bool = False,
) -> tuple[Report | None, ExitCode]:
    """Send one prompt file through the agent with nobody to ask; map the outcome to an exit code.

    ``approved`` is the validated front matter's ``approve`` (a YAML boolean, never a string).
    """
    from agent.adapters.progress import ProgressPrinter
    from agent.context import AgentContext
    from agent.conversation import Conversation
    from agent.models import load_model, model_name
    from tools.tracking.context import code_directory

    printer = ProgressPrinter(stream=console.file)
    context = AgentContext(
        mode="batch",
        front_matter=front_matter,
        stated_text=body,
        dry_run=dry_run,
        pre_approved=approved,
        progress=printer,
    )
    conversation = Conversation(load_model(model), context=context, model_label=model_name(model))
    message = f"Train the model this prompt file describes.\n\n{body}".strip()
    # The runs record the git state of the prompt file's repository, not of where CI stands.
    with printer, cancel_on_interrupt(context.cancel), code_directory(path.parent):
        turn = conversation.send(message, NobodyToAsk(), request=True)
    return outcome_exit(path, turn.outcome, turn.answer)


def outcome_exit(path: Path, outcome: Outcome, answer: str = "") -> tuple[Report | None, ExitCode]:
    """Return the report and exit code of what a prompt file's turn ended in.

    An experiment whose tracking server stopped answering ends with that one line on stderr and
    exit code 7, like one whose server never answered.
    """
    from agent.conversation import tracking_gone

    match outcome:
        case NeedsInput(missing=missing, problems=problems):
            why = "".join(f"; {p}" for p in problems)
            err(f"{path}: missing required inputs: {', '.join(missing)}{why}")
            return _needs_input(path, missing), ExitCode.MISSING_INPUTS
        case Refused(rejected=rejected) if rejected:
            reason = (
                "needs approval, and the prompt file does not pre-approve it "
                f"(add `approve: true`): {rejected}"
            )
            err(f"{path}: refused: {reason}")
            return _refused(path, [reason]), ExitCode.REFUSED
        case NeedsApproval(plan=plan):  # nobody approves in CI; a responder that waits would
            err(f"{path}: refused: needs approval (add `approve: true`): {plan}")
            return _refused(path, [plan]), ExitCode.REFUSED
        case Finished(reports=reports):
            report = reports[-1]
            if tracking_gone(report) and report.failure is not None:
                err(f"error: {path}: {report.failure.message}")
                return report, ExitCode.UNAVAILABLE
            return report, STATUS_CODES[report.status]
        case Refused(reasons=reasons):
            return _refused(path, reasons), ExitCode.REFUSED
        case Planned(plan=plan):
            return Report(
                title=f"{path.name}: plan (nothing was run)", status="planned", plan=plan
            ), ExitCode.OK
        case Answered(errors=errors) if errors:
            err(f"{path}: error: {errors[-1]}")
            return None, ExitCode.USAGE
    err(f"{path}: the planner did not run the experiment: {answer}")
    return None, ExitCode.FAILED


@contextmanager
def cancel_on_interrupt(cancel: threading.Event) -> Iterator[None]:
    """Turn the first Ctrl-C into a clean cancel (the run stops within a round, the report says so).

    SIGTERM, which ``trialrun jobs cancel`` sends a detached run, cancels the same way.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err("cancelling: the running model stops within one round (Ctrl-C again to abort)")

    def on_term(signum: int, frame: FrameType | None) -> None:
        cancel.set()
        err("cancelling (SIGTERM): the running model stops within one round")

    previous = signal.signal(signal.SIGINT, handler)
    previous_term = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)


def _strings(value: Any) -> list[str]:
    """Return every string in a front matter value, nested mappings and lists included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _refused(path: Path, reasons: list[str]) -> Report:
    return Report(title=f"{path.name}: refused", status="refused", plan=Plan(refusals=reasons))


def _needs_input(path: Path, missing: list[str]) -> Report:
    return Report(
        title=f"{path.name}: needs input", status="needs_input", plan=Plan(missing=missing)
    )


def _write_reports(
    report: Report, source: Path, md: Path | None, js: Path | None, *, several: bool
) -> None:
    from agent.report import render_json, render_markdown
    from tools.errors import InputError

    for target, render in ((md, render_markdown), (js, render_json)):
        if target is None:
            continue
        target = report_target(target, source, several)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render(report), encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"The report could not be written to {str(target)!r}: {exc.strerror or exc}; "
                f"the experiment itself ended {report.status}.",
                hint="Give a path on a disk with room that you may write.",
            ) from None


def report_target(target: Path, source: Path, several: bool) -> Path:
    """Return where ``source``'s report goes: ``target``, or ``target-<stem>`` for several files."""
    return target.with_name(f"{target.stem}-{source.stem}{target.suffix}") if several else target
