"""``trialrun chat`` driven as a person would: the real command on a pseudo-terminal.

Each test spawns the installed ``trialrun`` script in the test's working directory, where the
example datasets are catalogued, types into it with pexpect and reads what the screen shows.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pexpect
import pytest

from agent.adapters.exit_codes import ExitCode
from tools import settings

TRIALRUN = str(Path(sys.executable).with_name("trialrun"))
PROMPT = "trialrun>"  # prompt_toolkit moves the cursor over the trailing space
STARTUP_SECONDS = 60
EXPERIMENT_SECONDS = 150
SECTIONS = ("Plan", "Changes", "Verification", "Rollback", "Summary")
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")
pytestmark = pytest.mark.usefixtures("examples_catalog", "tracking_store")


def spawn_chat(**env: str) -> pexpect.spawn:
    """Start ``trialrun chat`` on a wide pseudo-terminal and wait for its first prompt."""
    child = pexpect.spawn(
        TRIALRUN,
        ["chat"],
        cwd=os.getcwd(),
        env={
            **os.environ,
            "TERM": "xterm-256color",
            # pexpect answers no cursor-position request; without this, prompt_toolkit waits
            # for one and then prints a warning into the transcript.
            "PROMPT_TOOLKIT_NO_CPR": "1",
            **env,
        },
        encoding="utf-8",
        dimensions=(50, 220),
        timeout=STARTUP_SECONDS,
    )
    child.expect_exact(PROMPT)
    return child


def shown(child: pexpect.spawn) -> str:
    """Return what the last expect read, without terminal control sequences."""
    after = child.after if isinstance(child.after, str) else ""
    return ANSI.sub("", child.before + after)


def parent_runs() -> list[str]:
    """Return the IDs of the experiments' parent runs in the working directory's store."""
    client = mlflow.MlflowClient(settings.tracking_uri())
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, "tags.`trialrun.role` = 'parent'")
    return [r.info.run_id for r in runs]


def quit_chat(child: pexpect.spawn) -> int:
    """Type /quit and return the exit status."""
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus)


def test_a_request_is_completed_approved_run_and_reported_at_the_prompt():
    child = spawn_chat(TRIALRUN_APPROVE_TRIALS="2")

    child.sendline("tune lightgbm on breast_cancer v1 for AUC, seeds 1 and 2")
    child.expect_exact("What should I use?")
    assert "trials, a time limit or both" in shown(child)
    child.expect_exact("answer>")
    child.sendline("4 trials in 20 seconds")
    child.expect_exact("Approve this plan?")
    assert "4 trials is over 2" in shown(child)
    child.send("y")

    child.expect(r"\[trialrun\] baseline: lightgbm")  # live progress while it runs
    child.expect_exact(PROMPT, timeout=EXPERIMENT_SECONDS)
    screen = shown(child)
    assert "succeeded" in screen
    positions = [screen.find(f"─ {name} ─") for name in SECTIONS]
    assert -1 not in positions and positions == sorted(positions), screen
    assert "trialrun: Done. Best roc_auc" in screen

    (parent,) = parent_runs()
    child.sendline("/runs")
    child.expect_exact(parent)
    child.expect_exact(PROMPT)
    assert "FINISHED" in shown(child)

    # a query is answered with a table: full run IDs, the experiment, the metric, scores to 4
    # significant digits, and none of the tool's JSON
    child.sendline("show the best run")
    child.expect_exact("table above lists what was found.")
    screen = shown(child)
    child.expect_exact(PROMPT)
    client = mlflow.MlflowClient(settings.tracking_uri())
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    assert f"Best final runs in experiment {experiment.name} · metric roc_auc" in screen
    finals = client.search_runs([experiment.experiment_id], "tags.`trialrun.role` = 'final'")
    for run in finals:
        (row,) = [line for line in screen.splitlines() if run.info.run_id in line]
        value = run.data.metrics["valid_roc_auc"]
        assert f" {value:.4g} " in row and experiment.name in row and "roc_auc" in row, screen
        assert repr(value) not in screen
    assert "{" not in screen

    assert quit_chat(child) == ExitCode.OK
    history = (Path(".trialrun") / "chat_history").read_text()
    assert "tune lightgbm on breast_cancer v1" in history and "4 trials in 20 seconds" in history


def test_ctrl_c_cancels_the_running_experiment_and_the_chat_goes_on():
    child = spawn_chat()

    child.sendline("tune lightgbm on breast_cancer v1 for AUC, 200 trials, 10 minutes, seed 1")
    # live progress: trials done, the best value so far, the time left
    child.expect(r"trial 0 COMPLETE \S+ \(1/200, best [\d.]+, \d+s left\)", EXPERIMENT_SECONDS)
    child.sendintr()
    child.expect_exact("cancelling")
    child.expect_exact(PROMPT, timeout=EXPERIMENT_SECONDS)
    screen = shown(child)
    assert "— cancelled" in screen and "─ Summary ─" in screen
    assert "trialrun: The experiment cancelled" in screen

    assert child.isalive()
    client = mlflow.MlflowClient(settings.tracking_uri())
    (parent,) = parent_runs()
    assert client.get_run(parent).info.status == "KILLED"
    assert quit_chat(child) == ExitCode.OK


def test_declining_the_plan_runs_nothing():
    child = spawn_chat(TRIALRUN_APPROVE_TRIALS="2")

    child.send("half a message")
    child.sendintr()  # Ctrl-C at the prompt clears the line; trialrun stays
    child.expect_exact(PROMPT)
    child.sendline("tune lightgbm on breast_cancer v1 for AUC, 4 trials, 20 seconds, seeds 1 and 2")
    child.expect_exact("Approve this plan?")
    child.send("n")
    child.expect_exact("Not approved: nothing was run.")
    child.expect_exact(PROMPT)
    assert "half a message" not in shown(child)

    child.sendline("/runs")
    child.expect_exact("No experiments tracked yet")
    child.expect_exact(PROMPT)
    assert parent_runs() == []
    child.sendeof()  # Ctrl-D leaves
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == ExitCode.OK


def test_a_second_ctrl_c_aborts_without_waiting_for_the_experiment():
    child = spawn_chat()

    child.sendline("tune lightgbm on breast_cancer v1 for AUC, 200 trials, 10 minutes, seed 1")
    child.expect(r"\[trialrun\] (baseline|tune|trial)", timeout=EXPERIMENT_SECONDS)
    child.sendintr()
    child.expect_exact("cancelling")
    child.sendintr()
    child.expect_exact("aborted")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == ExitCode.CANCELLED


def test_piped_input_is_read_line_by_line():
    script = "\n".join(
        [
            "/help",
            "list datasets",
            "tune lightgbm on breast_cancer v1 for AUC, seeds 1 and 2",
            "4 trials, 20 seconds",
            "no",
            "/quit",
        ]
    )
    done = subprocess.run(
        [TRIALRUN, "chat"],
        input=script,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
        env={**os.environ, "TRIALRUN_APPROVE_TRIALS": "2"},
    )

    assert done.returncode == ExitCode.OK, done.stderr
    out = done.stdout
    assert "/runs" in out and "I never deploy" in out  # the help
    assert "breast_cancer" in out and "wine" in out  # the datasets
    assert "trials, a time limit or both" in out and "4 trials is over 2" in out
    assert "Not approved: nothing was run." in out
    assert parent_runs() == []
