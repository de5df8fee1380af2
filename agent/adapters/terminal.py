"""``trialrun chat``: the terminal conversation with trialrun's agent.

Each message goes through :meth:`Conversation.send` on a worker thread, so the main thread keeps
the terminal while an experiment runs: progress lines appear above the prompt, ``/cancel`` and
Ctrl-C cancel the experiment cleanly (it stops within one boosting round and its report says
cancelled), a second Ctrl-C aborts hard, and ``/runs`` answers meanwhile. The agent's questions and
approvals are handed to the main thread, which owns every read from the keyboard.

Lines come from :mod:`agent.adapters.chat_readers`: prompt_toolkit's prompt on a terminal, plain
lines from piped input.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent.adapters.chat_readers import PlainReader, PromptReader
from agent.adapters.exit_codes import ExitCode
from agent.outcome import NeedsInput, Refused
from tools.errors import TrialrunError
from tools.redact import redact

if TYPE_CHECKING:
    from agent.answers import AnswerTable
    from agent.conversation import Conversation, TurnResult

COMMANDS = {
    "/help": "what trialrun understands, and these commands",
    "/runs": "the latest experiments (parent runs) in the tracking store",
    "/cancel": "cancel the experiment running in this chat (Ctrl-C does the same)",
    "/quit": "leave (Ctrl-D does the same); a running experiment is cancelled first",
}
PROMPT = "trialrun> "
BUSY_PROMPT = "running (/cancel or Ctrl-C to stop)> "
ANSWER_PROMPT = "answer> "
LATEST_RUNS = 10


class Abort(Exception):
    """A second Ctrl-C while an experiment runs: leave without waiting for it."""


@dataclass
class Interrupt:
    """A question or an approval the worker thread waits on."""

    kind: Literal["ask", "approve"]
    text: str
    reply: queue.Queue[Any] = field(default_factory=lambda: queue.Queue(maxsize=1))


class Turn:
    """One message running on a worker thread; its interrupts are answered on the main thread.

    It is the :class:`~agent.conversation.Responder` the conversation calls: each call posts an
    :class:`Interrupt` and waits for the main thread's reply. ``changed`` is set whenever there is
    something new for the main thread (an interrupt, or the end of the turn).
    """

    def __init__(self, conversation: Conversation, text: str):
        self.changed = threading.Event()
        self.interrupts: queue.Queue[Interrupt] = queue.Queue()
        self.result: TurnResult | None = None
        self.error: BaseException | None = None
        self.done = False
        self.thread = threading.Thread(
            target=self._run, args=(conversation, text), name="trialrun-turn"
        )

    def ask(self, question: str, missing: list[str]) -> str | None:
        """Hand the question to the main thread and wait for the answer."""
        return self._post(Interrupt("ask", question))

    def approve(self, description: str) -> bool:
        """Hand the plan to the main thread and wait for a yes or no."""
        return bool(self._post(Interrupt("approve", description)))

    def _post(self, interrupt: Interrupt) -> Any:
        self.interrupts.put(interrupt)
        self.changed.set()
        return interrupt.reply.get()

    def _run(self, conversation: Conversation, text: str) -> None:
        try:
            self.result = conversation.send(text, self)
        except BaseException as exc:  # handed to the main thread, which reports or re-raises it
            self.error = exc
        finally:
            self.done = True
            self.changed.set()


class Chat:
    """The chat loop: reads lines, runs turns, prints answers and reports.

    Args:
        conversation: The conversation with the agent (its context carries the cancel event).
        reader: Where lines come from.
        console: Where everything is printed.
    """

    def __init__(
        self, conversation: Conversation, reader: PlainReader | PromptReader, console: Console
    ):
        self.conversation = conversation
        self.reader = reader
        self.console = console
        self.cancel: threading.Event = conversation.context.cancel
        self.turn: Turn | None = None
        self.quitting = False
        self.aborted = False

    def run(self) -> int:
        """Talk until /quit or the end of input; return the exit code."""
        self.say(
            f"trialrun chat (model: {self.conversation.model_label}). Ask for an experiment, "
            "e.g. 'tune xgboost on wine v1 for log loss, 20 trials, 5 minutes, seeds 1 2 3'. "
            "/help for more; Ctrl-D or /quit to leave.",
            style="dim",
        )
        while not self.quitting:
            try:
                line = self.reader.read(PROMPT)
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt only clears the line
            except EOFError:
                break
            try:
                self.handle((line or "").strip())
            except Abort:
                self.aborted = True
                self.say(
                    "aborted: trialrun left without waiting for the experiment; its MLflow runs "
                    "may still say RUNNING.",
                    style="bold red",
                )
                return int(ExitCode.CANCELLED)
            except KeyboardInterrupt:
                self.say("interrupted", style="yellow")  # Ctrl-C during /runs: stop only that
        return int(ExitCode.OK)

    def handle(self, line: str) -> None:
        """Run one command or send one message."""
        if not line:
            return
        if line.startswith("/"):
            self.command(line)
            return
        if self.turn is not None:
            self.say("An experiment is running: wait for its report, or /cancel it.")
            return
        self.send(line)

    def command(self, line: str) -> None:
        """Run a slash command."""
        name = line.split()[0].lower()
        if name == "/help":
            self.show_help()
        elif name == "/runs":
            self.show_runs()
        elif name == "/cancel":
            if self.turn is None:
                self.say(
                    "Nothing is running in this chat. A background job is cancelled with "
                    "'cancel job <id>' ('list jobs' shows them)."
                )
            else:
                self.request_cancel()
        elif name == "/quit":
            self.quitting = True
            if self.turn is not None and not self.cancel.is_set():
                self.request_cancel()
        else:
            self.say(f"Unknown command {line!r}. Commands: {', '.join(COMMANDS)}.")

    def send(self, text: str) -> None:
        """Send a message on a worker thread and stay at the terminal until its turn ends."""
        from agent.adapters.batch import cancel_on_interrupt
        from agent.adapters.progress import ProgressPrinter

        stream = sys.stdout if self.reader.interactive else sys.stderr
        printer = ProgressPrinter(stream=stream)
        if self.reader.interactive:
            printer.live = False  # the prompt owns the screen; progress lines scroll above it
        self.conversation.context.progress = printer
        self.turn = turn = Turn(self.conversation, text)
        try:
            with printer, cancel_on_interrupt(self.cancel):
                turn.thread.start()
                self.wait(turn)
        except KeyboardInterrupt as exc:
            # The first Ctrl-C only sets the cancel event; one that gets this far is the second.
            raise Abort from exc
        finally:
            self.turn = None
        self.cancel.clear()  # the next experiment starts uncancelled
        if isinstance(turn.error, TrialrunError):
            self.say(f"error: {redact(str(turn.error))}", style="bold red")
        elif turn.error is not None:
            raise turn.error  # a bug, not something the person can fix
        elif turn.result is not None:
            self.show(turn.result)

    def wait(self, turn: Turn) -> None:
        """Answer the turn's interrupts and read commands until it ends."""
        while True:
            turn.changed.clear()
            try:
                interrupt = turn.interrupts.get_nowait()
            except queue.Empty:
                interrupt = None
            if interrupt is not None:
                interrupt.reply.put(self.answer(interrupt))
                continue
            if turn.done:
                return
            if not self.reader.interactive:
                turn.changed.wait()
                continue
            try:
                line = self.reader.read(BUSY_PROMPT, wake=turn.changed)
            except KeyboardInterrupt:
                if self.cancel.is_set():
                    raise Abort from None  # the second Ctrl-C
                self.request_cancel()
                continue
            except EOFError:
                line = "/quit"
            if line is not None:
                self.handle(line.strip())

    def answer(self, interrupt: Interrupt) -> Any:
        """Ask the person the agent's question, or for a yes/no on its plan."""
        if interrupt.kind == "approve":
            self.console.print(
                Panel(Text(redact(interrupt.text)), title="Plan for approval", border_style="cyan")
            )
            try:
                return self.reader.confirm("Approve this plan?")
            except (KeyboardInterrupt, EOFError):
                return False
        self.say(redact(interrupt.text), style="bold cyan")
        try:
            return self.reader.read(ANSWER_PROMPT)
        except (KeyboardInterrupt, EOFError):
            return None

    def request_cancel(self) -> None:
        """Cancel the running experiment: it stops within one round and its report says so."""
        if self.cancel.is_set():
            self.say("Already cancelling; Ctrl-C aborts without waiting.", style="yellow")
            return
        self.cancel.set()
        self.say(
            "cancelling: the running model stops within one round (Ctrl-C again to abort)",
            style="yellow",
        )

    def show(self, turn: TurnResult) -> None:
        """Print what a turn produced: reports, what was declined or left missing, the answer."""
        from agent.answers import is_json
        from agent.report import print_report

        for report in turn.reports:
            print_report(report, console=self.console)
        for table in turn.tables:
            self.show_table(table)
        match turn.outcome:
            case Refused(rejected=rejected) if rejected:
                self.say("Not approved: nothing was run.", style="yellow")
            case NeedsInput(missing=missing):
                self.say(f"Still missing: {', '.join(missing)}. Say them in a new message.")
        # A model that repeats a query's JSON is not shown: the table above says it all.
        if turn.answer and not (turn.tables and is_json(turn.answer)):
            self.console.print(Text.assemble(("trialrun: ", "bold"), redact(turn.answer)))

    def show_table(self, table: AnswerTable) -> None:
        """Print an answer's table: a rich table on a terminal, one plain line per row otherwise."""
        if not self.console.is_terminal:
            for line in table.lines():
                self.console.print(redact(line), markup=False, highlight=False, soft_wrap=True)
            return
        shown = Table(title=Text(redact(table.title), style="bold"), title_justify="left")
        for column in table.columns:
            # IDs are copied from here: never wrapped or cut.
            shown.add_column(column, no_wrap=column == "Run ID" or "(" in column)
        for row in table.rows:
            shown.add_row(*(Text(redact(cell)) for cell in row))
        self.console.print(shown)
        for note in table.notes:
            self.say(f"({note})", style="dim")

    def show_help(self) -> None:
        """Print what the agent understands and the commands."""
        from agent.planner.offline import HELP

        table = Table.grid(padding=(0, 2))
        for name, description in COMMANDS.items():
            table.add_row(Text(name, style="bold"), Text(description))
        self.say(HELP)
        self.console.print(table)

    def show_runs(self) -> None:
        """Print the latest experiments' parent runs, newest first."""
        from agent.answers import runs_table
        from agent.tool_functions.runs import experiment_names
        from tools import settings
        from tools.tracking.query import search_runs

        try:
            found = search_runs(filter="tags.`trialrun.role` = 'parent'", limit=LATEST_RUNS)
            names = experiment_names(r.experiment_id for r in found.runs)
        except TrialrunError as exc:
            self.say(f"error: {redact(str(exc))}", style="bold red")
            return
        if not found.runs:
            self.say(f"No experiments tracked yet in {redact(settings.tracking_uri())}.")
            return
        table = runs_table(found, names=names)
        self.show_table(replace(table, title=f"Latest experiments in {settings.tracking_uri()}"))

    def say(self, text: str, *, style: str = "") -> None:
        """Print a line of trialrun's own text (never markup)."""
        self.console.print(Text(text, style=style))


def run_chat(*, model: str | None = None) -> int:
    """Start the chat on this terminal (or on piped input) and return its exit code."""
    from agent.context import AgentContext
    from agent.conversation import Conversation
    from agent.models import load_model, model_name
    from tools import settings

    interactive = sys.stdin.isatty()
    reader = PromptReader(settings.home() / "chat_history") if interactive else PlainReader()
    conversation = Conversation(
        load_model(model), context=AgentContext(mode="chat"), model_label=model_name(model)
    )
    # The main thread prints only while no prompt is shown, straight to the terminal, so its
    # output keeps its order; what the worker thread prints (progress) goes above the prompt.
    chat = Chat(conversation, reader, Console(file=sys.stdout))
    if interactive:
        from prompt_toolkit.patch_stdout import patch_stdout

        with patch_stdout(raw=True):
            code = chat.run()
    else:
        code = chat.run()
    if chat.aborted:
        # A thread cannot be stopped from outside, and at exit Python waits for the one the
        # agent runs its tools on: leaving at once is what the second Ctrl-C asked for.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
